"""`vips eval`: a pose-space model on held-out species of a built dataset and on real animated assets.

Held-out species were never seen in training (the dataset splits whole archetypes). Every method is measured
against a random subset of *all* the poses of one held-out individual (every clip, so the reference is the
individual's pose distribution, not a few motions). The baselines, which need poses of the same skeleton to
be fitted at all, are fitted on the species' *other* individual (same skeleton, other proportions and
motions), so the baselines see the species and the model does not; that individual's poses, measured as if
they were samples (``training_data`` in the report), show what a model of the species itself would reach.
Species with one individual, or whose individuals differ in skeleton, fall back to a split by clip.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vips.errors import AssetError
from vips.poses import Poses
from vips.rig import Rig


def split_by_clip(poses: Poses, clip: np.ndarray) -> tuple[Poses, Poses]:
    """(train, heldout): even-numbered clips train the baselines, odd-numbered ones are the reference.

    Whole clips, not alternate frames: neighbouring frames of one clip would leak into the reference.
    """
    ids = np.unique(clip)
    if len(ids) < 2:  # one clip: first half / second half in time
        half = len(poses) // 2
        return poses[:half], poses[half:]
    train = np.isin(clip, ids[::2])
    return (Poses(poses.rotations[train], poses.root_translation[train], poses.fps, "train"),
            Poses(poses.rotations[~train], poses.root_translation[~train], poses.fps, "heldout"))


def dataset_cases(data_dir: Path, split: str, max_rigs: int) -> list:
    """EvalCases for ``max_rigs`` species of ``split``, spread over body plans (module docstring)."""
    from vips.data.creatures import make_creature
    from vips.data.shards import read_shard
    from vips.evaluation.report import TARGET_GROUP, EvalCase

    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise AssetError(f"{data_dir}: no manifest.json (build it with `vips dataset build --out {data_dir}`)")
    species: dict[str, list[dict]] = {}
    for s in json.loads(manifest_path.read_text())["shards"]:
        if s["split"] == split:
            species.setdefault(s["species"], []).append(s)
    by_plan: dict[str, list[list[dict]]] = {}
    for rows in species.values():
        by_plan.setdefault(rows[0]["plan"], []).append(sorted(rows, key=lambda r: r["individual"]))
    # Round-robin over plans so a small max_rigs still covers every body plan.
    chosen: list[list[dict]] = []
    while len(chosen) < max_rigs and any(by_plan.values()):
        for plan in sorted(by_plan):
            if by_plan[plan] and len(chosen) < max_rigs:
                chosen.append(by_plan[plan].pop(0))
    cases = []
    for rows in chosen:
        meta = rows[-1]
        shard = read_shard(data_dir / meta["file"])
        other = read_shard(data_dir / rows[0]["file"]) if len(rows) > 1 else None
        if other is not None and np.array_equal(other.rig.parents, shard.rig.parents):
            train, heldout = other.poses, shard.poses
        else:
            train, heldout = split_by_clip(shard.poses, shard.clip)
        procedural = meta.get("source", "procedural") == "procedural"
        limits = make_creature(meta["species"], meta["individual"]).limits if procedural else None
        shard.rig.name = f"{meta['species']}_{meta['individual']}"
        cases.append(EvalCase(shard.rig, train, heldout, limits, group=TARGET_GROUP))
    return cases


def asset_cases(paths: list[Path]) -> list:
    """EvalCases for real assets with animation (clips split in time); assets without clips are skipped."""
    from vips.evaluation.report import EvalCase
    from vips.io import load

    cases = []
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rig = load(path)
        if not rig.clips:
            continue
        poses = Poses.concatenate(list(rig.clips.values()))
        if len(poses) < 8:
            continue
        train, heldout = split_by_clip(poses, np.zeros(len(poses), np.int32))
        cases.append(EvalCase(rig, train, heldout, None, group="assets"))
    return cases


def evaluate_model(model: str | Path | None, data_dir: Path | None, assets: list[Path], out: Path,
                   split: str = "test", max_rigs: int = 12, n_samples: int = 128, steps: int = 30, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the evaluation and write ``out/report.json`` plus plots. Returns the report."""
    from vips.evaluation.report import evaluate_many
    from vips.posespace import PoseSpace

    spaces: dict[int, PoseSpace] = {}

    def space(rig: Rig) -> PoseSpace:
        if id(rig) not in spaces:
            spaces[id(rig)] = PoseSpace(rig, model=model)
        return spaces[id(rig)]

    def sampler(rig: Rig, n: int, s: int) -> Poses:
        if progress:
            progress(f"sampling {rig.name}")
        return space(rig).sample(n, seed=s, steps=steps)

    def scorer(rig: Rig, poses: Poses) -> np.ndarray:
        return space(rig).score(poses)[0]

    cases = (dataset_cases(data_dir, split, max_rigs) if data_dir is not None else []) + asset_cases(assets)
    if not cases:
        raise AssetError("nothing to evaluate: give --data (a built dataset) and/or --assets with animation clips")
    report = evaluate_many(cases, sampler, scorer, n_samples=n_samples, seed=seed, out_dir=out)
    report["settings"].update({"model": str(model or "default"), "split": split, "steps": steps,
                               "data": str(data_dir) if data_dir else None, "assets": [str(a) for a in assets]})
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_json_default))
    return report


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x).__name__)
