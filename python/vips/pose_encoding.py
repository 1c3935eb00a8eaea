"""Poses <-> the model's pose vectors (numpy only).

A pose of a J-joint rig is a (J, D) float32 array, D = :data:`POSE_DIM` = 9, one token per joint, read in the
*body frame*: the canonical frame (:mod:`vips.features`: Y up, unit height, ground at 0) turned about the up axis
by the body root's heading, so the body faces +Z.

- channels 0:6 — the joint's posed orientation: its reference frame (:func:`vips.features.reference_frames`)
  carried by the joint's world rotation from rest, ``M_j = Y(-h) W_j B_j``, as the continuous 6D form (the
  frame's first two columns: where the bone points and where its reference axis points). ``W_j`` is the joint's
  world delta rotation in canonical axes (posed world rotation times the rest one's inverse), ``B_j`` its rest
  reference frame and ``Y(-h)`` the turn that undoes the body's heading ``h``.
- channel 7 — only on the body root: its height above the ground (canonical units, fractions of the rig's
  height). Channels 6 and 8 are zero everywhere.

Why this form: a token says where a bone points and how it is twisted in the body's frame, not how it is
rotated from its rest pose, so a T-posed and an A-posed rig of one character give the same tokens for the same
posed body (an A-pose swings the arm about the facing axis, which carries the arm's reference frame along), and
the rig's own local joint axes (Blender's Y-along-bone, Maya's X-along-bone) never enter.

Joints above the body root (ground and control bones, :func:`vips.body.above_body`) are not part of the pose:
their tokens are zero and masked (:func:`channel_mask`), and decoding leaves them at rest except for the
*placement* (:class:`Placement`): where the body stands on the ground and which way it faces, which is not
part of a pose either. Decoding without a placement puts the body where it stands at rest, facing +Z. Helper
joints (twist, share and zero-length end bones, :mod:`vips.helper_joints`) are masked too, and decoding keeps each
at its rest pose relative to its parent (:func:`vips.helper_joints.carried_joints`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.features import RigConditioning
from vips.helper_joints import carried_joints
from vips.poses import Poses
from vips.rotations import matrix_to_quat, matrix_to_rot6d, quat_to_matrix, rot6d_to_matrix

#: The version of this encoding, recorded in every model folder (``model.json`` ``pose_encoding``): a model
#: trained on another encoding reads pose vectors wrongly. 1 was the local-delta encoding of vips 0.1; 2 gave the
#: body root a reference frame from its children, which differs between rigs of one upright body.
VERSION = 3
#: Channels per joint token.
POSE_DIM = 9
#: The channel of the body root's height.
HEIGHT_CHANNEL = 7


@dataclass(eq=False)
class Placement:
    """Where F poses stand and face: what a pose vector leaves out.

    Attributes:
        heading: (F,) float64 radians the body is turned about the up axis from its rest facing.
        offset: (F, 2) float64 the body root's ground position (canonical x, z, fractions of the rig's height)
            relative to where the rest pose turned by ``heading`` about the root joint would put it.
    """

    heading: np.ndarray
    offset: np.ndarray

    @classmethod
    def rest(cls, num_poses: int) -> "Placement":
        """Every pose where the rest pose stands, facing +Z."""
        return cls(np.zeros(num_poses), np.zeros((num_poses, 2)))

    def __len__(self) -> int:
        return len(self.heading)

    def __getitem__(self, index: int | slice | np.ndarray) -> "Placement":
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        return Placement(self.heading[index], self.offset[index])


def channel_mask(cond: RigConditioning) -> np.ndarray:
    """(J, D) float32: 1 where a channel carries data (orientation on every joint the model sees, height on the
    body root)."""
    m = np.zeros((cond.num_joints, POSE_DIM), np.float32)
    m[:, :6] = cond.joint_mask[:, None]
    m[cond.body_root, HEIGHT_CHANNEL] = 1.0
    return m


def yaw_matrices(angle: np.ndarray) -> np.ndarray:
    """(F,) radians -> (F, 3, 3) float64 rotations about +Y (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(np.shape(angle) + (3, 3))
    out[..., 0, 0], out[..., 0, 2], out[..., 1, 1], out[..., 2, 0], out[..., 2, 2] = c, s, 1.0, -s, c
    return out


def heading_of(rotations: np.ndarray) -> np.ndarray:
    """(F, 3, 3) canonical rotations -> (F,) radians each turns the facing (+Z) about +Y.

    The turn of the body's forward direction, projected on the ground; a body tipped so far that its forward
    direction is (nearly) vertical is read from its side direction instead.
    """
    r = np.asarray(rotations, np.float64)
    fwd = r[..., :, 2]
    side = r[..., :, 0]
    use_side = np.hypot(fwd[..., 0], fwd[..., 2]) < 0.2
    from_fwd = np.arctan2(fwd[..., 0], fwd[..., 2])
    from_side = np.arctan2(-side[..., 2], side[..., 0])
    return np.where(use_side, from_side, from_fwd)


def world_deltas(poses: Poses, cond: RigConditioning) -> np.ndarray:
    """(F, J, 3, 3) float64 world delta rotation of every joint in canonical axes, ``W_j = P_j G_j^T``
    (posed world rotation times the rest world rotation's inverse)."""
    poses.check_rig(cond.num_joints, "rig conditioning")
    g = cond.rest_world_rotations.astype(np.float64)
    delta = quat_to_matrix(poses.rotations.astype(np.float64))
    # W_j = W_parent (G_j delta_j G_j^T): the joint's local delta, expressed in canonical axes, after its parent's.
    local = g[None] @ delta @ np.swapaxes(g, -1, -2)[None]
    out = np.empty_like(local)
    for j, p in enumerate(cond.parents):
        out[:, j] = local[:, j] if p < 0 else out[:, p] @ local[:, j]
    return out


def posed_positions(world: np.ndarray, poses: Poses, cond: RigConditioning) -> np.ndarray:
    """(F, J, 3) float64 canonical joint positions from world deltas (F, J, 3, 3) (:func:`world_deltas`)."""
    rest = cond.rest_positions.astype(np.float64)
    root = rest[0] + poses.root_translation.astype(np.float64) @ cond.canonical_rotation.astype(np.float64).T \
        / cond.height
    out = np.empty(world.shape[:2] + (3,))
    out[:, 0] = root
    for j in range(1, cond.num_joints):
        p = cond.parents[j]
        out[:, j] = out[:, p] + world[:, p] @ (rest[j] - rest[p])
    return out


def encode(poses: Poses, cond: RigConditioning) -> tuple[np.ndarray, Placement]:
    """``(x, placement)``: (F, J, D) float32 pose vectors of ``poses`` and where they stand and face."""
    world = world_deltas(poses, cond)
    b = cond.body_root
    heading = heading_of(world[:, b])
    turned = np.swapaxes(yaw_matrices(heading), -1, -2)[:, None] @ world @ cond.reference_frames.astype(np.float64)[None]
    x = np.zeros((poses.num_poses, cond.num_joints, POSE_DIM))
    x[..., :6] = matrix_to_rot6d(turned) * cond.joint_mask[None, :, None]
    pos = posed_positions(world, poses, cond)
    x[:, b, HEIGHT_CHANNEL] = pos[:, b, 1]
    offset = pos[:, b, [0, 2]] - _turned_rest_body(cond, heading)
    return x.astype(np.float32), Placement(heading, offset)


def encode_poses(poses: Poses, cond: RigConditioning) -> np.ndarray:
    """(F, J, D) float32 pose vectors of ``poses`` (their placement dropped, see :func:`encode`)."""
    return encode(poses, cond)[0]


def decode_poses(x: np.ndarray, cond: RigConditioning, placement: Placement | None = None, fps: float = 30.0,
                 name: str = "poses") -> Poses:
    """:class:`Poses` from (F, J, D) pose vectors, placed by ``placement`` (default: where the rest pose stands,
    facing +Z). The 6D parts need not be orthonormal (Gram-Schmidt); masked channels are ignored."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[1:] != (cond.num_joints, POSE_DIM):
        raise ValueError(f"pose vectors must have shape (F, {cond.num_joints}, {POSE_DIM}), got {x.shape}")
    F = x.shape[0]
    placement = placement if placement is not None else Placement.rest(F)
    if len(placement) != F:
        raise ValueError(f"placement has {len(placement)} poses but the pose vectors {F}")
    yaw = yaw_matrices(np.asarray(placement.heading, np.float64))
    live = cond.joint_mask > 0
    frames = cond.reference_frames.astype(np.float64)
    world = np.repeat(yaw[:, None], cond.num_joints, axis=1)  # joints above the body turn with the heading only
    world[:, live] = yaw[:, None] @ rot6d_to_matrix(x[:, live, :6]) @ np.swapaxes(frames[live], -1, -2)[None]
    for j in np.flatnonzero(carried_joints(cond.parents, live)):  # helpers keep their rest relative to the parent
        world[:, j] = world[:, cond.parents[j]]
    g = cond.rest_world_rotations.astype(np.float64)
    local = np.empty_like(world)
    for j, p in enumerate(cond.parents):
        local[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    delta = np.swapaxes(g, -1, -2)[None] @ local @ g[None]
    b = cond.body_root
    rest = cond.rest_positions.astype(np.float64)
    target = np.stack([np.zeros(F), x[:, b, HEIGHT_CHANNEL], np.zeros(F)], axis=1)
    target[:, [0, 2]] = _turned_rest_body(cond, placement.heading) + placement.offset
    # The joints above the body are rigid at rest but for the heading, so the root's translation is what moves
    # the body root from the turned rest to the target.
    shift = target - (rest[0] + (yaw @ (rest[b] - rest[0]))) if b else target - rest[0]
    root = shift @ cond.canonical_rotation.astype(np.float64) * cond.height
    return Poses(matrix_to_quat(delta).astype(np.float32), root.astype(np.float32), fps, name)


def placement_transforms(cond: RigConditioning, placement: Placement) -> np.ndarray:
    """(F, 4, 4) float64 rigid transforms of asset space taking a pose decoded without placement to the pose
    decoded with ``placement`` (a turn about the vertical through the root joint, then a shift on the ground)."""
    F = len(placement)
    rot = cond.canonical_rotation.astype(np.float64)  # asset axes -> canonical axes
    yaw = yaw_matrices(np.asarray(placement.heading, np.float64))
    r0 = cond.rest_positions[0].astype(np.float64)
    shift = np.zeros((F, 3))
    shift[:, [0, 2]] = placement.offset
    # canonical: p' = yaw (p - r0) + r0 + shift; asset p = rot^T (h c + t0) with c canonical.
    lin = rot.T[None] @ yaw @ rot[None]
    origin = np.linalg.solve(cond.canonical_transform[:3, :3].astype(np.float64),
                             r0 - cond.canonical_transform[:3, 3].astype(np.float64))
    out = np.zeros((F, 4, 4))
    out[:, :3, :3] = lin
    out[:, :3, 3] = origin - (lin @ origin) + (shift @ rot) * cond.height
    out[:, 3, 3] = 1.0
    return out


def _turned_rest_body(cond: RigConditioning, heading: np.ndarray) -> np.ndarray:
    """(F, 2) canonical ground position (x, z) of the body root at rest turned by ``heading`` about the root."""
    rest = cond.rest_positions.astype(np.float64)
    b = cond.body_root
    turned = rest[0] + yaw_matrices(np.asarray(heading, np.float64)) @ (rest[b] - rest[0])
    return turned[..., [0, 2]]
