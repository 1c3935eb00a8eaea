"""Joint limits read off poses: per joint a swing cone, per-axis swing ranges and a twist range.

Every joint's rotation delta ``q`` (the pose's rotation relative to the rest local rotation, so it acts in the
joint's rest frame) is split as ``q = swing * twist`` (:func:`vips.rotations.swing_twist`): ``twist``
turns about the joint's *twist axis* ``a`` (its bone: the mean direction to its children,
:func:`vips.skeleton.bone_axes`; a leaf's incoming bone direction; else the frame's Y), ``swing``
about an axis perpendicular to it. In the joint's *limit frame* ``(u, v, a)`` (``u`` the rest frame's X, Y or Z
axis most perpendicular to ``a``, made perpendicular; ``v = a x u``) a pose of the joint is three angles:

- the swing vector ``s = (s_u, s_v)``: the swing's rotation vector (axis times angle) in the ``u, v`` plane, so
  ``s_u`` is the swing "about u"; ``|s|`` is the angle between the posed bone and its rest direction;
- the twist angle ``t`` in [-pi, pi) about ``a``, right-handed.

:class:`SwingTwistLimits` holds per joint: the twist range ``[lower, upper]`` (upper - lower <= 2 pi; values may
leave [-pi, pi) so a range across pi stays one interval), the swing ranges ``[lower, upper]`` of ``s_u`` and
``s_v`` and the swing cone: ``|s| <= cone`` (a circular cone about the rest bone direction, as engines' spherical
joints have). A joint is inside its limits when all five hold. Angles are radians in Python and degrees in files
(JSON, USD, glTF), where every key and attribute says so.

:func:`estimate_limits` estimates them from poses (weighted), robustly: each bound is a weighted quantile that trims
``alpha / 2`` of the weight off each tail (the cone ``alpha`` off the top), with one ``alpha`` per joint, the largest
that leaves at least ``coverage`` of the joint's weight inside all five bounds at once. :func:`limits_from_space`
estimates them from a pose space's samples, or, for a rig with animation, from its frames widened toward the
samples' limits by a bounded margin (:func:`widened_toward`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from vips.errors import VipsError
from vips.io.limits_io import LIMITS_FORMAT
from vips.poses import Poses
from vips.rotations import (
    axis_angle_to_quat,
    quat_multiply,
    quat_normalize,
    quat_to_axis_angle,
    quat_to_matrix,
    swing_twist,
)
from vips.skeleton import bone_axes

if TYPE_CHECKING:
    from vips.rig import Rig

DEFAULT_COVERAGE = 0.99
#: How far beyond a rig's own animation its limits may reach, as a share of the animation's range: limits that
#: hug what the character does, with room for an IK solver to go a little further.
DEFAULT_CLIP_MARGIN = 0.2
#: Clip frames :func:`limits_from_space` uses at most (evenly spread over all clips of the rig).
MAX_CLIP_FRAMES = 4096
_BISECTIONS = 40


# ----- the limit frame and the swing-twist angles -------------------------------------------------------------
def limit_frames(rig: "Rig") -> np.ndarray:
    """(J, 3, 3) float64 limit frame of each joint, in its rest frame: rows ``u``, ``v`` (swing axes) and ``a``
    (twist axis), right-handed and orthonormal. See the module docstring."""
    rest = quat_to_matrix(rig.rest_rotations.astype(np.float64))
    incoming = np.einsum("jkl,jk->jl", rest, rig.rest_translations.astype(np.float64))  # R^T t: the joint's frame
    incoming[rig.parents < 0] = 0.0  # a root has no incoming bone
    axes = bone_axes(rig.parents, rig.rest_translations, 1e-6 * rig.height(), incoming=incoming,
                     fallback=np.array([0.0, 1.0, 0.0]))
    frames = np.zeros((rig.num_joints, 3, 3))
    for j, a in enumerate(axes):
        frames[j] = frame_from_axis(a)
    return frames


def frame_from_axis(a: np.ndarray) -> np.ndarray:
    """(3, 3) rows ``u, v, a`` for unit twist axis ``a`` (3,): ``u`` is the X, Y or Z axis least aligned with
    ``a`` (the first on a tie) made perpendicular to it, ``v = a x u``."""
    a = np.asarray(a, np.float64)
    e = np.eye(3)[int(np.argmin(np.abs(a / np.linalg.norm(a)) + 1e-9 * np.arange(3)))]
    return _orthonormal(np.stack([e, np.zeros(3), a]))


def swing_twist_angles(quats: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., J, 4) rotation deltas, (J, 3, 3) limit frames -> swing vectors (..., J, 2) ``(s_u, s_v)`` and twist
    angles (..., J) in [-pi, pi], float64 radians."""
    swing, twist = swing_twist(quats, frames[:, 2])
    twist = quat_normalize(twist)  # w >= 0: the angle lies in [-pi, pi]
    t = 2 * np.arctan2(np.sum(twist[..., 1:] * frames[:, 2], axis=-1), twist[..., 0])
    s = quat_to_axis_angle(swing)
    return np.einsum("...jk,jck->...jc", s, frames[:, :2]), t


def from_swing_twist(swing: np.ndarray, twist: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`swing_twist_angles`: (..., J, 2) swing vectors and (..., J) twist angles -> (..., J, 4)
    float64 unit quaternions ``swing * twist``."""
    s = np.einsum("...jc,jck->...jk", swing, frames[:, :2])
    t = np.asarray(twist, np.float64)[..., None] * frames[:, 2]
    return quat_normalize(quat_multiply(axis_angle_to_quat(s), axis_angle_to_quat(t)))


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles mapped into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


# ----- the limits -------------------------------------------------------------------------------------------
@dataclass(eq=False)
class SwingTwistLimits:
    """Per-joint swing-twist limits of one rig (module docstring), radians.

    Attributes:
        joint_names: J names, in the rig's joint order.
        frames: (J, 3, 3) limit frames (rows u, v, a) in each joint's rest frame.
        twist: (J, 2) twist range [lower, upper] about ``a``; ``0 <= upper - lower <= 2 pi``.
        swing: (J, 2, 2) swing ranges: ``swing[j, 0]`` = [lower, upper] of ``s_u``, ``swing[j, 1]`` of ``s_v``.
        cone: (J,) swing cone half-angle in [0, pi].
        coverage: the coverage the limits were estimated for (None when written by hand).
        achieved: (J,) share of each joint's (weighted) estimation poses inside its limits, or None.
        info: provenance, JSON-ready (model id, sample and frame counts, seed...).
    """

    joint_names: list[str]
    frames: np.ndarray
    twist: np.ndarray
    swing: np.ndarray
    cone: np.ndarray
    coverage: float | None = None
    achieved: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        J = len(self.joint_names)
        self.frames = np.asarray(self.frames, np.float64)
        self.twist = np.asarray(self.twist, np.float64)
        self.swing = np.asarray(self.swing, np.float64)
        self.cone = np.asarray(self.cone, np.float64)
        shapes = {"frames": (J, 3, 3), "twist": (J, 2), "swing": (J, 2, 2), "cone": (J,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise VipsError(f"joint limits: '{name}' must have shape {shape} for {J} joints, got "
                                f"{getattr(self, name).shape}")
            if not np.isfinite(getattr(self, name)).all():
                raise VipsError(f"joint limits: '{name}' holds NaN or inf")
        for what, lo_hi, top in (("twist", self.twist, 2 * np.pi), ("swing", self.swing, np.inf)):
            bad = np.argwhere(~((lo_hi[..., 0] <= lo_hi[..., 1]) & (lo_hi[..., 1] - lo_hi[..., 0] <= top + 1e-9)))
            if len(bad):
                j = int(bad[0, 0])
                raise VipsError(f"joint limits of '{self.joint_names[j]}': the {what} range {lo_hi[j].tolist()} "
                                f"needs lower <= upper" + (" and a width of at most 2 pi" if what == "twist" else ""))
        if ((self.cone < 0) | (self.cone > np.pi + 1e-9)).any():
            j = int(np.argmax((self.cone < 0) | (self.cone > np.pi + 1e-9)))
            raise VipsError(f"joint limits of '{self.joint_names[j]}': the swing cone {self.cone[j]} is outside "
                            "[0, pi]")
        if self.achieved is not None:
            self.achieved = np.asarray(self.achieved, np.float64).reshape(J)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def __repr__(self) -> str:
        cov = "" if self.coverage is None else f", coverage={self.coverage:g}"
        return f"SwingTwistLimits({self.num_joints} joints{cov})"

    def check_rig(self, rig: "Rig") -> None:
        """Raise :class:`VipsError` unless the limits were made for a rig with ``rig``'s joints (same names, order)."""
        if list(rig.joint_names) != list(self.joint_names):
            extra = sorted(set(self.joint_names) - set(rig.joint_names))[:3]
            missing = sorted(set(rig.joint_names) - set(self.joint_names))[:3]
            why = (f"the limits name joints the rig lacks ({', '.join(extra)})" if extra else
                   f"the rig has joints the limits lack ({', '.join(missing)})" if missing else
                   "the joint order differs")
            raise VipsError(f"joint limits do not fit rig {rig.label}: {why}; estimate them for this rig")

    # ----- tests and projection ------------------------------------------------------------------------------
    def angles(self, quats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., J, 4) rotation deltas -> swing vectors (..., J, 2) and twist angles (..., J) in these frames."""
        return swing_twist_angles(quats, self.frames)

    def violation(self, poses: Poses | np.ndarray) -> np.ndarray:
        """(N, J) float64 radians by which each joint of each pose leaves its limits (0 inside): the largest excess
        over the twist range, the two swing ranges and the cone. ``poses``: Poses or (N, J, 4) quaternions."""
        s, t = self.angles(_quats(poses, self.num_joints))
        mid, half = self.twist.mean(axis=1), 0.5 * (self.twist[:, 1] - self.twist[:, 0])
        over = [np.maximum(np.abs(wrap(t - mid)) - half, 0)]
        for c in range(2):
            over.append(np.maximum(self.swing[:, c, 0] - s[..., c], 0) + np.maximum(s[..., c] - self.swing[:, c, 1], 0))
        over.append(np.maximum(np.linalg.norm(s, axis=-1) - self.cone, 0))
        return np.max(over, axis=0)

    def contains(self, poses: Poses | np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """(N, J) bool: each joint of each pose within its limits, allowing ``tolerance`` radians on every bound."""
        return self.violation(poses) <= tolerance

    def clamp(self, quats: np.ndarray, joints: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Project rotation deltas into the limits: (..., J, 4) -> (..., J, 4) float64 unit quaternions.

        Per joint the twist goes to the nearer end of its range when outside it, and the swing vector to the
        nearest point of (box of the two swing ranges) intersected with (cone disk), :func:`project_box_disk`;
        joints inside their limits come back unchanged. ``joints``: clamp only these (default all); others are
        copied.
        """
        out = np.array(quats, np.float64)
        idx = np.arange(self.num_joints) if joints is None else np.asarray(joints, np.int64).reshape(-1)
        if len(idx):
            out[..., idx, :] = self._clamp_at(out[..., idx, :], idx)
        return out

    def clamp_joint(self, j: int, q: np.ndarray) -> np.ndarray:
        """Joint ``j``'s rotation delta ``q`` (4,) clamped into its limits (:meth:`clamp`), float64 (4,)."""
        return self._clamp_at(np.asarray(q, np.float64).reshape(1, 4), np.array([j]))[0]

    def _clamp_at(self, q: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(..., K, 4) rotation deltas of joints ``idx`` (K,) -> the same, clamped."""
        frames, box, cone = self.frames[idx], self.swing[idx], self.cone[idx]
        s, t = swing_twist_angles(q, frames)
        mid, half = self.twist[idx].mean(axis=1), 0.5 * (self.twist[idx, 1] - self.twist[idx, 0])
        d = wrap(t - mid)
        twist_out = np.abs(d) > half
        swing_out = np.any((s < box[..., 0]) | (s > box[..., 1]), axis=-1) | (np.linalg.norm(s, axis=-1) > cone)
        if not (twist_out.any() or swing_out.any()):  # the common case in IK: nothing to project
            return q
        t_new = np.where(twist_out, mid + np.sign(d) * half, t)
        s_new = np.where(swing_out[..., None], project_box_disk(s, box, cone), s)
        return np.where((twist_out | swing_out)[..., None], from_swing_twist(s_new, t_new, frames), q)

    def clamp_poses(self, poses: Poses) -> Poses:
        """``poses`` with every joint clamped into its limits (:meth:`clamp`); root translation kept."""
        poses.check_rig(self.num_joints, "joint limits")
        return Poses(self.clamp(poses.rotations).astype(np.float32), poses.root_translation.copy(), poses.fps,
                     poses.name)

    # ----- extents, for reports ------------------------------------------------------------------------------
    def widths(self) -> dict[str, np.ndarray]:
        """Per-joint sizes (radians): ``twist`` (upper - lower), ``swing_u``, ``swing_v`` (range widths), ``cone``."""
        return {"twist": self.twist[:, 1] - self.twist[:, 0], "swing_u": self.swing[:, 0, 1] - self.swing[:, 0, 0],
                "swing_v": self.swing[:, 1, 1] - self.swing[:, 1, 0], "cone": self.cone.copy()}

    # ----- JSON ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready document (``format`` :data:`LIMITS_FORMAT`): one object per joint with its limit frame
        (``twist_axis``, ``swing_axis_u``, ``swing_axis_v``: unit vectors in the joint's rest frame) and its limits in
        degrees (``twist_deg``, ``swing_u_deg``, ``swing_v_deg``: [lower, upper]; ``swing_cone_deg``)."""
        deg = np.degrees
        joints = []
        for j, name in enumerate(self.joint_names):
            entry = {"name": name, "twist_axis": _floats(self.frames[j, 2]), "swing_axis_u": _floats(self.frames[j, 0]),
                     "swing_axis_v": _floats(self.frames[j, 1]), "twist_deg": _floats(deg(self.twist[j])),
                     "swing_u_deg": _floats(deg(self.swing[j, 0])), "swing_v_deg": _floats(deg(self.swing[j, 1])),
                     "swing_cone_deg": float(deg(self.cone[j]))}
            if self.achieved is not None:
                entry["achieved_coverage"] = float(self.achieved[j])
            joints.append(entry)
        return {"format": LIMITS_FORMAT, "coverage": self.coverage, "units": "degrees",
                "convention": "q = swing * twist, the rotation delta from the rest local rotation (posed local = "
                              "rest * q); twist about twist_axis, swing vector (axis times angle) components along "
                              "swing_axis_u and swing_axis_v; all axes in the joint's rest frame",
                "info": self.info, "joints": joints}

    @classmethod
    def from_json(cls, doc: Any, source: str = "joint limits") -> "SwingTwistLimits":
        """The limits of a document written by :meth:`to_json`; :class:`VipsError` naming ``source`` and the joint
        or key that is malformed."""
        if not isinstance(doc, dict) or doc.get("format") != LIMITS_FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise VipsError(f"{source}: not a joint-limits document (format {found!r}, expected {LIMITS_FORMAT!r})")
        joints = doc.get("joints")
        if not isinstance(joints, list) or not joints:
            raise VipsError(f"{source}: 'joints' must be a non-empty list")
        names, frames, twist, swing, cone, achieved = [], [], [], [], [], []
        for k, entry in enumerate(joints):
            try:
                names.append(str(entry["name"]))
                axes = np.array([entry["swing_axis_u"], entry["swing_axis_v"], entry["twist_axis"]], np.float64)
                lims = np.radians(np.array([entry["twist_deg"], entry["swing_u_deg"], entry["swing_v_deg"]],
                                           np.float64))
                cone.append(float(np.radians(float(entry["swing_cone_deg"]))))
                achieved.append(entry.get("achieved_coverage"))
            except (KeyError, TypeError, ValueError) as exc:
                raise VipsError(f"{source}: joint {k} is malformed ({type(exc).__name__}: {exc})") from None
            if axes.shape != (3, 3) or lims.shape != (3, 2):
                raise VipsError(f"{source}: joint {k} ('{names[-1]}'): axes need 3 numbers, ranges 2")
            if not np.allclose(axes @ axes.T, np.eye(3), atol=1e-4) or np.linalg.det(axes) < 0:
                raise VipsError(f"{source}: joint '{names[-1]}': swing_axis_u, swing_axis_v and twist_axis must be "
                                "orthonormal and right-handed")
            frames.append(_orthonormal(axes))  # exact again after a float32 file
            twist.append(lims[0])
            swing.append(lims[1:])
        coverage = doc.get("coverage")
        return cls(names, np.asarray(frames), np.asarray(twist), np.asarray(swing), np.asarray(cone),
                   None if coverage is None else float(coverage),
                   None if any(a is None for a in achieved) else np.asarray(achieved, np.float64),
                   dict(doc.get("info") or {}))

    # ----- files ---------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], rig: "Rig | None" = None) -> Path:
        """Write the limits to ``path``, atomically: ``.json``; or, with the ``rig``, ``.usda/.usdc/.usd`` (UsdSkel
        with ``VipsJointLimitsAPI`` on the Skeleton) or ``.glb`` (``extras``); see :mod:`vips.io.limits_io`."""
        from vips.io.limits_io import write_limits

        if rig is not None:
            self.check_rig(rig)
        return write_limits(self.to_json(), path, rig)


def load_limits(path: str | os.PathLike[str]) -> SwingTwistLimits:
    """Read limits written by :meth:`SwingTwistLimits.save` (JSON, USD or .glb)."""
    from vips.io.limits_io import read_limits

    return SwingTwistLimits.from_json(read_limits(path), str(path))


def _orthonormal(axes: np.ndarray) -> np.ndarray:
    """Rows u, v, a of a nearly orthonormal frame made exact: a kept, u made perpendicular to it, v = a x u."""
    a = axes[2] / np.linalg.norm(axes[2])
    u = axes[0] - (axes[0] @ a) * a
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(a, u), a])


def _floats(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a).reshape(-1)]


def _quats(poses: Poses | np.ndarray, num_joints: int) -> np.ndarray:
    q = poses.rotations if isinstance(poses, Poses) else np.asarray(poses)
    if q.ndim < 2 or q.shape[-2:] != (num_joints, 4):
        raise VipsError(f"joint limits of {num_joints} joints: poses must have shape (N, {num_joints}, 4), got "
                        f"{q.shape}")
    return q.astype(np.float64)


# ----- projection onto (box) intersected with (disk) ----------------------------------------------------------
def project_box_disk(p: np.ndarray, box: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Nearest points of ``{x : box[..., c, 0] <= x_c <= box[..., c, 1], |x| <= radius}`` to points ``p``.

    Args: p (..., J, 2); box (J, 2, 2); radius (J,). Returns (..., J, 2) float64; a point inside is returned as is.
    For two convex sets, when neither one's projection lies in the other the nearest point lies on both
    boundaries: a crossing of the circle with a box edge. Where box and disk do not meet, the box point nearest
    to the disk's projection is returned.
    """
    p = np.asarray(p, np.float64)
    lo, hi, r = box[..., 0], box[..., 1], np.asarray(radius, np.float64)
    in_box = np.clip(p, lo, hi)
    n = np.linalg.norm(p, axis=-1, keepdims=True)
    on_disk = np.where(n > r[:, None], p * (r[:, None] / np.where(n > 0, n, 1)), p)
    eps = 1e-12
    ok_box = np.linalg.norm(in_box, axis=-1) <= r + eps
    ok_disk = np.all((on_disk >= lo - eps) & (on_disk <= hi + eps), axis=-1)
    # Crossings of the circle with the four edge lines s_u = lo_u, hi_u and s_v = lo_v, hi_v (two per line), kept
    # where they lie on the edge: (J, 4 lines, 2 signs, 2 coordinates).
    edge = box.reshape(-1, 4)
    on_u = np.array([True, True, False, False])  # the first two lines fix s_u, the last two s_v
    rest2 = r[:, None] ** 2 - edge ** 2
    other = np.sqrt(np.maximum(rest2, 0))[..., None] * np.array([1.0, -1.0])  # (J, 4, 2)
    fixed = np.broadcast_to(edge[..., None], other.shape)
    cand = np.stack([np.where(on_u[:, None], fixed, other), np.where(on_u[:, None], other, fixed)], axis=-1)
    lo_o, hi_o = np.where(on_u, lo[:, [1]], lo[:, [0]]), np.where(on_u, hi[:, [1]], hi[:, [0]])  # (J, 4)
    valid = (rest2 >= 0)[..., None] & (other >= lo_o[..., None] - eps) & (other <= hi_o[..., None] + eps)
    cand, valid = cand.reshape(-1, 8, 2), valid.reshape(-1, 8)
    dist = np.where(valid, np.linalg.norm(cand - p[..., None, :], axis=-1), np.inf)
    best = np.take_along_axis(np.broadcast_to(cand, dist.shape + (2,)), np.argmin(dist, axis=-1)[..., None, None],
                              axis=-2)[..., 0, :]
    best = np.where(np.isfinite(dist.min(axis=-1))[..., None], best, np.clip(on_disk, lo, hi))
    return np.where(ok_box[..., None], in_box, np.where(ok_disk[..., None], on_disk, best))


# ----- estimation -------------------------------------------------------------------------------------------
def estimate_limits(rig: "Rig", poses: Poses | Sequence[Poses], coverage: float = DEFAULT_COVERAGE,
                    weights: np.ndarray | Sequence[np.ndarray] | None = None,
                    info: dict[str, Any] | None = None) -> SwingTwistLimits:
    """Swing-twist limits of ``rig`` that hold ``coverage`` of ``poses``, per joint.

    Args:
        poses: one pose set (N, J) or several (concatenated).
        coverage: in (0, 1]: the (weighted) share of the poses each joint's limits must hold.
        weights: per-pose weights (N,) (or one array per pose set), >= 0; default all equal.
        info: provenance stored in the limits (JSON-ready).
    Returns :class:`SwingTwistLimits` whose ``achieved`` is each joint's share of the weight inside.

    Per joint, with ``alpha`` the tail weight: the twist range trims ``alpha / 2`` of the weight off each end of the
    twist angles (unwrapped about their circular mean), each swing range ``alpha / 2`` off each end of ``s_u`` and
    ``s_v``, and the cone ``alpha`` off the top of ``|s|`` (weighted quantiles on the data's own values, no
    interpolation). ``alpha`` is the largest value in ``[0, 1 - coverage]`` for which at least ``coverage`` of the
    weight lies inside all five bounds (found by bisection; the share inside never grows with ``alpha``). With
    ``coverage = 1`` the bounds are the minima and maxima.
    """
    if not 0.0 < coverage <= 1.0:
        raise VipsError(f"coverage must be in (0, 1], got {coverage}")
    sets = [poses] if isinstance(poses, Poses) else list(poses)
    if not sets or sum(len(p) for p in sets) == 0:
        raise VipsError(f"{rig.label}: no poses to estimate joint limits from")
    for p in sets:
        p.check_rig(rig.num_joints, f"rig {rig.label}")
    quats = np.concatenate([p.rotations for p in sets]).astype(np.float64)
    w = _weights(weights, sets, len(quats))
    frames = limit_frames(rig)
    s, t = swing_twist_angles(quats, frames)
    mean = np.angle(np.sum(w[:, None] * np.exp(1j * t), axis=0))  # (J,) circular mean of the twist
    t = wrap(t - mean)
    values = np.stack([t, s[..., 0], s[..., 1]], axis=-1)  # (N, J, 3)
    radius = np.linalg.norm(s, axis=-1)
    alpha, lo, hi, cone, inside = _coverage_search(values, radius, w, coverage)
    twist = np.stack([lo[:, 0] + mean, hi[:, 0] + mean], axis=1)
    shift = 2 * np.pi * np.round(twist.mean(axis=1) / (2 * np.pi))  # centre of the range into [-pi, pi]
    twist -= shift[:, None]
    swing = np.stack([lo[:, 1:], hi[:, 1:]], axis=-1)  # (J, 2 axes, 2)
    meta = {"poses": int(len(quats)), **(info or {})}
    return SwingTwistLimits(list(rig.joint_names), frames, twist, swing, np.minimum(cone, np.pi), float(coverage),
                            inside, meta)


def limits_from_space(space: Any, n_samples: int = 512, coverage: float = DEFAULT_COVERAGE, clips: bool = True,
                      seed: int = 0, steps: int = 25, clip_margin: float = DEFAULT_CLIP_MARGIN,
                      max_clip_frames: int = MAX_CLIP_FRAMES) -> SwingTwistLimits:
    """Limits of ``space.rig`` (:meth:`vips.posespace.PoseSpace.joint_limits` documents the arguments).

    The pose space's limits hold ``coverage`` of ``n_samples`` model samples (seed ``seed``, ``steps`` DDIM steps).
    With ``clips`` and a rig that has clips, its frames (at most ``max_clip_frames``, evenly spread over all clips)
    set the range instead: their own limits at ``coverage``, each bound moved out toward the pose space's by at
    most ``clip_margin`` of its size (:func:`widened_toward`). A character's animation is the best evidence of how
    its joints move; the model says where beyond it, within that margin, the character still looks right.
    """
    if n_samples < 1:
        raise VipsError(f"joint_limits: n_samples must be >= 1, got {n_samples}")
    if not clip_margin >= 0.0:
        raise VipsError(f"joint_limits: clip_margin must be >= 0 (inf: up to the model's limits), got {clip_margin}")
    rig = space.rig
    samples = space.sample(n_samples, seed=seed, steps=steps)
    frames = clip_frames(rig, max_clip_frames) if clips else None
    info = {"model_id": space.model_id, "samples": int(n_samples), "seed": int(seed), "steps": int(steps),
            "clip_frames": 0 if frames is None else len(frames)}
    model = estimate_limits(rig, samples, coverage, info=info)
    if frames is None:
        return model
    info = {**info, "clip_margin": float(clip_margin)}
    return widened_toward(estimate_limits(rig, frames, coverage), model, clip_margin, frames, info)


def widened_toward(inner: SwingTwistLimits, outer: SwingTwistLimits, margin: float, poses: Poses,
                   info: dict[str, Any] | None = None) -> SwingTwistLimits:
    """``inner`` with every bound moved out toward ``outer``'s by at most ``margin`` of its own size: each range
    (twist, ``s_u``, ``s_v``) grows by at most ``margin`` of its width, half on each side, and the cone by at most
    ``margin`` of its angle. Where ``outer`` is narrower nothing moves; ``margin = inf`` gives the hull of both.

    Args:
        inner, outer: limits of one rig (same limit frames).
        poses: the poses ``achieved`` is measured on (each joint's share inside the result).
    """
    if inner.joint_names != outer.joint_names or not np.allclose(inner.frames, outer.frames):
        raise VipsError("joint limits: widening needs two sets of limits of one rig (same joints and limit frames)")

    def grow(lo: np.ndarray, hi: np.ndarray, out_lo: np.ndarray, out_hi: np.ndarray) -> np.ndarray:
        room = np.inf if np.isinf(margin) else margin * (hi - lo) / 2
        return np.stack([lo - np.clip(lo - out_lo, 0, room), hi + np.clip(out_hi - hi, 0, room)], axis=-1)

    # The outer twist range, moved by whole turns to lie about the inner one's centre (the same interval of angles).
    turns = 2 * np.pi * np.round((inner.twist.mean(axis=1) - outer.twist.mean(axis=1)) / (2 * np.pi))
    out_twist = outer.twist + turns[:, None]
    twist = grow(inner.twist[:, 0], inner.twist[:, 1], out_twist[:, 0], out_twist[:, 1])
    centre = inner.twist.mean(axis=1)
    full = twist[:, 1] - twist[:, 0] > 2 * np.pi
    twist[full] = np.stack([centre[full] - np.pi, centre[full] + np.pi], axis=-1)
    swing = grow(inner.swing[..., 0], inner.swing[..., 1], outer.swing[..., 0], outer.swing[..., 1])
    room = np.inf if np.isinf(margin) else margin * inner.cone
    cone = np.minimum(inner.cone + np.clip(outer.cone - inner.cone, 0, room), np.pi)
    out = SwingTwistLimits(list(inner.joint_names), inner.frames, twist, swing, cone, inner.coverage, None,
                           dict(info or {}))
    out.achieved = out.contains(poses).mean(axis=0)
    return out


def clip_frames(rig: "Rig", max_frames: int = MAX_CLIP_FRAMES) -> Poses | None:
    """The frames of every clip of ``rig`` as one pose set, at most ``max_frames`` evenly spread (None: no clips)."""
    clips = [c for c in rig.clips.values() if len(c)]
    if not clips:
        return None
    frames = Poses.concatenate(clips, name="clips")
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(np.int64)]
    return frames


def _weights(weights: Any, sets: list[Poses], n: int) -> np.ndarray:
    if weights is None:
        w = np.ones(n)
    elif isinstance(weights, np.ndarray) or np.isscalar(weights[0]):
        w = np.asarray(weights, np.float64).reshape(-1)
    else:
        w = np.concatenate([np.broadcast_to(np.asarray(x, np.float64), (len(p),)) for x, p in zip(weights, sets)])
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise VipsError(f"joint limits: weights must be {n} finite numbers >= 0, not all zero")
    return w / w.sum()


def trimmed_bounds(values: np.ndarray, weights: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted quantile bounds that trim at most ``alpha`` of the weight off each end, on the data's own values.

    Args: values (N, K); weights (N,) summing to 1; alpha (K,) in [0, 1). Returns (lower, upper), each (K,):
    ``lower`` the smallest value whose cumulative weight (itself included) exceeds ``alpha``, ``upper`` the largest
    value whose weight from itself upwards exceeds ``alpha``; ``alpha = 0`` gives the minimum and maximum (values of
    zero weight aside).
    """
    return _SortedColumns(values, weights).bounds(alpha)


class _SortedColumns:
    """Columns (N, K) sorted once, with their cumulative weights, for :func:`trimmed_bounds` at many ``alpha``."""

    def __init__(self, values: np.ndarray, weights: np.ndarray) -> None:
        order = np.argsort(values, axis=0, kind="stable")
        self.x = np.take_along_axis(values, order, axis=0)
        wk = weights[order]
        self.below = np.cumsum(wk, axis=0)  # weight at or below each value
        self.above = (1.0 - (self.below - wk))[::-1]  # weight at or above each value, largest value first

    def bounds(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = np.argmax(self.below > alpha, axis=0)
        last = len(self.x) - 1 - np.argmax(self.above > alpha, axis=0)
        cols = np.arange(self.x.shape[1])
        return self.x[first, cols], self.x[last, cols]


def _coverage_search(values: np.ndarray, radius: np.ndarray, w: np.ndarray, coverage: float):  # noqa: ANN202
    """Bisection over the tail weight alpha (J,) for :func:`estimate_limits`. values (N, J, 3): twist, s_u, s_v;
    radius (N, J). Returns alpha, lower (J, 3), upper (J, 3), cone (J,), share inside (J,)."""
    N, J, _ = values.shape
    columns, radii = _SortedColumns(values.reshape(N, J * 3), w), _SortedColumns(radius, w)

    def bounds(alpha: np.ndarray):  # noqa: ANN202
        lo, hi = columns.bounds(np.repeat(alpha / 2, 3))
        _, cone = radii.bounds(alpha)
        lo, hi = lo.reshape(J, 3), hi.reshape(J, 3)
        inside = np.all((values >= lo) & (values <= hi), axis=-1) & (radius <= cone)
        return lo, hi, cone, w @ inside

    need = coverage - 1e-12
    good = np.zeros(J)  # alpha = 0 keeps every pose: always feasible
    bad = np.full(J, 1.0 - coverage)
    top = bounds(bad)
    good = np.where(top[3] >= need, bad, good)  # feasible at the largest alpha: done
    for _ in range(_BISECTIONS if coverage < 1 else 0):
        mid = 0.5 * (good + bad)
        ok = bounds(mid)[3] >= need
        good, bad = np.where(ok, mid, good), np.where(ok, bad, mid)
    lo, hi, cone, share = bounds(good)
    return good, lo, hi, cone, share
