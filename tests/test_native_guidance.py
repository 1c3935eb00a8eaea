"""FK handle energy and its analytic gradient (vips.native.fk_energy_grad) against float64 numpy references:
the energy against a direct FK evaluation, the gradients against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from test_native_kinematics import quat_to_rot64, random_quats

from vips.errors import NativeError
from vips.native import fk_energy_grad


def random_parents(rng: np.random.Generator, J: int, root_prob: float = 0.0) -> np.ndarray:
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)], dtype=np.int32)
    extra_roots = rng.random(J) < root_prob
    extra_roots[0] = True
    parents[extra_roots] = -1
    return parents


def rodrigues(omega: np.ndarray) -> np.ndarray:
    """exp([omega]_x) for one (3,) vector, float64."""
    theta = np.linalg.norm(omega)
    k = np.array([[0, -omega[2], omega[1]], [omega[2], 0, -omega[0]], [-omega[1], omega[0], 0]])
    if theta < 1e-12:
        return np.eye(3) + k
    return np.eye(3) + np.sin(theta) / theta * k + (1 - np.cos(theta)) / theta**2 * k @ k


def positions64(rot: np.ndarray, trans: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """rot (B, J, 3, 3), trans (B, J, 3) float64 -> world positions (B, J, 3)."""
    B, J = rot.shape[:2]
    W = np.zeros((B, J, 3, 3))
    P = np.zeros((B, J, 3))
    for j in range(J):
        p = parents[j]
        if p < 0:
            W[:, j], P[:, j] = rot[:, j], trans[:, j]
        else:
            W[:, j] = W[:, p] @ rot[:, j]
            P[:, j] = P[:, p] + np.einsum("bik,bk->bi", W[:, p], trans[:, j])
    return P


def energy64(rot, trans, parents, hj, targets, weights) -> np.ndarray:
    d = positions64(rot, trans, parents)[:, hj] - targets
    return np.einsum("h,bh->b", weights, (d * d).sum(-1))


def make_case(rng, B, J, H, root_prob=0.0, batched_t=True, batched_targets=True, offset=0.0):
    parents = random_parents(rng, J, root_prob)
    q = random_quats(rng, (B, J))
    t_shape = (B, J, 3) if batched_t else (J, 3)
    t = rng.normal(size=t_shape).astype(np.float32)
    t[..., parents < 0, :] += np.float32(offset)
    hj = rng.integers(0, J, size=H).astype(np.int32)
    tg_shape = (B, H, 3) if batched_targets else (H, 3)
    targets = (rng.normal(size=tg_shape) * 2 + offset).astype(np.float32)
    weights = rng.random(H).astype(np.float32)
    if H > 1:
        weights[0] = 0.0
    return q, t, parents, hj, targets, weights


def reference(q, t, parents, hj, targets, weights):
    B, J = q.shape[:2]
    rot = quat_to_rot64(q)
    trans = np.broadcast_to(t.astype(np.float64), (B, J, 3)).copy()
    tg = np.broadcast_to(targets.astype(np.float64), (B, len(hj), 3))
    return rot, trans, tg, energy64(rot, trans, parents, hj, tg, weights.astype(np.float64))


CASES = [(1, 1, 1, 0.0), (3, 2, 3, 0.0), (4, 7, 5, 0.3), (2, 24, 10, 0.0), (5, 40, 12, 0.2), (2, 64, 64, 0.1)]


@pytest.mark.parametrize("B,J,H,root_prob", CASES)
@pytest.mark.parametrize("batched", [True, False])
def test_energy_and_positions_match_reference(B, J, H, root_prob, batched):
    rng = np.random.default_rng(100 * J + H + int(batched))
    q, t, parents, hj, targets, weights = make_case(rng, B, J, H, root_prob, batched, batched)
    rot, trans, _, e_ref = reference(q, t, parents, hj, targets, weights)
    energy, _, _, pos = fk_energy_grad(q, t, parents, hj, targets, weights, return_positions=True)
    assert energy.shape == (B,) and energy.dtype == np.float32
    np.testing.assert_allclose(pos, positions64(rot, trans, parents), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(energy, e_ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("B,J,H,root_prob", CASES)
@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_rotation_gradient_matches_finite_differences(B, J, H, root_prob, offset):
    rng = np.random.default_rng(7 * J + H + int(offset))
    q, t, parents, hj, targets, weights = make_case(rng, B, J, H, root_prob, offset=offset)
    rot, trans, tg, _ = reference(q, t, parents, hj, targets, weights)
    _, grad_rot, _ = fk_energy_grad(q, t, parents, hj, targets, weights)
    assert grad_rot.shape == (B, J, 3)
    w64, h = weights.astype(np.float64), 1e-6
    fd = np.zeros((B, J, 3))
    for j in range(J):
        for a in range(3):
            omega = np.zeros(3)
            omega[a] = h
            plus, minus = rot.copy(), rot.copy()
            plus[:, j] = rot[:, j] @ rodrigues(omega)  # right perturbation, as documented
            minus[:, j] = rot[:, j] @ rodrigues(-omega)
            fd[:, j, a] = (energy64(plus, trans, parents, hj, tg, w64) - energy64(minus, trans, parents, hj, tg, w64)) / (2 * h)
    scale = np.abs(fd).max() + 1.0
    np.testing.assert_allclose(grad_rot, fd, rtol=0, atol=2e-5 * scale)


@pytest.mark.parametrize("B,J,H,root_prob", CASES)
def test_translation_gradients_match_finite_differences(B, J, H, root_prob):
    rng = np.random.default_rng(13 * J + H)
    q, t, parents, hj, targets, weights = make_case(rng, B, J, H, root_prob)
    rot, trans, tg, _ = reference(q, t, parents, hj, targets, weights)
    _, _, grad_root = fk_energy_grad(q, t, parents, hj, targets, weights)
    _, _, grad_all = fk_energy_grad(q, t, parents, hj, targets, weights, per_joint_translation=True)
    assert grad_root.shape == (B, 3) and grad_all.shape == (B, J, 3)
    w64, h = weights.astype(np.float64), 1e-6
    fd = np.zeros((B, J, 3))
    for j in range(J):
        for a in range(3):
            plus, minus = trans.copy(), trans.copy()
            plus[:, j, a] += h
            minus[:, j, a] -= h
            fd[:, j, a] = (energy64(rot, plus, parents, hj, tg, w64) - energy64(rot, minus, parents, hj, tg, w64)) / (2 * h)
    scale = np.abs(fd).max() + 1.0
    np.testing.assert_allclose(grad_all, fd, rtol=0, atol=2e-5 * scale)
    # The (B, 3) root gradient moves every root together: the sum over the roots' own gradients.
    np.testing.assert_allclose(grad_root, fd[:, parents < 0].sum(1), rtol=0, atol=2e-5 * scale * (parents < 0).sum())


def test_gradient_descent_reduces_energy():
    rng = np.random.default_rng(5)
    q, t, parents, hj, targets, weights = make_case(rng, 8, 20, 4)
    e0, g, _ = fk_energy_grad(q, t, parents, hj, targets, weights)
    step = 1e-3 / (np.abs(g).max() + 1e-9)
    omega = -step * g.astype(np.float64)
    # q <- q * exp_quat(omega): the right perturbation the gradient refers to.
    half = np.linalg.norm(omega, axis=-1, keepdims=True) / 2
    dq = np.concatenate([np.cos(half), np.sinc(half / np.pi) * omega / 2], axis=-1)
    w1, v1, w2, v2 = q[..., :1], q[..., 1:], dq[..., :1], dq[..., 1:]
    q2 = np.concatenate([w1 * w2 - (v1 * v2).sum(-1, keepdims=True), w1 * v2 + w2 * v1 + np.cross(v1, v2)], -1)
    e1, _, _ = fk_energy_grad(q2.astype(np.float32), t, parents, hj, targets, weights)
    assert np.all(e1 <= e0 + 1e-6) and np.any(e1 < e0)


def test_no_handles_gives_zero():
    rng = np.random.default_rng(2)
    q, t, parents, _, _, _ = make_case(rng, 3, 6, 1)
    e, g, gt = fk_energy_grad(q, t, parents, np.zeros(0, np.int32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    assert np.all(e == 0) and np.all(g == 0) and np.all(gt == 0)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    args = make_case(rng, 4, 9, 3, batched_t=False, batched_targets=False)
    expected = fk_energy_grad(*args)
    got = fk_energy_grad(*[torch.from_numpy(a) for a in args])
    for g, e in zip(got, expected):
        assert isinstance(g, torch.Tensor)
        np.testing.assert_array_equal(g.numpy(), e)


def test_errors_name_the_argument():
    rng = np.random.default_rng(4)
    q, t, parents, hj, targets, weights = make_case(rng, 2, 5, 3)
    with pytest.raises(NativeError, match="local_rotations.*float32"):
        fk_energy_grad(q.astype(np.float64), t, parents, hj, targets, weights)
    with pytest.raises(NativeError, match="handle_joints.*outside"):
        fk_energy_grad(q, t, parents, np.array([0, 5, 1], np.int32), targets, weights)
    with pytest.raises(NativeError, match="handle_targets"):
        fk_energy_grad(q, t, parents, hj, targets[:, :2], weights)
    with pytest.raises(NativeError, match="handle_weights"):
        fk_energy_grad(q, t, parents, hj, targets, weights[:2])
    with pytest.raises(NativeError, match="parents.*topologically"):
        fk_energy_grad(q, t, np.array([-1, 2, 0, 1, 1], np.int32), hj, targets, weights)
    with pytest.raises(NativeError, match="local_translations.*contiguous"):
        fk_energy_grad(q, np.asfortranarray(t[0]), parents, hj, targets, weights)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(6)
    for B, J, H, root_prob in [(1, 1, 1, 0.0), (300, 52, 9, 0.0), (64, 200, 40, 0.1)]:
        for batched in (True, False):
            args = make_case(rng, B, J, H, root_prob, batched, batched, offset=5.0)
            cpu = fk_energy_grad(*args, per_joint_translation=True, return_positions=True)
            gpu = fk_energy_grad(*[torch.from_numpy(a).cuda() for a in args], per_joint_translation=True,
                                 return_positions=True)
            for g, c in zip(gpu, cpu):
                assert g.is_cuda
                scale = np.abs(c).max() + 1.0
                np.testing.assert_allclose(g.cpu().numpy(), c, rtol=0, atol=1e-4 * scale)
            _, _, root = fk_energy_grad(*[torch.from_numpy(a).cuda() for a in args])
            np.testing.assert_allclose(root.cpu().numpy(), cpu[2][:, args[2] < 0].sum(1), rtol=1e-4, atol=1e-3)
