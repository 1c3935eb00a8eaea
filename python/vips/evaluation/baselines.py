"""Baseline pose models measured beside the learned one, with the same two callables.

Every baseline is fitted to one rig's training poses and offers

- ``sample(rig, n, seed) -> Poses``;
- ``score(rig, poses) -> (N,) float64``, higher meaning more plausible.

``GaussianPrior``: each joint independent, a Gaussian in the tangent space (log map) around its mean rotation,
and a Gaussian root offset; scores are log-likelihoods. ``NearestNeighbour``: samples are training poses,
scores are minus the geodesic rotation distance to the nearest training pose (the distance field Pose-NDF
learns). ``UniformLimits``: uniform Euler angles inside joint limits (given, or the per-axis range of the
training poses); scores are minus how far the joints leave the limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vips.evaluation.metrics import rotation_distances
from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_conjugate, quat_multiply, quat_normalize, quat_to_axis_angle

if TYPE_CHECKING:
    from vips.data.creatures.limits import JointLimits
    from vips.rig import Rig


def mean_rotation(q: np.ndarray) -> np.ndarray:
    """(N, J, 4) quaternions -> (J, 4) per-joint mean rotation (Markley et al. 2007: top eigenvector of sum q q^T).

    Sign-invariant, so q and -q count as the same rotation.
    """
    q = np.asarray(q, np.float64)
    second = np.einsum("njk,njl->jkl", q, q)
    _, vecs = np.linalg.eigh(second)
    return quat_normalize(vecs[..., -1])


def _as_poses(rot: np.ndarray, root: np.ndarray, name: str) -> Poses:
    return Poses(quat_normalize(rot).astype(np.float32), root.astype(np.float32), name=name)


def _check(rig: "Rig", poses: Poses, num_joints: int, what: str) -> None:
    poses.check_rig(num_joints, f"{what} fitted to rig {rig.label}")


# ----- independent per-joint Gaussian ----------------------------------------------------------------------------
@dataclass(eq=False)
class GaussianPrior:
    """Independent per-joint Gaussian prior in the tangent space of each joint's mean rotation.

    Attributes:
        mean: (J, 4) mean rotation of each joint (delta from rest).
        cov: (J, 3, 3) covariance of ``log(mean^-1 * q)`` (radians^2), regularized.
        root_mean: (3,) mean root offset (asset units); root_cov: (3, 3) its covariance, regularized.
    """

    mean: np.ndarray
    cov: np.ndarray
    root_mean: np.ndarray
    root_cov: np.ndarray
    name: str = "gaussian"

    @classmethod
    def fit(cls, rig: "Rig", poses: Poses, eps_rad: float = 0.02, eps_root: float = 1e-3) -> "GaussianPrior":
        """Fit to training poses; ``eps_rad`` (radians) and ``eps_root`` (fraction of height) regularize the spread."""
        poses.check_rig(rig.num_joints, f"rig {rig.label}")
        q = poses.rotations.astype(np.float64)
        mean = mean_rotation(q)
        v = quat_to_axis_angle(quat_multiply(quat_conjugate(mean)[None], q))
        cov = np.einsum("njk,njl->jkl", v, v) / len(q) + eps_rad**2 * np.eye(3)
        root = poses.root_translation.astype(np.float64)
        root_mean = root.mean(axis=0)
        d = root - root_mean
        root_cov = d.T @ d / len(root) + (eps_root * rig.height()) ** 2 * np.eye(3)
        return cls(mean, cov, root_mean, root_cov)

    def score(self, rig: "Rig", poses: Poses) -> np.ndarray:
        """(N,) float64 log-likelihood of each pose (sum over joints and the root offset)."""
        _check(rig, poses, len(self.mean), "Gaussian prior")
        v = quat_to_axis_angle(quat_multiply(quat_conjugate(self.mean)[None], poses.rotations.astype(np.float64)))
        total = _gaussian_logpdf(v, self.cov).sum(axis=1)
        d = poses.root_translation.astype(np.float64) - self.root_mean
        return total + _gaussian_logpdf(d[:, None], self.root_cov[None])[:, 0]

    def sample(self, rig: "Rig", n: int, seed: int = 0) -> Poses:
        """``n`` poses drawn from the prior."""
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.cov)
        v = np.einsum("jkl,njl->njk", chol, rng.normal(size=(n, len(self.mean), 3)))
        rot = quat_multiply(self.mean[None], axis_angle_to_quat(v))
        root = self.root_mean + rng.normal(size=(n, 3)) @ np.linalg.cholesky(self.root_cov).T
        return _as_poses(rot, root, "gaussian_samples")


def _gaussian_logpdf(x: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(N, J, 3) points, (J, 3, 3) covariances -> (N, J) log densities of zero-mean Gaussians."""
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol[None], x[..., None])[..., 0]
    logdet = 2 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    return -0.5 * (np.sum(z * z, axis=-1) + logdet[None] + 3 * np.log(2 * np.pi))


# ----- nearest-neighbour retrieval --------------------------------------------------------------------------------
@dataclass(eq=False)
class NearestNeighbour:
    """Retrieval from the training set: samples are training poses, scores minus the distance to the nearest one.

    Attributes:
        train: the training poses.
    """

    train: Poses
    name: str = "nearest_neighbour"

    @classmethod
    def fit(cls, rig: "Rig", poses: Poses) -> "NearestNeighbour":
        poses.check_rig(rig.num_joints, f"rig {rig.label}")
        return cls(poses)

    def score(self, rig: "Rig", poses: Poses) -> np.ndarray:
        """(N,) float64 minus the mean per-joint geodesic angle (radians) to the nearest training pose."""
        _check(rig, poses, self.train.num_joints, "nearest-neighbour baseline")
        return -rotation_distances(poses.rotations, self.train.rotations).min(axis=1)

    def sample(self, rig: "Rig", n: int, seed: int = 0) -> Poses:
        """``n`` training poses drawn at random (without replacement while there are enough)."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.train), size=n, replace=n > len(self.train))
        out = self.train[idx]
        out.name = "nearest_neighbour_samples"
        return out


# ----- uniform inside joint limits -------------------------------------------------------------------------------
def _wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


@dataclass(eq=False)
class UniformLimits:
    """Uniform Euler angles inside per-joint boxes, around a per-axis centre.

    Attributes:
        center: (J, 3) radians the boxes are measured from (0 for given limits, the data's circular mean
            when estimated, so ranges that straddle +-pi stay small).
        lower, upper: (J, 3) radians relative to ``center``.
        orders: J Euler composition orders (see :mod:`vips.data.creatures.limits`).
        root_low, root_high: (3,) box of the root offset (asset units).
        source: "given" or "estimated".
    """

    center: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    orders: list[str]
    root_low: np.ndarray
    root_high: np.ndarray
    source: str = "estimated"
    name: str = "uniform_limits"

    @classmethod
    def fit(cls, rig: "Rig", poses: Poses, limits: "JointLimits | None" = None) -> "UniformLimits":
        """Limits from ``limits`` when given, else the per-joint, per-axis range of ``poses``' Euler angles."""
        from vips.data.creatures.limits import order_for_ranges, quat_to_euler

        poses.check_rig(rig.num_joints, f"rig {rig.label}")
        root = poses.root_translation.astype(np.float64)
        if limits is not None:
            if limits.num_joints != rig.num_joints:
                raise ValueError(f"limits have {limits.num_joints} joints, rig {rig.label} has {rig.num_joints}")
            J = rig.num_joints
            return cls(np.zeros((J, 3)), limits.lower.copy(), limits.upper.copy(), list(limits.orders),
                       root.min(axis=0), root.max(axis=0), "given")
        q = poses.rotations.astype(np.float64)
        spread = np.ptp(quat_to_axis_angle(q), axis=0)  # (J, 3): the least moving axis goes in the middle
        orders = [order_for_ranges(-s / 2, s / 2) for s in spread]
        angles = np.stack([quat_to_euler(q[:, j], orders[j]) for j in range(q.shape[1])], axis=1)
        center = np.arctan2(np.sin(angles).mean(axis=0), np.cos(angles).mean(axis=0))
        rel = _wrap(angles - center[None])
        return cls(center, rel.min(axis=0), rel.max(axis=0), orders, root.min(axis=0), root.max(axis=0))

    def _to_quats(self, angles: np.ndarray) -> np.ndarray:
        from vips.data.creatures.limits import euler_to_quat

        out = np.empty(angles.shape[:-1] + (4,))
        for j, order in enumerate(self.orders):
            out[:, j] = euler_to_quat(angles[:, j], order)
        return out

    def _to_euler(self, q: np.ndarray) -> np.ndarray:
        from vips.data.creatures.limits import quat_to_euler

        return np.stack([quat_to_euler(q[:, j], order) for j, order in enumerate(self.orders)], axis=1)

    def score(self, rig: "Rig", poses: Poses) -> np.ndarray:
        """(N,) float64 minus the total angle (radians) by which the joints leave their boxes (0 inside)."""
        _check(rig, poses, len(self.orders), "uniform-limits baseline")
        rel = _wrap(self._to_euler(poses.rotations.astype(np.float64)) - self.center[None])
        over = np.maximum(rel - self.upper[None], 0) + np.maximum(self.lower[None] - rel, 0)
        return -over.sum(axis=(1, 2))

    def sample(self, rig: "Rig", n: int, seed: int = 0) -> Poses:
        """``n`` poses with every Euler angle uniform in its box and a uniform root offset."""
        rng = np.random.default_rng(seed)
        angles = self.center[None] + rng.uniform(self.lower[None], self.upper[None], size=(n,) + self.lower.shape)
        root = rng.uniform(self.root_low, self.root_high, size=(n, 3))
        return _as_poses(self._to_quats(angles), root, "uniform_limits_samples")


def fit_baselines(rig: "Rig", train: Poses, limits: "JointLimits | None" = None) -> dict:
    """The three baselines fitted to ``train``, by name: "gaussian", "nearest_neighbour", "uniform_limits"."""
    return {
        "gaussian": GaussianPrior.fit(rig, train),
        "nearest_neighbour": NearestNeighbour.fit(rig, train),
        "uniform_limits": UniformLimits.fit(rig, train, limits),
    }
