"""The pose encoding (vips.pose_encoding) against a float64 reference, its round trip, and the invariances it is
built for: similarity / units / up axis, the rest pose (T-pose against A-pose) and a ground or control bone above
the body root."""

from __future__ import annotations


import numpy as np
import pytest

from conftest import cesium_man
from test_features import Y_TO_Z, _rot_y, _variants, biped
from vips.body import body_root
from vips.features import rig_conditioning
from vips.kinematics import joint_positions, rerest_poses, rerested
from vips.pose_encoding import (
    HEIGHT_CHANNEL,
    POSE_DIM,
    Placement,
    channel_mask,
    decode_poses,
    encode,
    encode_poses,
    placement_transforms,
)
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import axis_angle_to_quat, matrix_to_quat, quat_normalize, quat_to_matrix


def _random_poses(rng: np.random.Generator, F: int, J: int, scale: float = 1.0, spread: float = 3.0) -> Poses:
    q = quat_normalize(rng.normal(size=(F, J, 4)) * np.array([spread, 1, 1, 1]))
    return Poses(q, rng.normal(size=(F, 3)) * scale)


def with_ground_root(rig: Rig, control_height: float | None = None) -> Rig:
    """``rig`` with a ground bone inserted above its root (on the ground under it), and optionally a control bone
    (no skin, one child) between them at ``control_height``: the layout of most game rigs."""
    pos = rig.rest_joint_positions().astype(np.float64)
    ground = np.array([pos[0, 0], float(rig.vertices[:, 1].min()), pos[0, 2]])
    extra = [ground] + ([] if control_height is None else [np.array([pos[0, 0], control_height, pos[0, 2]])])
    n = len(extra)
    names = ["ground", "control"][:n] + list(rig.joint_names)
    parents = np.concatenate([np.arange(-1, n - 1), np.where(rig.parents < 0, n - 1, rig.parents + n)])
    world = rig.rest_world_matrices().astype(np.float64)
    trans = np.zeros((n + rig.num_joints, 3))
    rot = np.zeros((n + rig.num_joints, 4))
    rot[:, 0] = 1.0
    trans[0] = extra[0]
    for k in range(1, n):
        trans[k] = extra[k] - extra[k - 1]
    trans[n:] = rig.rest_translations
    rot[n:] = rig.rest_rotations
    # The old root keeps its world transform: its translation becomes relative to the bone above it.
    trans[n] = world[0, :3, 3] - extra[-1]
    bind = np.concatenate([np.repeat(np.eye(4)[None], n, axis=0), rig.bind_matrices.astype(np.float64)])
    for k in range(n):
        bind[k, :3, 3] = extra[k]
    return Rig(names, parents, trans, rot, bind_matrices=bind, vertices=rig.vertices, skin_indices=rig.skin_indices + n,
               skin_weights=rig.skin_weights, faces=rig.faces, name=rig.name)


def _poses_with_ground(poses: Poses, n: int) -> Poses:
    """The same motion on :func:`with_ground_root`'s rig: the bones above stay at rest, the root moves."""
    rot = np.concatenate([np.repeat(np.array([[[1.0, 0, 0, 0]]]), len(poses), axis=0).repeat(n, axis=1),
                          poses.rotations], axis=1)
    return Poses(rot, poses.root_translation, poses.fps, poses.name)


def _reference_tokens(rig: Rig, poses: Poses) -> tuple[np.ndarray, np.ndarray]:
    """Float64 tokens (F, J, 6) and heading (F,) straight from the definition in vips.pose_encoding, with forward
    kinematics done here on full local transforms (asset space), not through the module's world deltas."""
    cond = rig_conditioning(rig)
    C = cond.canonical_rotation.astype(np.float64)

    def world_rotations(rotations: np.ndarray) -> np.ndarray:
        local = quat_to_matrix(rotations.astype(np.float64))
        out = np.empty_like(local)
        for j, p in enumerate(rig.parents):
            out[..., j, :, :] = local[..., j, :, :] if p < 0 else out[..., p, :, :] @ local[..., j, :, :]
        return out

    from vips.rotations import quat_multiply

    rest = world_rotations(rig.rest_rotations)
    posed = world_rotations(quat_multiply(rig.rest_rotations[None].astype(np.float64), poses.rotations))
    W = C @ posed @ np.swapaxes(rest, -1, -2)[None] @ C.T  # world deltas in canonical axes
    fwd = W[:, cond.body_root, :, 2]
    heading = np.arctan2(fwd[:, 0], fwd[:, 2])
    c, s = np.cos(-heading), np.sin(-heading)
    undo = np.zeros((len(poses), 3, 3))
    undo[:, 0, 0], undo[:, 0, 2], undo[:, 1, 1], undo[:, 2, 0], undo[:, 2, 2] = c, s, 1, -s, c
    M = undo[:, None] @ W @ cond.reference_frames.astype(np.float64)[None]
    tokens = np.concatenate([M[..., :, 0], M[..., :, 1]], axis=-1) * cond.joint_mask[None, :, None]
    return tokens, heading


def test_tokens_match_float64_reference():
    rig = biped()
    poses = _random_poses(np.random.default_rng(0), 6, rig.num_joints, 0.2, spread=6.0)
    x, placement = encode(poses, rig_conditioning(rig))
    tokens, heading = _reference_tokens(rig, poses)
    np.testing.assert_allclose(x[..., :6], tokens, atol=2e-6)
    np.testing.assert_allclose(np.angle(np.exp(1j * (placement.heading - heading))), 0, atol=1e-6)


def test_round_trip_and_masks():
    rig = biped()
    cond = rig_conditioning(rig)
    poses = _random_poses(np.random.default_rng(1), 7, rig.num_joints, 0.2)
    x, placement = encode(poses, cond)
    assert x.shape == (7, rig.num_joints, POSE_DIM) and x.dtype == np.float32
    np.testing.assert_array_equal(x * channel_mask(cond), x)
    assert channel_mask(cond)[:, HEIGHT_CHANNEL].sum() == 1 and channel_mask(cond)[cond.body_root, HEIGHT_CHANNEL]
    back = decode_poses(x, cond, placement)
    np.testing.assert_allclose(joint_positions(rig, back), joint_positions(rig, poses), atol=2e-5)
    # The height channel is the body root's height above the lowest rest point, in rig heights.
    pos = joint_positions(rig, poses)
    low = rig.vertices[:, 1].min()
    np.testing.assert_allclose(x[:, cond.body_root, HEIGHT_CHANNEL], (pos[:, 0, 1] - low) / rig.height(), atol=1e-5)


def test_decode_without_placement_faces_forward_over_the_rest_ground_position():
    rig = biped()
    cond = rig_conditioning(rig)
    poses = _random_poses(np.random.default_rng(2), 5, rig.num_joints, 0.3)
    x, placement = encode(poses, cond)
    unplaced = decode_poses(x, cond)
    x2, p2 = encode(unplaced, cond)
    np.testing.assert_allclose(x2, x, atol=2e-5)
    np.testing.assert_allclose(p2.heading, 0, atol=1e-5)
    np.testing.assert_allclose(p2.offset, 0, atol=1e-5)
    # placement_transforms maps the unplaced pose onto the placed one, rigidly.
    T = placement_transforms(cond, placement)
    a = joint_positions(rig, unplaced).astype(np.float64)
    b = joint_positions(rig, decode_poses(x, cond, placement)).astype(np.float64)
    np.testing.assert_allclose(a @ np.swapaxes(T[:, :3, :3], -1, -2) + T[:, None, :3, 3], b, atol=2e-5)
    np.testing.assert_allclose(T[:, :3, :3] @ np.swapaxes(T[:, :3, :3], -1, -2), np.eye(3)[None].repeat(5, 0),
                               atol=1e-9)


@pytest.mark.parametrize("variant", ["scaled_translated", "yawed", "all"])
def test_encoding_invariant_to_similarity_and_up_axis(variant):
    """The same articulation of the transformed asset gives the same pose vectors."""
    rig = biped()
    other = _variants(rig)[variant]
    params = {"scaled_translated": (100.0, np.eye(3)), "yawed": (1.0, _rot_y(0.7)),
              "all": (0.01, Y_TO_Z @ _rot_y(-2.1))}[variant]
    poses = _random_poses(np.random.default_rng(1), 5, rig.num_joints, 0.3)
    moved = Poses(poses.rotations, params[0] * poses.root_translation @ params[1].T)
    x, pa = encode(poses, rig_conditioning(rig))
    y, pb = encode(moved, rig_conditioning(other))
    np.testing.assert_allclose(y, x, atol=2e-4)
    np.testing.assert_allclose(np.angle(np.exp(1j * (pb.heading - pa.heading))), 0, atol=1e-4)


def _a_pose(rig: Rig, degrees: float = 45.0) -> Poses:
    """A pose of the T-posed biped that lowers both arms by ``degrees`` about the facing axis at the shoulders."""
    cond = rig_conditioning(rig)
    names = ["shoulder_l", "shoulder_r"]
    from test_features import _ROLES

    q = np.zeros((1, rig.num_joints, 4))
    q[..., 0] = 1
    facing = np.linalg.inv(cond.canonical_rotation.astype(np.float64)) @ np.array([0.0, 0, 1])  # asset axes
    world = rig.rest_world_matrices().astype(np.float64)
    for name in names:
        j = _ROLES.index(name)
        side = np.sign((cond.rest_positions[j, 0]))  # +X is the character's left
        turn = quat_to_matrix(axis_angle_to_quat(-facing * np.radians(degrees) * side))  # +X turns down about +Z
        g = world[j, :3, :3]
        q[0, j] = matrix_to_quat(g.T @ turn @ g)  # the world turn as a local delta
    return Poses(q, np.zeros((1, 3)))


def test_t_pose_and_a_pose_give_the_same_tokens():
    """One character bound in a T-pose and in an A-pose: the same posed body gives the same pose vectors and
    placement, so the model sees one motion whatever the rest pose was."""
    t_rig = biped()
    a_pose = _a_pose(t_rig)
    a_rig = rerested(t_rig, a_pose)
    wrist = a_rig.joint_names.index("joint_15")
    assert a_rig.rest_joint_positions()[wrist, 1] < t_rig.rest_joint_positions()[wrist, 1] - 0.3  # arms down
    poses = _random_poses(np.random.default_rng(3), 8, t_rig.num_joints, 0.2, spread=4.0)
    same = rerest_poses(poses, a_pose)
    np.testing.assert_allclose(joint_positions(a_rig, same), joint_positions(t_rig, poses), atol=1e-5)
    x_t, p_t = encode(poses, rig_conditioning(t_rig))
    x_a, p_a = encode(same, rig_conditioning(a_rig))
    np.testing.assert_allclose(x_a, x_t, atol=1e-5)
    np.testing.assert_allclose(p_a.heading, p_t.heading, atol=1e-6)
    np.testing.assert_allclose(p_a.offset, p_t.offset, atol=1e-6)


@pytest.mark.parametrize("control", [None, 0.6])
def test_a_ground_bone_above_the_pelvis_changes_nothing_the_model_sees(control):
    """A ground bone (and a control bone) above the pelvis: the body root is still the pelvis, the joints above
    it are masked, and features, graph codes and pose vectors of the other joints are those of the bare rig."""
    rig = biped()
    grounded = with_ground_root(rig, control)
    n = 1 if control is None else 2
    assert body_root(rig) == 0 and body_root(grounded) == n
    base, cond = rig_conditioning(rig), rig_conditioning(grounded)
    np.testing.assert_array_equal(cond.joint_mask, np.r_[np.zeros(n), np.ones(rig.num_joints)])
    np.testing.assert_allclose(cond.node_features[n:], base.node_features, atol=1e-5)
    np.testing.assert_array_equal(cond.graph_code[n:, n:], base.graph_code)
    poses = _random_poses(np.random.default_rng(4), 6, rig.num_joints, 0.2)
    x_base, p_base = encode(poses, base)
    moved = _poses_with_ground(poses, n)
    x, placement = encode(moved, cond)
    np.testing.assert_allclose(x[:, n:], x_base, atol=1e-5)
    assert not x[:, :n].any()
    np.testing.assert_allclose(placement.heading, p_base.heading, atol=1e-6)
    back = decode_poses(x, cond, placement)
    np.testing.assert_allclose(joint_positions(grounded, back), joint_positions(grounded, moved), atol=2e-5)


def test_turning_the_ground_bone_turns_the_heading_not_the_pose():
    """Root motion on the ground bone (a turn about up) moves the placement only."""
    rig = with_ground_root(biped())
    cond = rig_conditioning(rig)
    poses = _random_poses(np.random.default_rng(5), 4, rig.num_joints, 0.2)
    poses.rotations[:, 0] = [1.0, 0, 0, 0]
    turned = Poses(poses.rotations.copy(), poses.root_translation)
    turned.rotations[:, 0] = axis_angle_to_quat(np.array([0, 1.1, 0.0]))
    x, p = encode(poses, cond)
    y, q = encode(turned, cond)
    np.testing.assert_allclose(y, x, atol=1e-5)
    np.testing.assert_allclose(np.angle(np.exp(1j * (q.heading - p.heading - 1.1))), 0, atol=1e-6)


def test_real_clip_round_trip():
    rig, clip = cesium_man()
    cond = rig_conditioning(rig)
    x, placement = encode(clip, cond)
    back = decode_poses(x, cond, placement)
    np.testing.assert_allclose(joint_positions(rig, back), joint_positions(rig, clip), atol=1e-4)
    # Upright walking: the body's height stays near its rest height.
    assert np.all(np.abs(x[:, cond.body_root, HEIGHT_CHANNEL] - cond.rest_positions[cond.body_root, 1]) < 0.1)


def test_placement_rest_and_indexing():
    p = Placement(np.array([0.1, 0.2, 0.3]), np.arange(6.0).reshape(3, 2))
    assert len(p) == 3 and len(p[1]) == 1 and p[1].heading[0] == 0.2 and p[-1].offset[0, 1] == 5.0
    r = Placement.rest(4)
    assert not r.heading.any() and r.offset.shape == (4, 2)


def test_encode_poses_drops_the_placement():
    rig = biped()
    cond = rig_conditioning(rig)
    poses = _random_poses(np.random.default_rng(6), 3, rig.num_joints, 0.1)
    np.testing.assert_array_equal(encode_poses(poses, cond), encode(poses, cond)[0])


def _with_tail(rig: Rig, length: float) -> Rig:
    """``rig`` with one more joint under its body root, ``length`` behind it (a tail): the mean of the body root's
    children moves, its orientation does not."""
    cond = rig_conditioning(rig)
    b = cond.body_root
    back = np.linalg.inv(cond.canonical_rotation.astype(np.float64)) @ np.array([0.0, 0.0, -length])
    world = rig.rest_world_matrices().astype(np.float64)
    trans = np.concatenate([rig.rest_translations, (world[b, :3, :3].T @ back)[None]])
    rot = np.concatenate([rig.rest_rotations, [[1.0, 0, 0, 0]]])
    return Rig(list(rig.joint_names) + ["tail"], np.append(rig.parents, b), trans, rot, vertices=rig.vertices,
               skin_indices=rig.skin_indices, skin_weights=rig.skin_weights, name=rig.name)


def test_the_body_root_token_is_the_body_orientation_whatever_its_children():
    """The body root's reference frame is the body frame itself: at rest its token is the identity, and a tail
    added under the pelvis (which turns the mean of its children backwards) changes none of the other tokens."""
    rig = biped()
    cond = rig_conditioning(rig)
    b = cond.body_root
    rest = encode(Poses.identity(1, rig.num_joints), cond)[0]
    np.testing.assert_allclose(rest[0, b, :6], [1, 0, 0, 0, 1, 0], atol=1e-6)
    tailed = _with_tail(rig, 0.5 * rig.height())
    assert rig_conditioning(tailed).body_root == b
    poses = _random_poses(np.random.default_rng(5), 6, rig.num_joints, 0.2, spread=4.0)
    more = Poses(np.concatenate([poses.rotations, np.tile([1.0, 0, 0, 0], (6, 1, 1))], axis=1),
                 poses.root_translation)
    x, placement = encode(poses, cond)
    x_tail, placement_tail = encode(more, rig_conditioning(tailed))
    np.testing.assert_allclose(x_tail[:, :-1], x, atol=1e-5)
    np.testing.assert_allclose(placement_tail.heading, placement.heading, atol=1e-6)
