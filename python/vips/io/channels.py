"""Every animated channel of a clip, kept so that converting a file loses nothing.

A :class:`vips.Poses` clip is the pose model's view of an animation: each joint's rotation relative to the rest
pose plus one root translation (bone lengths are fixed by the rig, and where a ground bone stands above the pelvis
the body's motion is folded into the root). Files animate more: any joint may translate and scale. So every
reader also keeps each clip's full local channels, in the rig's joint frames, as ``rig.clip_channels[name]``
(:class:`ClipChannels`), and every writer writes those.

**One source of truth.** For a clip read from a file, its :class:`ClipChannels` are what the file animates and
what the writers write; ``rig.clips[name]`` (``channels.poses``) is derived from the same file data for the pose
model. Channels belong to that very ``Poses`` object: a clip that was replaced (re-rested, edited, sampled) is
written from its poses by :func:`vips.kinematics.local_transforms` (unit scales, rest translations below the
root), as :func:`clips_to_write` decides. A clip the pose model cannot hold (a spawn effect scaling joints to
zero) has channels and no poses (``channels.poses is None``): the writers still write it.

**Rig frames.** A rig has no scale: a joint's rig frame is the rigid part ``W`` of its global matrix ``G`` in the
file's rest pose, and ``C = inv(W) @ G`` (the rest residual: a linear part only, ``c * I`` for a uniformly scaled
armature) is absorbed by the bind matrices, so the rig skins ``W @ inv(bind) = G @ inv(IBM)``. Any animated
frame is then reproduced exactly by the globals ``A = G @ inv(C)``, whose local transforms are
``C_parent @ L @ inv(C)`` for a joint under a joint (``L`` its file-local TRS) and ``X @ L @ inv(C)`` for a top
joint (``X`` the global matrix of the non-joint nodes above it, which the rig folds into its root).
:func:`to_rig_frames` computes them; at the rest pose they are the rig's rest transforms with unit scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vips.errors import PoseError
from vips.io.pose_set_meta import PoseSetMeta
from vips.kinematics import local_transforms
from vips.poses import Poses
from vips.rotations import (compose_affine, decompose_affine, matrix_to_quat, quat_multiply, quat_normalize,
                            quat_to_matrix)

if TYPE_CHECKING:
    from vips.rig import Rig

# A linear part whose Gram matrix is this close (relative) to k^2 I is a similarity: rotation times scale k.
SIMILARITY_TOLERANCE = 1e-6
# Relative error of decomposed transforms above which a clip is reported as shearing (not per-joint TRS).
SHEAR_TOLERANCE = 1e-4


@dataclass(eq=False)
class ClipChannels:
    """Every animated local channel of one clip, in the rig's joint frames (see the module docstring).

    Attributes:
        rotations: (F, J, 4) float32 unit quaternions (w, x, y, z): each joint's full local rotation (not a delta).
        translations: (F, J, 3) float32 full local translations in the parent's frame (asset units).
        scales: (F, J, 3) float32 local scales relative to the rig's rest (ones where the file does not scale).
        fps: frames per second; frame k is at time k / fps.
        name: the clip's name, as the file spells it.
        poses: the pose model's view of the same clip (the object in ``rig.clips``), or None where the pose model
            cannot hold the clip (a joint scaled to zero).
        pose_set: the clip's pose-set metadata (``vips:poseSet:*``), or None.
    """

    rotations: np.ndarray
    translations: np.ndarray
    scales: np.ndarray
    fps: float
    name: str
    poses: Poses | None = None
    pose_set: PoseSetMeta | None = None

    def __post_init__(self) -> None:
        self.rotations = np.ascontiguousarray(self.rotations, dtype=np.float32)
        self.translations = np.ascontiguousarray(self.translations, dtype=np.float32)
        self.scales = np.ascontiguousarray(self.scales, dtype=np.float32)
        F, J = self.rotations.shape[:2] if self.rotations.ndim == 3 else (-1, -1)
        for arr, width, what in ((self.rotations, 4, "rotations"), (self.translations, 3, "translations"),
                                 (self.scales, 3, "scales")):
            if arr.shape != (F, J, width):
                raise PoseError(f"clip '{self.name}': {what} must have shape (F, J, {width}) with the rotations' F "
                                f"and J, got {arr.shape}")

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]

    @property
    def num_joints(self) -> int:
        return self.rotations.shape[1]

    def __len__(self) -> int:
        return self.num_frames

    @classmethod
    def from_poses(cls, rig: "Rig", poses: Poses, name: str | None = None,
                   pose_set: PoseSetMeta | None = None) -> "ClipChannels":
        """The channels of ``poses`` of ``rig``: posed rotations, rest translations (the root's moved), unit scales."""
        rotations, translations = local_transforms(rig, poses)
        return cls(rotations, translations, np.ones_like(translations), poses.fps,
                   poses.name if name is None else name, poses, pose_set)

    def check(self, rig: "Rig") -> None:
        """PoseError unless the channels fit ``rig`` and can be written (finite values, positive fps)."""
        if self.num_joints != rig.num_joints:
            raise PoseError(f"clip '{self.name}' has {self.num_joints} joints but the rig {rig.label} has "
                            f"{rig.num_joints}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise PoseError(f"clip '{self.name}': fps must be a positive number to be written, got {self.fps}")
        for arr in (self.rotations, self.translations, self.scales):
            if not np.isfinite(arr).all():
                raise PoseError(f"clip '{self.name}' holds NaN or infinite values; it cannot be written")

    def __repr__(self) -> str:
        return (f"ClipChannels(name={self.name!r}, frames={self.num_frames}, joints={self.num_joints}, "
                f"fps={self.fps:g}, poses={'yes' if self.poses is not None else 'none'})")


def channels_of(rig: "Rig", poses: Poses, name: str | None = None) -> ClipChannels:
    """What a writer writes for ``poses``: the full channels the rig keeps for this very clip, else channels made
    from the poses (:meth:`ClipChannels.from_poses`)."""
    for channels in rig.clip_channels.values():
        if channels.poses is poses and channels.num_joints == rig.num_joints:
            return channels
    return ClipChannels.from_poses(rig, poses, name)


def clips_to_write(rig: "Rig", poses: Poses | None = None) -> list[ClipChannels]:
    """The clips a writer writes for ``rig``, checked: ``poses`` alone when given; else every clip of ``rig.clips``
    and every clip the pose model has no poses for, in the order the file had them (see the module docstring)."""
    if poses is not None:
        clips = [channels_of(rig, poses)]
    else:
        kept = list(rig.clip_channels.values())
        file_order = {id(ch.poses): k for k, ch in enumerate(kept) if ch.poses is not None}
        keyed = [(file_order.get(id(clip), len(kept)), channels_of(rig, clip, name))
                 for name, clip in rig.clips.items()]
        keyed += [(k, ch) for k, ch in enumerate(kept) if ch.poses is None]
        clips = [ch for _, ch in sorted(keyed, key=lambda item: item[0])]  # stable: added clips keep their order
    for ch in clips:
        ch.check(rig)
    return clips


# ----- file frames to rig frames -----------------------------------------------------------------------------
def _similarity(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(..., 4, 4) affine -> (is a similarity (...), rotation (..., 4), translation (..., 3), uniform scale (...)).

    A zero linear part counts as a similarity with scale 0 and the identity rotation."""
    lin = m[..., :3, :3]
    det = np.linalg.det(lin)
    k = np.cbrt(np.maximum(det, 0.0))
    gram = np.swapaxes(lin, -1, -2) @ lin
    off = np.abs(gram - (k * k)[..., None, None] * np.eye(3)).max(axis=(-2, -1))
    zero = np.abs(lin).max(axis=(-2, -1)) == 0
    ok = ((det > 0) & (off <= SIMILARITY_TOLERANCE * k * k)) | zero
    rot = np.where(zero[..., None, None], np.eye(3), lin / np.where(k > 0, k, 1.0)[..., None, None])
    return ok, matrix_to_quat(rot), m[..., :3, 3], np.where(zero, 0.0, k)


def to_rig_frames(
    rotations: np.ndarray, translations: np.ndarray, scales: np.ndarray, left: np.ndarray, residual: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A file's local TRS channels -> the same motion as local TRS in the rig's frames (see the module docstring).

    Each joint's rig-frame local transform is ``left @ T(t) R(r) S(s) @ inv(residual)``. Where ``left`` is a
    similarity (rotation Q, translation u, uniform scale k) and the residual is ``c * I``, that is the TRS
    ``(Q r, u + k Q t, s k / c)``, taken from the channels themselves (so a joint scaled to zero keeps its
    rotation); elsewhere the product is decomposed (exact unless it shears).

    Args:
        rotations: (F, J, 4) (w, x, y, z), translations (F, J, 3), scales (F, J, 3): the file's local channels.
        left: (F, J, 4, 4) (or broadcastable): the parent's rest residual for a joint under a joint; for a top joint
            the global matrix of what holds it in the file.
        residual: (J, 4, 4) each joint's rest residual ``inv(W) @ G`` (linear part only).

    Returns:
        rotations (F, J, 4), translations (F, J, 3), scales (F, J, 3), float64, and the largest error of the
        decomposed transforms' linear parts relative to their size (0 where every product is a TRS).
    """
    r = np.asarray(rotations, np.float64)
    t = np.asarray(translations, np.float64)
    s = np.asarray(scales, np.float64)
    shape = r.shape[:-1]
    left = np.broadcast_to(np.asarray(left, np.float64), shape + (4, 4))
    ok_l, q, u, k = _similarity(left)
    ok_c, _, _, c = _similarity(np.asarray(residual, np.float64))
    c = np.broadcast_to(np.where(c > 0, c, 1.0), shape)
    ok = ok_l & ok_c[None]
    out_r = quat_normalize(quat_multiply(q, r))  # files may hold slightly non-unit quaternions
    out_t = u + k[..., None] * np.einsum("...ab,...b->...a", quat_to_matrix(q), t)
    out_s = s * (k / c)[..., None]
    error = 0.0
    if not ok.all():
        exact = left[~ok] @ compose_affine(r[~ok], t[~ok], s[~ok]) @ np.linalg.inv(
            np.broadcast_to(np.asarray(residual, np.float64), shape + (4, 4))[~ok])
        dr, dt, ds = decompose_affine(exact)
        out_r[~ok], out_t[~ok], out_s[~ok] = dr, dt, ds
        lin = exact[..., :3, :3]
        size = np.maximum(np.abs(lin).max(axis=(-2, -1)), 1e-30)
        error = float((np.abs(compose_affine(dr, dt, ds)[..., :3, :3] - lin).max(axis=(-2, -1)) / size).max())
    return out_r, out_t, out_s, error


def rig_frame_channels(
    rig: "Rig", name: str, fps: float, rotations: np.ndarray, translations: np.ndarray, scales: np.ndarray,
    left: np.ndarray, residual: np.ndarray,
) -> ClipChannels | None:
    """Clip ``name``'s :class:`ClipChannels` from a file's local TRS (:func:`to_rig_frames`, same arguments); None
    where they are not finite (an overflowing file). Transforms that shear are reported with :meth:`Rig.warn`."""
    with np.errstate(all="ignore"):
        r, t, s, error = to_rig_frames(rotations, translations, scales, left, residual)
    if not all(np.isfinite(x).all() for x in (r, t, s)):
        return None
    if error > SHEAR_TOLERANCE:
        rig.warn(f"clip '{name}' shears joints (a non-uniform scale under a rotation): as per-joint rotation, "
                 f"translation and scale its transforms are off by up to {100 * error:.3g}% of their size")
    return ClipChannels(r, t, s, fps, name)


def zero_scale(m: np.ndarray) -> np.ndarray:
    """(...) True where the linear part of an affine (..., 4, 4) has a (numerically) zero scale: it cannot be
    inverted."""
    sigma = np.linalg.svd(m[..., :3, :3], compute_uv=False)
    return sigma[..., -1] <= 1e-12 * np.maximum(sigma[..., 0], 1e-300)


def dropped_message(name: str, what: str, frame: int, fps: float) -> str:
    """Why clip ``name`` has no poses: it scales ``what`` (a joint, or a node above one) to zero at ``frame``."""
    return (
        f"clip '{name}' dropped: it scales {what} to zero at frame {frame} (t = {frame / fps:.4g} s) (a spawn "
        "effect?); poses of a rig with fixed bone lengths cannot hold it, so the pose model leaves it out (file "
        "conversion keeps it)"
    )
