"""Pose fitting: per-frame reconstructions of a moving object -> poses of its rig.

    >>> from vips.fitting import simulate_reconstruction, fit_poses
    >>> sim = simulate_reconstruction(rig, truth, seed=0)        # point clouds, one per frame
    >>> poses, errors = fit_poses(rig, sim.clouds)               # fitted Poses, per-frame fit error

Modules: :mod:`~vips.fitting.reconstruction` (simulated single-view reconstruction),
:mod:`~vips.fitting.alignment` (similarity ICP), :mod:`~vips.fitting.fit` (the fitting pipeline),
:mod:`~vips.fitting.articulated` (the Gauss-Newton solver), :mod:`~vips.fitting.tracking` (the
frame-to-frame tracking baseline), :mod:`~vips.fitting.validators` (self-intersection, hyper-extension),
:mod:`~vips.fitting.frames` (reading OBJ/PLY/glTF frame folders), :mod:`~vips.fitting.metrics`.
"""

from vips.fitting.alignment import Similarity, align_frames, similarity_icp, umeyama
from vips.fitting.fit import FitResult, FitSettings, fit_poses
from vips.fitting.reconstruction import SimulatedSequence, rigged_first_frame, simulate_reconstruction
from vips.fitting.tracking import track_poses
from vips.fitting.validators import JointRanges, hyperextension, self_intersections

__all__ = [
    "FitResult",
    "FitSettings",
    "JointRanges",
    "Similarity",
    "SimulatedSequence",
    "align_frames",
    "fit_poses",
    "hyperextension",
    "rigged_first_frame",
    "self_intersections",
    "similarity_icp",
    "simulate_reconstruction",
    "track_poses",
    "umeyama",
]
