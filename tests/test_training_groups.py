"""Training data from a built dataset: sources per body plan and per real rig family, source weights with
prefix patterns, re-rested copies of each rig (random symmetric rests, the same motion) and copies with static
joints inserted (the same bodies)."""

from __future__ import annotations

import numpy as np
import pytest

from test_pose_encoding import _random_poses, biped
from vips.model.training_groups import MAX_INSERTED, group_source, rerested_motion, symmetric_rest, \
    with_inserted_joints
from vips.features import rig_conditioning
from vips.kinematics import joint_positions, skin
from vips.model.data import PoseGroup, group_probabilities, source_weight
from vips.pose_encoding import encode


def test_group_sources():
    assert group_source({"source": "procedural", "plan": "quadruped"}) == "quadruped"
    assert group_source({"source": "clip", "plan": "clip", "family": "Horse-1234", "species": "x"}) == "clip:Horse-1234"
    assert group_source({"source": "clip", "plan": "clip", "species": "clip_walk_ab"}) == "clip:clip_walk_ab"


def test_source_weights_take_exact_names_then_the_longest_prefix():
    w = {"clip:*": 2.0, "clip:cmu*": 5.0, "clip:cmu_daz": 7.0, "bird": 0.5}
    assert source_weight("clip:cmu_daz", w) == 7.0
    assert source_weight("clip:cmu_iclone", w) == 5.0
    assert source_weight("clip:horse", w) == 2.0
    assert source_weight("bird", w) == 0.5 and source_weight("quadruped", w) == 1.0
    feats, code = np.zeros((2, 4), np.float32), np.zeros((2, 2), np.int64)
    mask, poses = np.ones((2, 9), np.float32), np.zeros((3, 2, 9), np.float32)
    groups = [PoseGroup(feats, code, mask, poses, source=s) for s in ("clip:a", "clip:a", "clip:b", "bird")]
    p = group_probabilities(groups, {"clip:*": 2.0, "bird": 0.5})
    np.testing.assert_allclose(p, np.array([1.0, 1.0, 2.0, 0.5]) / 4.5)


def test_symmetric_rest_keeps_the_rig_symmetric_and_the_body_in_place():
    rig = biped()
    cond = rig_conditioning(rig)
    for seed in range(5):
        rest = symmetric_rest(rig, np.random.default_rng(seed))
        pos = rig_conditioning(rig).canonical_transform.astype(np.float64)
        p = joint_positions(rig, rest)[0].astype(np.float64) @ pos[:3, :3].T + pos[:3, 3]
        for j, k in enumerate(cond.mirror):
            if k >= 0:
                np.testing.assert_allclose(p[k], p[j] * np.array([-1.0, 1.0, 1.0]), atol=1e-5)
        np.testing.assert_allclose(rest.rotations[0, cond.body_root], [1, 0, 0, 0], atol=1e-6)
    moved = symmetric_rest(rig, np.random.default_rng(0)).rotations[0]
    assert np.abs(moved[:, 0]).min() < 0.999  # some joint did move


def test_rerested_motion_is_the_same_motion_on_another_rest():
    rig = biped()
    poses = _random_poses(np.random.default_rng(1), 6, rig.num_joints, 0.2, spread=5.0)
    rng = np.random.default_rng(2)
    other, same = rerested_motion(rig, poses, rng)
    while np.allclose(other.rest_joint_positions(), rig.rest_joint_positions(), atol=1e-3):  # a draw moved nothing
        other, same = rerested_motion(rig, poses, rng)
    assert np.allclose(rig_conditioning(other).canonical_rotation, rig_conditioning(rig).canonical_rotation,
                       atol=0.05)  # the variant faces where the rig does
    np.testing.assert_allclose(joint_positions(other, same), joint_positions(rig, poses), atol=1e-5)
    # The tokens barely move (only twist references of swung bones change) while the rig's features do.
    x, _ = encode(poses, rig_conditioning(rig))
    y, _ = encode(same, rig_conditioning(other))
    assert np.abs(y - x).max() < 1.0 and np.median(np.abs(y - x)) < 0.05


def test_mirrored_motion_puts_each_joint_where_its_partner_mirrored_was():
    """On a symmetric rig, against positions computed here: joint j of the mirrored pose stands at the mirror image
    (canonical x -> -x) of where its partner stood; mirroring twice gives the motion back; a rig with an unpaired
    joint off the midline gets none."""
    from vips.model.training_groups import mirrored_motion
    from vips.rig import Rig

    rig = biped()
    cond = rig_conditioning(rig)
    poses = _random_poses(np.random.default_rng(4), 5, rig.num_joints, 0.2, spread=4.0)
    mirrored = mirrored_motion(rig, poses)
    t = cond.canonical_transform.astype(np.float64)
    canon = lambda p: p.astype(np.float64) @ t[:3, :3].T + t[:3, 3]  # noqa: E731
    before, after = canon(joint_positions(rig, poses)), canon(joint_positions(rig, mirrored))
    partner = np.where(cond.mirror >= 0, cond.mirror, np.arange(rig.num_joints))
    assert (partner != np.arange(rig.num_joints)).sum() >= 4  # the test means something: limbs swap sides
    np.testing.assert_allclose(after, before[:, partner] * np.array([-1.0, 1.0, 1.0]), atol=1e-5)
    back = mirrored_motion(rig, mirrored)
    np.testing.assert_allclose(canon(joint_positions(rig, back)), before, atol=1e-5)
    pos = rig.rest_joint_positions().astype(np.float64)
    left = int(np.argmax(canon(pos[None])[0, :, 0]))  # the joint furthest to the character's left
    moved = rig.rest_translations.astype(np.float64).copy()
    moved[left] += np.array([0.0, 0.0, 0.3]) * rig.height()  # now it has no partner
    lopsided = Rig(rig.joint_names, rig.parents, moved, rig.rest_rotations)
    assert mirrored_motion(lopsided, poses) is None


@pytest.mark.slow
def test_rest_variants_join_the_training_groups(tmp_path):
    from vips.data.dataset import BuildSettings, build_dataset
    from vips.model.training_groups import load_training_groups

    out = tmp_path / "data"
    build_dataset(out, BuildSettings(species=3, individuals=1, sequences=2, frames=8), workers=1)
    base = load_training_groups(out, "train")
    more = load_training_groups(out, "train", rest_variants=2, seed=3)
    assert len(more) == 3 * len(base)
    assert [g.source for g in more[::3]] == [g.source for g in base]
    for a, b in zip(more[::3], base):
        np.testing.assert_array_equal(a.poses, b.poses)
    assert not np.allclose(more[1].node_features, more[0].node_features)
    grown = load_training_groups(out, "train", seed=3, insert_variants=1)
    assert len(grown) == 2 * len(base) and [g.source for g in grown[::2]] == [g.source for g in base]
    assert all(1 <= b.num_joints - a.num_joints <= MAX_INSERTED for a, b in zip(grown[::2], grown[1::2]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inserted_joints_keep_every_joint_and_vertex_where_it_was(assets_dir, seed):
    import warnings

    import vips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(assets_dir / "gltf" / "CesiumMan.glb")
    poses = next(iter(rig.clips.values()))
    out, moved = with_inserted_joints(rig, poses, np.random.default_rng(seed))
    added = [j for j, n in enumerate(out.joint_names) if n not in rig.joint_names]
    assert 1 <= len(added) <= MAX_INSERTED and out.num_joints == rig.num_joints + len(added)
    assert np.all(out.parents < np.arange(out.num_joints))  # parents first, as every rig
    same = [out.joint_names.index(n) for n in rig.joint_names]
    # float64 FK of the original rig as the reference for both
    np.testing.assert_allclose(joint_positions(out, moved)[:, same], joint_positions(rig, poses), atol=1e-5)
    np.testing.assert_allclose(skin(out, moved), skin(rig, poses), atol=1e-5)
    np.testing.assert_array_equal(moved.rotations[:, added], np.broadcast_to([1, 0, 0, 0], (len(poses), len(added), 4)))
    np.testing.assert_allclose(moved.rotations[:, same], poses.rotations, atol=1e-6)
    for j in added:  # part-way along the bone into its child, with no skin of its own
        child = int(np.flatnonzero(out.parents == j)[0])
        assert out.parents[child] == j and not np.isin(out.skin_indices[out.skin_weights > 0], added).any()
