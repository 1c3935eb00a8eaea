"""Backend-free diffusion math: schedule, parameterizations, DDIM sampling with an exact Gaussian denoiser,
inversion round trip, spherical interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from vips import diffusion as dm


class GaussianDenoiser:
    """The exact denoiser for data x0 ~ N(mu, s^2) (independent per entry): E[eps | x_t] in closed form.

    With x_t = a x0 + b eps (a = sqrt(ab), b = sqrt(1 - ab)), x_t ~ N(a mu, a^2 s^2 + b^2) and
    E[eps | x_t] = b (x_t - a mu) / (a^2 s^2 + b^2).
    """

    def __init__(self, mu: np.ndarray, s: np.ndarray, prediction: str = "eps", shift: float = 1.0) -> None:
        self.mu, self.s, self.prediction, self.shift = mu, s, prediction, shift
        self.calls = 0

    def encode(self, cond):  # noqa: ANN001 - nothing to cache
        return cond

    def __call__(self, x_t, t, encoded):  # noqa: ANN001
        self.calls += 1
        ab = dm.alpha_bar(t, self.shift)[:, None, None]
        a, b = np.sqrt(ab), np.sqrt(1 - ab)
        eps = b * (x_t - a * self.mu) / (a**2 * self.s**2 + b**2)
        if self.prediction == "eps":
            return eps.astype(np.float32)
        x0 = (x_t - b * eps) / a
        return (a * eps - b * x0).astype(np.float32)


def test_cosine_schedule_properties():
    t = np.linspace(0, 1, 1001)
    ab = dm.alpha_bar(t)
    assert ab[0] == pytest.approx(1.0)
    assert ab[-1] == pytest.approx(dm.MIN_ALPHA_BAR)
    assert (np.diff(ab) <= 0).all() and (ab > 0).all() and (ab <= 1).all()
    # Nichol & Dhariwal: roughly linear in the middle, ab(0.5) close to 1/2.
    assert dm.alpha_bar(0.5) == pytest.approx(0.5, abs=0.03)
    # Reference formula in float64 at a few interior points.
    s = dm.COSINE_S
    ref = np.cos((0.3 + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    assert dm.alpha_bar(0.3) == pytest.approx(ref, rel=1e-12)
    for spacing in ("uniform", "karras"):
        for t_max in (1.0, 0.6):
            grid = dm.timesteps(10, t_max, spacing)
            assert grid.shape == (11,) and grid[0] == t_max and grid[-1] == 0 and (np.diff(grid) < 0).all()
    with pytest.raises(ValueError):
        dm.timesteps(0)
    with pytest.raises(ValueError):
        dm.timesteps(5, spacing="cosine")
    tt = np.linspace(0, 0.99, 50)
    np.testing.assert_allclose(dm.t_from_alpha_bar(dm.alpha_bar(tt)), tt, atol=1e-9)


def test_shifted_schedule_raises_the_log_snr_by_twice_the_log_shift():
    """Against the plain schedule in float64: log(ab / (1 - ab)) + 2 ln k, and its inverse and grid follow."""
    t = np.linspace(0.01, 0.99, 99)
    base = dm.alpha_bar(t)
    for k in (0.5, 3.0, 8.0):
        ab = dm.alpha_bar(t, k)
        np.testing.assert_allclose(np.log(ab / (1 - ab)), np.log(base / (1 - base)) + 2 * np.log(k), atol=1e-9)
        np.testing.assert_allclose(dm.t_from_alpha_bar(ab, k), t, atol=1e-9)
        assert dm.alpha_bar(0.0, k) == 1.0
        grid = dm.timesteps(12, shift=k)
        sigma = np.sqrt((1 - dm.alpha_bar(grid[:-1], k)) / dm.alpha_bar(grid[:-1], k))
        # The Karras grid is set in the shifted schedule's noise-to-signal ratio: it still ends at sigma_min.
        assert sigma[-1] == pytest.approx(0.002, rel=1e-6) and grid[0] == 1.0


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_with_a_shifted_schedule_recovers_gaussian_moments(prediction):
    """A denoiser trained on the shifted schedule samples its data only when the sampler and inversion use the
    same shift: the unshifted sampler gets the spread wrong."""
    mu = np.array([[0.05, -0.1, 0.0]])
    s = np.array([[0.15, 0.03, 0.3]])
    den = GaussianDenoiser(mu, s, prediction, shift=5.0)
    z = dm.sample_noise((4000, 1, 3), 4)
    x = dm.sample(den, None, z, steps=100, shift=5.0)
    np.testing.assert_allclose(x.std(0), s, rtol=0.08)
    np.testing.assert_array_less(np.abs(x.mean(0) - mu), 5 * s / np.sqrt(4000) + 0.005)
    wrong = dm.sample(den, None, z, steps=100)
    assert np.abs(wrong.std(0) / s - 1).max() > 0.2
    # Inversion is first order in the step size: at 200 steps it returns within 15 % of each spread.
    back = dm.sample(den, None, dm.invert(den, None, x[:64], steps=200, shift=5.0), steps=200, shift=5.0)
    np.testing.assert_array_less(np.abs(back - x[:64]).max(axis=0), 0.15 * s)


def test_karras_grid_keeps_narrow_dimensions():
    """At 20 steps the uniform grid collapses a dimension 100x narrower than the noise; the Karras grid keeps
    most of its spread."""
    mu, s = np.zeros((1, 2)), np.array([[1.0, 0.01]])
    den = GaussianDenoiser(mu, s)
    z = dm.sample_noise((4000, 1, 2), 3)
    uniform = dm.sample(den, None, z, steps=20, spacing="uniform").std(0) / s
    karras = dm.sample(den, None, z, steps=20, spacing="karras").std(0) / s
    assert uniform[0, 1] < 0.2 and karras[0, 1] > 0.6 and karras[0, 0] > 0.8


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_parameterizations_round_trip(prediction):
    rng = np.random.default_rng(0)
    x0, eps = rng.normal(size=(2, 3, 4, 9))
    ab = dm.alpha_bar(rng.random(3))
    x_t = dm.add_noise(x0, eps, ab)
    target = dm.training_target(x0, eps, ab, prediction)
    np.testing.assert_allclose(dm.prediction_to_eps(target, x_t, ab, prediction), eps, atol=1e-9)
    np.testing.assert_allclose(dm.prediction_to_x0(target, x_t, ab, prediction), x0, atol=1e-9)
    with pytest.raises(ValueError):
        dm.training_target(x0, eps, ab, "x0")


@pytest.mark.parametrize("prediction,eta", [("eps", 0.0), ("v", 0.0), ("eps", 1.0)])
def test_ddim_recovers_gaussian_moments(prediction, eta):
    mu = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]])
    s = np.array([[0.3, 1.0, 0.15], [2.0, 0.5, 0.2]])
    den = GaussianDenoiser(mu, s, prediction)
    rng = np.random.default_rng(1)
    n = 4000
    z = dm.sample_noise((n, 2, 3), rng)
    # First-order DDIM shrinks the spread of narrow dimensions on coarse grids (O(1/steps)); 200 steps
    # bring it within a few percent.
    x = dm.sample(den, None, z, steps=200, eta=eta, rng=rng)
    assert x.dtype == np.float32 and x.shape == (n, 2, 3)
    stderr = s / np.sqrt(n)
    np.testing.assert_array_less(np.abs(x.mean(0) - mu), 5 * stderr + 0.01)
    np.testing.assert_allclose(x.std(0), s, rtol=0.08)
    coarse = dm.sample(den, None, z, steps=10, eta=eta, rng=np.random.default_rng(1))
    assert np.abs(coarse.std(0) / s - 1).max() > np.abs(x.std(0) / s - 1).max()


def test_ddim_eta_needs_rng():
    den = GaussianDenoiser(np.zeros((1, 1)), np.ones((1, 1)))
    with pytest.raises(ValueError):
        dm.sample(den, None, np.zeros((2, 1, 1), np.float32), steps=3, eta=0.5)


@pytest.mark.parametrize("spacing", ["karras", "uniform"])
def test_inversion_then_decoding_returns_input(spacing):
    mu = np.array([[0.5, -1.0, 0.2]])
    s = np.array([[0.3, 1.0, 0.6]])
    den = GaussianDenoiser(mu, s)
    rng = np.random.default_rng(2)
    x0 = (mu + s * rng.normal(size=(64, 1, 3))).astype(np.float32)
    z = dm.invert(den, None, x0, steps=200, spacing=spacing)
    # Inverted latents of data are standard normal.
    assert abs(z.std() - 1) < 0.15 and abs(z.mean()) < 0.15
    back = dm.sample(den, None, z, steps=200, spacing=spacing)
    np.testing.assert_allclose(back, x0, atol=0.08)
    # A coarse grid is still close, and the error shrinks with more steps.
    z10 = dm.invert(den, None, x0, steps=10, spacing=spacing)
    err10 = np.abs(dm.sample(den, None, z10, steps=10, spacing=spacing) - x0).max()
    assert np.abs(back - x0).max() < err10 < 1.5


def test_channel_mask_holds_channels_at_zero():
    den = GaussianDenoiser(np.ones((3, 4)), np.ones((3, 4)))
    mask = np.ones((3, 4), np.float32)
    mask[1:, 2:] = 0
    z = dm.sample_noise((5, 3, 4), 0, mask)
    assert not z[:, 1:, 2:].any()
    x = dm.sample(den, None, z, steps=5, eta=1.0, rng=np.random.default_rng(0), channel_mask=mask)
    assert not x[:, 1:, 2:].any() and x[:, 0].std() > 0
    inv = dm.invert(den, None, x, steps=5, channel_mask=mask)
    assert not inv[:, 1:, 2:].any()


def test_ddim_step_numpy_matches_formula():
    rng = np.random.default_rng(3)
    x, e, noise, g = rng.normal(size=(4, 5, 7)).astype(np.float32)
    ab_t, ab_prev, eta = 0.3, 0.6, 0.7
    x_prev, x0 = dm.ddim_step(x, e, ab_t, ab_prev, eta, noise, g, 0.1, clamp=1.5)
    ref_x0 = np.clip((x.astype(np.float64) - np.sqrt(1 - ab_t) * e) / np.sqrt(ab_t) - 0.1 * g, -1.5, 1.5)
    e2 = (x - np.sqrt(ab_t) * ref_x0) / np.sqrt(1 - ab_t)
    sigma = eta * np.sqrt((1 - ab_prev) / (1 - ab_t)) * np.sqrt(1 - ab_t / ab_prev)
    ref = np.sqrt(ab_prev) * ref_x0 + np.sqrt(1 - ab_prev - sigma**2) * e2 + sigma * noise
    np.testing.assert_allclose(x0, ref_x0, atol=1e-5)
    np.testing.assert_allclose(x_prev, ref, atol=1e-5)
    # Inversion undoes a deterministic step.
    y, _ = dm.ddim_step(x, e, ab_t, ab_prev)
    np.testing.assert_allclose(dm.ddim_invert_step(y, e, ab_prev, ab_t), x, atol=1e-5)


def test_slerp_keeps_unit_variance():
    rng = np.random.default_rng(4)
    z0, z1 = rng.normal(size=(2, 8, 64, 9))
    alphas = np.linspace(0, 1, 9)
    path = dm.slerp(z0, z1, alphas)
    assert path.shape == (9, 8, 64, 9)
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    var = path.reshape(9, -1).var(axis=1)
    np.testing.assert_allclose(var, 1.0, atol=0.05)
    # Linear interpolation loses half the variance at the midpoint; slerp does not.
    assert (0.5 * (z0 + z1)).var() < 0.6 < var[4]
    # Parallel latents fall back to linear interpolation (no division by zero).
    np.testing.assert_allclose(dm.slerp(z0, 2 * z0, 0.5), 1.5 * z0, rtol=1e-5)


def test_native_ddim_matches_numpy():
    from vips import _native

    if not hasattr(_native, "ddim_step"):
        pytest.skip("this build has no native ddim_step yet")
    rng = np.random.default_rng(5)
    x, e, noise = rng.normal(size=(3, 6, 9)).astype(np.float32)
    sigma = dm.ddim_sigma(0.2, 0.5, 0.5)
    ref = dm._ddim_step_numpy(x, e, 0.2, 0.5, sigma, noise, None, 0.0, 0.0)
    got = dm.ddim_step(x, e, 0.2, 0.5, 0.5, noise)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-5)
    np.testing.assert_allclose(got[1], ref[1], atol=1e-5)
