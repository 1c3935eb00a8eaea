"""Geometric validators of posed rigs: self-intersection and hyper-extension / bone twist.

The pose-fitting pipeline drops fitted frames that fail them (as the paper keeps its data clean); the model
evaluation reports self-intersection rates with them; both work on any batch of poses (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vips.kinematics import skin
from vips.limits import limit_frames, swing_twist_angles
from vips.skeleton import hop_distances

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


# ----- self-intersection -----------------------------------------------------------------------------
def face_parts(rig: "Rig") -> np.ndarray:
    """(F,) dominant joint of every face: the joint with the largest summed skin weight over its corners."""
    J, F = rig.num_joints, len(rig.faces)
    acc = np.zeros((F, J), np.float32)
    for corner in range(3):
        v = rig.faces[:, corner]
        for k in range(rig.skin_indices.shape[1]):
            np.add.at(acc, (np.arange(F), rig.skin_indices[v, k]), rig.skin_weights[v, k])
    return np.argmax(acc, axis=1)


def _candidate_pairs(tri: np.ndarray, cell: float) -> np.ndarray:
    """(P, 2) face pairs whose bounding boxes share a cell of a uniform grid (spatial hash broad phase)."""
    lo = np.floor(tri.min(1) / cell).astype(np.int64)
    hi = np.floor(tri.max(1) / cell).astype(np.int64)
    span = hi - lo + 1
    keys, faces = [], []
    # Faces span few cells (cell ~ 2x the typical edge); enumerate the offsets of the largest box.
    for dx in range(int(span[:, 0].max())):
        for dy in range(int(span[:, 1].max())):
            for dz in range(int(span[:, 2].max())):
                ok = (dx < span[:, 0]) & (dy < span[:, 1]) & (dz < span[:, 2])
                c = lo[ok] + np.array([dx, dy, dz])
                keys.append((c[:, 0] * 73856093) ^ (c[:, 1] * 19349663) ^ (c[:, 2] * 83492791))
                faces.append(np.nonzero(ok)[0])
    keys_a, faces_a = np.concatenate(keys), np.concatenate(faces)
    order = np.argsort(keys_a, kind="stable")
    keys_a, faces_a = keys_a[order], faces_a[order]
    pairs = []
    for k in range(1, 64):
        same = keys_a[k:] == keys_a[:-k]
        if not same.any():
            break
        pairs.append(np.stack([faces_a[:-k][same], faces_a[k:][same]], 1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    p = np.concatenate(pairs)
    p = np.sort(p, axis=1)
    return np.unique(p, axis=0)


def _segments_hit_triangles(p0: np.ndarray, p1: np.ndarray, tri: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(N,) bool: segment p0->p1 crosses triangle ``tri`` (N, 3, 3) (Moller-Trumbore, strict interior)."""
    d = p1 - p0
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    h = np.cross(d, e2)
    a = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(a) > eps
    f = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
    s = p0 - tri[:, 0]
    u = f * np.einsum("ij,ij->i", s, h)
    q = np.cross(s, e1)
    v = f * np.einsum("ij,ij->i", d, q)
    t = f * np.einsum("ij,ij->i", e2, q)
    return ok & (u > 0) & (v > 0) & (u + v < 1) & (t > 0) & (t < 1)


def triangles_intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) bool: triangles ``a`` (N, 3, 3) and ``b`` (N, 3, 3) cross (an edge of one passes through the
    other). Coplanar overlaps are not counted."""
    hit = np.zeros(len(a), bool)
    for i in range(3):
        j = (i + 1) % 3
        hit |= _segments_hit_triangles(a[:, i], a[:, j], b)
        hit |= _segments_hit_triangles(b[:, i], b[:, j], a)
    return hit


@dataclass
class SelfIntersections:
    """Result of :func:`self_intersections` for P poses.

    Attributes:
        pairs: (P,) int number of crossing face pairs from different body parts.
        face_fraction: (P,) fraction of the mesh's faces involved in such a crossing.
    """

    pairs: np.ndarray
    face_fraction: np.ndarray

    def flags(self, max_fraction: float = 0.0) -> np.ndarray:
        """(P,) bool: poses whose intersecting face fraction exceeds ``max_fraction``."""
        return self.face_fraction > max_fraction


class _IntersectionContext:
    """Per-rig data reused across poses: face parts, allowed pairs and the rest pose's own crossings."""

    def __init__(self, rig: "Rig", min_hops: int) -> None:
        self.faces = rig.faces.astype(np.int64)
        self.parts = face_parts(rig)
        self.hops = hop_distances(rig.parents)
        self.min_hops = min_hops
        edge = np.linalg.norm(rig.vertices[self.faces[:, 1]] - rig.vertices[self.faces[:, 0]], axis=1)
        self.cell = 2.0 * float(np.median(edge)) if len(edge) else 1.0
        self.rest: set[tuple[int, int]] = set()

    def crossing_pairs(self, verts: np.ndarray) -> np.ndarray:
        tri = verts[self.faces].astype(np.float64)
        pairs = _candidate_pairs(tri, self.cell)
        if len(pairs) == 0:
            return pairs
        pairs = pairs[self.hops[self.parts[pairs[:, 0]], self.parts[pairs[:, 1]]] >= self.min_hops]
        a, b = pairs[:, 0], pairs[:, 1]
        fa, fb = self.faces[a], self.faces[b]
        share = (fa[:, :, None] == fb[:, None, :]).any((1, 2))
        box = (tri[a].min(1) <= tri[b].max(1)).all(1) & (tri[b].min(1) <= tri[a].max(1)).all(1)
        pairs = pairs[~share & box]
        hit = triangles_intersect(tri[pairs[:, 0]], tri[pairs[:, 1]])
        return pairs[hit]


def self_intersections(
    rig: "Rig", poses: "Poses", min_hops: int = 4, ignore_rest: bool = True
) -> SelfIntersections:
    """Count faces of different body parts that cross each other in each pose.

    A face belongs to the joint with the largest skin weight over its corners; two faces are different body
    parts when their joints are at least ``min_hops`` bones apart in the hierarchy: neighbouring parts
    overlap at a bending joint, and linear blend skinning pushes an upper arm into the chest (3 bones
    apart in a humanoid) in ordinary arms-down poses, so the default counts forearms, hands and legs
    through the body, not armpits. Broad phase: a spatial hash of face bounding boxes; narrow
    phase: exact triangle-triangle crossing tests.

    Args:
        rig: a rig with a mesh.
        poses: P poses.
        min_hops: hierarchy distance from which two parts count as different.
        ignore_rest: do not count face pairs that already cross in the rest pose (modelling, not posing).

    Returns:
        :class:`SelfIntersections` with per-pose pair counts and face fractions.
    """
    ctx = _IntersectionContext(rig, min_hops)
    if ignore_rest:
        ctx.rest = {tuple(p) for p in ctx.crossing_pairs(rig.vertices.astype(np.float64))}
    verts = skin(rig, poses)
    counts, fractions = np.zeros(len(poses), np.int64), np.zeros(len(poses))
    for i in range(len(poses)):
        pairs = ctx.crossing_pairs(verts[i])
        if ctx.rest and len(pairs):
            pairs = np.array([p for p in pairs if tuple(p) not in ctx.rest], np.int64).reshape(-1, 2)
        counts[i] = len(pairs)
        fractions[i] = len(np.unique(pairs)) / max(len(ctx.faces), 1)
    return SelfIntersections(counts, fractions)


# ----- hyper-extension and twist --------------------------------------------------------------------
def joint_swing_twist(rig: "Rig", poses: "Poses") -> tuple[np.ndarray, np.ndarray]:
    """Swing angle (P, J) in [0, pi] and signed twist angle (P, J) in [-pi, pi] of every joint's delta rotation
    about its twist axis (the joint limits' axis, :func:`vips.limits.limit_frames`), radians.

    The delta acts after the rest rotation (``local = rest * delta``), so it is decomposed in the frame the
    child offset is expressed in.
    """
    swing, twist = swing_twist_angles(poses.rotations.astype(np.float64), limit_frames(rig))
    return np.linalg.norm(swing, axis=-1), twist


@dataclass
class JointRanges:
    """Per-joint allowed range: swing up to ``swing_max`` and twist within [twist_min, twist_max], radians,
    each (J,)."""

    swing_max: np.ndarray
    twist_min: np.ndarray
    twist_max: np.ndarray

    @classmethod
    def from_poses(cls, rig: "Rig", poses: "Poses") -> "JointRanges":
        """The range seen in ``poses`` (e.g. the fitted motion)."""
        swing, twist = joint_swing_twist(rig, poses)
        return cls(swing.max(0), twist.min(0), twist.max(0))


@dataclass
class Hyperextension:
    """Result of :func:`hyperextension`: ``flags`` (P,) bool, per-joint ``joint_flags`` (P, J) and the
    excess beyond the range in radians ``excess`` (P, J)."""

    flags: np.ndarray
    joint_flags: np.ndarray
    excess: np.ndarray


def hyperextension(
    rig: "Rig", poses: "Poses", ranges: JointRanges | None = None, reference: "Poses | None" = None,
    margin_deg: float = 10.0,
) -> Hyperextension:
    """Flag poses with a joint swung or twisted beyond its range.

    Args:
        rig: the rig (for bone axes).
        poses: P poses to check.
        ranges: allowed ranges (e.g. from joint limits); else the range of ``reference``.
        reference: poses whose range is allowed (e.g. the fitted motion), used when ``ranges`` is None.
        margin_deg: tolerance beyond the range, degrees.

    Returns:
        :class:`Hyperextension`.
    """
    if ranges is None:
        if reference is None:
            raise ValueError("hyperextension needs joint ranges or reference poses")
        ranges = JointRanges.from_poses(rig, reference)
    swing, twist = joint_swing_twist(rig, poses)
    m = np.deg2rad(margin_deg)
    excess = np.maximum.reduce([
        swing - ranges.swing_max[None] - m,
        ranges.twist_min[None] - twist - m,
        twist - ranges.twist_max[None] - m,
        np.zeros_like(swing),
    ])
    joint_flags = excess > 0
    return Hyperextension(joint_flags.any(1), joint_flags, excess)
