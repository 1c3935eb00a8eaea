"""Rig-level kinematics (native FK and LBS behind vips.kinematics) against float64 numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_rig_arrays

import vips
from vips.kinematics import joint_positions, local_transforms, skin, world_matrices
from vips.local_poses import poses_from_local
from vips.rotations import quat_normalize, quat_to_matrix


def reference_world(parents, rest_t, rest_q, delta_q, root_offset):
    """float64 FK from first principles: posed local = T(rest_t [+ offset]) R(rest_q) R(delta)."""
    F, J = delta_q.shape[:2]
    world = np.zeros((F, J, 4, 4))
    for f in range(F):
        for j in range(J):
            local = np.eye(4)
            local[:3, :3] = quat_to_matrix(rest_q[j].astype(np.float64)) @ quat_to_matrix(delta_q[f, j].astype(np.float64))
            local[:3, 3] = rest_t[j] + (root_offset[f] if j == 0 else 0)
            world[f, j] = local if parents[j] < 0 else world[f, parents[j]] @ local
    return world


def reference_skin(world, bind, vertices, idx, w):
    transforms = world @ np.linalg.inv(bind)[None]
    homog = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)
    per_joint = np.einsum("fjab,vb->fvja", transforms, homog)[..., :3]  # (F, V, J, 3)
    F, V = per_joint.shape[:2]
    out = np.zeros((F, V, 3))
    for k in range(idx.shape[1]):
        out += w[None, :, k, None] * per_joint[:, np.arange(V), idx[:, k]]
    return out


@pytest.mark.parametrize("seed, joints, vertices, poses", [(0, 1, 5, 1), (1, 7, 50, 4), (2, 40, 300, 9)])
def test_fk_and_skin_match_float64_reference(seed: int, joints: int, vertices: int, poses: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = random_rig_arrays(rng, joints, vertices)
    rig = vips.Rig([f"j{i}" for i in range(joints)], name="r", **arrays)
    p = vips.Poses(quat_normalize(rng.normal(size=(poses, joints, 4))), rng.normal(size=(poses, 3)))
    ref = reference_world(rig.parents, rig.rest_translations, rig.rest_rotations, p.rotations, p.root_translation)
    scale = rig.height()
    np.testing.assert_allclose(world_matrices(rig, p), ref, atol=1e-5 * max(1, scale))
    np.testing.assert_allclose(joint_positions(rig, p), ref[:, :, :3, 3], atol=1e-5 * max(1, scale))
    ref_v = reference_skin(ref, rig.bind_matrices.astype(np.float64), rig.vertices.astype(np.float64),
                           rig.skin_indices, rig.skin_weights.astype(np.float64))
    np.testing.assert_allclose(skin(rig, p), ref_v, atol=1e-4 * max(1, scale))


def test_poses_local_round_trip_and_dropped_translations() -> None:
    rng = np.random.default_rng(5)
    rig = vips.Rig([f"j{i}" for i in range(5)], name="r", **random_rig_arrays(rng, 5))
    p = vips.Poses(quat_normalize(rng.normal(size=(3, 5, 4))), rng.normal(size=(3, 3)))
    rot, trans = local_transforms(rig, p)
    back, notes = poses_from_local(rig, rot, trans)
    assert notes == []
    np.testing.assert_allclose(quat_to_matrix(back.rotations), quat_to_matrix(p.rotations), atol=1e-5)
    np.testing.assert_allclose(back.root_translation, p.root_translation, atol=1e-5)
    trans[:, 3] += 0.5
    _, notes = poses_from_local(rig, rot, trans, name="bad")
    assert len(notes) == 1 and "'j3'" in notes[0] and "clip 'bad'" in notes[0]


def test_poses_reject_wrong_joint_count() -> None:
    rng = np.random.default_rng(0)
    rig = vips.Rig([f"j{i}" for i in range(3)], **random_rig_arrays(rng, 3))
    with pytest.raises(vips.errors.PoseError, match="4 joints but the rig"):
        world_matrices(rig, vips.Poses.identity(2, 4))


def test_local_from_world_inverts_fk() -> None:
    from vips.kinematics import local_from_world

    rng = np.random.default_rng(9)
    rig = vips.Rig([f"j{i}" for i in range(12)], name="r", **random_rig_arrays(rng, 12))
    p = vips.Poses(quat_normalize(rng.normal(size=(4, 12, 4))), rng.normal(size=(4, 3)))
    rot, trans = local_from_world(world_matrices(rig, p).astype(np.float64), rig.parents)
    want_rot, want_trans = local_transforms(rig, p)
    np.testing.assert_allclose(quat_to_matrix(rot), quat_to_matrix(want_rot), atol=1e-5)
    np.testing.assert_allclose(trans, want_trans, atol=1e-5)


def test_world_from_local_chains_scaled_matrices_and_matches_native_fk() -> None:
    from vips.kinematics import world_from_local

    rng = np.random.default_rng(11)
    rig = vips.Rig([f"j{i}" for i in range(10)], name="r", **random_rig_arrays(rng, 10))
    p = vips.Poses(quat_normalize(rng.normal(size=(3, 10, 4))), rng.normal(size=(3, 3)))
    rot, trans = local_transforms(rig, p)
    local = np.zeros((3, 10, 4, 4))
    local[..., :3, :3], local[..., :3, 3], local[..., 3, 3] = quat_to_matrix(rot.astype(np.float64)), trans, 1.0
    np.testing.assert_allclose(world_from_local(local, rig.parents), world_matrices(rig, p), atol=1e-5)
    # Scaled joints (which the native FK does not take) and two roots, against chaining by hand.
    local = np.tile(np.eye(4), (4, 1, 1))
    local[:, :3, :3] *= np.array([2.0, 0.5, 3.0, 1.5])[:, None, None]
    local[:, :3, 3] = rng.normal(size=(4, 3))
    world = world_from_local(local, np.array([-1, 0, -1, 2]))
    np.testing.assert_allclose(world[1], local[0] @ local[1])
    np.testing.assert_allclose(world[3], local[2] @ local[3])
    np.testing.assert_allclose(world[[0, 2]], local[[0, 2]])


@pytest.mark.parametrize("up_axis", ["Y", "Z"])
def test_turn_root_rotates_the_body_about_the_up_axis_through_the_root(up_axis: str) -> None:
    """FK of the turned poses equals FK of the originals rotated about the up axis through the root (Rodrigues,
    float64), and root_heading moves by the angle (mod 2 pi) for poses whose root is not tipped onto the axis."""
    from vips.kinematics import root_heading, turn_root

    rng = np.random.default_rng(21)
    rig = vips.Rig([f"j{i}" for i in range(9)], name="r", up_axis=up_axis, **random_rig_arrays(rng, 9))
    p = vips.Poses(quat_normalize(rng.normal(size=(6, 9, 4))), rng.normal(size=(6, 3)))
    angles = rng.uniform(-np.pi, np.pi, size=6)
    turned = turn_root(rig, p, angles)
    up = rig.up_vector().astype(np.float64)
    pos = joint_positions(rig, p).astype(np.float64)
    rel = pos - pos[:, :1]
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    want = pos[:, :1] + rel * c + np.cross(up, rel) * s + (rel @ up)[..., None] * up * (1 - c)
    np.testing.assert_allclose(joint_positions(rig, turned), want, atol=1e-5)
    change = np.angle(np.exp(1j * (root_heading(rig, turned) - root_heading(rig, p) - angles)))
    np.testing.assert_allclose(change, 0, atol=1e-5)
    np.testing.assert_allclose(root_heading(rig, turn_root(rig, p, -root_heading(rig, p))), 0, atol=1e-5)
