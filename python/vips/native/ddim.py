"""Fused DDIM sampling and inversion steps (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", 2021).

One pass over the arrays computes the predicted clean sample, the optional guidance nudge and clipping, and the
update, where numpy or torch would make a temporary array per operator.
"""

from __future__ import annotations

from typing import Any

from vips.native._dispatch import call, empty_like_lib


def ddim_step(
    x_t: Any,
    eps: Any,
    alpha_bar_t: float,
    alpha_bar_prev: float,
    eta: float = 0.0,
    noise: Any = None,
    guidance: Any = None,
    guidance_scale: float = 0.0,
    clamp: float = 0.0,
) -> tuple[Any, Any]:
    """One DDIM update from noise level ``alpha_bar_t`` to the less noisy ``alpha_bar_prev`` (eq. 12).

    With ``ab`` the cumulative alpha product::

        x0     = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
        x0    <- x0 - guidance_scale * guidance            (if guidance is given)
        x0    <- clip(x0, -clamp, clamp)                   (if clamp > 0)
        eps'   = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)    (noise direction re-derived from the edited x0)
        sigma  = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)        (eq. 16)
        x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps' + sigma noise

    ``eps' == eps`` wherever x0 was not edited; re-deriving it keeps the step consistent with the nudged or
    clipped x0 (as diffusers does after clipping). ``eta = 0`` is deterministic DDIM, ``eta = 1`` DDPM-like.

    Args:
        x_t: float32 C-contiguous array of any shape (numpy, torch or cupy; CPU or CUDA).
        eps: predicted noise, same shape.
        alpha_bar_t: in (0, 1), the current noise level.
        alpha_bar_prev: in (0, 1], the target level (1 returns x0); >= alpha_bar_t when eta > 0.
        eta: >= 0 stochasticity (eta <= 1 keeps sigma^2 <= 1 - alpha_bar_prev).
        noise: standard normal noise of x_t's shape; required when the step's sigma > 0, else ignored.
        guidance: optional gradient of x_t's shape subtracted from x0 as ``guidance_scale * guidance``.
        guidance_scale: step size of the guidance nudge.
        clamp: when > 0, x0 is clipped to [-clamp, clamp].

    Returns:
        ``(x_prev, x0)``: arrays of x_t's shape, library and device.
    """
    shape = tuple(x_t.shape)
    x_prev = empty_like_lib(x_t, shape)
    x0 = empty_like_lib(x_t, shape)
    call(
        "ddim_step",
        x_t,
        eps,
        float(alpha_bar_t),
        float(alpha_bar_prev),
        float(eta),
        noise,
        guidance,
        float(guidance_scale),
        float(clamp),
        x_prev,
        x0,
    )
    return x_prev, x0


def ddim_invert_step(x_t: Any, eps: Any, alpha_bar_t: float, alpha_bar_next: float) -> Any:
    """Deterministic DDIM inversion step towards the noisier level ``alpha_bar_next``.

    ``x_next = sqrt(ab_next) x0 + sqrt(1 - ab_next) eps`` with ``x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)``:
    the eta = 0 step run backwards, so ``ddim_invert_step(ddim_step(x, e, a, b)[0], e, b, a)`` returns x.

    Args:
        x_t: float32 C-contiguous array of any shape (numpy, torch or cupy; CPU or CUDA).
        eps: predicted noise at (x_t, t), same shape.
        alpha_bar_t: in (0, 1], the current noise level.
        alpha_bar_next: in (0, 1], the target (usually smaller, i.e. noisier) level.

    Returns:
        x_next: array of x_t's shape, library and device.
    """
    x_next = empty_like_lib(x_t, tuple(x_t.shape))
    call("ddim_invert_step", x_t, eps, float(alpha_bar_t), float(alpha_bar_next), x_next)
    return x_next
