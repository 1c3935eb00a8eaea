"""Pose sets on disk: a rig plus F poses (pose k at time code k) plus what made them.

USD (.usda / .usdc / .usd): the UsdSkel layout of :mod:`vips.io.usd_write` (SkelRoot, Skeleton, bound Mesh,
SkelAnimation) with our codeless ``VipsPoseSetAPI`` applied to the SkelAnimation and filled: kind, per-pose
scores, plausible flags and seeds, the model id and the threshold. glTF (.glb): the rig with the poses as one
animation (one keyframe per pose); the same metadata lives in the animation's ``extras.vips_pose_set``.

The metadata rides on the clip (:attr:`vips.io.channels.ClipChannels.pose_set`), so a pose set is written in one
pass by the format's writer and read in one parse by :func:`vips.io.load` (:mod:`vips.io.pose_set_meta` holds
how each format stores it).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from vips.errors import AssetError, PoseError, UnsupportedFormatError
from vips.io.channels import channels_of
from vips.io.pose_set_meta import ATTR_PREFIX, GLTF_EXTRAS_KEY, PoseSetMeta
from vips.poses import Poses
from vips.rig import Rig
from vips.usd_schema import KINDS

__all__ = ["ATTR_PREFIX", "GLTF_EXTRAS_KEY", "PoseSetMeta", "load_poses", "parse_pose_ref", "read_pose_set",
           "write_pose_set"]
USD_SUFFIXES = (".usd", ".usda", ".usdc")


def write_pose_set(rig: Rig, path: str | os.PathLike[str], poses: Poses, scores=None, plausible=None, seeds=None,
                   kind: str = "samples", model_id: str = "", threshold: float | None = None) -> Path:
    """Write ``poses`` of ``rig`` with their metadata to ``path`` (USD or .glb, from the suffix), atomically.

    Args:
        poses: F poses (pose k at time code k, played at ``poses.fps``).
        scores: optional (F,) floats; plausible: optional (F,) bools; seeds: optional (F,) ints.
        kind: one of samples, traversal, ik, fitted, clip.
        model_id, threshold: the model behind the poses and scores.
    Returns the path written.
    """
    path = Path(path)
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    meta = _meta(len(poses), scores, plausible, seeds, kind, model_id, threshold)
    channels = dataclasses.replace(channels_of(rig, poses), pose_set=meta)  # a copy: the rig's clip stays as it is
    suffix = path.suffix.lower()
    if suffix in USD_SUFFIXES:
        from vips.io.usd import write_usd

        write_usd(rig, path, clips=[channels])
    elif suffix == ".glb":
        from vips.io.gltf import write_glb

        write_glb(rig, path, clips=[channels])
    else:
        raise UnsupportedFormatError(f"{path}: a pose set is written as .usda, .usdc, .usd or .glb")
    return path


def read_pose_set(path: str | os.PathLike[str]) -> tuple[Rig, Poses, PoseSetMeta]:
    """Read a pose set written by :func:`write_pose_set` (or any rigged USD / glTF file with an animation).

    Returns ``(rig, poses, meta)``: the rig, its pose-set animation (the bound SkelAnimation / the glTF
    animation carrying our metadata, else the first clip) and the metadata (defaults when the file has none).
    """
    from vips.io import load

    path = Path(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = load(path)
    if not rig.clips:
        raise AssetError(f"{path}: holds no animation, so no poses (write one with `vips sample`)")
    name, meta = next(((n, ch.pose_set) for n, ch in rig.clip_channels.items() if ch.pose_set is not None),
                      (None, PoseSetMeta()))
    poses = rig.clips.get(name) if name is not None else None
    if poses is None:
        poses = next(iter(rig.clips.values()))
    rig.clips, rig.clip_channels = {}, {}
    return rig, poses, meta


def parse_pose_ref(ref: str) -> tuple[Path, int | None]:
    """``FILE`` or ``FILE:I`` (the I-th pose, negative counts from the end) -> (path, index or None)."""
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail.lstrip("-").isdigit():
        return Path(head), int(tail)
    return Path(ref), None


def load_poses(ref: str, rig: Rig | None = None) -> Poses:
    """The poses of a pose-set reference ``FILE[:I]`` (one pose with an index), checked against ``rig``."""
    path, index = parse_pose_ref(ref)
    _, poses, _ = read_pose_set(path)
    if rig is not None and poses.num_joints != rig.num_joints:
        raise PoseError(f"{path}: its poses have {poses.num_joints} joints but the asset has {rig.num_joints}")
    if index is not None:
        if not -len(poses) <= index < len(poses):
            raise PoseError(f"{ref}: {path} holds {len(poses)} poses; index {index} is out of range")
        poses = poses[index]
    return poses


# ----- helpers -----------------------------------------------------------------------------------------------
def _meta(F: int, scores, plausible, seeds, kind: str, model_id: str, threshold) -> PoseSetMeta:  # noqa: ANN001
    if kind not in KINDS:
        raise PoseError(f"pose set kind must be one of {', '.join(KINDS)}, got '{kind}'")

    def arr(x, dtype, what: str):  # noqa: ANN001, ANN202
        if x is None:
            return None
        a = np.asarray(x, dtype).reshape(-1)
        if a.shape != (F,):
            raise PoseError(f"pose set {what}: expected {F} values (one per pose), got {a.shape[0]}")
        return a

    return PoseSetMeta(kind, arr(scores, np.float32, "scores"), arr(plausible, bool, "plausible"),
                       arr(seeds, np.int64, "seeds"), model_id or "", None if threshold is None else float(threshold))
