"""A built pose dataset (``vips dataset build``) as the model's training groups, one per individual."""

from __future__ import annotations

import json
from pathlib import Path

from vips.errors import AssetError


def load_training_groups(dataset_dir: str | Path, split: str = "train", progress=None) -> list:  # noqa: ANN001
    """:class:`vips.model.data.PoseGroup` for every shard of ``split`` in a dataset built by ``vips dataset build``.

    The group's source is the shard's body plan, so training can balance plans (``source_weights``).
    ``progress(done, total)`` is called after each shard.
    """
    from vips.data.shards import read_shard
    from vips.model.data import PoseGroup

    root = Path(dataset_dir)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise AssetError(f"{root}: no manifest.json (build the dataset with `vips dataset build --out {root}`)")
    manifest = json.loads(manifest_path.read_text())
    shards = [s for s in manifest["shards"] if s["split"] == split]
    if not shards:
        raise AssetError(f"{root}: the dataset has no '{split}' shards")
    groups = []
    for i, meta in enumerate(shards):
        shard = read_shard(root / meta["file"])
        groups.append(PoseGroup.from_rig(shard.rig, shard.poses, source=meta["plan"]))
        if progress:
            progress(i + 1, len(shards))
    return groups
