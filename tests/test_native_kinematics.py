"""Native FK and LBS kernels (vips.native.fk / lbs) against float64 numpy references, plus their argument
checks. Rig-level kinematics are tested in test_kinematics.py; this file tests the kernels themselves."""

from __future__ import annotations

import numpy as np
import pytest

from vips.errors import NativeError
from vips.native import fk, lbs


def random_parents(rng: np.random.Generator, J: int) -> np.ndarray:
    # Random topological order: each joint picks any earlier joint, or (rarely) becomes another root.
    parents = np.array([-1] + [int(rng.integers(-1, j)) if rng.random() > 0.1 else -1 for j in range(1, J)])
    return parents.astype(np.int32)


def random_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(np.float32)


def quat_to_rot64(q: np.ndarray) -> np.ndarray:
    q = q.astype(np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    r = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                  2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                  2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
    return r.reshape(q.shape[:-1] + (3, 3))


def fk64(q: np.ndarray, t: np.ndarray, parents: np.ndarray) -> np.ndarray:
    B, J = q.shape[:2]
    local = np.zeros((B, J, 4, 4))
    local[..., :3, :3] = quat_to_rot64(q)
    local[..., :3, 3] = np.broadcast_to(t.astype(np.float64), (B, J, 3))
    local[..., 3, 3] = 1.0
    world = np.zeros_like(local)
    for j in range(J):
        world[:, j] = local[:, j] if parents[j] < 0 else world[:, parents[j]] @ local[:, j]
    return world


def lbs64(vertices, idx, w, mats) -> np.ndarray:
    homog = np.concatenate([vertices.astype(np.float64), np.ones((len(vertices), 1))], axis=1)
    per_influence = np.einsum("pvkab,vb->pvka", mats.astype(np.float64)[:, idx], homog)[..., :3]
    return np.einsum("vk,pvka->pva", w.astype(np.float64), per_influence)


@pytest.mark.parametrize("J", [1, 2, 5, 31, 100, 256])
@pytest.mark.parametrize("B", [1, 3, 64])
@pytest.mark.parametrize("batched_t", [False, True])
def test_fk_matches_float64_reference(J, B, batched_t):
    rng = np.random.default_rng(J * 1000 + B * 2 + int(batched_t))
    parents = random_parents(rng, J)
    q = random_quats(rng, (B, J))
    t = (rng.normal(size=(B, J, 3) if batched_t else (J, 3)) * 0.5).astype(np.float32)
    world = fk(q, t, parents)
    assert world.shape == (B, J, 4, 4) and world.dtype == np.float32
    # Errors grow with chain depth in float32; the tolerance allows for that on 256-joint chains.
    np.testing.assert_allclose(world, fk64(q, t, parents), rtol=0, atol=1e-5 * max(J, 10))


def test_fk_normalizes_quaternions_and_handles_identity():
    rng = np.random.default_rng(1)
    parents = random_parents(rng, 12)
    q = random_quats(rng, (2, 12)) * np.float32(3.0)
    t = rng.normal(size=(12, 3)).astype(np.float32)
    np.testing.assert_allclose(fk(q, t, parents), fk64(q, t, parents), atol=1e-4)
    ident = np.zeros((1, 12, 4), np.float32)
    ident[..., 0] = 1
    np.testing.assert_allclose(fk(ident, t, parents)[0, :, :3, :3], np.broadcast_to(np.eye(3), (12, 3, 3)), atol=0)


@pytest.mark.parametrize("V", [1, 37, 1000, 10_000])
@pytest.mark.parametrize("K", [1, 3, 4, 8])
@pytest.mark.parametrize("P", [1, 7, 8, 17, 64])
def test_lbs_matches_float64_reference(V, K, P):
    rng = np.random.default_rng(V + 10 * K + 100 * P)
    J = int(rng.integers(1, 60))
    vertices = rng.normal(size=(V, 3)).astype(np.float32)
    idx = rng.integers(0, J, size=(V, K)).astype(np.int32)
    w = rng.random((V, K)).astype(np.float32)
    w[rng.random((V, K)) < 0.3] = 0.0  # zero weights are skipped by the kernel
    w /= np.maximum(w.sum(1, keepdims=True), 1e-6)
    mats = np.zeros((P, J, 4, 4), np.float32)
    mats[:, :, :3, :3] = quat_to_rot64(random_quats(rng, (P, J)))
    mats[:, :, :3, 3] = rng.normal(size=(P, J, 3))
    mats[:, :, 3, 3] = 1
    out = lbs(vertices, idx, w, mats)
    assert out.shape == (P, V, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, lbs64(vertices, idx, w, mats), rtol=1e-5, atol=1e-5)


def test_lbs_all_zero_weights_give_zero():
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(50, 3)).astype(np.float32)
    mats = np.tile(np.eye(4, dtype=np.float32), (16, 4, 1, 1))
    out = lbs(vertices, np.zeros((50, 4), np.int32), np.zeros((50, 4), np.float32), mats)
    np.testing.assert_array_equal(out, 0)


def test_lbs_writes_into_out():
    rng = np.random.default_rng(8)
    vertices = rng.normal(size=(30, 3)).astype(np.float32)
    idx = rng.integers(0, 5, size=(30, 2)).astype(np.int32)
    w = np.full((30, 2), 0.5, np.float32)
    mats = rng.normal(size=(9, 5, 4, 4)).astype(np.float32)
    out = np.full((9, 30, 3), np.nan, np.float32)
    assert lbs(vertices, idx, w, mats, out=out) is out
    np.testing.assert_array_equal(out, lbs(vertices, idx, w, mats))
    with pytest.raises(NativeError, match="'out'"):
        lbs(vertices, idx, w, mats, out=out[:, :20])


def test_torch_cpu_in_torch_out():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    parents = random_parents(rng, 9)
    q, t = random_quats(rng, (5, 9)), rng.normal(size=(9, 3)).astype(np.float32)
    world = fk(torch.from_numpy(q), torch.from_numpy(t), torch.from_numpy(parents))
    assert isinstance(world, torch.Tensor) and world.dtype == torch.float32
    np.testing.assert_array_equal(world.numpy(), fk(q, t, parents))
    vertices = rng.normal(size=(20, 3)).astype(np.float32)
    idx = rng.integers(0, 9, size=(20, 2)).astype(np.int32)
    w = np.full((20, 2), 0.5, np.float32)
    out = lbs(*(torch.from_numpy(a) for a in (vertices, idx, w)), world)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (5, 20, 3)
    np.testing.assert_array_equal(out.numpy(), lbs(vertices, idx, w, world.numpy()))


def test_fk_errors_name_the_argument():
    rng = np.random.default_rng(5)
    parents = random_parents(rng, 6)
    q, t = random_quats(rng, (2, 6)), rng.normal(size=(6, 3)).astype(np.float32)
    with pytest.raises(NativeError, match="'local_rotations'.*float32"):
        fk(q.astype(np.float64), t, parents)
    with pytest.raises(NativeError, match="'local_rotations'.*dimension 2 must be 4"):
        fk(q[..., :3].copy(), t, parents)
    with pytest.raises(NativeError, match="'local_translations'"):
        fk(q, t[:5], parents)
    with pytest.raises(NativeError, match="'local_translations'.*contiguous"):
        fk(q, np.asfortranarray(t), parents)
    with pytest.raises(NativeError, match="'parents'.*int32"):
        fk(q, t, parents.astype(np.int64))
    with pytest.raises(NativeError, match="'parents'.*topologically"):
        fk(q, t, np.array([-1, 0, 3, 1, 1, 2], np.int32))
    with pytest.raises(NativeError, match="'parents'.*topologically"):
        fk(q, t, np.array([-1, 0, 1, 1, -2, 2], np.int32))


def test_lbs_errors_name_the_argument():
    rng = np.random.default_rng(6)
    vertices = rng.normal(size=(10, 3)).astype(np.float32)
    idx = rng.integers(0, 4, size=(10, 2)).astype(np.int32)
    w = np.full((10, 2), 0.5, np.float32)
    mats = np.tile(np.eye(4, dtype=np.float32), (3, 4, 1, 1))
    with pytest.raises(NativeError, match="'vertices'.*float32"):
        lbs(vertices.astype(np.float64), idx, w, mats)
    with pytest.raises(NativeError, match="'skin_weights'.*shape"):
        lbs(vertices, idx, w[:, :1].copy(), mats)
    with pytest.raises(NativeError, match="'skin_indices'.*contiguous"):
        lbs(vertices, np.asfortranarray(idx), w, mats)
    bad = idx.copy()
    bad[7, 1] = 4
    with pytest.raises(NativeError, match="'skin_indices'.*joint index 4 at vertex 7"):
        lbs(vertices, bad, w, mats)
    bad[7, 1] = -1
    with pytest.raises(NativeError, match="'skin_indices'.*-1"):
        lbs(vertices, bad, w, mats)
    with pytest.raises(NativeError, match="'skin_indices'.*at most 8"):
        lbs(vertices, np.zeros((10, 9), np.int32), np.zeros((10, 9), np.float32), mats)
    with pytest.raises(NativeError, match="'joint_matrices'"):
        lbs(vertices, idx, w, mats[:, :, :3].copy())
    with pytest.raises(NativeError, match="lbs"):
        lbs(vertices, idx.tolist(), w, mats)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(7)
    for J, B, batched_t in [(1, 1, False), (52, 300, True), (256, 17, False)]:
        parents = random_parents(rng, J)
        q = random_quats(rng, (B, J))
        t = rng.normal(size=(B, J, 3) if batched_t else (J, 3)).astype(np.float32)
        gpu = fk(*(torch.from_numpy(a).cuda() for a in (q, t, parents)))
        assert gpu.is_cuda
        np.testing.assert_allclose(gpu.cpu().numpy(), fk(q, t, parents), atol=1e-4)
    for V, K, P in [(1, 1, 1), (10_000, 4, 64), (3333, 8, 5)]:
        J = 40
        vertices = rng.normal(size=(V, 3)).astype(np.float32)
        idx = rng.integers(0, J, size=(V, K)).astype(np.int32)
        w = rng.random((V, K)).astype(np.float32)
        w[:, 0] = 0
        mats = rng.normal(size=(P, J, 4, 4)).astype(np.float32)
        gpu = lbs(*(torch.from_numpy(a).cuda() for a in (vertices, idx, w, mats)))
        np.testing.assert_allclose(gpu.cpu().numpy(), lbs(vertices, idx, w, mats), rtol=1e-5, atol=1e-4)
