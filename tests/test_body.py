"""The body root (vips.body): the pelvis, not a ground, locomotion or control bone above it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import MOTION_DIR, requires_motion

from vips.body import above_body, find_body_root
from vips.skeleton import subtree_sizes

#: Real rigs with IK bones on a ground bone (tests/data/README.md).
IK_RIGS = Path(__file__).resolve().parent / "data" / "ik_rigs"

# root, pelvis, spine, head, leg_l, foot_l, leg_r, foot_r
HUMAN = np.array([-1, 0, 1, 2, 1, 4, 1, 6])


def _share(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, np.float64)
    return w / w.sum()


def test_ground_bone_is_skipped():
    heights = np.array([0.0, 0.5, 0.7, 0.95, 0.3, 0.02, 0.3, 0.02])
    assert find_body_root(HUMAN, heights, _share([0, 5, 5, 5, 5, 5, 5, 5])) == 1
    assert find_body_root(HUMAN, heights, None) == 1  # skeleton only: the bone on the ground goes too


def test_a_weighted_root_on_the_ground_is_the_body():
    """A root on the ground that moves skin (a worm, a snake lying flat) carries the body."""
    chain = np.array([-1, 0, 1, 2, 3])
    flat = np.zeros(5)
    assert find_body_root(chain, flat, _share([1, 1, 1, 1, 1])) == 0
    assert find_body_root(chain, flat, None) == 0  # no joint rises above the ground: nothing to step to


def test_control_bone_above_the_pelvis_is_skipped_but_a_low_pelvis_is_not():
    # ground, control (no skin, one branch, above the ground), pelvis, spine, head, legs
    parents = np.array([-1, 0, 1, 2, 3, 2, 5, 2, 7, 1])  # joint 9: a pole target (a leaf under the control bone)
    heights = np.array([0.0, 0.15, 0.18, 0.5, 0.9, 0.1, 0.0, 0.1, 0.0, 0.2])
    skin = _share([0, 0, 4, 4, 4, 4, 4, 4, 4, 0])
    assert find_body_root(parents, heights, skin) == 2
    # A chibi pelvis low in the rig (18 % of its height) but moving skin stays the body root.
    kay = np.array([-1, 0, 1, 2, 1, 4, 1, 6])
    assert find_body_root(kay, np.array([0.0, 0.18, 0.3, 0.8, 0.1, 0.0, 0.1, 0.0]), _share([0, 9, 9, 9, 2, 2, 2, 2])) == 1


def test_no_dominant_child_stops():
    parents = np.array([-1, 0, 0, 0])  # a ground bone whose children are all leaves
    assert find_body_root(parents, np.array([0.0, 0.5, 0.5, 0.5]), None) == 0


def test_above_body_and_subtree_sizes():
    np.testing.assert_array_equal(above_body(HUMAN, 5), [True, True, False, False, True, False, False, False])
    np.testing.assert_array_equal(subtree_sizes(HUMAN), [8, 7, 2, 1, 2, 1, 2, 1])


@requires_motion
@pytest.mark.parametrize("path, body", [
    ("quaternius/animals_pack/LowPolyFox.glb", "Back"),
    ("quaternius/dinosaurs_pack/Velociraptor.glb", "Body"),
    ("quaternius/platformer_game_pack/Character.glb", "Body"),
    ("kaykit/Character_Animations_1.1/Rig_Medium/Rig_Medium_MovementBasic.glb", "hips"),
    ("cmu_daz/07_01.bvh", "hip"),
    ("quaternius/easy_enemies_pack/Snake.glb", "Root"),
])
def test_real_rigs(path, body):
    import vips
    from vips.body import body_root

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(MOTION_DIR / path)
    assert rig.joint_names[body_root(rig)] == body


# ----- which joints the score judges -------------------------------------------------------------------------
# 0 ground, 1 pelvis (the body root), 2 spine, 3 head, 4 head_end (an end bone), 5 thigh, 6 shin, 7 foot,
# 8 ik_foot (a skinned IK bone on the ground bone), 9 pole (a pole target), 10-11 a two-bone IK chain beside the body
JUDGE_PARENTS = np.array([-1, 0, 1, 2, 3, 1, 5, 6, 0, 0, 0, 10])
SKINNED = [1, 2, 3, 5, 6, 7, 8]


def _judge_rig(skinned: bool):
    from vips.rig import Rig

    J = len(JUDGE_PARENTS)
    offsets = np.array([[0, 0, 0], [0, 1, 0], [0, .3, 0], [0, .3, 0], [0, .1, 0], [.1, 0, 0], [0, -.5, 0], [0, -.4, 0],
                        [.1, .1, 0], [.1, .5, .3], [-.1, .5, 0], [0, .3, 0]], np.float32)
    rot = np.tile(np.array([1, 0, 0, 0], np.float32), (J, 1))
    if not skinned:
        return Rig([f"j{j}" for j in range(J)], JUDGE_PARENTS, offsets, rot)
    world = np.zeros((J, 3), np.float32)
    for j, p in enumerate(JUDGE_PARENTS):
        world[j] = offsets[j] + (world[p] if p >= 0 else 0)
    vertices = world[SKINNED] + np.float32(0.01)  # one vertex per skinned joint
    faces = np.array([[0, 1, 2], [3, 4, 5], [4, 5, 6]], np.int32)
    idx = np.array(SKINNED, np.int32)[:, None]
    return Rig([f"j{j}" for j in range(J)], JUDGE_PARENTS, offsets, rot, vertices=vertices, faces=faces,
               skin_indices=idx, skin_weights=np.ones((len(SKINNED), 1), np.float32))


@pytest.mark.parametrize("skinned, expected", [
    (True, [1, 2, 3, 5, 6, 7]),  # the end bone moves no skin; the IK foot is skinned but beside the body
    (False, [1, 2, 3, 5, 6]),  # no skin: the leaves (head_end, foot) move nothing either
])
def test_judged_joints_leave_out_controls_helpers_and_what_moves_nothing(skinned, expected):
    from vips.body import judged_joints

    judged = judged_joints(_judge_rig(skinned), body=1)
    np.testing.assert_array_equal(np.flatnonzero(judged), expected)


def test_visible_joints_are_those_that_move_skin_or_a_shown_joint():
    from vips.body import visible_joints

    # Skin decides: the skinned joints and the ground above them; not the end bone, the pole or the IK chain.
    np.testing.assert_array_equal(np.flatnonzero(visible_joints(_judge_rig(True))), [0] + SKINNED)
    skeleton = _judge_rig(False)
    has_child = np.isin(np.arange(len(JUDGE_PARENTS)), JUDGE_PARENTS)
    np.testing.assert_array_equal(visible_joints(skeleton), has_child)
    shown = np.ones(len(JUDGE_PARENTS), bool)
    shown[4] = False  # head_end kept at rest (a helper): the head's turn moves nothing the model shows
    np.testing.assert_array_equal(np.flatnonzero(visible_joints(skeleton, shown)),
                                  np.flatnonzero(has_child & (np.arange(len(JUDGE_PARENTS)) != 3)))


# The IK feet of both ride on their legs once loaded (vips.limb_targets), so they are judged like any foot; the
# knight's poles, beside the body and carrying no skin, are not.
@pytest.mark.parametrize("name, left_out", [
    ("Stegosaurus.glb", set()),
    ("KnightCharacter.glb", {"PoleTarget.L", "PoleTarget.R"}),
])
def test_judged_joints_of_real_rigs(name, left_out):
    import vips
    from vips.body import body_root, judged_joints

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(IK_RIGS / name)
    judged = judged_joints(rig, body_root(rig))
    out = {n for n, k in zip(rig.joint_names, judged) if not k}
    assert left_out <= out and out - left_out <= {rig.joint_names[0]}  # and the ground bone above the body
