"""LBS, FK and the FK energy gradient: native kernels against numpy and torch, side by side in one run.

    vips bench --only kinematics

LBS: native vs numpy einsum (per pose, sparse gather) and torch (SMPL-style dense weights @ matrices), at
V = 50k, J = 100, P = 64 poses, K = 4 and 8; also the fraction of this machine's memory bandwidth the native
kernel reaches (bytes it must move / time, against a large numpy copy measured in the same run).
FK energy gradient: native analytic gradient vs torch autograd of the same energy, B = 1 and 256.
"""

from __future__ import annotations

import os

import numpy as np

from vips.benchmarks.timing import best_of
from vips.native import fk_energy_grad, lbs


def _rig(rng: np.random.Generator, J: int) -> np.ndarray:
    return np.array([-1] + [int(rng.integers(max(0, j - 4), j)) for j in range(1, J)], np.int32)


def memory_bandwidth(megabytes: int) -> float:
    """Bytes per second of a large numpy copy (read + write counted)."""
    src = np.ones(megabytes * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    seconds = best_of(lambda: np.copyto(dst, src), repeat=5)
    return 2 * src.nbytes / seconds


def bench_lbs(rng: np.random.Generator, V: int, J: int, P: int, K: int, bandwidth: float, repeat: int) -> dict:
    vertices = rng.normal(size=(V, 3)).astype(np.float32)
    idx = np.sort(rng.integers(0, J, size=(V, K)), axis=1).astype(np.int32)
    w = rng.random((V, K)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    mats = rng.normal(size=(P, J, 4, 4)).astype(np.float32)
    mats[:, :, 3] = [0, 0, 0, 1]
    out = np.empty((P, V, 3), np.float32)  # reused by native and numpy alike; fresh arrays add page faults
    out_np = np.empty((P, V, 3), np.float32)

    def numpy_lbs() -> np.ndarray:
        for p in range(P):
            blended = np.einsum("vk,vkij->vij", w, mats[p][idx][:, :, :3])
            out_np[p] = np.einsum("vij,vj->vi", blended[:, :, :3], vertices) + blended[:, :, 3]
        return out_np

    row = {"V": V, "J": J, "P": P, "K": K}
    row["native_s"] = best_of(lambda: lbs(vertices, idx, w, mats, out=out), repeat=repeat)
    row["native_fresh_out_s"] = best_of(lambda: lbs(vertices, idx, w, mats), repeat=repeat)
    row["numpy_s"] = best_of(numpy_lbs, repeat=max(1, repeat // 3))
    moved = P * V * 3 * 4 + V * (3 * 4 + K * 8) + P * J * 64
    row["native_GBps"] = moved / row["native_s"] / 1e9
    row["bandwidth_fraction"] = moved / row["native_s"] / bandwidth
    try:
        import torch

        dense = torch.zeros(V, J)
        dense.scatter_add_(1, torch.from_numpy(idx).long(), torch.from_numpy(w))
        tm, tv = torch.from_numpy(mats).reshape(P, J, 16), torch.from_numpy(vertices)

        def torch_lbs() -> torch.Tensor:
            blended = torch.matmul(dense, tm).reshape(P, V, 4, 4)  # SMPL's formulation
            return torch.einsum("pvij,vj->pvi", blended[:, :, :3, :3], tv) + blended[:, :, :3, 3]

        with torch.inference_mode():
            np.testing.assert_allclose(torch_lbs().numpy(), lbs(vertices, idx, w, mats), rtol=1e-3, atol=1e-3)
            row["torch_s"] = best_of(torch_lbs, repeat=max(1, repeat // 3))
    except ImportError:
        row["torch_s"] = None
    return row


def _torch_energy_grad(torch, q, t, parents, hj, targets, weights):  # noqa: ANN001 - torch passed in lazily
    """Same energy in torch; autograd w.r.t. omega at 0 for R_j (I + [omega]_x), i.e. the right perturbation."""
    B, J = q.shape[:2]
    omega = torch.zeros(B, J, 3, requires_grad=True)
    w_, x, y, z = q.unbind(-1)
    R = torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w_ * z), 2 * (x * z + w_ * y),
                     2 * (x * y + w_ * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w_ * x),
                     2 * (x * z - w_ * y), 2 * (y * z + w_ * x), 1 - 2 * (x * x + y * y)], -1).reshape(B, J, 3, 3)
    o0, o1, o2 = omega.unbind(-1)
    zero = torch.zeros_like(o0)
    skew = torch.stack([zero, -o2, o1, o2, zero, -o0, -o1, o0, zero], -1).reshape(B, J, 3, 3)
    R = R + R @ skew
    rots, pos = [], []
    for j in range(J):
        p = int(parents[j])
        if p < 0:
            rots.append(R[:, j])
            pos.append(t[:, j])
        else:
            rots.append(rots[p] @ R[:, j])
            pos.append(pos[p] + (rots[p] @ t[:, j, :, None])[..., 0])
    P = torch.stack(pos, 1)
    d = P[:, hj] - targets
    energy = ((d * d).sum(-1) * weights).sum(-1)
    energy.sum().backward()
    return energy.detach(), omega.grad


def bench_fk_energy(rng: np.random.Generator, B: int, J: int, H: int, repeat: int) -> dict:
    parents = _rig(rng, J)
    q = rng.normal(size=(B, J, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    t = rng.normal(size=(B, J, 3)).astype(np.float32)
    hj = rng.choice(J, size=H, replace=False).astype(np.int32)
    targets = rng.normal(size=(B, H, 3)).astype(np.float32)
    weights = np.ones(H, np.float32)
    row = {"B": B, "J": J, "H": H}
    row["native_s"] = best_of(lambda: fk_energy_grad(q, t, parents, hj, targets, weights), repeat=repeat, number=5)
    try:
        import torch

        args = [torch.from_numpy(a) for a in (q, t)] + [parents, torch.from_numpy(hj).long()] + [
            torch.from_numpy(a) for a in (targets, weights)]
        e_t, g_t = _torch_energy_grad(torch, *args)
        e_n, g_n, _ = fk_energy_grad(q, t, parents, hj, targets, weights)
        np.testing.assert_allclose(g_t.numpy(), g_n, rtol=1e-3, atol=1e-3 * (np.abs(g_n).max() + 1))
        row["torch_autograd_s"] = best_of(lambda: _torch_energy_grad(torch, *args), repeat=max(1, repeat // 2))
    except ImportError:
        row["torch_autograd_s"] = None
    return row


def _ratio(a: float | None, b: float) -> str:
    return f"{a / b:8.1f}x" if a else "     n/a"


def run(quick: bool = False) -> dict:
    """Run the kinematics benchmarks; returns {"bandwidth_GBps", "lbs": [...], "fk_energy": [...]}."""
    rng = np.random.default_rng(0)
    repeat = 3 if quick else 7
    bandwidth = memory_bandwidth(64 if quick else 256)
    V, P = (10_000, 16) if quick else (50_000, 64)
    result = {
        "bandwidth_GBps": bandwidth / 1e9,
        "lbs": [bench_lbs(rng, V, 100, P, K, bandwidth, repeat) for K in (4, 8)],
        "fk_energy": [bench_fk_energy(rng, B, 100, 8, repeat) for B in (1, 256)],
    }
    # Timings on a shared machine are only as good as its idle cores; say how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"memory bandwidth (numpy copy): {result['bandwidth_GBps']:.1f} GB/s")
    print("LBS: native into a reused output (fresh output in brackets); bandwidth fraction of the reused case")
    print(f"{'LBS':<26}{'native ms':>18}{'numpy ms':>10}{'torch ms':>10}{'vs numpy':>10}{'vs torch':>10}{'GB/s':>7}{'of bw':>7}")
    for r in result["lbs"]:
        name = f"V={r['V']} J={r['J']} P={r['P']} K={r['K']}"
        torch_ms = f"{r['torch_s'] * 1e3:10.2f}" if r["torch_s"] else f"{'n/a':>10}"
        native_ms = f"{r['native_s'] * 1e3:.2f} ({r['native_fresh_out_s'] * 1e3:.2f})"
        print(f"{name:<26}{native_ms:>18}{r['numpy_s'] * 1e3:10.2f}{torch_ms}"
              f"{_ratio(r['numpy_s'], r['native_s']):>10}{_ratio(r['torch_s'], r['native_s']):>10}"
              f"{r['native_GBps']:7.1f}{r['bandwidth_fraction']:7.0%}")
    print(f"{'FK energy gradient':<26}{'native ms':>10}{'autograd ms':>12}{'vs torch':>10}")
    for r in result["fk_energy"]:
        name = f"B={r['B']} J={r['J']} H={r['H']}"
        torch_ms = f"{r['torch_autograd_s'] * 1e3:12.2f}" if r["torch_autograd_s"] else f"{'n/a':>12}"
        print(f"{name:<26}{r['native_s'] * 1e3:10.3f}{torch_ms}{_ratio(r['torch_autograd_s'], r['native_s']):>10}")
    return result
