"""Metrics of a pose space: plausibility AUROC, pose distances, sample fidelity, coverage and diversity.

Distances between poses come in two kinds, both averaged over joints:

- **position**: mean per-joint Euclidean distance of root-relative joint positions, as a fraction of the rig's
  height (:func:`pose_features` gives those positions). Scale- and unit-free; blind to a twist about a
  straight bone, which moves no joint.
- **rotation**: mean per-joint geodesic angle between the local rotations, in radians (sees twists).

Fidelity metrics follow the point-cloud generation literature (Yang et al., PointFlow, ICCV 2019): 1-NNA,
COV and MMD between a sample set and a reference set, plus APD (average pairwise distance) for diversity as
DPoser and Pose-NDF report it. Pairwise matrices are built in blocks so memory stays bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from vips.poses import Poses

if TYPE_CHECKING:
    from vips.rig import Rig

# Bytes one block of a pairwise computation may use; bounds the (b, M, J, 3) temporaries.
BLOCK_BYTES = 64 << 20


# ----- AUROC ------------------------------------------------------------------------------------------------
def average_ranks(x: np.ndarray) -> np.ndarray:
    """(N,) values -> (N,) float64 ranks starting at 1, tied values sharing the mean of their ranks."""
    x = np.asarray(x, np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values, and the mean rank over the run.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    run_rank = 0.5 * (starts + 1 + ends)  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of a score that should be higher on ``positive`` than on ``negative``.

    The Mann-Whitney U statistic over ``n_pos * n_neg`` pairs: P(score_pos > score_neg) + 0.5 P(tie).
    NaN scores count as least plausible (-inf); +-inf are ordinary values.

    Args:
        positive: (P,) scores of valid poses.
        negative: (Q,) scores of corrupted poses.
    Returns:
        AUROC in [0, 1]; 1 = perfect separation, 0.5 = chance.
    """
    pos = np.nan_to_num(np.asarray(positive, np.float64).ravel(), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    neg = np.nan_to_num(np.asarray(negative, np.float64).ravel(), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"auroc needs scores on both sides, got {len(pos)} positive and {len(neg)} negative")
    ranks = average_ranks(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


# ----- pose distances ---------------------------------------------------------------------------------------
def pose_features(rig: "Rig", poses: Poses, canonical_heading: bool = True, root: int = 0) -> np.ndarray:
    """(N, J, 3) float64 joint positions relative to the ``root`` joint, divided by the rig's height.

    With ``canonical_heading`` each pose is turned about the up axis so that the ``root`` joint faces as it does
    at rest: where a creature walks to is not part of its pose (tilt and roll of that joint still are).
    ``root`` is the rig's root joint by default; another joint (the pelvis below a static ground bone, see
    :func:`vips.body.body_root`) makes the positions relative to it and its heading.
    """
    from vips.kinematics import heading_angles, root_heading, world_matrices

    world = world_matrices(rig, poses).astype(np.float64)
    pos = world[:, :, :3, 3]
    pos = (pos - pos[:, root : root + 1]) / rig.height()
    if not canonical_heading:
        return pos
    up = rig.up_vector().astype(np.float64)
    if root == 0:
        return _rotate_about(pos, up, -root_heading(rig, poses))
    # The joint's turn in world axes from rest to pose; for the root this is exactly root_heading's turn.
    rest = rig.rest_world_matrices()[root, :3, :3].astype(np.float64)
    return _rotate_about(pos, up, -heading_angles(world[:, root, :3, :3] @ rest.T, up))


def _rotate_about(points: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (N, J, 3) points about the unit ``axis`` through the origin by (N,) angles (Rodrigues)."""
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    along = (points @ axis)[..., None] * axis
    return points * c + np.cross(axis, points) * s + along * (1 - c)


def position_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise mean per-joint distance between position features (N, J, 3) and (M, J, 3) -> (N, M) float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.empty((len(a), len(b)), np.float64)
    step = max(1, BLOCK_BYTES // max(1, b.size * 8))
    for i in range(0, len(a), step):
        diff = a[i : i + step, None] - b[None]
        out[i : i + step] = np.linalg.norm(diff, axis=-1).mean(axis=-1)
    return out


def rotation_distances(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Pairwise mean per-joint geodesic angle (radians) between rotations (N, J, 4) and (M, J, 4) -> (N, M)."""
    qa = np.asarray(qa, np.float64)
    qb = np.asarray(qb, np.float64)
    qa = qa / np.linalg.norm(qa, axis=-1, keepdims=True)
    qb = qb / np.linalg.norm(qb, axis=-1, keepdims=True)
    out = np.empty((len(qa), len(qb)), np.float64)
    step = max(1, BLOCK_BYTES // max(1, qb.shape[0] * qb.shape[1] * 8))
    for i in range(0, len(qa), step):
        dots = np.abs(np.einsum("njk,mjk->nmj", qa[i : i + step], qb))
        out[i : i + step] = (2 * np.arccos(np.clip(dots, 0.0, 1.0))).mean(axis=-1)
    return out


def pose_distance(rig: "Rig", a: Poses, b: Poses, kind: str = "position") -> np.ndarray:
    """(N,) distance between paired poses ``a[i]`` and ``b[i]``: "position" (fraction of height) or "rotation"."""
    if len(a) != len(b):
        raise ValueError(f"pose_distance pairs poses: got {len(a)} and {len(b)}")
    if kind == "position":
        fa, fb = pose_features(rig, a), pose_features(rig, b)
        return np.linalg.norm(fa - fb, axis=-1).mean(axis=-1)
    if kind == "rotation":
        dots = np.abs(np.sum(a.rotations.astype(np.float64) * b.rotations.astype(np.float64), axis=-1))
        return (2 * np.arccos(np.clip(dots, 0.0, 1.0))).mean(axis=-1)
    raise ValueError(f"unknown distance kind {kind!r}; use 'position' or 'rotation'")


# ----- fidelity, coverage, diversity ------------------------------------------------------------------------
def one_nna(d_ss: np.ndarray, d_sr: np.ndarray, d_rr: np.ndarray) -> float:
    """1-nearest-neighbour two-sample accuracy (Lopez-Paz & Oquab 2017), leave-one-out.

    Every pose of the union of samples S and reference R is classified by the set of its nearest other pose;
    returns the accuracy: 0.5 when S and R are indistinguishable, 1.0 when disjoint, below 0.5 when samples
    copy the reference.

    Args:
        d_ss: (n, n) distances among samples; d_sr: (n, m) samples to reference; d_rr: (m, m) among reference.
    """
    n, m = d_sr.shape
    full = np.block([[d_ss, d_sr], [d_sr.T, d_rr]]).astype(np.float64, copy=True)
    np.fill_diagonal(full, np.inf)
    label = np.r_[np.zeros(n, bool), np.ones(m, bool)]
    nearest = np.argmin(full, axis=1)
    return float(np.mean(label[nearest] == label))


def coverage(d_sr: np.ndarray) -> float:
    """COV: fraction of reference poses that are the nearest reference of at least one sample. d_sr: (n, m)."""
    return float(len(np.unique(np.argmin(d_sr, axis=1))) / d_sr.shape[1])


def mmd(d_sr: np.ndarray) -> float:
    """MMD (minimum matching distance): mean over reference poses of the distance to the nearest sample."""
    return float(np.min(d_sr, axis=0).mean())


def apd(d_ss: np.ndarray) -> float:
    """APD: mean distance over all pairs of distinct poses of one set; d_ss: (n, n) symmetric, n >= 2."""
    n = d_ss.shape[0]
    if n < 2:
        return 0.0
    return float((d_ss.sum() - np.trace(d_ss)) / (n * (n - 1)))


def fidelity(samples: np.ndarray, reference: np.ndarray, distances: Callable = position_distances) -> dict:
    """1-NNA, COV, MMD of ``samples`` against ``reference`` and the APD of both.

    Args:
        samples: (n, ...) features (positions from :func:`pose_features`, or rotations with
            ``distances=rotation_distances``).
        reference: (m, ...) features of held-out true poses.
    Returns:
        ``{"1nna", "cov", "mmd", "apd", "apd_reference", "n_samples", "n_reference"}``.
    """
    d_ss = distances(samples, samples)
    d_sr = distances(samples, reference)
    d_rr = distances(reference, reference)
    return {
        "1nna": one_nna(d_ss, d_sr, d_rr),
        "cov": coverage(d_sr),
        "mmd": mmd(d_sr),
        "apd": apd(d_ss),
        "apd_reference": apd(d_rr),
        "n_samples": int(len(samples)),
        "n_reference": int(len(reference)),
    }


# ----- self-intersection ------------------------------------------------------------------------------------
def default_intersection_detector() -> Callable:
    """The data pipeline's ``self_intersections(rig, poses)`` validator (numpy only, like this module)."""
    from vips.fitting.validators import self_intersections

    return self_intersections


def self_intersection_rate(rig: "Rig", poses: Poses, detector: Callable | bool | None = None) -> float | None:
    """Fraction of ``poses`` whose skinned mesh intersects itself, or None when it cannot be measured.

    ``detector(rig, poses)`` returns, per pose, a flag, a count or an amount (anything > 0 counts as
    intersecting); the default (None) is :func:`default_intersection_detector`; ``False`` skips the
    measurement. Rigs without a mesh give None.
    """
    if detector is False:
        return None
    detector = detector or default_intersection_detector()
    if not rig.has_mesh or len(poses) == 0:
        return None
    result = detector(rig, poses)
    # The data pipeline's validator returns a SelfIntersections record; plain detectors return arrays.
    result = np.asarray(result.flags() if hasattr(result, "face_fraction") else result)
    if result.ndim == 0 or result.shape[0] != len(poses):
        raise ValueError(f"self-intersection detector returned shape {result.shape} for {len(poses)} poses")
    per_pose = result.reshape(len(poses), -1).astype(np.float64)
    return float(np.mean((per_pose > 0).any(axis=1)))
