"""Kinematics of a rig: poses to local transforms, forward kinematics and skinning (native kernels).

A pose is stored as deltas from the rest pose (see :class:`vips.Poses`); file formats store full local
transforms. ``local_transforms`` gives a pose's full local transforms (the writers' side);
:func:`vips.local_poses.poses_from_local` is the readers' side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips import native
from vips.poses import Poses
from vips.rotations import (
    axis_angle_to_quat,
    matrix_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_normalize,
    quat_to_matrix,
)

if TYPE_CHECKING:
    from vips.rig import Rig

def local_transforms(rig: "Rig", poses: Poses) -> tuple[np.ndarray, np.ndarray]:
    """Full local rotations (F, J, 4) and translations (F, J, 3) of ``poses``, float32.

    Posed local rotation is ``rest_rotation * delta``; only the root's translation moves.
    """
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    rotations = quat_multiply(rig.rest_rotations[None], poses.rotations).astype(np.float32)
    translations = np.repeat(rig.rest_translations[None], poses.num_poses, axis=0)
    translations[:, 0] += poses.root_translation
    return np.ascontiguousarray(rotations), np.ascontiguousarray(translations, dtype=np.float32)


def world_from_local(local: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Local matrices (..., J, 4, 4) (each joint's transform in its parent's frame, any affine, scale included)
    -> (..., J, 4, 4) float64 transforms in the frame of the roots (a root keeps its own matrix).

    Forward kinematics in float64 on full matrices, for the readers, which meet scaled joints the native FK
    (rotations and translations, float32) does not take; ``parents`` topologically ordered, several roots allowed.
    """
    out = np.array(local, np.float64)
    for j, p in enumerate(parents):
        if p >= 0:
            out[..., j, :, :] = out[..., p, :, :] @ out[..., j, :, :]
    return out


def local_from_world(world: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid world matrices (..., J, 4, 4) -> each joint's rotation (..., J, 4) and translation (..., J, 3) in
    its parent's frame (the inverse of FK). The readers use it to turn a file's transforms into a rig."""
    local = np.array(world, np.float64)
    for j, p in enumerate(parents):
        if p >= 0:
            # The transpose inverts a rotation exactly; a general inverse would add round-off.
            pr, pt = world[..., p, :3, :3], world[..., p, :3, 3]
            local[..., j, :3, :3] = np.swapaxes(pr, -1, -2) @ world[..., j, :3, :3]
            local[..., j, :3, 3] = (np.swapaxes(pr, -1, -2) @ (world[..., j, :3, 3] - pt)[..., None])[..., 0]
    return matrix_to_quat(local[..., :3, :3]), local[..., :3, 3].copy()


def world_matrices(rig: "Rig", poses: Poses) -> np.ndarray:
    """(F, J, 4, 4) float32 world transforms of every joint for each pose (native FK)."""
    rotations, translations = local_transforms(rig, poses)
    return native.fk(rotations, translations, rig.parents)


def joint_positions(rig: "Rig", poses: Poses) -> np.ndarray:
    """(F, J, 3) float32 world positions of every joint for each pose."""
    return np.ascontiguousarray(world_matrices(rig, poses)[:, :, :3, 3])


def skinning_matrices(rig: "Rig", world: np.ndarray) -> np.ndarray:
    """(F, J, 4, 4) skinning transforms ``world @ inv(bind)`` from world matrices (F, J, 4, 4)."""
    inv_bind = np.linalg.inv(rig.bind_matrices.astype(np.float64))
    return np.ascontiguousarray(np.matmul(world.astype(np.float64), inv_bind[None]), dtype=np.float32)


def skin(rig: "Rig", poses: Poses) -> np.ndarray:
    """(F, V, 3) float32 skinned mesh vertices for each pose (native LBS)."""
    if not rig.has_mesh:
        from vips.errors import RigError

        raise RigError(f"{rig.label}: the rig has no mesh to skin")
    transforms = skinning_matrices(rig, world_matrices(rig, poses))
    return native.lbs(rig.vertices, rig.skin_indices, rig.skin_weights, transforms)


# ----- heading: the turn of the root about the up axis ------------------------------------------------------
def heading_angles(turn: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations -> (N,) angle in radians about the unit ``up`` by which they turn a horizontal
    direction (right-handed about ``up``)."""
    turn = np.asarray(turn, np.float64)
    up = np.asarray(up, np.float64)
    yaw = np.zeros(len(turn))
    done = np.zeros(len(turn), bool)
    # A rotation that tips the first probe onto the up axis says nothing about heading: try a second probe.
    for probe in np.eye(3)[np.argsort(np.abs(up))[:2]]:
        f = probe - np.dot(probe, up) * up
        f /= np.linalg.norm(f)
        g = turn @ f
        g = g - np.outer(g @ up, up)
        ok = ~done & (np.linalg.norm(g, axis=1) > 0.2)
        yaw[ok] = np.arctan2(np.cross(f, g[ok]) @ up, g[ok] @ f)
        done |= ok
    return yaw


def root_heading(rig: "Rig", poses: Poses) -> np.ndarray:
    """(N,) radians each pose's root is turned about the rig's up axis from its rest facing."""
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    rest = quat_to_matrix(rig.rest_rotations[0].astype(np.float64))
    turn = rest @ quat_to_matrix(poses.rotations[:, 0].astype(np.float64)) @ rest.T  # world axes
    return heading_angles(turn, rig.up_vector())


def turn_root(rig: "Rig", poses: Poses, angles: np.ndarray) -> Poses:
    """``poses`` turned by (N,) radians about the rig's up axis through the root joint (its position stays)."""
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    angles = np.broadcast_to(np.asarray(angles, np.float64), (poses.num_poses,))
    up = rig.up_vector().astype(np.float64)
    yaw = axis_angle_to_quat(angles[:, None] * up[None])
    rest = rig.rest_rotations[0].astype(np.float64)
    # World turn Y after the root's rest rotation R: R delta' = Y R delta, so delta' = R^-1 Y R delta.
    root = quat_multiply(quat_multiply(quat_conjugate(rest)[None], yaw), quat_multiply(rest[None],
                                                                                     poses.rotations[:, 0]))
    rotations = poses.rotations.copy()
    rotations[:, 0] = quat_normalize(root).astype(rotations.dtype)
    return Poses(rotations, poses.root_translation.copy(), poses.fps, poses.name)


# ----- re-resting: the same rig and motion bound in another rest pose ----------------------------------------
def rerested(rig: "Rig", pose: Poses) -> "Rig":
    """``rig`` with the rest pose moved to ``pose`` (one pose): the mesh is re-bound in that pose (its vertices
    and bind matrices are the posed ones) and every clip is re-expressed so it moves the body exactly as before.

    Used to bind one character in another rest (an A-pose instead of a T-pose, the first frame of a mocap clip
    instead of a BVH's zero pose) and, in training, to show the model many rests of one motion. A file's full clip
    channels (:mod:`vips.io.channels`) are carried over unchanged: they are local transforms, which do not depend
    on which pose is called the rest, so a writer still writes every animated channel.
    """
    from dataclasses import replace

    from vips.rig import Rig

    pose.check_rig(rig.num_joints, f"rig {rig.label}")
    pose = pose[0]
    rot, trans = local_transforms(rig, pose)
    vertices = skin(rig, pose)[0] if rig.has_mesh else None
    bind = world_matrices(rig, pose)[0] if rig.bind_matrices is not None else None
    clips = {name: rerest_poses(clip, pose) for name, clip in rig.clips.items()}
    by_id = {id(clip): clips[name] for name, clip in rig.clips.items()}
    channels = {name: replace(ch, poses=by_id.get(id(ch.poses))) for name, ch in rig.clip_channels.items()}
    return Rig(list(rig.joint_names), rig.parents.copy(), trans[0], rot[0], bind_matrices=bind, vertices=vertices,
               faces=rig.faces, skin_indices=rig.skin_indices, skin_weights=rig.skin_weights, up_axis=rig.up_axis,
               meters_per_unit=rig.meters_per_unit, name=rig.name, source=rig.source, clips=clips,
               warnings=list(rig.warnings), clip_channels=channels)


def rerest_poses(poses: Poses, rest: Poses) -> Poses:
    """``poses`` of a rig re-expressed for the same rig re-rested at ``rest`` (one pose, see :func:`rerested`):
    the posed local rotations ``old_rest * delta`` equal ``(old_rest * rest_delta) * delta'``."""
    q = quat_multiply(quat_conjugate(rest.rotations[:1].astype(np.float64)), poses.rotations.astype(np.float64))
    return Poses(quat_normalize(q).astype(np.float32), poses.root_translation - rest.root_translation[:1],
                 poses.fps, poses.name)
