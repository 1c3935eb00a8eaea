"""Nearest neighbours: native vips.native.knn against scipy's cKDTree and torch.cdist + min, side by side.

    vips bench --only nearest

B = 8 clouds of N = M points each (4k, 16k, 64k; --quick: 4k and 16k), two distributions: uniform in a
cube and points on a sphere (a surface, like mesh samples in Chamfer fitting). K = 1 unless stated.
- native: vips.native.knn on float32 numpy arrays (grid per cloud, OpenMP over clouds and queries).
- cKDTree: scipy.spatial.cKDTree(b[i]) built and queried with workers=-1, for each of the B clouds
  (build + query, as a fitting loop must do for every new frame).
- torch: torch.cdist + min over the last axis, chunked over queries so the distance matrix stays below
  256 MiB. Above 4k points it is timed on 4096 queries of one cloud and scaled to B * N queries (marked
  "ext"; the queries are independent, so the scaling is linear); the full batch takes minutes on a small CPU.
Every run also checks that the native distances agree with cKDTree's.
"""

from __future__ import annotations

import os

import numpy as np

from vips.benchmarks.timing import best_of
from vips.native import chamfer, knn

_CHUNK_BYTES = 256 * 2**20


def _clouds(rng: np.random.Generator, kind: str, B: int, n: int) -> np.ndarray:
    if kind == "uniform":
        x = rng.random((B, n, 3))
    else:
        x = rng.normal(size=(B, n, 3))
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def _ckdtree(a: np.ndarray, b: np.ndarray, k: int) -> list:
    from scipy.spatial import cKDTree

    return [cKDTree(b[i]).query(a[i], k=k, workers=-1) for i in range(a.shape[0])]


def _torch_cdist_min(ta, tb) -> list:  # noqa: ANN001 - torch tensors, torch imported lazily
    import torch

    B, N, M = ta.shape[0], ta.shape[1], tb.shape[1]
    chunk = max(1, _CHUNK_BYTES // (4 * M))
    out = []
    with torch.inference_mode():
        for i in range(B):
            mins = [torch.cdist(ta[i, s : s + chunk], tb[i]).min(dim=1) for s in range(0, N, chunk)]
            out.append((torch.cat([m.values for m in mins]), torch.cat([m.indices for m in mins])))
    return out


def bench_case(rng: np.random.Generator, kind: str, B: int, n: int, k: int, repeat: int, with_torch: bool) -> dict:
    a, b = _clouds(rng, kind, B, n), _clouds(rng, kind, B, n)
    row: dict = {"kind": kind, "B": B, "N": n, "M": n, "k": k}
    dist, _ = knn(a, b, k=k)
    ref = _ckdtree(a, b, k)
    ref_d = np.stack([r[0] for r in ref]).reshape(B, n, k) ** 2
    np.testing.assert_allclose(dist, ref_d, rtol=1e-4, atol=1e-10)
    row["native_s"] = best_of(lambda: knn(a, b, k=k), repeat=repeat)
    row["ckdtree_s"] = best_of(lambda: _ckdtree(a, b, k), repeat=max(1, repeat // 2))
    row["torch_s"], row["torch_note"] = None, ""
    if with_torch and k == 1:
        try:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            got = _torch_cdist_min(ta[:1, :2048], tb[:1])[0][0].numpy() ** 2
            np.testing.assert_allclose(got, dist[0, :2048, 0], rtol=1e-3, atol=1e-6)
            if n <= 4096:
                row["torch_s"] = best_of(lambda: _torch_cdist_min(ta, tb), repeat=1)
            else:  # queries are independent: time 4096 of one cloud and scale to B clouds of N queries
                part = best_of(lambda: _torch_cdist_min(ta[:1, :4096], tb[:1]), repeat=1)
                row["torch_s"], row["torch_note"] = part * B * n / 4096, "ext"
        except ImportError:
            row["torch_note"] = "no torch"
    return row


def bench_chamfer(rng: np.random.Generator, B: int, n: int, repeat: int) -> dict:
    a, b = _clouds(rng, "sphere", B, n), _clouds(rng, "sphere", B, n)
    row = {"kind": "sphere", "B": B, "N": n, "M": n}
    row["native_s"] = best_of(lambda: chamfer(a, b), repeat=repeat)
    row["ckdtree_s"] = best_of(lambda: (_ckdtree(a, b, 1), _ckdtree(b, a, 1)), repeat=max(1, repeat // 2))
    return row


def _ratio(other: float | None, native: float) -> str:
    return f"{other / native:8.1f}x" if other else "     n/a"


def run(quick: bool = False) -> dict:
    """Run the nearest-neighbour benchmarks; returns {"knn": [rows], "chamfer": [rows], "load": float}.

    Each row holds the sizes and seconds per call of ``native_s``, ``ckdtree_s`` and ``torch_s`` (None
    where not measured; ``torch_note`` says "ext" when scaled from 4096 queries of one cloud).
    """
    rng = np.random.default_rng(0)
    repeat = 2 if quick else 5
    sizes = (4096, 16384) if quick else (4096, 16384, 65536)
    B = 8
    rows = [bench_case(rng, kind, B, n, 1, repeat, with_torch=True) for n in sizes for kind in ("uniform", "sphere")]
    rows.append(bench_case(rng, "sphere", B, 16384, 8, repeat, with_torch=False))
    cham = [bench_chamfer(rng, B, n, repeat) for n in sizes[1:]]
    result = {"load": os.getloadavg()[0], "cores": os.cpu_count(), "knn": rows, "chamfer": cham}
    # Timings on a shared machine are only as good as its idle cores; say how busy it was.
    print(f"load average {result['load']:.1f} on {result['cores']} cores")
    print(f"{'knn':<30}{'native ms':>10}{'cKDTree ms':>11}{'torch ms':>13}{'vs cKDTree':>11}{'vs torch':>10}")
    for r in rows:
        name = f"{r['kind']} B={r['B']} N=M={r['N']} k={r['k']}"
        t = f"{r['torch_s'] * 1e3:10.1f}{r['torch_note']:>3}" if r["torch_s"] else f"{'n/a':>13}"
        print(f"{name:<30}{r['native_s'] * 1e3:10.1f}{r['ckdtree_s'] * 1e3:11.1f}{t}"
              f"{_ratio(r['ckdtree_s'], r['native_s']):>11}{_ratio(r['torch_s'], r['native_s']):>10}")
    print(f"{'chamfer (both directions)':<30}{'native ms':>10}{'cKDTree ms':>11}{'':>13}{'vs cKDTree':>11}")
    for r in cham:
        name = f"{r['kind']} B={r['B']} N=M={r['N']}"
        print(f"{name:<30}{r['native_s'] * 1e3:10.1f}{r['ckdtree_s'] * 1e3:11.1f}{'':>13}"
              f"{_ratio(r['ckdtree_s'], r['native_s']):>11}")
    return result
