"""Accuracy of fitted poses against ground truth, in the ground truth's world space.

A fitted pose lives in the aligned world of its frame; the ground truth in the rig's world. A rigid
misalignment of a frame and a rigid motion of the body are indistinguishable, so predictions are mapped
back through the frame's estimated alignment and the known simulated misalignment before comparing:
``gt_world = misalignment^-1 (alignment^-1 (fitted))``. Bone lengths are fixed, so any scale error of the
alignment shows up in the error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips.fitting.alignment import Similarity
from vips.fitting.surface import observable_joints
from vips.kinematics import world_matrices
from vips.rotations import matrix_to_quat, quat_angle, quat_conjugate, quat_multiply

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


def to_ground_truth_world(alignments: list[Similarity], misalignment: list[Similarity]) -> list[Similarity]:
    """Per frame, the similarity taking fitted (aligned) world space to the ground truth's world space."""
    return [m.inverse().compose(a.inverse()) for a, m in zip(alignments, misalignment)]


def pose_errors(
    rig: "Rig", fitted: "Poses", truth: "Poses", mapping: list[Similarity] | None = None
) -> dict[str, np.ndarray]:
    """Joint position and rotation errors of ``fitted`` against ``truth`` (F poses each).

    Args:
        mapping: per frame, fitted world -> truth world (see :func:`to_ground_truth_world`); None: identity.

    Returns:
        ``position`` (F, J) joint position error as a fraction of the rig height; ``rotation`` (F, J) in
        degrees: the local rotation error for non-root joints and the world orientation error for the
        root; ``observable`` (J,) joints whose rotation moves the mesh (others cannot be fitted and
        should be left out of summaries).
    """
    h = rig.height()
    wf = world_matrices(rig, fitted).astype(np.float64)
    wt = world_matrices(rig, truth).astype(np.float64)
    F = len(fitted)
    mapping = mapping or [Similarity() for _ in range(F)]
    pos = np.empty(wf.shape[:2])
    root_rot = np.empty(F)
    for f in range(F):
        m = mapping[f]
        p = m.apply(wf[f, :, :3, 3])
        pos[f] = np.linalg.norm(p - wt[f, :, :3, 3], axis=1) / h
        r = m.rotation @ wf[f, 0, :3, :3]
        rel = r.T @ wt[f, 0, :3, :3]
        root_rot[f] = np.degrees(np.arccos(np.clip((np.trace(rel) - 1) / 2, -1, 1)))
    local = np.degrees(quat_angle(quat_multiply(quat_conjugate(fitted.rotations.astype(np.float64)),
                                                truth.rotations.astype(np.float64))))
    local[:, 0] = root_rot
    return {"position": pos, "rotation": local, "observable": observable_joints(rig)}


def summarize(errors: dict[str, np.ndarray]) -> dict[str, float]:
    """Medians and means over frames and observable joints (position in fractions of height, degrees)."""
    obs = errors["observable"]
    pos, rot = errors["position"][:, obs], errors["rotation"][:, obs]
    return {
        "median_position": float(np.median(pos)),
        "mean_position": float(np.mean(pos)),
        "median_rotation_deg": float(np.median(rot)),
        "mean_rotation_deg": float(np.mean(rot)),
    }


__all__ = ["matrix_to_quat", "pose_errors", "summarize", "to_ground_truth_world"]
