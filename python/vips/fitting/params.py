"""The fitting pipeline's pose parameters (torch) and what they give.

Per frame: (J, 6) joint rotations, each a delta from the joint's rest rotation in the 6D form (the first two
columns of the matrix, :func:`vips.fitting.body.rot6d_to_matrix_torch`), and a (3,) root offset from the rest
position in normalized units (fractions of :attr:`vips.fitting.body.Body.height`).
"""

from __future__ import annotations

import numpy as np
import torch

from vips.fitting.alignment import Similarity
from vips.fitting.body import Body, rot6d_to_matrix_torch
from vips.poses import Poses
from vips.rotations import matrix_to_quat, quat_to_rot6d


def rest_params(body: Body) -> tuple[torch.Tensor, torch.Tensor]:
    """(J, 6) identity rotations and a (3,) zero root offset: the rest pose."""
    rot = torch.zeros(body.num_joints, 6)
    rot[:, 0] = 1
    rot[:, 4] = 1
    return rot, torch.zeros(3)


def model_points(body: Body, rot: torch.Tensor, root: torch.Tensor) -> np.ndarray:
    """(M, 3) asset-space surface samples of one pose ((J, 6) rotations, (3,) root offset)."""
    with torch.no_grad():
        wr, wt = body.forward_kinematics(rot[None], root[None])
        pts, _ = body.surface(body.skin(wr, wt))
    return body.to_asset(pts[0].numpy())


def move_root(body: Body, rot6d: torch.Tensor, root: torch.Tensor, move: Similarity) -> tuple[torch.Tensor, torch.Tensor]:
    """The pose moved rigidly by ``move`` (normalized coordinates, scale ignored): only the root changes."""
    rest0 = body.rest_rot[0].double()
    delta = rot6d_to_matrix_torch(rot6d[0:1].double())[0]
    r = torch.tensor(move.rotation)
    new_delta = rest0.T @ r @ rest0 @ delta
    pos = body.rest_trans[0].double() + root.double()
    new_pos = r @ pos + torch.tensor(move.translation)
    rot6d = rot6d.clone()
    rot6d[0] = torch.cat([new_delta[:, 0], new_delta[:, 1]]).float()
    return rot6d, (new_pos - body.rest_trans[0].double()).float()


def poses_from_params(body: Body, rot: torch.Tensor, root: torch.Tensor, fps: float, name: str) -> Poses:
    """(F, J, 6) rotations and (F, 3) normalized root offsets -> F poses (root offset in asset units)."""
    quats = matrix_to_quat(rot6d_to_matrix_torch(rot).double().numpy())
    return Poses(quats.astype(np.float32), (root.double().numpy() * body.height).astype(np.float32), fps, name)


def params_from_poses(body: Body, poses: Poses) -> tuple[torch.Tensor, torch.Tensor]:
    """(F, J, 6) and (F, 3) optimizer parameters of ``poses`` (root offset in normalized units)."""
    rot = torch.tensor(quat_to_rot6d(poses.rotations.astype(np.float64)), dtype=torch.float32)
    return rot, torch.tensor(poses.root_translation / body.height, dtype=torch.float32)
