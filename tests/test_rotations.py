"""Rotation conversions against independent float64 formulas (Rodrigues, matrix products)."""

from __future__ import annotations

import numpy as np
import pytest

from vips import rotations as R


def rodrigues(v: np.ndarray) -> np.ndarray:
    """Independent reference: rotation matrix of a rotation vector by Rodrigues' formula."""
    theta = np.linalg.norm(v)
    if theta < 1e-12:
        return np.eye(3)
    k = v / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_axis_angle_to_matrix_matches_rodrigues(rng: np.random.Generator) -> None:
    for v in rng.normal(size=(200, 3)) * 2:
        np.testing.assert_allclose(R.quat_to_matrix(R.axis_angle_to_quat(v)), rodrigues(v), atol=1e-12)


def test_quat_multiply_composes_matrices(rng: np.random.Generator) -> None:
    a, b = R.quat_normalize(rng.normal(size=(100, 4))), R.quat_normalize(rng.normal(size=(100, 4)))
    np.testing.assert_allclose(
        R.quat_to_matrix(R.quat_multiply(a, b)), R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=1e-12
    )
    np.testing.assert_allclose(R.quat_multiply(a, R.quat_conjugate(a))[:, 0], 1, atol=1e-12)


def test_matrix_to_quat_round_trip_including_half_turns(rng: np.random.Generator) -> None:
    q = R.quat_normalize(rng.normal(size=(500, 4)))
    # 180 degree turns about random axes: w == 0, the case naive conversions lose.
    axes = rng.normal(size=(50, 3))
    half_turns = R.axis_angle_to_quat(np.pi * axes / np.linalg.norm(axes, axis=1, keepdims=True))
    q = np.concatenate([q, half_turns, R.quat_identity((1,), np.float64)])
    back = R.matrix_to_quat(R.quat_to_matrix(q))
    np.testing.assert_allclose(R.quat_to_matrix(back), R.quat_to_matrix(q), atol=1e-10)
    assert np.all(back[:, 0] >= 0)


def test_rot6d_round_trip_and_projection(rng: np.random.Generator) -> None:
    q = R.quat_normalize(rng.normal(size=(100, 4)))
    np.testing.assert_allclose(R.quat_to_matrix(R.rot6d_to_quat(R.quat_to_rot6d(q))), R.quat_to_matrix(q), atol=1e-10)
    m = R.rot6d_to_matrix(rng.normal(size=(100, 6)))
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1, atol=1e-12)


def test_axis_angle_round_trip_and_angle(rng: np.random.Generator) -> None:
    v = rng.normal(size=(100, 3))
    v *= (rng.random((100, 1)) * 3.1) / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(v)), v, atol=1e-10)
    np.testing.assert_allclose(R.quat_angle(R.axis_angle_to_quat(v)), np.linalg.norm(v, axis=1), atol=1e-10)


def test_slerp_endpoints_and_constant_speed(rng: np.random.Generator) -> None:
    a, b = R.quat_normalize(rng.normal(size=(20, 4))), R.quat_normalize(rng.normal(size=(20, 4)))
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_slerp(a, b, 0.0)), R.quat_to_matrix(a), atol=1e-10)
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_slerp(a, b, 1.0)), R.quat_to_matrix(b), atol=1e-10)
    mid = R.quat_slerp(a, b, 0.5)
    d1 = R.quat_angle(R.quat_multiply(R.quat_conjugate(a), mid))
    d2 = R.quat_angle(R.quat_multiply(R.quat_conjugate(mid), b))
    np.testing.assert_allclose(d1, d2, atol=1e-10)


def test_compose_decompose_affine(rng: np.random.Generator) -> None:
    q = R.quat_normalize(rng.normal(size=(50, 4)))
    t = rng.normal(size=(50, 3))
    s = rng.random((50, 3)) + 0.5
    q2, t2, s2 = R.decompose_affine(R.compose_affine(q, t, s))
    np.testing.assert_allclose(R.quat_to_matrix(q2), R.quat_to_matrix(q), atol=1e-10)
    np.testing.assert_allclose(t2, t, atol=1e-12)
    np.testing.assert_allclose(s2, s, atol=1e-12)
