"""Per-joint rotation limits as Euler-angle boxes, and the Euler <-> quaternion maps they are defined in.

An Euler triple is always stored as angles about the joint's local X, Y and Z axes, ``(..., 3)`` radians.
``order`` names the composition: order "XYZ" means ``q = qX(ax) * qY(ay) * qZ(az)`` (Hamilton product,
so Z acts first on a vector, X last). Every joint's middle axis is limited to strictly inside
(-pi/2, pi/2), which makes the decomposition of a rotation into angles of that order unique; a pose is
inside the limits exactly when its decomposed angles are inside ``[lower, upper]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.rotations import quat_multiply, quat_normalize, quat_to_matrix

AXES = "XYZ"
KINDS = ("free", "ball", "hinge", "fixed")
MIDDLE_LIMIT = 1.45  # below pi/2, so the middle Euler angle never reaches gimbal lock


def _axis_quat(angle: np.ndarray, axis: int) -> np.ndarray:
    q = np.zeros(np.shape(angle) + (4,), np.float64)
    q[..., 0] = np.cos(0.5 * angle)
    q[..., 1 + axis] = np.sin(0.5 * angle)
    return q


def euler_to_quat(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) angles about X, Y, Z (radians) -> (..., 4) float64 quaternions composed in ``order``."""
    angles = np.asarray(angles, np.float64)
    i, j, k = (AXES.index(a) for a in order)
    q = quat_multiply(_axis_quat(angles[..., i], i), _axis_quat(angles[..., j], j))
    return quat_multiply(q, _axis_quat(angles[..., k], k))


def quat_to_euler(q: np.ndarray, order: str) -> np.ndarray:
    """(..., 4) quaternions -> (..., 3) float64 angles about X, Y, Z such that ``euler_to_quat`` gives ``q`` back.

    The middle angle is in [-pi/2, pi/2], the outer two in (-pi, pi].
    """
    R = quat_to_matrix(np.asarray(q, np.float64))
    i, j, k = (AXES.index(a) for a in order)
    e = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for cyclic orders (XYZ, YZX, ZXY)
    out = np.zeros(R.shape[:-2] + (3,), np.float64)
    out[..., j] = np.arcsin(np.clip(e * R[..., i, k], -1.0, 1.0))
    out[..., i] = np.arctan2(-e * R[..., j, k], R[..., k, k])
    out[..., k] = np.arctan2(-e * R[..., i, j], R[..., i, i])
    return out


def order_for_ranges(lower: np.ndarray, upper: np.ndarray) -> str:
    """A composition order whose middle axis is the one with the smallest range."""
    middle = int(np.argmin(np.asarray(upper) - np.asarray(lower)))
    return {0: "YXZ", 1: "XYZ", 2: "YZX"}[middle]


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Angles mapped into [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


@dataclass(eq=False)
class JointLimits:
    """Rotation limits of every joint of a creature, relative to its rest local rotation.

    Attributes:
        lower: (J, 3) float64 lowest angle about local X, Y, Z (radians).
        upper: (J, 3) float64 highest angle about local X, Y, Z (radians); ``lower <= upper``.
        orders: J composition orders ("XYZ", "YXZ"...), see the module docstring.
        kinds: J of "free" (the root: any heading), "ball", "hinge" (one axis moves) or "fixed" (leaf joints).
    """

    lower: np.ndarray
    upper: np.ndarray
    orders: list[str]
    kinds: list[str]

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, np.float64)
        self.upper = np.asarray(self.upper, np.float64)
        J = len(self.orders)
        if self.lower.shape != (J, 3) or self.upper.shape != (J, 3) or len(self.kinds) != J:
            raise ValueError(f"limits need (J, 3) bounds and J orders and kinds, J={J}")
        if (self.lower > self.upper).any():
            raise ValueError(f"lower > upper at joint {int(np.argwhere(self.lower > self.upper)[0, 0])}")
        for j, order in enumerate(self.orders):
            m = AXES.index(order[1])
            if self.lower[j, m] < -MIDDLE_LIMIT - 1e-9 or self.upper[j, m] > MIDDLE_LIMIT + 1e-9:
                raise ValueError(f"joint {j}: middle axis {order[1]} of order {order} exceeds +-{MIDDLE_LIMIT}")
            if self.kinds[j] not in KINDS:
                raise ValueError(f"joint {j}: unknown kind {self.kinds[j]!r}")

    @property
    def num_joints(self) -> int:
        return len(self.orders)

    def clip(self, angles: np.ndarray) -> np.ndarray:
        """(..., J, 3) Euler angles wrapped to [-pi, pi) and clipped into the limits (float64)."""
        return np.clip(wrap_angle(angles), self.lower, self.upper)

    def to_quats(self, angles: np.ndarray) -> np.ndarray:
        """(..., J, 3) Euler angles (each joint in its own order) -> (..., J, 4) float64 unit quaternions."""
        angles = np.asarray(angles, np.float64)
        out = np.empty(angles.shape[:-1] + (4,), np.float64)
        for order in set(self.orders):
            cols = [j for j, o in enumerate(self.orders) if o == order]
            out[..., cols, :] = euler_to_quat(angles[..., cols, :], order)
        return quat_normalize(out)

    def to_euler(self, quats: np.ndarray) -> np.ndarray:
        """(..., J, 4) quaternions -> (..., J, 3) float64 Euler angles in each joint's order."""
        quats = np.asarray(quats, np.float64)
        out = np.empty(quats.shape[:-1] + (3,), np.float64)
        for order in set(self.orders):
            cols = [j for j, o in enumerate(self.orders) if o == order]
            out[..., cols, :] = quat_to_euler(quats[..., cols, :], order)
        return out

    def violation(self, quats: np.ndarray) -> np.ndarray:
        """(..., J, 4) quaternions -> (..., J) float64 radians by which each joint leaves its limits (0 inside)."""
        e = self.to_euler(quats)
        over = np.maximum(e - self.upper, 0) + np.maximum(self.lower - e, 0)
        return over.max(axis=-1)
