"""Helper joints (twist, share and zero-length end bones): found from the rest skeleton, left out of the model.

The invariance tests add helpers to a rig the way character rigs carry them (the iClone CC skeleton's layout:
``Twist01`` at the joint, ``Twist02`` half-way down the bone with a zero-length ``_end``, a ``ShareBone`` at the
joint, a zero-length ``_end`` on every leaf), listed right after their parent, with part of the skin moved onto
them; the model must see, sample and score exactly what it does without them.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cesium_man
from runtime_support import toy_model_dir, toy_pairs

from vips.features import rig_conditioning
from vips.helper_joints import carried_joints, find_helper_joints, helper_joints, without_joints
from vips.kinematics import joint_positions
from vips.pose_encoding import decode_poses, encode_poses
from vips.poses import Poses
from vips.posespace import PoseSpace
from vips.rig import Rig
from vips.skeleton import subtree_sizes


def with_helpers(rig: Rig) -> tuple[Rig, np.ndarray]:
    """``rig`` with helper joints added (module docstring) and the new index of each original joint. Twist bones go
    on bones into a joint with at least 4 joints below it (so the limb outweighs the twist chain), share bones on
    bones into a non-leaf; every other skinned vertex of a twisted joint moves to its mid-bone twist bone."""
    world = rig.rest_world_matrices().astype(np.float64)
    kids = rig.children()
    size = subtree_sizes(rig.parents)
    names, parents, trans, rots, binds = [], [], [], [], []
    index = np.zeros(rig.num_joints, np.int64)
    twist_of = {}

    def add(name: str, parent: int, t, rot, bind) -> int:  # noqa: ANN001 - arrays
        names.append(name)
        parents.append(parent)
        trans.append(np.asarray(t, np.float64))
        rots.append(np.asarray(rot, np.float64))
        binds.append(bind)
        return len(names) - 1

    identity = np.array([1.0, 0, 0, 0])
    for j in range(rig.num_joints):
        p = int(rig.parents[j])
        k = add(rig.joint_names[j], int(index[p]) if p >= 0 else -1, rig.rest_translations[j], rig.rest_rotations[j],
                world[j])
        index[j] = k
        if len(kids[j]) == 1 and size[kids[j][0]] >= 4:
            half = 0.5 * rig.rest_translations[kids[j][0]].astype(np.float64)
            mid = world[j].copy()
            mid[:3, 3] += world[j, :3, :3] @ half
            t1 = add(f"{names[k]}Twist01", k, np.zeros(3), identity, world[j])
            twist_of[j] = add(f"{names[k]}Twist02", t1, half, identity, mid)
            add(f"{names[k]}Twist02_end", twist_of[j], np.zeros(3), identity, mid)
        if len(kids[j]) == 1 and kids[kids[j][0]]:
            add(f"{names[k]}ShareBone", k, np.zeros(3), identity, world[j])
        if not kids[j]:
            add(f"{names[k]}_end", k, np.zeros(3), identity, world[j])
    skin = index[np.asarray(rig.skin_indices)]
    for v in range(0, len(skin), 2):
        for slot, j in enumerate(np.asarray(rig.skin_indices)[v]):
            if int(j) in twist_of:
                skin[v, slot] = twist_of[int(j)]
    out = Rig(names, np.array(parents, np.int32), np.array(trans, np.float32), np.array(rots, np.float32),
              bind_matrices=np.array(binds, np.float32), vertices=rig.vertices, faces=rig.faces,
              skin_indices=skin.astype(np.int32), skin_weights=rig.skin_weights, up_axis=rig.up_axis,
              meters_per_unit=rig.meters_per_unit, name=rig.name)
    return out, index


def on_helper_rig(poses: Poses, index: np.ndarray, num_joints: int) -> Poses:
    """The same motion on :func:`with_helpers`'s rig: helpers at rest."""
    rot = np.zeros((len(poses), num_joints, 4), np.float32)
    rot[..., 0] = 1.0
    rot[:, index] = poses.rotations
    return Poses(rot, poses.root_translation, poses.fps, poses.name)


def _toy() -> tuple[Rig, Poses]:
    """The toy rig with the most joints (the most bones to twist), with its poses."""
    return max(toy_pairs(), key=lambda pair: pair[0].num_joints)


# ----- the rule ----------------------------------------------------------------------------------------------
# 0 ground (above the body), 1 pelvis (body root), 2 thigh, 3 knee, 4 ankle, 5 toe, 6 toe_end (zero length),
# 7 thigh_twist01 (at the hip), 8 thigh_twist02 (mid-thigh), 9 knee_share (at the knee), 10 a "finger" leaving
# the shin 0.05 off its axis, 11 spine, 12 head, 13 head_top (a leaf 0.1 up: a real end bone), 14 ground_end
# (zero length, but above the body), 15 ankle_share (at the toe joint, the bone's far end), 16 a branch on the
# shin bone with a larger subtree than the bone's own child (17, 18, 21, 22 below it, all on the shin), 19 a
# zero-length joint with a child (20, off every bone).
RULE_PARENTS = np.array([-1, 0, 1, 2, 3, 4, 5, 2, 7, 3, 3, 1, 11, 12, 0, 4, 3, 16, 17, 12, 19, 18, 21])
RULE_POSITIONS = np.array([
    [0, 0, 0], [0, 1, 0], [.1, 1, 0], [.1, .5, 0], [.1, .05, 0], [.1, 0, .15], [.1, 0, .15],
    [.1, 1, 0], [.1, .75, 0], [.1, .5, 0], [.15, .3, 0], [0, 1.3, 0], [0, 1.6, 0], [0, 1.7, 0],
    [0, 0, 0], [.1, 0, .15], [.1, .4, 0], [.1, .3, 0], [.1, .2, 0], [0, 1.6, 0], [0, 1.65, .05], [.1, .15, 0],
    [.1, .1, 0]], np.float64)
RULE_HELPERS = [6, 7, 8, 9, 15]


def test_the_rule_finds_twist_share_and_zero_length_end_bones_only():
    helpers = find_helper_joints(RULE_PARENTS, RULE_POSITIONS, body_root=1, height=1.7)
    np.testing.assert_array_equal(np.flatnonzero(helpers), RULE_HELPERS)


def test_a_zero_length_leaf_that_carries_skin_deforms_the_mesh_and_stays_a_joint():
    share = np.zeros(len(RULE_PARENTS))
    share[[1, 2, 3, 4, 6, 8]] = 1 / 6  # the toe's end and the mid-thigh twist bone carry skin
    helpers = find_helper_joints(RULE_PARENTS, RULE_POSITIONS, body_root=1, height=1.7, skin_share=share)
    np.testing.assert_array_equal(np.flatnonzero(helpers), [7, 8, 9, 15])  # a twist bone is a helper all the same


def test_the_rule_scales_with_the_rig_and_a_helpers_descendants_are_helpers():
    positions = RULE_POSITIONS.copy()
    positions[8] += [0.004, 0, 0]  # 0.4 % of a 1.7 tall rig off the bone: on it; 100 times bigger: still on it
    big = find_helper_joints(RULE_PARENTS, positions * 100, body_root=1, height=170.0)
    np.testing.assert_array_equal(np.flatnonzero(big), RULE_HELPERS)
    positions[8] += [0.01, 0, 0]  # 1 % off: a branch of its own, and the twist01 above it with it
    np.testing.assert_array_equal(np.flatnonzero(find_helper_joints(RULE_PARENTS, positions, 1, 1.7)), [6, 9, 15])


def test_carried_joints_are_the_masked_joints_below_a_live_one():
    live = np.ones(len(RULE_PARENTS), bool)
    live[[0, 14] + RULE_HELPERS] = False
    np.testing.assert_array_equal(np.flatnonzero(carried_joints(RULE_PARENTS, live)), RULE_HELPERS)


def test_helpers_of_rigs_that_have_none_and_of_a_rig_given_them():
    rig, _ = cesium_man()
    assert not helper_joints(rig).any()
    toy, _ = _toy()
    assert not helper_joints(toy).any()
    for base in (rig, toy):
        helped, index = with_helpers(base)
        found = helper_joints(helped)
        expected = np.ones(helped.num_joints, bool)
        expected[index] = False
        np.testing.assert_array_equal(found, expected)


def test_the_body_score_judges_no_helper_nor_a_joint_that_moves_only_helpers():
    from vips.body import body_root, judged_joints

    rig = Rig([f"j{j}" for j in range(len(RULE_PARENTS))], RULE_PARENTS,
              RULE_POSITIONS - np.where(RULE_PARENTS[:, None] >= 0, RULE_POSITIONS[np.maximum(RULE_PARENTS, 0)], 0),
              np.tile([1.0, 0, 0, 0], (len(RULE_PARENTS), 1)))  # skeleton only: leaves move nothing
    assert body_root(rig) == 1
    judged = judged_joints(rig, 1, ~helper_joints(rig, 1))  # as PoseSpace passes the joints the model sees
    assert not judged[RULE_HELPERS].any()
    assert not judged[5]  # the toe: its only child is the zero-length toe_end, a helper
    assert judged[[1, 2, 3, 4]].all()


def test_without_joints_folds_the_skin_and_refuses_a_kept_child():
    rig, _ = cesium_man()
    helped, index = with_helpers(rig)
    back = without_joints(helped, helper_joints(helped))
    assert back.joint_names == rig.joint_names
    np.testing.assert_array_equal(back.parents, rig.parents)
    np.testing.assert_array_equal(back.skin_indices, rig.skin_indices)
    drop = np.zeros(helped.num_joints, bool)
    drop[index[1]] = True  # a joint with kept children
    with pytest.raises(ValueError, match="kept child"):
        without_joints(helped, drop)


# ----- the model does not see them ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["toy", "CesiumMan"])
def test_the_conditioning_is_that_of_the_rig_without_helpers(which):
    rig = _toy()[0] if which == "toy" else cesium_man()[0]
    helped, index = with_helpers(rig)
    a, b = rig_conditioning(rig), rig_conditioning(helped)
    np.testing.assert_allclose(b.node_features[index], a.node_features, atol=1e-5)
    np.testing.assert_array_equal(np.flatnonzero(b.joint_mask), index[np.flatnonzero(a.joint_mask)])
    np.testing.assert_array_equal(b.graph_code[np.ix_(index, index)], a.graph_code)
    np.testing.assert_allclose(b.reference_frames[index], a.reference_frames, atol=1e-6)
    np.testing.assert_allclose(b.rest_world_rotations[index], a.rest_world_rotations, atol=1e-6)
    np.testing.assert_allclose(b.canonical_transform, a.canonical_transform, atol=1e-6)
    assert b.body_root == index[a.body_root]
    assert not b.node_features[b.joint_mask == 0].any()


def test_scores_and_samples_do_not_see_helpers():
    """Same seed, same bodies; the helpers stay at rest relative to their parents and get no score."""
    rig, poses = _toy()
    helped, index = with_helpers(rig)
    plain, other = PoseSpace(rig, toy_model_dir()), PoseSpace(helped, toy_model_dir())
    frames = poses[np.arange(0, 64, 4)]
    a = plain.joint_scores(frames)
    b = other.joint_scores(on_helper_rig(frames, index, helped.num_joints))
    np.testing.assert_allclose(b[:, index], a, rtol=1e-4, atol=1e-5)
    helpers = np.setdiff1d(np.arange(helped.num_joints), index)
    assert not b[:, helpers].any()
    sa, sb = plain.sample(4, seed=3, steps=8), other.sample(4, seed=3, steps=8)
    np.testing.assert_allclose(joint_positions(helped, sb)[:, index], joint_positions(rig, sa),
                               atol=1e-4 * rig.height())
    np.testing.assert_allclose(sb.rotations[:, helpers, 1:], 0, atol=1e-6)


def test_native_decode_and_gradient_carry_helpers_with_their_parent():
    """The C++ loop decodes helpers at rest relative to their parent, as vips.pose_encoding does, and a handle on
    a helper (a mid-bone twist bone) pulls on the bones above it: its gradient against central differences."""
    from test_posespace import _check_gradient

    from vips.native.guided import GuidedHandleArrays, guided_energy_grad

    rig, poses = _toy()
    helped, index = with_helpers(rig)
    space = PoseSpace(helped, toy_model_dir())
    x = encode_poses(on_helper_rig(poses[np.arange(4)], index, helped.num_joints), space.cond)
    x += np.random.default_rng(2).normal(size=x.shape).astype(np.float32) * 0.1 * space.mask
    twist = helped.joint_names.index(next(n for n in helped.joint_names if n.endswith("Twist02")))
    parent = int(helped.parents[helped.parents[twist]])
    handles = GuidedHandleArrays(np.array([twist, index[-1]], np.int32), np.random.default_rng(3).normal(size=(2, 3))
                                 .astype(np.float32), np.array([1.0, 0.5], np.float32), np.zeros(0, np.int32),
                                 np.zeros(0, np.int32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    out = guided_energy_grad(x, space._rig_arrays(), handles)
    decoded = decode_poses(x, space.cond)
    np.testing.assert_allclose(out["positions"], joint_positions(helped, decoded), atol=1e-4)
    helpers = np.setdiff1d(np.arange(helped.num_joints), index)
    np.testing.assert_allclose(decoded.rotations[:, helpers, 1:], 0, atol=1e-6)
    _check_gradient(space, x, handles, out["grad"], [(0, parent, 0), (1, parent, 4), (2, index[1], 2)])
    assert not out["grad"][:, helpers].any()


def test_native_loop_refuses_a_live_joint_below_a_masked_helper():
    from vips.errors import NativeError
    from vips.native.guided import GuidedHandleArrays, GuidedRigArrays, guided_energy_grad
    from vips.pose_encoding import channel_mask

    rig, poses = _toy()
    helped, index = with_helpers(rig)
    space = PoseSpace(helped, toy_model_dir())
    twist01 = helped.joint_names.index(next(n for n in helped.joint_names if n.endswith("Twist01")))
    mask = channel_mask(space.cond)
    mask[twist01 + 1, :6] = 1.0  # Twist02 live below the masked Twist01
    arrays = GuidedRigArrays.from_rig(helped, space.cond, mask)
    handles = GuidedHandleArrays(np.array([index[-1]], np.int32), np.zeros((1, 3), np.float32),
                                 np.ones(1, np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                                 np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    x = encode_poses(on_helper_rig(poses[:1], index, helped.num_joints), space.cond)
    with pytest.raises(NativeError, match=f"channel_mask.*joint {twist01 + 1} disagrees"):
        guided_energy_grad(x, arrays, handles)


def test_helper_excess_against_angles_drawn_by_hand():
    from vips.helper_joints import HELPER_TURN_LIMIT_DEGREES, helper_excess
    from vips.rotations import axis_angle_to_quat

    rng = np.random.default_rng(5)
    angles = rng.uniform(0, 179, size=(40, 6))
    axes = rng.normal(size=(40, 6, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    q = axis_angle_to_quat(axes * np.radians(angles)[..., None])
    q[::3] *= -1  # the same turns, the other sign of the quaternion
    helpers = np.array([False, True, True, False, True, False])
    want = np.maximum(angles[:, helpers].max(1) - HELPER_TURN_LIMIT_DEGREES, 0)
    np.testing.assert_allclose(np.degrees(helper_excess(q, helpers)), want, atol=1e-6)
    np.testing.assert_array_equal(helper_excess(q, np.zeros(6, bool)), 0)


def test_a_helper_turned_past_the_limit_breaks_the_pose_and_one_within_it_changes_nothing():
    from vips.helper_joints import HELPER_TURN_LIMIT_DEGREES as LIMIT
    from vips.rotations import axis_angle_to_quat

    rig, poses = _toy()
    helped, index = with_helpers(rig)
    space = PoseSpace(helped, toy_model_dir())
    frames = on_helper_rig(poses[np.arange(0, 64, 4)], index, helped.num_joints)
    base, flags = space.score(frames)
    assert flags.mean() > 0.5
    share = helped.joint_names.index(next(n for n in helped.joint_names if n.endswith("ShareBone")))
    for degrees, broken in ((LIMIT - 30.0, False), (LIMIT + 20.0, True)):
        turned = Poses(frames.rotations.copy(), frames.root_translation)
        turned.rotations[:, share] = axis_angle_to_quat(np.array([0.0, 0.0, np.radians(degrees)]))
        scores, turned_flags = space.score(turned)
        if broken:
            assert not turned_flags.any()
            np.testing.assert_allclose(scores, base - np.radians(degrees - LIMIT), atol=1e-5)
        else:
            np.testing.assert_array_equal(turned_flags, flags)
            np.testing.assert_allclose(scores, base, atol=1e-6)


def test_edits_and_traversals_keep_the_helpers_their_inputs_give():
    """IK from an init keeps the init's helper turns; a traversal turns them from one keyframe's to the next's
    (slerp), so a clip's twist bones neither snap to rest nor jump at a keyframe."""
    from vips.rotations import axis_angle_to_quat, quat_angle, quat_conjugate, quat_multiply, quat_slerp

    rig, poses = _toy()
    helped, index = with_helpers(rig)
    space = PoseSpace(helped, toy_model_dir())
    helpers = np.setdiff1d(np.arange(helped.num_joints), index)
    keys = on_helper_rig(poses[np.array([3, 40])], index, helped.num_joints)
    rng = np.random.default_rng(7)
    keys.rotations[:, helpers] = axis_angle_to_quat(rng.normal(size=(2, len(helpers), 3)) * 0.4)
    leaf = int(index[-1])
    target = joint_positions(helped, keys[:1])[0, leaf] + np.array([0.03, -0.02, 0.02]) * helped.height()
    result, report = space.solve_ik({helped.joint_names[leaf]: target}, init=keys[:1], return_report=True,
                                    tolerance=None)
    np.testing.assert_array_equal(result.rotations[:, helpers], keys.rotations[:1, helpers])
    np.testing.assert_allclose(report.error[0, 0], np.linalg.norm(joint_positions(helped, result)[0, leaf] - target),
                               atol=1e-4 * helped.height())
    path = space.interpolate_path(keys, 4, steps=8)
    want = quat_slerp(keys.rotations[0, helpers].astype(np.float64), keys.rotations[1, helpers].astype(np.float64),
                      np.arange(5)[:, None] / 4)
    turn = quat_multiply(quat_conjugate(want), path.rotations[:, helpers].astype(np.float64))
    assert np.degrees(quat_angle(turn)).max() < 1e-3


def test_vips_info_marks_helpers_in_a_saved_rig(tmp_path):
    """Through a file (glTF written and read back) and the CLI a user runs: the helpers are found and tagged."""
    import json

    import vips
    from test_cli import _tree, run_vips

    rig, _ = cesium_man()
    helped, index = with_helpers(rig)
    path = vips.save(helped, tmp_path / "helped.glb")
    out = run_vips("info", str(path))
    assert out.returncode == 0, out.stderr
    added = helped.num_joints - rig.num_joints
    assert f"0 ground/control bones above it, {added} helper joints" in out.stdout
    tree = _tree(out.stdout)
    assert {name for name, (_, tags) in tree.items() if "helper" in tags} == \
        {n for j, n in enumerate(helped.joint_names) if j not in set(index.tolist())}
    skel = json.loads(run_vips("info", str(path), "--json").stdout)["skeleton"]
    assert sum(skel["helper"]) == added
