"""vips.native.knn / chamfer / chamfer_distance_torch against float64 brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from vips.errors import NativeError
from vips.native import chamfer, knn

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------- references


def ref_knn(a, b, la, lb, k):
    """Sorted float64 squared distances (B, N, k), inf where there is no neighbour."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    B, N = a.shape[:2]
    out = np.full((B, N, k), np.inf)
    for i in range(B):
        pts = b64[i, : lb[i]]
        for s in range(0, la[i], 512):
            q = a64[i, s : min(la[i], s + 512)]
            d = ((q[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
            d = np.sort(d, axis=1)[:, :k]
            out[i, s : s + len(q), : d.shape[1]] = d
    return out


def float32_dist(q, p):
    """The kernel's float32 expression, ((dx^2 + dy^2) + dz^2), evaluated by numpy (no FMA)."""
    d = (q - p).astype(np.float32)
    return (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]) + d[..., 2] * d[..., 2]


def check_knn(a, b, la, lb, k, dist, idx):
    B, N = a.shape[:2]
    assert dist.shape == (B, N, k) and dist.dtype == np.float32
    assert idx.shape == (B, N, k) and idx.dtype == np.int64
    ref = ref_knn(a, b, la, lb, k)
    np.testing.assert_allclose(dist, ref, rtol=2e-5, atol=1e-12)
    for i in range(B):
        valid = idx[i, : la[i]]
        found = valid >= 0
        # exactly min(k, lb) neighbours per valid query, the first slots, with indices inside the cloud
        assert (found.sum(1) == min(k, lb[i])).all()
        assert (valid[found] < lb[i]).all()
        # each index has exactly the returned distance (bitwise: same float32 expression)
        q = np.broadcast_to(a[i, : la[i], None, :], valid.shape + (3,))
        d = float32_dist(q, b[i][np.clip(valid, 0, None)])
        np.testing.assert_array_equal(np.where(found, d, np.inf), dist[i, : la[i]])
        # no index twice in one query's list
        srt = np.sort(np.where(found, valid, -1 - np.arange(k)), axis=1)
        assert (np.diff(srt, axis=1) != 0).all()
        # padded queries
        assert np.isinf(dist[i, la[i] :]).all() and (idx[i, la[i] :] == -1).all()
    assert (np.diff(np.where(np.isinf(dist), np.finfo(np.float32).max, dist), axis=2) >= 0).all()


def cloud(rng, kind, B, P):
    """(B, P, 3) float32 clouds of several distributions."""
    u = rng.random((B, P, 3))
    if kind == "uniform":
        x = u
    elif kind == "sphere":
        x = rng.normal(size=(B, P, 3))
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
    elif kind == "clustered":
        centers = rng.random((B, 4, 3)) * 10
        x = centers[np.arange(B)[:, None], rng.integers(0, 4, (B, P))] + rng.normal(size=(B, P, 3)) * 1e-3
        x[:, 0] = 50.0  # a lone outlier stretches the bounding box
    elif kind == "flat":
        x = u.copy()
        x[..., 2] = 0.25
    elif kind == "line":
        x = u[..., :1] * np.array([1.0, 2.0, -0.5])
    elif kind == "identical":
        x = np.full((B, P, 3), 0.3)
    elif kind == "duplicates":
        x = np.round(u * 4) / 4  # a 5x5x5 lattice: many exact duplicates and exact ties
    elif kind == "huge":
        x = 1e6 + u * 100
    else:
        raise AssertionError(kind)
    return np.ascontiguousarray(x, dtype=np.float32)


def full(B, P):
    return np.full(B, P, dtype=np.int64)


# ---------------------------------------------------------------------------------------------- knn values

SHAPES = [  # B, N, M, k
    (1, 1, 1, 1),
    (1, 1, 5, 3),
    (2, 7, 1, 4),
    (3, 50, 20, 8),
    (1, 300, 3000, 1),
    (2, 1000, 700, 2),
    (4, 640, 1500, 5),
    (2, 3000, 2500, 1),
    (1, 500, 3, 8),
]
KINDS = ["uniform", "sphere", "clustered", "flat", "line", "identical", "duplicates", "huge"]


@pytest.mark.parametrize("shape", SHAPES)
def test_knn_uniform_shapes(shape):
    B, N, M, k = shape
    rng = np.random.default_rng(N * 31 + M)
    a, b = cloud(rng, "uniform", B, N), cloud(rng, "uniform", B, M)
    dist, idx = knn(a, b, k=k)
    check_knn(a, b, full(B, N), full(B, M), k, dist, idx)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 3, 8])
def test_knn_distributions(kind, k):
    rng = np.random.default_rng(100 * KINDS.index(kind) + k)
    b = cloud(rng, kind, 2, 2000)
    # queries: points of another cloud of the same kind, the cloud itself, and points around it
    jitter = rng.normal(size=(2, 300, 3)) * (30.0 if kind == "huge" else 0.3)
    a = np.concatenate([cloud(rng, kind, 2, 600), b[:, :300], b[:, 300:600] + jitter], axis=1)
    a = np.ascontiguousarray(a, dtype=np.float32)
    dist, idx = knn(a, b, k=k)
    check_knn(a, b, full(2, a.shape[1]), full(2, 2000), k, dist, idx)


@pytest.mark.parametrize("offset", [1.5, 10.0, -1e3])
def test_knn_queries_far_from_cloud(offset):
    rng = np.random.default_rng(7)
    b = cloud(rng, "sphere", 2, 4000)
    a = (cloud(rng, "uniform", 2, 800) * 4 - 2 + offset).astype(np.float32)
    a[:, :100] = rng.normal(size=(2, 100, 3)) * 0.05  # near the sphere's center: far from every point
    a = np.ascontiguousarray(a, dtype=np.float32)
    dist, idx = knn(a, b, k=4)
    check_knn(a, b, full(2, 800), full(2, 4000), 4, dist, idx)


def test_knn_ragged_and_empty():
    rng = np.random.default_rng(3)
    B, N, M, k = 4, 900, 1200, 5
    a, b = cloud(rng, "uniform", B, N), cloud(rng, "uniform", B, M)
    la = np.array([900, 0, 431, 17], dtype=np.int64)
    lb = np.array([1, 1200, 0, 3], dtype=np.int64)
    # padding holds garbage that must never be returned
    a[2, 431:] = -7.0
    b[0, 1:901] = a[0]
    dist, idx = knn(a, b, la, lb, k=k)
    check_knn(a, b, la, lb, k, dist, idx)
    assert np.isinf(dist[2]).all() and (idx[2] == -1).all()  # empty b cloud
    assert (idx[0, :, 0] == 0).all() and (idx[0, :, 1:] == -1).all()  # one point


def test_knn_duplicate_ties_exact():
    rng = np.random.default_rng(11)
    base = rng.random((1, 60, 3)).astype(np.float32)
    b = np.ascontiguousarray(np.repeat(base, 4, axis=1)[:, rng.permutation(240)])
    dist, idx = knn(b, b, k=4)
    # every point has exactly 4 copies at distance exactly 0, and they are all found
    assert (dist == 0).all()
    assert (b[0][idx[0]] == b[0][:, None, :]).all()
    assert (np.sort(idx[0], axis=1)[:, 1:] != np.sort(idx[0], axis=1)[:, :-1]).all()
    a = rng.random((1, 100, 3)).astype(np.float32)
    dist, idx = knn(a, b, k=4)
    assert (dist[..., 0] == dist[..., 3]).all()  # the 4 copies of the nearest point tie exactly
    check_knn(a, b, full(1, 100), full(1, 240), 4, dist, idx)


def test_knn_k_above_cloud_size():
    rng = np.random.default_rng(5)
    a, b = cloud(rng, "uniform", 2, 40), cloud(rng, "uniform", 2, 6)
    dist, idx = knn(a, b, full(2, 40), np.array([6, 2]), k=8)
    check_knn(a, b, full(2, 40), np.array([6, 2]), 8, dist, idx)
    assert (idx[0, :, 6:] == -1).all() and (idx[1, :, 2:] == -1).all()


def test_knn_torch_in_torch_out():
    rng = np.random.default_rng(2)
    a, b = cloud(rng, "uniform", 2, 300), cloud(rng, "uniform", 2, 400)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    dist, idx = knn(ta, tb, torch.tensor([300, 120]), [400, 399], k=3)
    assert isinstance(dist, torch.Tensor) and dist.dtype == torch.float32
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.int64
    check_knn(a, b, np.array([300, 120]), np.array([400, 399]), 3, dist.numpy(), idx.numpy())


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "case, arg",
    [
        ("a_float64", "a"),
        ("b_int", "b"),
        ("a_rank", "a"),
        ("b_batch", "b"),
        ("a_noncontiguous", "a"),
        ("b_noncontiguous", "b"),
        ("k0", "k"),
        ("k33", "k"),
        ("lengths_a_range", "lengths_a"),
        ("lengths_b_negative", "lengths_b"),
        ("lengths_b_shape", "lengths_b"),
        ("a_list", "a"),
    ],
)
def test_knn_bad_arguments(case, arg):
    rng = np.random.default_rng(0)
    a, b = cloud(rng, "uniform", 2, 10), cloud(rng, "uniform", 2, 12)
    kwargs = {"k": 1}
    if case == "a_float64":
        a = a.astype(np.float64)
    elif case == "b_int":
        b = b.astype(np.int32)
    elif case == "a_rank":
        a = a[0]
    elif case == "b_batch":
        b = b[:1]
    elif case == "a_noncontiguous":
        a = cloud(rng, "uniform", 2, 20)[:, ::2]
    elif case == "b_noncontiguous":
        b = np.asfortranarray(b)
    elif case == "k0":
        kwargs["k"] = 0
    elif case == "k33":
        kwargs["k"] = 33
    elif case == "lengths_a_range":
        kwargs["lengths_a"] = [10, 11]
    elif case == "lengths_b_negative":
        kwargs["lengths_b"] = [-1, 3]
    elif case == "lengths_b_shape":
        kwargs["lengths_b"] = [1, 2, 3]
    elif case == "a_list":
        a = a.tolist()
    with pytest.raises(NativeError, match=f"'{arg}'"):
        knn(a, b, **kwargs)


# ---------------------------------------------------------------------------------------------- chamfer


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chamfer_values(reduction):
    rng = np.random.default_rng(9)
    a, b = cloud(rng, "uniform", 3, 500), cloud(rng, "sphere", 3, 700)
    la, lb = np.array([500, 3, 0]), np.array([700, 650, 20])
    res = chamfer(a, b, la, lb, reduction=reduction)
    d_ab, d_ba = ref_knn(a, b, la, lb, 1)[..., 0], ref_knn(b, a, lb, la, 1)[..., 0]
    expect = []
    for i in range(3):
        s_ab, s_ba = d_ab[i, : la[i]].sum(), d_ba[i, : lb[i]].sum()
        if reduction == "mean":
            s_ab, s_ba = s_ab / max(la[i], 1), s_ba / max(lb[i], 1)
        expect.append(s_ab + s_ba)
    assert res.distance.shape == (3,) and res.distance.dtype == np.float32
    # cloud 2 has an empty a: its b points have no neighbour, so the b -> a term is inf
    np.testing.assert_allclose(res.distance[:2], expect[:2], rtol=1e-5)
    assert np.isinf(res.distance[2])
    np.testing.assert_allclose(res.dist_ab, d_ab, rtol=2e-5, atol=1e-12)
    np.testing.assert_allclose(res.dist_ba, d_ba, rtol=2e-5, atol=1e-12)
    distance, dist_ab, idx_ab, dist_ba, idx_ba = res
    assert idx_ab.shape == (3, 500) and idx_ba.shape == (3, 700)
    assert (idx_ab[2] == -1).all() and (idx_ab[1, :3] >= 0).all()


def test_chamfer_torch_matches_numpy():
    rng = np.random.default_rng(4)
    a, b = cloud(rng, "uniform", 2, 200), cloud(rng, "uniform", 2, 150)
    res_np = chamfer(a, b, [200, 50], [150, 149])
    res_t = chamfer(torch.from_numpy(a), torch.from_numpy(b), torch.tensor([200, 50]), np.array([150, 149]))
    assert isinstance(res_t.distance, torch.Tensor)
    np.testing.assert_allclose(res_t.distance.numpy(), res_np.distance, rtol=1e-6)


def brute_chamfer_torch(a, b, la, lb):
    """Plain-torch float64 Chamfer (mean per direction) with autograd through min."""
    out = []
    for i in range(a.shape[0]):
        d = ((a[i, : la[i], None, :] - b[i, None, : lb[i], :]) ** 2).sum(-1)
        out.append(d.min(1).values.mean() + d.min(0).values.mean())
    return torch.stack(out)


def test_chamfer_torch_gradients():
    from vips.native.chamfer_torch import chamfer_distance_torch

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 40, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.rand(3, 55, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    la, lb = [40, 25, 7], [55, 55, 30]
    w = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    ours = chamfer_distance_torch(a, b, la, lb)
    ref = brute_chamfer_torch(a, b, la, lb)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-9)
    ga, gb = torch.autograd.grad((ours * w).sum(), (a, b))
    ra, rb = torch.autograd.grad((ref * w).sum(), (a, b))
    torch.testing.assert_close(ga, ra, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(gb, rb, rtol=1e-6, atol=1e-9)
    assert ga[1, 25:].abs().max() == 0 and ga[0].abs().max() > 0  # padding gets no gradient


# ---------------------------------------------------------------------------------------------- CUDA

gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@gpu
@needs_cuda
@pytest.mark.parametrize("kind", ["uniform", "clustered", "duplicates", "huge"])
@pytest.mark.parametrize("k", [1, 5, 16, 32])
def test_knn_cuda_matches_cpu(kind, k):
    rng = np.random.default_rng(k)
    a, b = cloud(rng, kind, 3, 1500), cloud(rng, kind, 3, 2100)
    la, lb = np.array([1500, 700, 0]), np.array([2100, 5, 900])
    d_cpu, i_cpu = knn(a, b, la, lb, k=k)
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    d_gpu, i_gpu = knn(ta, tb, torch.from_numpy(la).cuda(), lb, k=k)
    assert d_gpu.is_cuda and i_gpu.is_cuda
    # identical float32 expression on both: distances match bit for bit; indices may differ only on ties
    np.testing.assert_array_equal(d_gpu.cpu().numpy(), d_cpu)
    check_knn(a, b, la, lb, k, d_gpu.cpu().numpy(), i_gpu.cpu().numpy())


@gpu
@needs_cuda
def test_chamfer_torch_cuda_gradients():
    from vips.native.chamfer_torch import chamfer_distance_torch

    gen = torch.Generator().manual_seed(1)
    a = torch.rand(2, 300, 3, generator=gen, dtype=torch.float64)
    b = torch.rand(2, 200, 3, generator=gen, dtype=torch.float64)
    ac, bc = a.cuda().requires_grad_(), b.cuda().requires_grad_()
    ours = chamfer_distance_torch(ac, bc)
    ref = brute_chamfer_torch(a.requires_grad_(), b.requires_grad_(), [300, 300], [200, 200])
    torch.testing.assert_close(ours.cpu(), ref.detach())
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(ac.grad.cpu(), a.grad)
