"""The fused DDIM step (vips.native.ddim_step) against the same update written in numpy and in torch.

    vips bench --only ddim

Two option sets: plain deterministic DDIM (eta = 0), and the full step (eta = 1 with noise, guidance nudge and
clipping). Two sizes: a typical sampling batch (64 poses x 100 joints x 9 features) and a large array where
memory bandwidth decides. numpy and torch make a temporary per operator; the native step reads each input once
and writes x_prev and x0 once.
"""

from __future__ import annotations

import math
import os

import numpy as np

from vips.benchmarks.timing import best_of
from vips.native import ddim_step

AB_T, AB_PREV = 0.35, 0.5


def _coeffs(eta: float) -> tuple[float, float]:
    sigma = eta * math.sqrt((1 - AB_PREV) / (1 - AB_T)) * math.sqrt(1 - AB_T / AB_PREV)
    return sigma, math.sqrt(1 - AB_PREV - sigma**2)


def reference_step(clip, x, eps, eta, noise, guidance, scale, clamp):  # noqa: ANN001, ANN201 - mirrors ddim_step
    """The DDIM step written with array operators, for numpy or torch arrays; ``clip`` is ``np.clip`` or
    ``torch.clamp``."""
    sigma, dir_coef = _coeffs(eta)
    x0 = (x - math.sqrt(1 - AB_T) * eps) / math.sqrt(AB_T)
    if guidance is not None:
        x0 = x0 - scale * guidance
    if clamp > 0:
        x0 = clip(x0, -clamp, clamp)
    eps2 = (x - math.sqrt(AB_T) * x0) / math.sqrt(1 - AB_T)
    out = math.sqrt(AB_PREV) * x0 + dir_coef * eps2
    return (out + sigma * noise if noise is not None else out), x0


def bench_case(shape: tuple[int, ...], full: bool, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    x, eps, noise, guidance = (rng.normal(size=shape).astype(np.float32) for _ in range(4))
    kw = dict(eta=1.0, noise=noise, guidance=guidance, scale=0.1, clamp=2.0) if full else dict(
        eta=0.0, noise=None, guidance=None, scale=0.0, clamp=0.0)

    def native():
        return ddim_step(x, eps, AB_T, AB_PREV, eta=kw["eta"], noise=kw["noise"], guidance=kw["guidance"],
                         guidance_scale=kw["scale"], clamp=kw["clamp"])

    n = int(np.prod(shape))
    number = max(1, 2_000_000 // n)
    np.testing.assert_allclose(native()[0], reference_step(np.clip, x, eps, **kw)[0], rtol=1e-4, atol=1e-4)
    row = {"n": n, "options": "eta=1+noise+guidance+clamp" if full else "eta=0"}
    row["native_s"] = best_of(native, repeat=repeat, number=number)
    row["numpy_s"] = best_of(lambda: reference_step(np.clip, x, eps, **kw), repeat=repeat, number=number)
    moved = n * 4 * (2 + (2 if full else 0) + 2)  # inputs read + x_prev and x0 written
    row["native_GBps"] = moved / row["native_s"] / 1e9
    try:
        import torch

        tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        tx, te = torch.from_numpy(x), torch.from_numpy(eps)
        with torch.inference_mode():
            row["torch_s"] = best_of(lambda: reference_step(torch.clamp, tx, te, **tkw), repeat=repeat, number=number)
    except ImportError:
        row["torch_s"] = None
    return row


def run(quick: bool = False) -> dict:
    """Run the DDIM benchmarks; returns {"ddim_step": [rows]} with seconds per step and GB/s."""
    repeat = 3 if quick else 7
    shapes = [(64, 100, 9), (1 << 20,)] if quick else [(64, 100, 9), (1 << 24,)]
    rows = [bench_case(s, full, repeat) for s in shapes for full in (False, True)]
    # Timings on a shared machine are only as good as its idle cores; say how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'DDIM step':<42}{'native ms':>10}{'numpy ms':>10}{'torch ms':>10}{'vs numpy':>10}{'vs torch':>10}{'GB/s':>7}")
    for r in rows:
        name = f"n={r['n']} {r['options']}"
        torch_ms = f"{r['torch_s'] * 1e3:10.3f}" if r["torch_s"] else f"{'n/a':>10}"
        vs_torch = f"{r['torch_s'] / r['native_s']:9.1f}x" if r["torch_s"] else f"{'n/a':>10}"
        print(f"{name:<42}{r['native_s'] * 1e3:10.3f}{r['numpy_s'] * 1e3:10.3f}{torch_ms}"
              f"{r['numpy_s'] / r['native_s']:9.1f}x{vs_torch}{r['native_GBps']:7.1f}")
    return {"ddim_step": rows}
