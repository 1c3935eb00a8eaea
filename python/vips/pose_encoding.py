"""Poses <-> the model's pose vectors (numpy only).

Layout: a pose of a J-joint rig is a (J, D) float32 array, D = :data:`POSE_DIM` = 9, one token per joint:

- channels 0:6 — the joint's delta rotation in the continuous 6D form, *expressed in the axes of the joint's
  canonical rest world frame* (``D_j = G_j delta_j G_j^T`` with ``G_j`` the rest world rotation in the
  canonical frame), minus the 6D of the identity, so the rest pose is all zeros. Expressing the delta in
  canonical world axes removes the arbitrary local joint axes of each rig (Blender's Y-along-bone, Maya's
  X-along-bone...): "bend forward" means the same rotation on every rig.
- channels 6:9 — only on the root token (joint 0): the root translation offset in the canonical frame,
  divided by the rig's height; zero on every other joint (:func:`channel_mask` says which channels are live).

The root token carries translation instead of a separate root token so that the token count equals the
joint count and the graph biases need no special case.
"""

from __future__ import annotations

import numpy as np

from vips.features import RigConditioning
from vips.poses import Poses
from vips.rotations import matrix_to_quat, matrix_to_rot6d, quat_to_matrix, rot6d_to_matrix

#: Channels per joint token.
POSE_DIM = 9
_IDENTITY_6D = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def channel_mask(num_joints: int) -> np.ndarray:
    """(J, D) float32: 1 where a channel carries data (rotations everywhere, translation on the root)."""
    m = np.zeros((num_joints, POSE_DIM), np.float32)
    m[:, :6] = 1.0
    m[0, 6:] = 1.0
    return m


def encode_poses(poses: Poses, cond: RigConditioning) -> np.ndarray:
    """(F, J, D) float32 pose vectors of ``poses`` on the rig described by ``cond``."""
    poses.check_rig(cond.num_joints, "rig conditioning")
    g = cond.rest_world_rotations.astype(np.float64)
    delta = quat_to_matrix(poses.rotations.astype(np.float64))
    world_delta = g[None] @ delta @ np.swapaxes(g, -1, -2)[None]
    out = np.zeros((poses.num_poses, cond.num_joints, POSE_DIM))
    out[..., :6] = matrix_to_rot6d(world_delta) - _IDENTITY_6D
    rot = cond.canonical_rotation.astype(np.float64)
    out[:, 0, 6:] = poses.root_translation.astype(np.float64) @ rot.T / cond.height
    return out.astype(np.float32)


def decode_poses(x: np.ndarray, cond: RigConditioning, fps: float = 30.0, name: str = "poses") -> Poses:
    """:class:`Poses` from (F, J, D) pose vectors (the 6D parts need not be orthonormal: Gram-Schmidt)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[1:] != (cond.num_joints, POSE_DIM):
        raise ValueError(f"pose vectors must have shape (F, {cond.num_joints}, {POSE_DIM}), got {x.shape}")
    g = cond.rest_world_rotations.astype(np.float64)
    world_delta = rot6d_to_matrix(x[..., :6] + _IDENTITY_6D)
    delta = np.swapaxes(g, -1, -2)[None] @ world_delta @ g[None]
    rot = cond.canonical_rotation.astype(np.float64)
    root = x[:, 0, 6:] @ rot * cond.height
    return Poses(matrix_to_quat(delta).astype(np.float32), root.astype(np.float32), fps, name)
