"""The shipped default model on a real character (CesiumMan, shipped with the package): what it must not care about.

Issue 13: the same motion on the same skeleton bound in a T-pose and in an A-pose gets the same plausibility flags
(>= 95 % agreement: not met, an expected failure that says by how much) and samples with the same distribution; a
ground bone added above the pelvis changes neither.
"""

from __future__ import annotations


import numpy as np
import pytest

from conftest import cesium_man
from test_pose_encoding import _poses_with_ground, with_ground_root
from vips.evaluation.corruptions import CORRUPTIONS
from vips.evaluation.metrics import fidelity, pose_features
from vips.features import rig_conditioning
from vips.kinematics import joint_positions, rerest_poses, rerested
from vips.poses import Poses
from vips.posespace import PoseSpace
from vips.rotations import axis_angle_to_quat, matrix_to_quat, quat_to_matrix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cesium():
    rig, clip = cesium_man()
    return rig, clip[np.arange(0, len(clip), max(1, len(clip) // 40))]


def _arm_roots(rig) -> tuple[int, int]:
    """The left and right joints where the arms leave the trunk: of the mirror pairs in the upper half of the
    rig, the one whose subtrees reach furthest sideways, taken at its joint nearest the midline."""
    cond = rig_conditioning(rig)
    pos = cond.rest_positions.astype(np.float64)
    from vips.skeleton import children_lists

    kids = children_lists(rig.parents)

    def reach(j: int) -> float:
        stack, far = [j], 0.0
        while stack:
            k = stack.pop()
            far = max(far, abs(pos[k, 0]))
            stack += kids[k]
        return far

    pairs = [(j, int(cond.mirror[j])) for j in range(rig.num_joints)
             if cond.mirror[j] > j and pos[j, 1] > 0.55 and rig.parents[j] >= 0 and cond.mirror[rig.parents[j]] ==
             rig.parents[j]]
    left, right = max(pairs, key=lambda p: reach(p[0]))
    return (left, right) if pos[left, 0] > 0 else (right, left)


def _t_pose_of(rig, degrees: float = 40.0) -> Poses:
    """The pose that raises both arms of the A-posed rig by ``degrees`` about the facing axis (towards a T-pose)."""
    cond = rig_conditioning(rig)
    facing = np.linalg.inv(cond.canonical_rotation.astype(np.float64)) @ np.array([0.0, 0, 1])
    world = rig.rest_world_matrices().astype(np.float64)
    q = np.zeros((1, rig.num_joints, 4))
    q[..., 0] = 1
    for j, side in zip(_arm_roots(rig), (1.0, -1.0)):
        turn = quat_to_matrix(axis_angle_to_quat(facing * np.radians(degrees) * side))  # +X (left) turns up
        g = world[j, :3, :3]
        q[0, j] = matrix_to_quat(g.T @ turn @ g)
    return Poses(q, np.zeros((1, 3)))


def _same_bodies(rig, frames: Poses, t_pose: Poses) -> tuple[list[Poses], list[Poses]]:
    """``frames`` and the same frames under every corruption kind, on the shipped rest and re-rested onto
    ``t_pose``: the same posed bodies on both rests."""
    sets = [frames] + [c(rig, frames, seed=1 + k, reference=frames).poses for k, c in enumerate(CORRUPTIONS.values())]
    return sets, [rerest_poses(p, t_pose) for p in sets]


def _scored(space: PoseSpace, sets: list[Poses]) -> tuple[np.ndarray, np.ndarray]:
    scored = [space.score(s) for s in sets]
    return np.concatenate([s for s, _ in scored]), np.concatenate([f for _, f in scored])


@pytest.fixture(scope="module")
def a_and_t(cesium):
    """CesiumMan as shipped (A-pose) and re-rested with its arms raised 40 degrees (towards a T-pose), with the
    same frames on each, and the pose space of each."""
    a_rig, frames = cesium
    t_pose = _t_pose_of(a_rig)
    t_rig = rerested(a_rig, t_pose)
    wrist = max(range(a_rig.num_joints), key=lambda j: abs(rig_conditioning(a_rig).rest_positions[j, 0]))
    assert t_rig.rest_joint_positions()[wrist, 1] > a_rig.rest_joint_positions()[wrist, 1] + 0.1 * a_rig.height()
    t_frames = rerest_poses(frames, t_pose)
    np.testing.assert_allclose(joint_positions(t_rig, t_frames), joint_positions(a_rig, frames),
                               atol=1e-4 * a_rig.height())
    a_sets, t_sets = _same_bodies(a_rig, frames, t_pose)
    return (a_rig, a_sets, PoseSpace(a_rig)), (t_rig, t_sets, PoseSpace(t_rig))


def test_t_pose_and_a_pose_score_alike(a_and_t):
    """The scores of one motion on the two rests move together (what the model learned from re-rested data; the
    score's rest baseline is each rig's own, so the two rests differ there by construction)."""
    (_, a_sets, a_space), (_, t_sets, t_space) = a_and_t
    a_scores, _ = _scored(a_space, a_sets)
    t_scores, _ = _scored(t_space, t_sets)
    assert np.corrcoef(a_scores, t_scores)[0, 1] >= 0.8  # 0.87 measured with vips-default-v3.1 (v3: 0.87)
    valid = len(a_sets[0])
    assert np.corrcoef(a_scores[:valid], t_scores[:valid])[0, 1] >= 0.9  # 0.94 measured (v3: 0.97)


@pytest.mark.xfail(strict=True, reason="issue 13 target not met by vips-default-v3.1: 88 % of flags agree, 98 % "
                   "of the valid frames' (score correlation 0.87; many corrupted frames score near the threshold)")
def test_t_pose_and_a_pose_get_the_same_flags(a_and_t):
    (_, a_sets, a_space), (_, t_sets, t_space) = a_and_t
    agree = np.mean(_scored(a_space, a_sets)[1] == _scored(t_space, t_sets)[1])
    assert agree >= 0.95, agree


def test_t_pose_and_a_pose_sample_alike(a_and_t):
    """The two rests give sample sets as alike as two draws on one rest are."""
    (a_rig, _, a_space), (t_rig, _, t_space) = a_and_t
    feats = {name: pose_features(rig, space.sample(48, seed=seed, steps=20))
             for name, rig, space, seed in (("a", a_rig, a_space, 0), ("a2", a_rig, a_space, 1),
                                            ("t", t_rig, t_space, 2))}
    across = fidelity(feats["t"], feats["a"])["mmd"]
    within = fidelity(feats["a2"], feats["a"])["mmd"]
    assert across <= 1.5 * within, (across, within)


def test_a_ground_bone_changes_neither_flags_nor_samples(cesium):
    rig, frames = cesium
    grounded = with_ground_root(rig, 0.2 * rig.height())
    moved = _poses_with_ground(frames, 2)
    base, ground = PoseSpace(rig), PoseSpace(grounded)
    np.testing.assert_array_equal(ground.score(moved)[1], base.score(frames)[1])
    a, b = base.sample(8, seed=4, steps=20), ground.sample(8, seed=4, steps=20)
    np.testing.assert_allclose(joint_positions(grounded, b)[:, 2:], joint_positions(rig, a), atol=1e-4 * rig.height())
