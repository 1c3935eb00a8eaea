"""Dataset shards: one ``.npz`` per individual holding its rig and its poses, plus a JSON sidecar.

A shard is plain arrays (no pickles): the rig's joints, rest and bind transforms, mesh and skin under
``rig/*`` keys, and the poses (``rotations`` (N, J, 4) deltas, ``root_translation`` (N, 3)) with per-pose
``clip`` (N,) int32 indices into the sidecar's clip list and ``frame`` (N,) int32.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vips.errors import AssetError
from vips.io.atomic import write_bytes_atomic
from vips.poses import Poses
from vips.rig import Rig

RIG_ARRAYS = ("parents", "rest_translations", "rest_rotations", "bind_matrices", "vertices", "faces",
              "skin_indices", "skin_weights")


@dataclass(eq=False)
class Shard:
    """One individual's rig and poses, with provenance."""

    rig: Rig
    poses: Poses
    clip: np.ndarray
    frame: np.ndarray
    meta: dict[str, Any]


def write_shard(path: Path, shard: Shard) -> None:
    """Write ``shard`` as ``path`` (.npz) and its sidecar ``path.with_suffix('.json')``, each atomically.

    The sidecar is written last, so its presence marks a complete shard.
    """
    rig = shard.rig
    arrays: dict[str, np.ndarray] = {
        f"rig/{k}": np.asarray(getattr(rig, k)) for k in RIG_ARRAYS if getattr(rig, k) is not None
    }
    arrays["rig/joint_names"] = np.asarray(rig.joint_names, dtype=np.str_)
    arrays["rotations"] = shard.poses.rotations
    arrays["root_translation"] = shard.poses.root_translation
    arrays["clip"] = shard.clip.astype(np.int32)
    arrays["frame"] = shard.frame.astype(np.int32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())
    meta = {**shard.meta, "rig": {"name": rig.name, "up_axis": rig.up_axis, "meters_per_unit": rig.meters_per_unit}}
    write_bytes_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())


def read_shard(path: Path) -> Shard:
    """Read a shard written by :func:`write_shard` (never unpickles: ``allow_pickle=False``)."""
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise AssetError(f"{path}: not a readable dataset shard ({exc})") from None
    rig_meta = meta.get("rig", {})
    rig = Rig(
        joint_names=[str(n) for n in arrays["rig/joint_names"]],
        name=rig_meta.get("name", path.stem),
        source=str(path),
        up_axis=rig_meta.get("up_axis", "Y"),
        meters_per_unit=rig_meta.get("meters_per_unit", 1.0),
        **{k: arrays.get(f"rig/{k}") for k in RIG_ARRAYS},
    )
    poses = Poses(arrays["rotations"], arrays["root_translation"], name=path.stem)
    return Shard(rig, poses, arrays["clip"], arrays["frame"], meta)
