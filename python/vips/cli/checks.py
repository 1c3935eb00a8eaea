"""What the ``vips`` commands check before any work: argument ranges and the files a command reads.

The ranges are generous for real use and stated in each option's ``--help``; a value outside them raises
:class:`vips.errors.VipsError`, which the command reports as one line (:func:`vips.cli.common.fail`) before
anything is loaded, sampled or written. Outputs are checked with
:func:`vips.io.atomic.check_outputs` against :func:`asset_inputs` and the pose sets a command reads.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vips.errors import VipsError

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

#: Poses one command samples, interpolates or writes (per asset in ``vips batch``).
MAX_POSES = 1024
#: DDIM steps (the schedule is continuous; more than a few hundred steps change nothing).
MAX_STEPS = 1000
#: Seeds are numpy SeedSequence entropy: 0 <= seed < 2**63.
SEED_LIMIT = 2**63
#: Square image sizes in pixels (keyframe proxies, thumbnails).
IMAGE_SIZE = (16, 4096)
#: IK and look-at targets must lie within this many rig heights of the rig (rest pose and start pose).
HANDLE_REACH = 100.0
#: Local worker processes of ``vips batch`` and ``vips dataset build``.
MAX_WORKERS = 256

SEED_HELP = "0 <= seed < 2^63"


def check_int(value: int, name: str, lo: int, hi: int | None = None) -> int:
    """``value`` when ``lo <= value <= hi`` (no upper bound when ``hi`` is None), else :class:`VipsError`."""
    if not lo <= value or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"from {lo} to {hi}"
        raise VipsError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_float(value: float, name: str, lo: float = -math.inf, hi: float = math.inf,
                lo_open: bool = False) -> float:
    """``value`` when it is finite and in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), else :class:`VipsError`."""
    low_ok = value > lo if lo_open else value >= lo
    if not (math.isfinite(value) and low_ok and value <= hi):
        if hi < math.inf:
            span = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        elif lo > -math.inf:
            span = f" {'above' if lo_open else 'of at least'} {lo:g}"
        else:
            span = ""
        raise VipsError(f"{name} must be a finite number{span}, got {value:g}")
    return float(value)


def check_seed(value: int, name: str = "--seed") -> int:
    """A seed in ``[0, 2**63)``."""
    if not 0 <= value < SEED_LIMIT:
        raise VipsError(f"{name} must be an integer with {SEED_HELP}, got {value}")
    return int(value)


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def asset_inputs(asset: str) -> list[Path]:
    """The files an asset argument (a path or ``example:NAME``) is read from: the file itself, a ``.gltf``'s
    buffers and images beside it, a RigNet rig's OBJ mesh. Layers a USD file composes are not listed."""
    from vips.examples import resolve

    path = Path(resolve(asset))
    files = [path]
    if not _regular_file(path):
        return files  # missing, a folder or a special file: loading it fails with the reader's message
    suffix = path.suffix.lower()
    if suffix == ".gltf":
        from vips.io.discover import gltf_buffers

        files += gltf_buffers(path)
    elif suffix == ".txt":
        from vips.io.rignet import rignet_pair

        mesh = rignet_pair(path)[1]
        files += [mesh] if mesh is not None else []
    return files


def pose_inputs(refs: Iterable[str | None]) -> list[Path]:
    """The pose-set files of ``FILE[:I]`` references (None entries skipped)."""
    from vips.io.pose_set import parse_pose_ref

    return [parse_pose_ref(r)[0] for r in refs if r]


def check_suffix(path: Path | None, name: str, suffixes: Sequence[str], what: str) -> None:
    """:class:`VipsError` unless ``path`` (when given) ends in one of ``suffixes`` (lower case, with the dot)."""
    if path is not None and Path(path).suffix.lower() not in suffixes:
        raise VipsError(f"{name} {path}: {what} is written as {', '.join(suffixes)}")


def check_reach(rig: "Rig", targets: Mapping[str, Sequence[float]], name: str, start: "Poses | None" = None) -> None:
    """IK / look-at targets (asset space) must be finite and within :data:`HANDLE_REACH` rig heights of the
    rig's joints (rest pose, and the start pose when given)."""
    if not targets:
        return
    from vips.kinematics import joint_positions

    points = rig.rest_joint_positions().reshape(-1, 3)
    if start is not None:
        points = np.concatenate([points, joint_positions(rig, start).reshape(-1, 3)])
    lo, hi = points.min(axis=0), points.max(axis=0)
    reach = HANDLE_REACH * max(rig.height(), 1e-9)
    for joint, xyz in targets.items():
        p = np.asarray(xyz, np.float64)
        if not np.isfinite(p).all():
            raise VipsError(f"{name} {joint}: the target must be three finite numbers, got {list(xyz)}")
        distance = float(np.linalg.norm(p - np.clip(p, lo, hi)))
        if distance > reach:
            raise VipsError(f"{name} {joint}: the target is {distance:.4g} units from the rig, more than "
                            f"{HANDLE_REACH:g} times its height ({rig.height():.4g}); targets are in the asset's "
                            "space and units")


def end_joints(rig: "Rig") -> list[str]:
    """The rig's leaf joints that move skin (the ends of limbs, head, tail: good IK handles), in joint order."""
    tree = rig.joint_tree()
    skinned = tree["moves_skin"] or [True] * rig.num_joints
    return [n for n, leaf, skin in zip(tree["names"], tree["leaf"], skinned) if leaf and skin]


def check_joints(rig: "Rig", names: Iterable[str], option: str, asset: str, shown: int = 8) -> None:
    """:class:`VipsError` for the first of ``names`` that is no joint of ``rig``: it names ``option``, lists close
    matches (difflib, ignoring case) and up to ``shown`` of :func:`end_joints`, and points at ``vips info ASSET``."""
    import difflib
    import shlex

    known = set(rig.joint_names)
    for name in names:
        if name in known:
            continue
        by_lower = {}
        for n in rig.joint_names:
            by_lower.setdefault(n.lower(), n)
        close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
        hint = f"; close: {', '.join(close)}" if close else ""
        ends = end_joints(rig)
        more = f" and {len(ends) - shown} more" if len(ends) > shown else ""
        leaves = f"; its leaf joints (limb ends, head, tail) are {', '.join(ends[:shown])}{more}" if ends else ""
        raise VipsError(f"{option} {name}: {asset} has no joint named '{name}'{hint}{leaves}; "
                        f"`vips info {shlex.quote(asset)}` shows the joint tree")
