"""Diffusion math on numpy arrays, written once for every backend (k-diffusion style small functions).

Time is continuous, ``t`` in [0, 1] (0 clean, 1 pure noise), with the cosine schedule of Nichol & Dhariwal
("Improved Denoising Diffusion Probabilistic Models", 2021, eq. 17). The forward process is
``x_t = sqrt(ab(t)) x0 + sqrt(1 - ab(t)) eps`` (Ho et al. 2020, eq. 4) with ``ab`` the cumulative alpha product.

A denoiser (:class:`Denoiser`) predicts either the noise ``eps`` or the velocity
``v = sqrt(ab) eps - sqrt(1 - ab) x0`` (Salimans & Ho, "Progressive Distillation", 2022, sec. 4); the sampler
converts to ``eps`` and runs DDIM (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", 2021).

Arrays are (B, J, D) pose vectors (see :mod:`vips.pose_encoding`) with an optional (J, D) or (B, J, D)
``channel_mask`` of live channels: masked channels stay exactly zero through sampling and inversion.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

#: Offset s of the cosine schedule (eq. 17), so beta is not tiny near t = 0.
COSINE_S = 0.008
#: Smallest alpha_bar used (t = 1), so x0 stays recoverable from an eps prediction.
MIN_ALPHA_BAR = 1e-4

Guidance = Callable[[np.ndarray, float], "np.ndarray | None"]


class Denoiser(Protocol):
    """What the sampler needs from a backend (ONNX Runtime or torch).

    ``encode(cond)`` turns a :class:`vips.features.RigConditioning` into whatever the backend caches per rig
    (the rig encoder's output); ``__call__(x_t, t, encoded)`` maps x_t (B, J, D) float32 and t (B,) float32 in
    [0, 1] to the prediction (B, J, D) float32: noise when ``prediction == "eps"``, velocity when ``"v"``.
    """

    prediction: str

    def encode(self, cond: Any) -> Any: ...

    def __call__(self, x_t: np.ndarray, t: np.ndarray, encoded: Any) -> np.ndarray: ...


# ----- schedule ----------------------------------------------------------------------------------------------
def alpha_bar(t: np.ndarray | float, shift: float = 1.0, s: float = COSINE_S,
              min_alpha_bar: float = MIN_ALPHA_BAR) -> np.ndarray:
    """Cosine schedule ``ab(t) = f(t) / f(0)``, ``f(t) = cos(((t + s) / (1 + s)) pi / 2)^2`` (Nichol & Dhariwal
    2021, eq. 17), clipped to [min_alpha_bar, 1], then shifted: its log signal-to-noise ratio raised by
    ``2 ln(shift)``, i.e. ``ab' = shift^2 ab / (1 + (shift^2 - 1) ab)`` (the shifted cosine schedule of
    Hoogeboom et al., "simple diffusion", 2023, used the other way round). A shift ``k`` trains on data of
    spread ``sigma`` as the plain schedule trains on data of spread ``k sigma`` (pose vectors spread about 0.15;
    the shipped model uses no shift, see training/README.md for what shifts measured). ``t`` in [0, 1], any
    shape; returns float64 of t's shape."""
    t = np.asarray(t, np.float64)
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    f0 = np.cos(s / (1 + s) * np.pi / 2) ** 2
    ab = np.clip(f / f0, min_alpha_bar, 1.0)
    k2 = float(shift) ** 2
    return ab if k2 == 1.0 else k2 * ab / (1 + (k2 - 1) * ab)


def t_from_alpha_bar(ab: np.ndarray | float, shift: float = 1.0, s: float = COSINE_S) -> np.ndarray:
    """Inverse of :func:`alpha_bar` on its range: the time t in [0, 1] of a noise level (float64)."""
    ab = np.asarray(ab, np.float64)
    k2 = float(shift) ** 2
    if k2 != 1.0:
        ab = ab / (k2 - (k2 - 1) * ab)
    c0 = np.cos(s / (1 + s) * np.pi / 2)
    t = np.arccos(np.clip(np.sqrt(ab) * c0, -1.0, 1.0)) * 2 / np.pi * (1 + s) - s
    return np.clip(t, 0.0, 1.0)


def timesteps(steps: int, t_max: float = 1.0, spacing: str = "karras", rho: float = 7.0,
              sigma_min: float = 0.002, shift: float = 1.0) -> np.ndarray:
    """(steps + 1,) float64 decreasing grid from ``t_max`` to 0: the sampler steps from ``t[i]`` to ``t[i+1]``.

    ``spacing="uniform"``: evenly spaced in t. ``spacing="karras"`` (default): the noise-to-signal ratio
    ``sigma = sqrt((1 - ab) / ab)`` follows ``(sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) -
    sigma_max^(1/rho)))^rho`` (Karras et al., "Elucidating the Design Space of Diffusion-Based Generative
    Models", 2022, eq. 5), then 0. It spends more steps at low noise, where the narrow dimensions of a pose
    (small joints, twist) are resolved: first-order DDIM on a uniform grid shrinks their spread. ``shift``: the
    schedule's (see :func:`alpha_bar`).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if spacing == "uniform":
        return np.linspace(t_max, 0.0, steps + 1)
    if spacing != "karras":
        raise ValueError(f"spacing must be 'uniform' or 'karras', got {spacing!r}")
    ab_max = float(alpha_bar(t_max, shift))
    s_max = np.sqrt((1 - ab_max) / ab_max)
    if steps == 1 or s_max <= sigma_min:
        return np.linspace(t_max, 0.0, steps + 1)
    i = np.arange(steps) / (steps - 1)
    sigma = (s_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
    t = t_from_alpha_bar(1 / (1 + sigma**2), shift)
    t[0] = t_max
    return np.concatenate([t, [0.0]])


# ----- parameterizations -------------------------------------------------------------------------------------
def add_noise(x0: np.ndarray, eps: np.ndarray, ab: np.ndarray | float) -> np.ndarray:
    """``x_t = sqrt(ab) x0 + sqrt(1 - ab) eps`` (Ho et al. 2020, eq. 4); ``ab`` broadcast over x0."""
    ab = _expand(ab, x0)
    return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps


def training_target(x0: np.ndarray, eps: np.ndarray, ab: np.ndarray | float, prediction: str) -> np.ndarray:
    """What a denoiser of type ``prediction`` should output: ``eps``, or ``v = sqrt(ab) eps - sqrt(1-ab) x0``."""
    _check_prediction(prediction)
    if prediction == "eps":
        return eps
    ab = _expand(ab, x0)
    return np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0


def prediction_to_eps(pred: np.ndarray, x_t: np.ndarray, ab: np.ndarray | float, prediction: str) -> np.ndarray:
    """Noise from a model output: itself for eps, ``sqrt(ab) v + sqrt(1 - ab) x_t`` for v."""
    _check_prediction(prediction)
    if prediction == "eps":
        return pred
    ab = _expand(ab, x_t)
    return np.sqrt(ab) * pred + np.sqrt(1 - ab) * x_t


def prediction_to_x0(pred: np.ndarray, x_t: np.ndarray, ab: np.ndarray | float, prediction: str) -> np.ndarray:
    """Clean sample from a model output: ``(x_t - sqrt(1-ab) eps) / sqrt(ab)`` or ``sqrt(ab) x_t - sqrt(1-ab) v``."""
    _check_prediction(prediction)
    ab = _expand(ab, x_t)
    if prediction == "eps":
        return (x_t - np.sqrt(1 - ab) * pred) / np.sqrt(ab)
    return np.sqrt(ab) * x_t - np.sqrt(1 - ab) * pred


# ----- DDIM --------------------------------------------------------------------------------------------------
def ddim_sigma(ab_t: float, ab_prev: float, eta: float) -> float:
    """``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)`` (Song et al. 2021, eq. 16)."""
    if eta <= 0 or ab_t >= 1:
        return 0.0
    return float(eta * np.sqrt((1 - ab_prev) / (1 - ab_t)) * np.sqrt(max(0.0, 1 - ab_t / ab_prev)))


def ddim_step(
    x_t: np.ndarray,
    eps: np.ndarray,
    ab_t: float,
    ab_prev: float,
    eta: float = 0.0,
    noise: np.ndarray | None = None,
    guidance: np.ndarray | None = None,
    guidance_scale: float = 0.0,
    clamp: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One DDIM update from level ``ab_t`` to the less noisy ``ab_prev`` (Song et al. 2021, eq. 12).

    ::

        x0     = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
        x0    <- x0 - guidance_scale * guidance;  x0 <- clip(x0, -clamp, clamp) if clamp > 0
        eps'   = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)
        x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps' + sigma noise

    with sigma from :func:`ddim_sigma` (``eta = 0`` deterministic DDIM, ``eta = 1`` DDPM-like).
    Runs the fused native kernel (:func:`vips.native.ddim_step`) when the build has it, else the same math in
    numpy.

    Args:
        x_t, eps: (...) float32 arrays of one shape.
        ab_t: current level in (0, 1); ab_prev: target level in (0, 1] (1 returns x0).
        eta: >= 0; noise: standard normal of x_t's shape, needed when sigma > 0.
        guidance: optional gradient subtracted from x0 (scaled by ``guidance_scale``).
        clamp: when > 0, x0 is clipped to [-clamp, clamp].

    Returns:
        ``(x_prev, x0)``, float32 arrays of x_t's shape.
    """
    x_t = np.ascontiguousarray(x_t, np.float32)
    eps = np.ascontiguousarray(eps, np.float32)
    sigma = ddim_sigma(ab_t, ab_prev, eta)
    if sigma > 0 and noise is None:
        raise ValueError("ddim_step: eta > 0 needs a noise array of x_t's shape")
    native = _native_ddim()
    if native is not None:
        noise = None if noise is None else np.ascontiguousarray(noise, np.float32)
        guidance = None if guidance is None else np.ascontiguousarray(guidance, np.float32)
        return native.ddim_step(x_t, eps, ab_t, ab_prev, eta, noise, guidance, guidance_scale, clamp)
    return _ddim_step_numpy(x_t, eps, ab_t, ab_prev, sigma, noise, guidance, guidance_scale, clamp)


def ddim_invert_step(x_t: np.ndarray, eps: np.ndarray, ab_t: float, ab_next: float) -> np.ndarray:
    """Deterministic DDIM inversion towards the noisier level ``ab_next`` (eq. 12 with eta = 0, run backwards):
    ``x_next = sqrt(ab_next) x0 + sqrt(1 - ab_next) eps`` with ``x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)``.

    Args and returns: (...) float32 arrays of one shape.
    """
    x_t = np.ascontiguousarray(x_t, np.float32)
    eps = np.ascontiguousarray(eps, np.float32)
    native = _native_ddim()
    if native is not None:
        return native.ddim_invert_step(x_t, eps, ab_t, ab_next)
    x0 = (x_t.astype(np.float64) - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    return (np.sqrt(ab_next) * x0 + np.sqrt(1 - ab_next) * eps).astype(np.float32)


def _ddim_step_numpy(x_t, eps, ab_t, ab_prev, sigma, noise, guidance, guidance_scale, clamp):
    x = x_t.astype(np.float64)
    x0 = (x - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    if guidance is not None and guidance_scale != 0:
        x0 = x0 - guidance_scale * guidance
    if clamp > 0:
        x0 = np.clip(x0, -clamp, clamp)
    e = (x - np.sqrt(ab_t) * x0) / np.sqrt(1 - ab_t) if ab_t < 1 else eps
    x_prev = np.sqrt(ab_prev) * x0 + np.sqrt(max(0.0, 1 - ab_prev - sigma**2)) * e
    if sigma > 0:
        x_prev = x_prev + sigma * noise
    return x_prev.astype(np.float32), x0.astype(np.float32)


def _native_ddim():
    """The native DDIM module when the compiled core carries the kernel, else None."""
    try:
        from vips import _native

        if not hasattr(_native, "ddim_step"):
            return None
        from vips.native import ddim

        return ddim
    except ImportError:
        return None


# ----- latent interpolation ----------------------------------------------------------------------------------
def slerp(z0: np.ndarray, z1: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation of latents ``sin((1-a) th) / sin th z0 + sin(a th) / sin th z1`` (Shoemake 1985;
    used for diffusion latents by Song et al. 2021, sec. 5.3).

    The angle ``th`` is between the flattened latents of each batch item. For independent Gaussian latents of
    many dimensions, ``th`` is near 90 degrees and the weights satisfy ``w0^2 + w1^2 ~ 1``, so every
    interpolant keeps unit variance (linear interpolation would shrink it to 1/2 at the midpoint).

    Args:
        z0, z1: (B, ...) latents. alpha: scalar or (N,) fractions in [0, 1].

    Returns:
        (B, ...) for a scalar alpha, else (N, B, ...), float32.
    """
    z0 = np.asarray(z0, np.float64)
    z1 = np.asarray(z1, np.float64)
    a = np.asarray(alpha, np.float64)
    axes = tuple(range(1, z0.ndim))
    n0 = np.sqrt((z0**2).sum(axes))
    n1 = np.sqrt((z1**2).sum(axes))
    cos = np.clip((z0 * z1).sum(axes) / np.maximum(n0 * n1, 1e-30), -1.0, 1.0)
    theta = np.arccos(cos)
    sin = np.sin(theta)
    shape = (-1,) + (1,) * z0.ndim
    aa = a.reshape(shape)
    th = theta.reshape((1, -1) + (1,) * (z0.ndim - 1))
    s = sin.reshape(th.shape)
    near = s < 1e-6  # parallel latents: fall back to linear interpolation
    w0 = np.where(near, 1 - aa, np.sin((1 - aa) * th) / np.where(near, 1, s))
    w1 = np.where(near, aa, np.sin(aa * th) / np.where(near, 1, s))
    out = (w0 * z0[None] + w1 * z1[None]).astype(np.float32)
    return out[0] if a.ndim == 0 else out


# ----- sampler loops -----------------------------------------------------------------------------------------
def sample(
    denoiser: Denoiser,
    encoded: Any,
    x_T: np.ndarray,
    steps: int = 20,
    eta: float = 0.0,
    rng: np.random.Generator | None = None,
    channel_mask: np.ndarray | None = None,
    guide: Guidance | None = None,
    guidance_scale: float = 0.0,
    clamp: float = 0.0,
    t_max: float = 1.0,
    spacing: str = "karras",
    shift: float = 1.0,
) -> np.ndarray:
    """Run DDIM from ``x_T`` at ``t_max`` down to t = 0 and return x0 (B, J, D) float32.

    Args:
        denoiser: any :class:`Denoiser`; ``encoded`` its ``encode(cond)`` for the rig.
        x_T: (B, J, D) starting latent (standard normal for sampling, an inverted latent for decoding).
        steps: number of DDIM steps; eta: stochasticity (> 0 needs ``rng``).
        channel_mask: (J, D) or (B, J, D) live channels; masked channels are held at zero.
        guide: optional ``guide(x0, t) -> gradient of an energy w.r.t. x0 (B, J, D) or None``, applied as the
            DDIM step's guidance nudge with ``guidance_scale`` (manifold IK).
        clamp: when > 0, predicted x0 is clipped to [-clamp, clamp].
        t_max: start time (1 for pure noise; less to denoise a partly noised pose); spacing: see
            :func:`timesteps`; shift: the model's schedule shift (:func:`alpha_bar`).
    """
    if eta > 0 and rng is None:
        raise ValueError("sample: eta > 0 needs an rng for the step noise")
    mask = _mask(channel_mask, x_T)
    x = np.ascontiguousarray(x_T * mask, np.float32)
    grid = timesteps(steps, t_max, spacing, shift=shift)
    abs_ = alpha_bar(grid, shift)
    for i in range(steps):
        ab_t, ab_prev = float(abs_[i]), float(abs_[i + 1])
        eps = _eps(denoiser, encoded, x, grid[i], ab_t) * mask
        grad = None
        if guide is not None and guidance_scale != 0:
            x0 = prediction_to_x0(eps, x, ab_t, "eps")
            grad = guide(x0.astype(np.float32), float(grid[i]))
            grad = None if grad is None else np.asarray(grad, np.float32) * mask
        noise = None
        if ddim_sigma(ab_t, ab_prev, eta) > 0:
            noise = rng.standard_normal(x.shape).astype(np.float32) * mask
        x, _ = ddim_step(x, eps, ab_t, ab_prev, eta, noise, grad, guidance_scale, clamp)
        x = x * mask
    return x


def sample_noise(shape: tuple[int, ...], seed: int | np.random.Generator, channel_mask=None) -> np.ndarray:
    """Standard normal latent of ``shape`` (B, J, D) float32 from a seed, masked channels zero.

    Only the live channels are drawn, in order, so the same seed gives the same latent to the same live
    channels whatever masked joints lie between them (a rig with a ground bone above the body samples exactly
    like the rig without it).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if channel_mask is None:
        return rng.standard_normal(shape).astype(np.float32)
    live = np.broadcast_to(np.asarray(channel_mask) > 0, shape[1:])
    z = np.zeros(shape, np.float32)
    z[:, live] = rng.standard_normal((shape[0], int(live.sum()))).astype(np.float32)
    return z


def invert(
    denoiser: Denoiser,
    encoded: Any,
    x0: np.ndarray,
    steps: int = 20,
    channel_mask: np.ndarray | None = None,
    t_max: float = 1.0,
    spacing: str = "karras",
    shift: float = 1.0,
) -> np.ndarray:
    """Deterministic DDIM inversion (eta = 0): clean poses x0 (B, J, D) -> latents at ``t_max`` (B, J, D).

    Runs the grid of :func:`sample` backwards, each step using the noise predicted at the current point (the
    usual approximation of the implicit ODE step); decoding the latent with ``sample(..., eta=0)`` and the same
    ``steps``, ``spacing`` and ``shift`` returns x0 up to the discretization error (which is large relative to narrow
    dimensions below ~50 steps).
    """
    mask = _mask(channel_mask, x0)
    x = np.ascontiguousarray(x0 * mask, np.float32)
    grid = timesteps(steps, t_max, spacing, shift=shift)[::-1]
    abs_ = alpha_bar(grid, shift)
    for i in range(steps):
        eps = _eps(denoiser, encoded, x, grid[i], float(abs_[i])) * mask
        x = ddim_invert_step(x, eps, float(abs_[i]), float(abs_[i + 1])) * mask
    return x


def _eps(denoiser: Denoiser, encoded: Any, x: np.ndarray, t: float, ab: float) -> np.ndarray:
    tt = np.full((x.shape[0],), t, np.float32)
    pred = np.asarray(denoiser(x, tt, encoded), np.float32)
    return prediction_to_eps(pred, x, ab, denoiser.prediction).astype(np.float32)


def _mask(channel_mask: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    if channel_mask is None:
        return np.ones((1,) * np.ndim(x), np.float32)
    m = np.asarray(channel_mask, np.float32)
    return m[None] if m.ndim == np.ndim(x) - 1 else m


def _expand(ab: np.ndarray | float, x: np.ndarray) -> np.ndarray:
    ab = np.asarray(ab, np.float64)
    return ab.reshape(ab.shape + (1,) * (np.ndim(x) - ab.ndim)) if ab.ndim else ab


def _check_prediction(prediction: str) -> None:
    if prediction not in ("eps", "v"):
        raise ValueError(f"prediction must be 'eps' or 'v', got {prediction!r}")
