"""Evaluation toolkit: metrics against brute-force references, corruptions measured independently, baselines,
and the report end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from vips.evaluation import (
    CORRUPTIONS,
    EvalCase,
    GaussianPrior,
    NearestNeighbour,
    UniformLimits,
    apd,
    auroc,
    coverage,
    evaluate,
    evaluate_many,
    fidelity,
    mmd,
    one_nna,
    pose_distance,
    pose_features,
    position_distances,
    rotation_distances,
    self_intersection_rate,
)
from vips.evaluation import metrics
from vips.evaluation.corruptions import PROCEDURAL_CORRUPTIONS, body_layout, corruptible_joints
from vips.kinematics import joint_positions
from vips.poses import Poses
from vips.rotations import (
    axis_angle_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_normalize,
    quat_to_axis_angle,
    quat_to_matrix,
)


IK_RIGS = Path(__file__).resolve().parent / "data" / "ik_rigs"


# ----- fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def humanoid():
    from vips.fitting.tube_humanoid import toy_humanoid, toy_motion

    rig = toy_humanoid(3)
    return rig, toy_motion(rig, 80, seed=5)


@pytest.fixture(scope="module")
def horse():
    from vips.data.creatures import make_creature, motion, programs_for

    c = make_creature("horse_01")
    poses = Poses.concatenate([motion(c, p, frames=40, seed=k) for k, p in enumerate(programs_for(c)[:4])])
    return c, poses


@pytest.fixture(scope="module")
def toy_case():
    """A small random rig whose poses lie on a 2D manifold (clustered), split into train and held-out."""
    from vips.model.toy_manifold import toy_poses, toy_rig

    rng = np.random.default_rng(11)
    rig = toy_rig(rng, 9, name="toy_eval")
    poses = toy_poses(rng, 9, 300, jitter=0.03)
    return rig, poses[np.arange(0, 200)], poses[np.arange(200, 300)]


def _rig_poses(request, name):
    if name == "humanoid":
        return request.getfixturevalue("humanoid")
    c, poses = request.getfixturevalue("horse")
    return c.rig, poses


# ----- AUROC ---------------------------------------------------------------------------------------------------
def _auroc_brute(pos, neg):
    total = 0.0
    for p in pos:
        for n in neg:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


@pytest.mark.parametrize("n_pos,n_neg,levels", [(1, 1, 2), (5, 7, 3), (40, 25, 4), (60, 90, 1000), (33, 1, 2)])
def test_auroc_matches_pair_counting_with_ties(n_pos, n_neg, levels):
    rng = np.random.default_rng(n_pos * 100 + n_neg)
    for _ in range(5):
        pos = rng.integers(0, levels, n_pos).astype(float) + 0.3
        neg = rng.integers(0, levels, n_neg).astype(float)
        neg[rng.random(n_neg) < 0.5] += 0.3  # many exact ties with the positives
        assert auroc(pos, neg) == pytest.approx(_auroc_brute(pos, neg), abs=1e-12)


def test_auroc_extremes_and_nan():
    assert auroc([2, 3, 4], [0, 1]) == 1.0
    assert auroc([0, 1], [2, 3, 4]) == 0.0
    assert auroc([1, 1], [1, 1, 1]) == 0.5
    # NaN counts as the least plausible score, below -inf
    assert auroc([np.nan], [-np.inf]) == 0.5
    assert auroc([0.0], [np.nan]) == 1.0
    with pytest.raises(ValueError):
        auroc([], [1.0])


# ----- distances -------------------------------------------------------------------------------------------------
def test_pairwise_distances_match_loops(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5, 3)), rng.normal(size=(4, 5, 3))
    qa, qb = quat_normalize(rng.normal(size=(7, 5, 4))), quat_normalize(rng.normal(size=(4, 5, 4)))
    want_p = np.array([[np.mean([np.linalg.norm(a[i, j] - b[k, j]) for j in range(5)]) for k in range(4)]
                       for i in range(7)])
    # geodesic angle through rotation matrices: arccos((trace(Ra^T Rb) - 1) / 2)
    ra, rb = quat_to_matrix(qa), quat_to_matrix(qb)
    want_r = np.array([[np.mean([np.arccos(np.clip((np.trace(ra[i, j].T @ rb[k, j]) - 1) / 2, -1, 1))
                                 for j in range(5)]) for k in range(4)] for i in range(7)])
    for block in (metrics.BLOCK_BYTES, 1):  # one block, and one row per block
        monkeypatch.setattr(metrics, "BLOCK_BYTES", block)
        np.testing.assert_allclose(position_distances(a, b), want_p, rtol=1e-12)
        np.testing.assert_allclose(rotation_distances(qa, qb), want_r, atol=1e-6)


def test_pose_features_ignore_heading_and_scale(humanoid):
    rig, poses = humanoid
    rng = np.random.default_rng(1)
    up = rig.up_vector().astype(np.float64)
    yaw = rng.uniform(-np.pi, np.pi, len(poses))
    rest = rig.rest_rotations[0].astype(np.float64)
    # turn the whole body about the world up axis: root delta' = rest^-1 * R_yaw * rest * delta
    turn = axis_angle_to_quat(up[None] * yaw[:, None])
    q = poses.rotations.astype(np.float64).copy()
    q[:, 0] = quat_multiply(quat_conjugate(rest)[None], quat_multiply(turn, quat_multiply(rest[None], q[:, 0])))
    turned = Poses(q, poses.root_translation + rng.normal(size=(len(poses), 3)))
    f0, f1 = pose_features(rig, poses), pose_features(rig, turned)
    np.testing.assert_allclose(f0, f1, atol=2e-5)
    assert np.abs(pose_features(rig, poses, False) - pose_features(rig, turned, False)).max() > 0.05
    assert np.allclose(f0[:, 0], 0)
    assert pose_distance(rig, poses, turned).max() < 2e-5
    assert pose_distance(rig, poses, turned, "rotation").max() > 0.01


# ----- fidelity metrics -----------------------------------------------------------------------------------------
def test_one_nna_same_distribution_is_half_and_disjoint_is_one():
    rng = np.random.default_rng(2)
    same = [fidelity(rng.normal(size=(200, 4, 3)), rng.normal(size=(200, 4, 3)))["1nna"] for _ in range(3)]
    assert abs(np.mean(same) - 0.5) < 0.06
    far = fidelity(rng.normal(size=(50, 4, 3)) + 100, rng.normal(size=(60, 4, 3)))
    assert far["1nna"] == 1.0
    copied = rng.normal(size=(40, 4, 3))
    assert fidelity(copied, copied.copy())["1nna"] == 0.0  # memorizing is caught as well (below 0.5)


def test_one_nna_matches_loop():
    rng = np.random.default_rng(3)
    s, r = rng.normal(size=(9, 2, 3)), rng.normal(size=(6, 2, 3))
    pts = np.concatenate([s, r])
    label = [0] * 9 + [1] * 6
    correct = 0
    for i in range(15):
        d = [np.inf if k == i else np.linalg.norm(pts[i] - pts[k], axis=-1).mean() for k in range(15)]
        correct += label[int(np.argmin(d))] == label[i]
    got = one_nna(position_distances(s, s), position_distances(s, r), position_distances(r, r))
    assert got == pytest.approx(correct / 15)


def test_coverage_mmd_apd():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(30, 3, 3))
    res = fidelity(ref.copy(), ref)
    assert res["cov"] == 1.0 and res["mmd"] == 0.0
    s = rng.normal(size=(12, 3, 3))
    d = position_distances(s, ref)
    matched = {int(np.argmin(d[i])) for i in range(12)}
    assert coverage(d) == pytest.approx(len(matched) / 30)
    assert mmd(d) == pytest.approx(np.mean([d[:, k].min() for k in range(30)]))
    pairs = [position_distances(s[i : i + 1], s[k : k + 1])[0, 0] for i in range(12) for k in range(12) if i != k]
    assert apd(position_distances(s, s)) == pytest.approx(np.mean(pairs))
    assert apd(np.zeros((1, 1))) == 0.0


def test_self_intersection_rate_uses_detector(humanoid):
    rig, poses = humanoid

    def below_hips(r, p):  # a real (if crude) detector: any wrist below the hips
        pos = joint_positions(r, p)
        return np.minimum(pos[:, 8, 1], pos[:, 12, 1]) < pos[:, 0, 1]

    want = float(np.mean(below_hips(rig, poses)))
    assert self_intersection_rate(rig, poses, below_hips) == pytest.approx(want)
    assert self_intersection_rate(rig, poses, lambda r, p: np.zeros(len(p), int)) == 0.0
    with pytest.raises(ValueError):
        self_intersection_rate(rig, poses, lambda r, p: np.zeros(3))


# ----- corruptions ----------------------------------------------------------------------------------------------
def _subtree(parents, j):
    inside = np.zeros(len(parents), bool)
    inside[j] = True
    for k in range(j + 1, len(parents)):
        inside[k] |= inside[parents[k]]
    return inside


def _child_axis(rig, j):
    kids = np.flatnonzero(rig.parents == j)
    v = rig.rest_translations[kids].astype(np.float64).mean(axis=0)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("rig_name", ["humanoid", "horse"])
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_shape_units_determinism(request, rig_name, kind):
    rig, poses = _rig_poses(request, rig_name)
    poses = poses[np.arange(0, len(poses), 4)]
    out, desc = CORRUPTIONS[kind](rig, poses, seed=7, reference=poses)
    again = CORRUPTIONS[kind](rig, poses, seed=7, reference=poses)
    assert out.rotations.shape == poses.rotations.shape and len(desc) == len(poses)
    np.testing.assert_allclose(np.linalg.norm(out.rotations, axis=-1), 1, atol=1e-6)
    np.testing.assert_array_equal(out.root_translation, poses.root_translation)
    np.testing.assert_array_equal(out.rotations, again.poses.rotations)
    assert pose_distance(rig, poses, out, "rotation").min() > 0  # every pose changed


@pytest.mark.parametrize("rig_name", ["humanoid", "horse"])
def test_twist_turns_about_the_bone_past_90_degrees(request, rig_name):
    rig, poses = _rig_poses(request, rig_name)
    res = CORRUPTIONS["twist"](rig, poses, seed=1)
    before, after = joint_positions(rig, poses), joint_positions(rig, res.poses)
    for i in range(len(poses)):
        changed = np.flatnonzero(np.abs(res.poses.rotations[i] - quat_normalize(poses.rotations[i])).max(-1) > 1e-5)
        assert len(changed) == 1 and changed[0] == res.joints[i] and changed[0] != 0
        j = changed[0]
        a = _child_axis(rig, j)
        r_old, r_new = quat_to_matrix(poses.rotations[i, j].astype(np.float64)), quat_to_matrix(
            res.poses.rotations[i, j].astype(np.float64))
        np.testing.assert_allclose(r_new @ a, r_old @ a, atol=1e-5)  # the bone stays where it was
        # twist from rest, measured as the angle a vector across the bone turns once the swing is undone
        b = r_new @ a
        axis = np.cross(a, b)
        swing = (quat_to_matrix(axis_angle_to_quat(axis / np.linalg.norm(axis) * np.arccos(np.clip(a @ b, -1, 1))))
                 if np.linalg.norm(axis) > 1e-9 else np.eye(3))
        perp = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        twisted = swing.T @ r_new @ perp
        angle = np.degrees(np.arccos(np.clip(twisted @ perp / (perp @ perp), -1, 1)))
        assert angle >= 99.9, (i, res.descriptions[i])
        kids = np.flatnonzero(rig.parents == j)  # several children: their mean stays, not each one
        np.testing.assert_allclose(after[i, kids].mean(0), before[i, kids].mean(0), atol=1e-4 * rig.height())


def test_random_rotation_changes_one_to_three_joints(humanoid):
    rig, poses = humanoid
    res = CORRUPTIONS["random_rotation"](rig, poses, seed=2)
    counts = []
    for i in range(len(poses)):
        d = 2 * np.arccos(np.clip(np.abs(np.sum(res.poses.rotations[i] * poses.rotations[i], -1)), 0, 1))
        changed = np.flatnonzero(d > 1e-4)
        assert 1 <= len(changed) <= 3 and 0 not in changed
        counts.append(len(changed))
    assert set(counts) == {1, 2, 3}


@pytest.mark.parametrize("rig_name", ["humanoid", "horse"])
def test_hyperextension_goes_far_past_the_data(request, rig_name):
    rig, poses = _rig_poses(request, rig_name)
    res = CORRUPTIONS["hyperextension"](rig, poses, seed=3, reference=poses)
    ref_v = quat_to_axis_angle(poses.rotations.astype(np.float64))
    for i in range(len(poses)):
        j = res.joints[i]
        v = quat_to_axis_angle(res.poses.rotations[i, j].astype(np.float64))
        angle = np.linalg.norm(v)
        direction = v / angle
        along = ref_v[:, j] @ direction  # how far the data rotates this joint the same way
        assert np.degrees(angle) >= 99.9
        assert np.degrees(angle - along.max()) >= 44.9, res.descriptions[i]
        assert along.mean() <= 1e-9  # against the usual bend
        others = np.delete(np.arange(rig.num_joints), j)
        np.testing.assert_allclose(res.poses.rotations[i, others], poses.rotations[i, others], atol=1e-6)


def test_hyperextension_prefers_hinges(horse):
    c, poses = horse
    res = CORRUPTIONS["hyperextension"](c.rig, poses, seed=4, reference=poses)
    kinds = {c.limits.kinds[j] for j in res.joints}
    assert "hinge" in kinds


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0, 1)
    return np.linalg.norm(p - (a + t * ab))


@pytest.mark.parametrize("rig_name,trunk", [("humanoid", ["hips", "spine", "chest"]),
                                             ("horse", ["pelvis", "spine_01", "spine_02", "spine_03"])])
def test_through_body_puts_a_limb_inside_the_trunk(request, rig_name, trunk):
    rig, poses = _rig_poses(request, rig_name)
    res = CORRUPTIONS["through_body"](rig, poses, seed=5)
    trunk = [rig.joint_index(n) for n in trunk]
    after = joint_positions(rig, res.poses).astype(np.float64)
    before = joint_positions(rig, poses).astype(np.float64)
    radius = body_layout(rig).radius
    inside = 0
    for i in range(len(poses)):
        c = res.joints[i]
        moved = _subtree(rig.parents, c)
        moved[c] = False
        np.testing.assert_allclose(after[i, ~moved], before[i, ~moved], atol=1e-4 * rig.height())
        # the limb moved rigidly about its root joint
        d0 = np.linalg.norm(before[i, moved] - before[i, c], axis=1)
        np.testing.assert_allclose(np.linalg.norm(after[i, moved] - after[i, c], axis=1), d0, atol=1e-4)
        segs = [(after[i, trunk[k]], after[i, trunk[k + 1]]) for k in range(len(trunk) - 1)]
        dist = min(_segment_distance(p, a, b) for p in after[i, moved] for a, b in segs)
        inside += dist < radius
    assert inside >= 0.9 * len(poses)
    assert radius < 0.15 * rig.height()


def _changed_joints(before: Poses, after: Poses) -> np.ndarray:
    """(J,) bool: the joints some pose of ``after`` turned away from ``before`` (sign-blind quaternion compare)."""
    dot = np.abs(np.sum(after.rotations.astype(np.float64) * quat_normalize(before.rotations.astype(np.float64)), -1))
    return (dot < 1 - 1e-6).any(axis=0)  # float32 rounding: about 0.2 degrees


def test_corruptible_joints_of_a_skeleton_labelled_by_hand():
    """The helper-joint rule's skeleton (tests/test_helper_joints.py): ground 0 and its zero-length end 14 above
    the body, pelvis 1 (the body root), helpers 6-9 and 15, and the leaves and the toe (whose only child is a
    helper) whose turn moves nothing; the rest may be corrupted."""
    from test_helper_joints import RULE_PARENTS, RULE_POSITIONS

    from vips.rig import Rig

    local = RULE_POSITIONS - np.where(RULE_PARENTS[:, None] >= 0, RULE_POSITIONS[np.maximum(RULE_PARENTS, 0)], 0)
    rig = Rig([f"j{j}" for j in range(len(RULE_PARENTS))], RULE_PARENTS, local,
              np.tile([1.0, 0, 0, 0], (len(RULE_PARENTS), 1)))
    np.testing.assert_array_equal(np.flatnonzero(corruptible_joints(rig)), [2, 3, 4, 11, 12, 16, 17, 18, 19, 21])


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruptions_turn_no_helper_joint(humanoid, kind):
    """On the humanoid given twist, share and end helper bones, every corruption turns joints of the body only."""
    from test_helper_joints import on_helper_rig, with_helpers

    rig, poses = humanoid
    helped, index = with_helpers(rig)
    body = np.zeros(helped.num_joints, bool)
    body[index] = True
    shows = corruptible_joints(helped)
    assert not shows[~body].any() and shows[index[1:]].sum() >= rig.num_joints - 8  # not the hips, nor a few leaves
    frames = on_helper_rig(poses[::4], index, helped.num_joints)
    res = CORRUPTIONS[kind](helped, frames, seed=11, reference=frames)
    changed = _changed_joints(frames, res.poses)
    assert changed.any() and not changed[~shows].any(), np.asarray(helped.joint_names)[changed & ~shows]


def test_corruptions_leave_the_ground_bone_and_ik_targets_of_a_real_rig_alone():
    """Quaternius' knight (tests/data/ik_rigs, CC0): ground bone 'Bone' and body root 'Body' (their turn turns the
    whole body) and the pole targets beside the body on the ground bone (they deform nothing): no corruption turns
    them. Its IK feet ride on their legs once loaded (:mod:`vips.limb_targets`) and are turned like any foot."""
    import warnings

    import vips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(str(IK_RIGS / "KnightCharacter.glb"))
    left_out = {"Bone", "Body", "PoleTarget.L", "PoleTarget.R"}
    expected = np.array([name not in left_out for name in rig.joint_names])
    np.testing.assert_array_equal(corruptible_joints(rig), expected)
    rng = np.random.default_rng(0)
    frames = Poses(quat_normalize(rng.normal([1, 0, 0, 0], 0.2, (24, rig.num_joints, 4))).astype(np.float32),
                   np.zeros((24, 3), np.float32))
    for kind, corrupt in CORRUPTIONS.items():
        changed = _changed_joints(frames, corrupt(rig, frames, seed=3, reference=frames).poses)
        assert changed.any() and not changed[~expected].any(), (kind, np.asarray(rig.joint_names)[changed & ~expected])


def test_through_body_needs_a_limb():
    from vips.rig import Rig

    chain = Rig(["a", "b"], np.array([-1, 0]), np.array([[0, 0, 0], [0, 1.0, 0]]), np.tile([1.0, 0, 0, 0], (2, 1)))
    with pytest.raises(ValueError, match="limb"):
        CORRUPTIONS["through_body"](chain, Poses.identity(2, 2))


# ----- baselines ------------------------------------------------------------------------------------------------
def test_gaussian_logpdf_and_fit(toy_case):
    from scipy.stats import multivariate_normal

    rig, train, _ = toy_case
    g = GaussianPrior.fit(rig, train)
    pose = train[3]
    v = quat_to_axis_angle(quat_multiply(quat_conjugate(g.mean), pose.rotations[0].astype(np.float64)))
    want = sum(multivariate_normal(np.zeros(3), g.cov[j]).logpdf(v[j]) for j in range(rig.num_joints))
    want += multivariate_normal(g.root_mean, g.root_cov).logpdf(pose.root_translation[0])
    assert g.score(rig, pose)[0] == pytest.approx(want, rel=1e-6)
    big = g.sample(rig, 4000, seed=1)
    g2 = GaussianPrior.fit(rig, big, eps_rad=0.0, eps_root=0.0)
    np.testing.assert_allclose(np.abs(np.sum(g2.mean * g.mean, -1)), 1, atol=2e-3)
    np.testing.assert_allclose(g2.cov, g.cov, atol=0.1 * np.abs(g.cov).max())


def test_gaussian_separates_training_poses_from_twists(toy_case):
    rig, train, _ = toy_case
    g = GaussianPrior.fit(rig, train)
    twisted = CORRUPTIONS["twist"](rig, train, seed=0).poses
    assert auroc(g.score(rig, train), g.score(rig, twisted)) > 0.9


def test_nearest_neighbour_baseline(toy_case):
    rig, train, held = toy_case
    nn = NearestNeighbour.fit(rig, train)
    np.testing.assert_allclose(nn.score(rig, train), 0, atol=1e-3)
    assert (nn.score(rig, held) < 0).all()
    s = nn.sample(rig, 50, seed=0)
    assert rotation_distances(s.rotations, train.rotations).min(axis=1).max() < 1e-3
    assert len(nn.sample(rig, 500, seed=0)) == 500


@pytest.mark.parametrize("given", [True, False])
def test_uniform_limits_baseline(horse, given):
    c, poses = horse
    u = UniformLimits.fit(c.rig, poses, c.limits if given else None)
    s = u.sample(c.rig, 200, seed=0)
    np.testing.assert_allclose(u.score(c.rig, s), 0, atol=1e-6)
    if given:
        assert c.limits.violation(s.rotations).max() < 1e-5
    else:
        np.testing.assert_allclose(u.score(c.rig, poses), 0, atol=1e-6)
    twisted = CORRUPTIONS["twist"](c.rig, poses, seed=0).poses
    assert np.mean(u.score(c.rig, twisted) < 0) > 0.8


# ----- report ---------------------------------------------------------------------------------------------------
def test_report_end_to_end(toy_case, tmp_path):
    rig, train, held = toy_case
    model = GaussianPrior.fit(rig, train)
    result = evaluate(rig, train, held, model.sample, model.score, n_samples=60, seed=0, out_dir=tmp_path,
                      detector=lambda r, p: np.zeros(len(p)))
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["rig"]["name"] == "toy_eval"
    for name in ("auroc.png", "fidelity.png", "pose_map.png"):
        from PIL import Image

        assert Image.open(tmp_path / name).size[0] > 400
    auc = on_disk["plausibility_auroc"]
    assert set(auc) == {"model", "gaussian", "nearest_neighbour", "uniform_limits"}
    for method in auc.values():
        for k in CORRUPTIONS:
            if k in method:
                assert 0 <= method[k] <= 1
    assert auc["model"]["twist"] == auc["gaussian"]["twist"]  # the same model, the same seeds
    # The procedural report keeps its four corruptions; turned_joints belongs to the real-motion section.
    assert set(on_disk["corruptions"]) == set(PROCEDURAL_CORRUPTIONS) and "turned_joints" not in auc["model"]
    fid = on_disk["fidelity"]
    assert set(fid) == {"training_data", "model", "gaussian", "nearest_neighbour", "uniform_limits"}
    assert len(held) < 2 * 60  # too few held-out poses for a second, disjoint draw: no heldout_data row
    assert fid["model"]["n_samples"] == fid["model"]["n_reference"] == 60
    assert on_disk["self_intersection_rate"]["model"] == 0.0 and on_disk["notes"] == []
    broken = evaluate(rig, train, held, None, model.score, baselines=False, n_samples=20,
                      corruptions=["twist"], detector=lambda r, p: np.zeros(1))
    assert broken["self_intersection_rate"]["training_data"] is None and "not measured" in broken["notes"][0]
    assert set(result["targets"]) == {"auroc_every_corruption", "1nna", "cov", "1nna_beats_baselines"}


def test_report_measures_a_second_heldout_draw_as_the_metrics_floor(toy_case):
    """With 2n held-out poses, a draw disjoint from the reference is measured as if it were samples; it is a
    yardstick, never a baseline the model must beat."""
    from vips.evaluation.evaluate import check_targets

    rig, train, held = toy_case
    model = GaussianPrior.fit(rig, train)
    result = evaluate(rig, train, held, model.sample, None, n_samples=50, seed=0, corruptions=["twist"],
                      detector=False)
    floor = result["fidelity"]["heldout_data"]
    assert floor["n_samples"] == floor["n_reference"] == 50
    assert floor["1nna"] < result["fidelity"]["uniform_limits"]["1nna"]  # same distribution: near chance
    assert floor["1nna"] < 0.75
    fid = {"model": {"1nna": 0.6, "cov": 0.5}, "gaussian": {"1nna": 0.9}, "heldout_data": {"1nna": 0.5},
           "training_data": {"1nna": 0.55}}
    assert check_targets({"plausibility_auroc": {}, "fidelity": fid})["1nna_beats_baselines"] is True
    fid["gaussian"]["1nna"] = 0.58
    assert check_targets({"plausibility_auroc": {}, "fidelity": fid})["1nna_beats_baselines"] is False


def test_report_many_rigs_and_partial_models(toy_case, humanoid, tmp_path):
    rig, train, held = toy_case
    h_rig, h_poses = humanoid
    scorer = lambda r, p: -pose_distance(r, p, Poses.identity(len(p), r.num_joints), "rotation")  # noqa: E731
    from vips.evaluation.evaluate import TARGET_GROUP

    rep = evaluate_many([EvalCase(rig, train, held, group=TARGET_GROUP), (h_rig, h_poses[:50], h_poses[50:])],
                        None, scorer, n_samples=30, corruptions=["twist", "random_rotation"], out_dir=tmp_path)
    assert set(rep["rigs"]) == {"toy_eval", h_rig.name}
    per = [r["plausibility_auroc"]["model"]["twist"] for r in rep["rigs"].values()]
    assert rep["aggregate"]["plausibility_auroc"]["model"]["twist"] == pytest.approx(np.mean(per))
    # Each group is averaged on its own; the targets are checked on the held-out species.
    assert rep["groups"][TARGET_GROUP]["rigs"] == ["toy_eval"] and rep["groups"]["rigs"]["rigs"] == [h_rig.name]
    assert rep["groups"][TARGET_GROUP]["plausibility_auroc"]["model"]["twist"] == pytest.approx(
        rep["rigs"]["toy_eval"]["plausibility_auroc"]["model"]["twist"])
    assert rep["settings"]["targets_checked_on"] == TARGET_GROUP
    want = rep["rigs"]["toy_eval"]["plausibility_auroc"]["model"]
    assert rep["targets"]["auroc_every_corruption"] == all(want[k] >= 0.95 for k in ("twist", "random_rotation"))
    assert "model" not in rep["aggregate"]["fidelity"]  # no sampler, no sample metrics
    assert rep["targets"]["1nna"] is None
    assert (tmp_path / f"pose_map_{h_rig.name}.png").exists() and (tmp_path / "auroc.png").exists()
    json.loads((tmp_path / "report.json").read_text())


def test_self_intersection_rate_reads_the_pipeline_validator(horse):
    from vips.fitting.validators import self_intersections

    rig, poses = horse[0].rig, horse[1][::40]
    flags = self_intersections(rig, poses).flags()
    assert self_intersection_rate(rig, poses) == pytest.approx(float(np.mean(flags)))


def _rows_of(rotations: np.ndarray) -> set[bytes]:
    # Rounded: building a pose set renormalizes its quaternions (float32 rounding).
    return {r.tobytes() for r in np.ascontiguousarray(np.round(rotations, 5))}


def test_dataset_cases_reference_the_species_and_fit_baselines_on_training_species(tmp_path):
    """Reference = every pose of every individual of the held-out species (carried onto the evaluated rig);
    baselines = training species of the same skeleton, else the species' other individual; one plan per case
    before a second species of a plan is taken."""
    from vips.data.dataset import BuildSettings, build_dataset
    from vips.io.shards import read_shard
    from vips.evaluation.run_model import dataset_cases

    manifest = build_dataset(tmp_path, BuildSettings(species=12, individuals=2, sequences=2, frames=10, seed=3),
                             workers=1)
    split = "test" if manifest["poses_per_split"]["test"] else "val"
    rows = [s for s in manifest["shards"] if s["split"] == split]
    shards = {(r["species"], r["individual"]): (r, read_shard(tmp_path / r["file"])) for r in manifest["shards"]}
    cases = dataset_cases(tmp_path, split, max_rigs=3)
    plans = sorted({r["plan"] for r in rows})
    assert len(cases) == min(3, len({r["species"] for r in rows}))
    assert len({c.rig.name.rsplit("_", 1)[0] for c in cases}) == len(cases)  # distinct species
    sources = set()
    for case in cases:
        species, individual = case.rig.name.rsplit("_", 1)
        mine = sorted((k[1], v[1]) for k, v in shards.items() if k[0] == species)
        assert int(individual) == mine[-1][0]
        # Every clip of both individuals; the other's root offsets scaled to this rig's height.
        own, other = mine[-1][1], mine[0][1]
        assert len(np.unique(own.clip)) > 1
        matching = [(r, sh) for r, sh in shards.values() if r["split"] == "train"
                    and np.array_equal(sh.rig.parents, case.rig.parents)]
        if matching:
            assert case.train_source == "training species with this skeleton"
            np.testing.assert_allclose(case.heldout.rotations,
                                       np.concatenate([other.poses.rotations, own.poses.rotations]), atol=1e-6)
            ratio = own.rig.height() / other.rig.height()
            np.testing.assert_allclose(case.heldout.root_translation[: len(other.poses)],
                                       other.poses.root_translation * ratio, rtol=1e-5, atol=1e-7)
            # The baselines see training poses only: all of them, from every training species of this skeleton.
            train_rows = set().union(*(_rows_of(sh.poses.rotations) for _, sh in matching))
            assert _rows_of(case.train.rotations) <= train_rows
            assert len(case.train) == sum(len(sh.poses) for _, sh in matching)
            assert not _rows_of(case.train.rotations) & _rows_of(case.heldout.rotations)
        else:
            assert case.train_source == "the species' other individual"
            np.testing.assert_allclose(case.heldout.rotations, own.poses.rotations, atol=1e-6)
            np.testing.assert_allclose(case.train.rotations, other.poses.rotations, atol=1e-6)
        sources.add(case.train_source)
    chosen_plans = [next(r["plan"] for r in rows if r["species"] == c.rig.name.rsplit("_", 1)[0]) for c in cases]
    assert len(set(chosen_plans)) == min(len(cases), len(plans))
    assert "training species with this skeleton" in sources  # this seed's data exercises the main path
    # Cases of the train split (the diagnosis script uses them) never fit baselines on their own poses.
    for case in dataset_cases(tmp_path, "train", max_rigs=4):
        assert not _rows_of(case.train.rotations) & _rows_of(case.heldout.rotations), case.rig.name


def test_carry_poses_keeps_rotations_and_scales_the_root(humanoid):
    from vips.evaluation.run_model import carry_poses

    rig, poses = humanoid
    big = copy.deepcopy(rig)
    big.rest_translations = big.rest_translations * 2.0
    if getattr(big, "vertices", None) is not None:
        big.vertices = big.vertices * 2.0
    ratio = big.height() / rig.height()
    assert ratio == pytest.approx(2.0, rel=1e-3)
    moved = carry_poses(poses, rig, big)
    np.testing.assert_array_equal(moved.rotations, poses.rotations)
    np.testing.assert_allclose(moved.root_translation, poses.root_translation * ratio, rtol=1e-6)
    other = copy.deepcopy(rig)
    other.parents = np.roll(other.parents, 1)
    with pytest.raises(ValueError, match="topology"):
        carry_poses(poses, rig, other)
