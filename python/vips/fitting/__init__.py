"""Pose fitting: per-frame reconstructions of a moving object -> poses of its rig.

    >>> from vips.fitting import simulate_reconstruction, fit_poses, judge_fit
    >>> sim = simulate_reconstruction(rig, truth, seed=0)        # point clouds, one per frame
    >>> result = fit_poses(rig, sim.clouds)                      # FitResult: unpacks as poses, errors
    >>> report = judge_fit(result, range(len(sim.clouds)), names)  # the frames to keep, why not the others

The fitting pipeline needs torch (the ``train`` extra); the rest is numpy only and imports without it.

Pipeline (torch), by stage: :mod:`~vips.fitting.fit` (:func:`fit_poses` and the method),
:mod:`~vips.fitting.sequence` (the frame-by-frame schedule: first frame, alignment, starts, retries),
:mod:`~vips.fitting.articulated` (the Gauss-Newton solver), :mod:`~vips.fitting.visibility` (what the
frame's camera sees; part size), :mod:`~vips.fitting.refine` (batched refinement and the fit error),
:mod:`~vips.fitting.params` (pose parameters), :mod:`~vips.fitting.body` (differentiable skinning),
:mod:`~vips.fitting.threads`, :mod:`~vips.fitting.tracking` (the frame-to-frame tracking baseline).

Numpy only: :mod:`~vips.fitting.settings` and :mod:`~vips.fitting.result` (the pipeline's input and output),
:mod:`~vips.fitting.acceptance` (which fitted frames to keep: :func:`judge_fit`),
:mod:`~vips.fitting.alignment` (similarity ICP), :mod:`~vips.fitting.reconstruction` (simulated
single-view reconstruction), :mod:`~vips.fitting.validators` (self-intersection, hyper-extension),
:mod:`~vips.fitting.frames` (points to fit from a frame mesh; the files are read by :mod:`vips.io.frames`),
:mod:`~vips.fitting.accuracy`, :mod:`~vips.fitting.surface` (surface samples), :mod:`~vips.fitting.nn` (nearest neighbours).

The names below are imported on first use, so ``import vips.fitting.validators`` (or any numpy-only module)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_HOMES = {
    "FitReport": "vips.fitting.acceptance",
    "judge_fit": "vips.fitting.acceptance",
    "FitResult": "vips.fitting.result",
    "FitSettings": "vips.fitting.settings",
    "fit_poses": "vips.fitting.fit",
    "JointRanges": "vips.fitting.validators",
    "hyperextension": "vips.fitting.validators",
    "self_intersections": "vips.fitting.validators",
    "Similarity": "vips.fitting.alignment",
    "align_frames": "vips.fitting.alignment",
    "similarity_icp": "vips.fitting.alignment",
    "umeyama": "vips.fitting.alignment",
    "SimulatedSequence": "vips.fitting.reconstruction",
    "rigged_first_frame": "vips.fitting.reconstruction",
    "simulate_reconstruction": "vips.fitting.reconstruction",
    "track_poses": "vips.fitting.tracking",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the named module defines
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
