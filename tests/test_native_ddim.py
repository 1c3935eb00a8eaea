"""The fused DDIM step and inversion (vips.native.ddim_step / ddim_invert_step) against a float64 numpy
implementation of the same formulas (Song et al. 2021, eq. 12 and 16)."""

from __future__ import annotations

import numpy as np
import pytest

from vips.errors import NativeError
from vips.native import ddim_invert_step, ddim_step


def reference_step(x_t, eps, ab_t, ab_prev, eta=0.0, noise=None, guidance=None, scale=0.0, clamp=0.0):
    x_t, eps = x_t.astype(np.float64), eps.astype(np.float64)
    x0 = (x_t - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    if guidance is not None:
        x0 = x0 - scale * guidance.astype(np.float64)
    if clamp > 0:
        x0 = np.clip(x0, -clamp, clamp)
    eps_dir = (x_t - np.sqrt(ab_t) * x0) / np.sqrt(1 - ab_t)
    sigma = eta * np.sqrt((1 - ab_prev) / (1 - ab_t)) * np.sqrt(1 - ab_t / ab_prev)
    x_prev = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev - sigma**2) * eps_dir
    if noise is not None:
        x_prev = x_prev + sigma * noise.astype(np.float64)
    return x_prev, x0


def reference_invert(x_t, eps, ab_t, ab_next):
    x_t, eps = x_t.astype(np.float64), eps.astype(np.float64)
    x0 = (x_t - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    return np.sqrt(ab_next) * x0 + np.sqrt(1 - ab_next) * eps


def arrays(seed, shape, n=4):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(n)]


SHAPES = [(1,), (7,), (3, 5), (16, 24, 6), (2, 3, 4, 5), (100_003,), (600, 1000)]
LEVELS = [(0.02, 0.05), (0.5, 0.6), (0.9, 0.999), (0.3, 1.0), (0.0001, 0.001)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ab_t,ab_prev", LEVELS)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_step_matches_reference(shape, ab_t, ab_prev, eta):
    x_t, eps, noise, _ = arrays(len(shape) + int(100 * ab_t), shape)
    x_prev, x0 = ddim_step(x_t, eps, ab_t, ab_prev, eta=eta, noise=noise)
    ref_prev, ref_x0 = reference_step(x_t, eps, ab_t, ab_prev, eta, noise)
    assert x_prev.shape == shape and x0.shape == shape and x_prev.dtype == np.float32
    scale = 1 / np.sqrt(ab_t)  # x0 amplifies x_t's float32 round-off by this much
    np.testing.assert_allclose(x0, ref_x0, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(x_prev, ref_prev, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("shape", SHAPES[:5])
@pytest.mark.parametrize("clamp", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("scale", [0.0, 0.3, -2.0])
@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_guidance_and_clamp(shape, clamp, scale, eta):
    x_t, eps, noise, guidance = arrays(7 + len(shape), shape)
    ab_t, ab_prev = 0.4, 0.55
    x_prev, x0 = ddim_step(x_t, eps, ab_t, ab_prev, eta=eta, noise=noise, guidance=guidance,
                           guidance_scale=scale, clamp=clamp)
    ref_prev, ref_x0 = reference_step(x_t, eps, ab_t, ab_prev, eta, noise, guidance, scale, clamp)
    np.testing.assert_allclose(x0, ref_x0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_prev, ref_prev, rtol=1e-5, atol=2e-5)
    if clamp > 0:
        assert np.abs(x0).max() <= clamp


def test_clamp_changes_the_noise_direction():
    # With clipping, x_prev uses eps re-derived from the clipped x0, not the network's eps.
    x_t = np.array([10.0, 0.1], np.float32)
    eps = np.array([0.0, 0.0], np.float32)
    x_prev, x0 = ddim_step(x_t, eps, 0.5, 0.8, clamp=1.0)
    assert x0[0] == 1.0
    eps_dir = (10.0 - np.sqrt(0.5) * 1.0) / np.sqrt(0.5)
    np.testing.assert_allclose(x_prev[0], np.sqrt(0.8) + np.sqrt(0.2) * eps_dir, rtol=1e-6)
    np.testing.assert_allclose(x_prev[1], np.sqrt(0.8) * 0.1 / np.sqrt(0.5), rtol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ab_t,ab_next", [(0.9, 0.5), (1.0, 0.99), (0.3, 0.02), (0.5, 0.5)])
def test_invert_matches_reference(shape, ab_t, ab_next):
    x_t, eps, _, _ = arrays(3 + len(shape), shape)
    np.testing.assert_allclose(ddim_invert_step(x_t, eps, ab_t, ab_next), reference_invert(x_t, eps, ab_t, ab_next),
                               rtol=1e-5, atol=1e-5 / np.sqrt(ab_t))


@pytest.mark.parametrize("ab_t,ab_prev", [(0.1, 0.2), (0.5, 0.9), (0.05, 0.06)])
def test_step_then_invert_round_trips(ab_t, ab_prev):
    x_t, eps, _, _ = arrays(11, (64, 33))
    x_prev, _ = ddim_step(x_t, eps, ab_t, ab_prev)
    back = ddim_invert_step(x_prev, eps, ab_prev, ab_t)
    np.testing.assert_allclose(back, x_t, rtol=0, atol=2e-5 / np.sqrt(ab_t))


def test_eta_zero_ignores_noise_and_final_step_returns_x0():
    x_t, eps, noise, _ = arrays(12, (50,))
    a, _ = ddim_step(x_t, eps, 0.3, 0.6, eta=0.0, noise=noise)
    b, _ = ddim_step(x_t, eps, 0.3, 0.6)
    np.testing.assert_array_equal(a, b)
    x_prev, x0 = ddim_step(x_t, eps, 0.3, 1.0, eta=1.0)  # sigma = 0 at ab_prev = 1: no noise needed
    np.testing.assert_allclose(x_prev, x0, rtol=1e-6, atol=1e-6)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    x_t, eps, noise, guidance = arrays(13, (8, 21, 6))
    expected = ddim_step(x_t, eps, 0.2, 0.3, 0.5, noise, guidance, 0.1, 2.0)
    got = ddim_step(*[torch.from_numpy(a) for a in (x_t, eps)], 0.2, 0.3, 0.5, torch.from_numpy(noise),
                    torch.from_numpy(guidance), 0.1, 2.0)
    for g, e in zip(got, expected):
        assert isinstance(g, torch.Tensor) and tuple(g.shape) == e.shape
        np.testing.assert_array_equal(g.numpy(), e)
    inv = ddim_invert_step(torch.from_numpy(x_t), torch.from_numpy(eps), 0.3, 0.2)
    np.testing.assert_array_equal(inv.numpy(), ddim_invert_step(x_t, eps, 0.3, 0.2))


def test_errors_name_the_argument():
    x_t, eps, noise, _ = arrays(14, (4, 5))
    with pytest.raises(NativeError, match="'eps'.*shape"):
        ddim_step(x_t, eps[:3], 0.5, 0.6)
    with pytest.raises(NativeError, match="'x_t'.*float32"):
        ddim_step(x_t.astype(np.float64), eps, 0.5, 0.6)
    with pytest.raises(NativeError, match="'eps'.*contiguous"):
        ddim_step(x_t, np.asfortranarray(eps), 0.5, 0.6)
    with pytest.raises(NativeError, match="'noise'.*required"):
        ddim_step(x_t, eps, 0.5, 0.6, eta=1.0)
    with pytest.raises(NativeError, match="'noise'.*shape"):
        ddim_step(x_t, eps, 0.5, 0.6, eta=1.0, noise=noise[:2])
    with pytest.raises(NativeError, match="'guidance'"):
        ddim_step(x_t, eps, 0.5, 0.6, guidance=noise.astype(np.float64), guidance_scale=1.0)
    with pytest.raises(NativeError, match="'alpha_bar_t'"):
        ddim_step(x_t, eps, 1.0, 1.0)
    with pytest.raises(NativeError, match="'alpha_bar_prev'"):
        ddim_step(x_t, eps, 0.5, 1.5)
    with pytest.raises(NativeError, match="'alpha_bar_prev'.*>= alpha_bar_t"):
        ddim_step(x_t, eps, 0.5, 0.4, eta=0.5, noise=noise)
    with pytest.raises(NativeError, match="'eta'"):
        ddim_step(x_t, eps, 0.5, 0.6, eta=-1.0)
    with pytest.raises(NativeError, match="'eta'.*too large"):
        ddim_step(x_t, eps, 0.1, 0.9, eta=5.0, noise=noise)
    with pytest.raises(NativeError, match="'clamp'"):
        ddim_step(x_t, eps, 0.5, 0.6, clamp=-1.0)
    with pytest.raises(NativeError, match="'alpha_bar_next'"):
        ddim_invert_step(x_t, eps, 0.5, 0.0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    for shape in [(1,), (3, 5), (1_000_003,), (64, 52, 6)]:
        x_t, eps, noise, guidance = arrays(15, shape)
        for kwargs in [{}, {"eta": 1.0, "noise": noise}, {"guidance": guidance, "guidance_scale": 0.2, "clamp": 1.5}]:
            cpu = ddim_step(x_t, eps, 0.3, 0.45, **kwargs)
            cuda_kwargs = {k: torch.from_numpy(v).cuda() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
            gpu = ddim_step(torch.from_numpy(x_t).cuda(), torch.from_numpy(eps).cuda(), 0.3, 0.45, **cuda_kwargs)
            for g, c in zip(gpu, cpu):
                assert g.is_cuda
                np.testing.assert_allclose(g.cpu().numpy(), c, rtol=1e-5, atol=1e-5)
        inv = ddim_invert_step(torch.from_numpy(x_t).cuda(), torch.from_numpy(eps).cuda(), 0.45, 0.3)
        np.testing.assert_allclose(inv.cpu().numpy(), ddim_invert_step(x_t, eps, 0.45, 0.3), rtol=1e-5, atol=1e-5)
