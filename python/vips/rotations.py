"""Rotation conversions on numpy arrays, vectorized over any leading batch shape.

Conventions (DESIGN.md): quaternions are (w, x, y, z); matrices act on column vectors (``R @ v``); the
continuous 6D form is the first two *columns* of the rotation matrix, stored as ``(..., 6)`` =
``[R[:, 0], R[:, 1]]`` (Zhou et al., "On the Continuity of Rotation Representations", CVPR 2019).
Functions keep the input's float dtype, so float64 references and float32 kernels share them.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def _float(a: Array) -> Array:
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def quat_identity(shape: tuple[int, ...] = (), dtype: type = np.float32) -> Array:
    """Identity quaternions of shape ``shape + (4,)``."""
    q = np.zeros(shape + (4,), dtype=dtype)
    q[..., 0] = 1.0
    return q


def quat_normalize(q: Array) -> Array:
    """(..., 4) -> (..., 4) unit quaternions with w >= 0 (a canonical sign for q and -q)."""
    q = _float(q)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    q = q / np.where(n > 0, n, 1)
    return np.where(q[..., :1] < 0, -q, q)


def quat_conjugate(q: Array) -> Array:
    """(..., 4) -> (..., 4); the inverse of a unit quaternion."""
    q = _float(q)
    return q * np.array([1, -1, -1, -1], dtype=q.dtype)


def quat_multiply(a: Array, b: Array) -> Array:
    """Hamilton product ``a * b`` of (..., 4) quaternions (rotation b first, then a)."""
    a, b = _float(a), _float(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_to_matrix(q: Array) -> Array:
    """(..., 4) quaternions (normalized here) -> (..., 3, 3) rotation matrices."""
    q = _float(q)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: Array) -> Array:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0.

    Uses the largest of the four diagonal combinations as the pivot, so it is stable for every rotation
    (Shepperd's method), including 180 degree turns where w is near zero.
    """
    m = _float(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    candidates = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], -1),
            np.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            np.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            np.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )
    pivots = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(pivots, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    return quat_normalize(q)


def axis_angle_to_quat(axis_angle: Array) -> Array:
    """(..., 3) rotation vectors (axis times angle in radians) -> (..., 4) quaternions."""
    v = _float(axis_angle)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(h)/angle tends to 1/2 at zero; the series keeps small angles exact.
    k = np.where(angle > 1e-8, np.sin(half) / np.where(angle > 1e-8, angle, 1), 0.5 - angle**2 / 48)
    return np.concatenate([np.cos(half), v * k], axis=-1)


def quat_to_axis_angle(q: Array) -> Array:
    """(..., 4) quaternions -> (..., 3) rotation vectors with angle in [0, pi]."""
    q = quat_normalize(q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    k = np.where(s > 1e-8, angle / np.where(s > 1e-8, s, 1), 2.0)
    return q[..., 1:] * k


def quat_angle(q: Array) -> Array:
    """(..., 4) -> (...,) rotation angle in radians, in [0, pi]."""
    q = quat_normalize(q)
    return 2 * np.arctan2(np.linalg.norm(q[..., 1:], axis=-1), q[..., 0])


def swing_twist(q: Array, axis: Array) -> tuple[Array, Array]:
    """Split quaternions (..., 4) as ``q = swing * twist``, ``twist`` about the unit ``axis`` (..., 3) (broadcast)
    and ``swing`` about an axis perpendicular to it.

    Returns (swing, twist), both (..., 4) float64 unit quaternions; neither sign is made canonical (w >= 0).
    """
    q = np.asarray(q, np.float64)
    axis = np.broadcast_to(np.asarray(axis, np.float64), q.shape[:-1] + (3,))
    along = np.sum(q[..., 1:] * axis, axis=-1, keepdims=True) * axis
    twist = np.concatenate([q[..., :1], along], axis=-1)
    n = np.linalg.norm(twist, axis=-1, keepdims=True)
    # A swing of exactly 180 degrees leaves the twist undefined; identity is as good as any.
    twist = np.where(n > 1e-9, twist / np.where(n > 1e-9, n, 1), np.array([1.0, 0, 0, 0]))
    swing = quat_multiply(q, quat_conjugate(twist))
    return swing, twist


def quat_slerp(a: Array, b: Array, t: Array | float) -> Array:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1) along the shorter arc; (..., 4)."""
    a, b = quat_normalize(a), quat_normalize(b)
    t = np.asarray(t, dtype=a.dtype)[..., None] if np.ndim(t) else np.asarray(t, dtype=a.dtype)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1, 1))
    sin = np.sin(theta)
    near = sin < 1e-6
    wa = np.where(near, 1 - t, np.sin((1 - t) * theta) / np.where(near, 1, sin))
    wb = np.where(near, t, np.sin(t * theta) / np.where(near, 1, sin))
    return quat_normalize(wa * a + wb * b)


def matrix_to_rot6d(m: Array) -> Array:
    """(..., 3, 3) -> (..., 6): the first two columns of the matrix."""
    m = _float(m)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def rot6d_to_matrix(d6: Array) -> Array:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; any 6D input with independent halves maps to a rotation."""
    d6 = _float(d6)
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2 / np.linalg.norm(a2, axis=-1, keepdims=True)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def quat_to_rot6d(q: Array) -> Array:
    """(..., 4) -> (..., 6)."""
    return matrix_to_rot6d(quat_to_matrix(q))


def rot6d_to_quat(d6: Array) -> Array:
    """(..., 6) -> (..., 4)."""
    return matrix_to_quat(rot6d_to_matrix(d6))


def compose_affine(rotation: Array, translation: Array, scale: Array | None = None) -> Array:
    """(..., 4) quaternions, (..., 3) translations and optional (..., 3) scales -> (..., 4, 4) ``T @ R @ S``."""
    r = quat_to_matrix(rotation)
    if scale is not None:
        r = r * _float(scale)[..., None, :]
    m = np.zeros(r.shape[:-2] + (4, 4), dtype=r.dtype)
    m[..., :3, :3] = r
    m[..., :3, 3] = translation
    m[..., 3, 3] = 1
    return m


def decompose_affine(m: Array) -> tuple[Array, Array, Array]:
    """(..., 4, 4) affine ``T @ R @ S`` (no shear) -> (rotation (..., 4), translation (..., 3), scale (..., 3)).

    A negative determinant (mirror) is put into the scale's x component.
    """
    m = _float(m)
    lin = m[..., :3, :3]
    scale = np.linalg.norm(lin, axis=-2)
    det_sign = np.sign(np.linalg.det(lin))
    scale[..., 0] *= np.where(det_sign == 0, 1, det_sign)
    safe = np.where(scale == 0, 1, scale)
    rot = lin / safe[..., None, :]
    return matrix_to_quat(rot), m[..., :3, 3].copy(), scale


def nearest_rigid(matrices: np.ndarray) -> np.ndarray:
    """(..., 4, 4) affine matrices -> their rigid part (float64): the nearest rotation of each linear part (polar
    decomposition, mirrors resolved to a proper rotation) with the translation kept. For ``[s R | t]`` with a
    uniform scale ``s > 0`` this is exactly ``[R | t]``."""
    m = np.asarray(matrices, np.float64)
    u, _, vt = np.linalg.svd(m[..., :3, :3])
    flip = np.sign(np.linalg.det(u @ vt))
    u = u.copy()
    u[..., :, 2] *= np.where(flip == 0, 1, flip)[..., None]
    out = m.copy()
    out[..., :3, :3] = u @ vt
    return out
