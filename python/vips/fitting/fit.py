"""Chamfer pose fitting (torch): each frame's pose so the skinned rig matches the frame's point cloud.

For every frame we fit each joint's local rotation (a delta from the rest rotation, twist included), the
root translation and a scale correction of the frame's alignment, minimizing (lengths in fractions of the
rest mesh's largest extent, see :class:`vips.fitting.body.Body`; tolerances that must resolve one part from
another shrink with the parts' radius, :func:`vips.fitting.visibility.part_radius`, so snakes and stick legs
are fitted as finely as a human's limbs):

* Chamfer in both directions with robust Geman-McClure weights, annealed from a wide to a narrow kernel.
  Distances are mostly point-to-plane on the model's face normals (the model is sampled on its surface).
  Cloud -> model counts every frame point; model -> cloud counts only the model samples a camera placed
  where the frame's points face would see (:mod:`vips.fitting.visibility`), so the unseen back of the body
  is not pulled onto the front. Nearest neighbours come from the native kernel at every iteration.
* a weak pull of every joint towards its rest rotation (directions a single view does not constrain,
  such as hidden limbs or twist, do not drift): ``rest_prior`` on twist about a joint's bone axis and on
  joints without one, a ten times weaker ``swing_prior`` across it, so that weakly sampled limbs still
  follow the motion.

The solver is articulated ICP (:mod:`vips.fitting.articulated`): Gauss-Newton steps with the skinning
Jacobian in closed form, because gradient descent on the same energy (Adam on 6D rotations) is too slow on
weakly observed directions to keep up with motion.

The schedule (:mod:`vips.fitting.sequence`): the first frame from the rest pose, coarse to fine; every later
frame from the previous fit, moved by a similarity ICP step against the part of the previous fitted surface
its camera saw (matched both ways; the scale goes into the frame's alignment, the rigid part into the root),
taken only when it clearly improves the match (``icp_min_gain``): ICP of a single view slides along tubes
and pulls the cloud into the body. A frame that fits clearly worse than its predecessors, or leaves part of
the visible body unexplained, is retried from other starts and the best is kept. Each frame's scale is
bounded relative to the first frame's (``scale_bound``), so a small bias per frame cannot compound. Plane
residuals steer the solver; bodies they cannot pin (boxes, cylinders, sheets: motion along a flat face or
about an axis of symmetry) are found by a frame no start fits well, and from then on the point part of the
distances steers too.

An optional batched refinement (``refine_iterations`` > 0, :mod:`vips.fitting.refine`) optimizes all frames
at once (Adam on 6D rotations, Chamfer plus mesh edge-length regularization and joint-acceleration
smoothness). It is off by default: it lets the per-frame scale drift.

Which fitted frames to keep, and whether the rig matches the frames at all, is
:func:`vips.fitting.acceptance.judge_fit` (numpy only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips.fitting.alignment import Similarity
from vips.fitting.result import FitResult
from vips.fitting.sequence import SequenceFit
from vips.fitting.settings import FitSettings, ProgressFn
from vips.fitting.threads import single_thread

if TYPE_CHECKING:
    from vips.rig import Rig

__all__ = ["FitResult", "FitSettings", "ProgressFn", "fit_poses"]


def fit_poses(
    rig: "Rig",
    frames: list[np.ndarray],
    settings: FitSettings | None = None,
    alignments: list[Similarity] | None = None,
    progress: ProgressFn | None = None,
    fps: float = 30.0,
) -> FitResult:
    """Fit one pose of ``rig`` to every frame.

    Args:
        rig: the rigged first frame (mesh, skeleton and skin weights).
        frames: F point clouds (N_f, 3) (or mesh vertices / surface samples), in file order, each in its
            own coordinate frame; no correspondence between frames is needed.
        settings: :class:`FitSettings` (defaults when None).
        alignments: F known similarities from frame to world (skips alignment), or None to estimate them.
        progress: called as ``progress(stage, done, total)`` with stage "fit" (frames) then "refine"
            (iterations).
        fps: frame rate stored in the returned poses.

    Returns:
        A :class:`FitResult` (unpacks as ``poses, errors``).
    """
    with single_thread():
        return SequenceFit(rig, frames, settings or FitSettings(), alignments).run(progress, fps)
