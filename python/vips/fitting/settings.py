"""The knobs of the fitting pipeline (:func:`vips.fitting.fit.fit_poses`); plain values, no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: ``progress(stage, done, total)``: stage "fit" counts frames, "refine" iterations.
ProgressFn = Callable[[str, int, int], None]


@dataclass
class FitSettings:
    """Knobs of :func:`vips.fitting.fit.fit_poses` (defaults are what the evaluation uses).

    Lengths (``sigma_*``, ``retry_floor``) are fractions of the rest mesh's largest extent.
    ``first_iterations`` / ``frame_iterations`` are Gauss-Newton steps for the first and every later frame;
    ``align`` is "rigid" (an ICP step against the previous fitted surface starts each frame) or "none"
    (frames keep the previous frame's alignment); ``icp_target`` is "visible" (the part of the previous fit
    its camera saw, matched both ways) or "all" (the whole surface), ``icp_scale``
    lets that step correct the frame's scale and ``icp_min_gain`` is the ratio of ICP's trimmed RMS to the
    unmoved one below which the step is taken. ``rest_prior`` / ``swing_prior`` weigh the pull towards the
    rest pose on twist / swing (see :mod:`vips.fitting.fit`); ``thin_adapt`` narrows the final kernel and the
    visibility test to the body's part radius; ``max_frame_scale`` bounds the scale the solver may give a
    frame on top of the scale it starts from, ``scale_bound`` the frame's whole scale relative to the first
    fitted frame's (per-frame reconstructions differ in scale by a bounded factor: 1.15 in our simulation,
    so two frames by at most 1.15^2 = 1.32; raise it for frames each normalized to a unit box);
    ``plane_weight`` is the point-to-plane share of the squared distances (the rest is point-to-point;
    ``flat_plane_weight`` replaces it for a sheet, a mesh of zero thickness); ``point_retry`` lets a frame
    no start fits well try once more with the point part steering the solver (see ``fit_one``);
    ``coverage_radius`` is the distance :attr:`FitResult.coverage` counts within.
    ``refine_iterations``, ``lr_*``, ``w_*`` and ``refine_scale`` drive the optional batched torch
    refinement (see :mod:`vips.fitting.fit`).
    """

    num_samples: int = 2000
    max_points: int = 1200
    first_iterations: int = 40
    frame_iterations: int = 10
    extrapolate: float = 1.0
    rigid_iterations: int = 3
    rest_prior: float = 1e-4
    swing_prior: float = 1e-5
    retry_factor: float = 1.5
    retry_floor: float = 0.006
    align: str = "rigid"
    refine_iterations: int = 0
    lr_rotation: float = 0.03
    lr_translation: float = 0.01
    lr_scale: float = 0.01
    sigma_first: float = 0.1
    sigma_start: float = 0.06
    sigma_end: float = 0.03
    plane_weight: float = 0.95
    flat_plane_weight: float = 0.5
    thin_adapt: bool = True
    icp_target: str = "visible"
    icp_min_gain: float = 0.8
    coverage_radius: float = 0.03
    max_frame_scale: float = 1.5
    scale_bound: float = 1.5
    point_retry: bool = True
    icp_scale: bool = True
    w_cloud_to_model: float = 1.0
    w_model_to_cloud: float = 0.5
    w_edge: float = 0.0005
    w_smooth: float = 0.2
    w_prior: float = 1e-5
    refine_scale: bool = True
    first_frame_search_deg: float = 0.0
    icp_trim: float = 0.7
    min_points: int = 20
    seed: int = 0
