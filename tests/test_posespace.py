"""PoseSpace against a small real model (tests/data/toy_pose_space, trained on toy rigs): sampling, inversion,
traversal, manifold IK (the C++ guided loop), scoring, the ONNX and torch backends, and the C++ test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from runtime_support import toy_model_dir, toy_pairs

from vips.errors import VipsError
from vips.kinematics import joint_positions, local_transforms
from vips.pose_encoding import decode_poses, encode_poses
from vips.posespace import PoseSpace
from vips.rotations import quat_angle, quat_conjugate, quat_multiply

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pairs():
    return toy_pairs()


@pytest.fixture(scope="module")
def space(pairs):
    rig, _ = pairs[0]
    return PoseSpace(rig, toy_model_dir())


def _angle_deg(a, b) -> np.ndarray:
    return np.degrees(quat_angle(quat_multiply(quat_conjugate(a.rotations.astype(np.float64)),
                                               b.rotations.astype(np.float64))))


def test_sample_is_deterministic_by_seed(space):
    a = space.sample(3, seed=5, steps=8)
    b = space.sample(3, seed=5, steps=8)
    c = space.sample(3, seed=6, steps=8)
    assert a.rotations.shape == (3, space.num_joints, 4) and a.root_translation.shape == (3, 3)
    np.testing.assert_array_equal(a.rotations, b.rotations)
    np.testing.assert_array_equal(a.root_translation, b.root_translation)
    assert np.abs(a.rotations - c.rotations).max() > 1e-3
    assert a.name == "samples"


def test_onnx_and_torch_backends_give_the_same_poses(pairs):
    pytest.importorskip("torch")
    rig, _ = pairs[1]
    onnx = PoseSpace(rig, toy_model_dir(), backend="onnx").sample(4, seed=3, steps=10)
    torch_ = PoseSpace(rig, toy_model_dir(), backend="torch").sample(4, seed=3, steps=10)
    assert _angle_deg(onnx, torch_).max() < 0.05
    np.testing.assert_allclose(onnx.root_translation, torch_.root_translation, atol=1e-4)


def test_invert_decode_round_trip(space, pairs):
    _, poses = pairs[0]
    held = poses[np.arange(200, 206)]
    z = space.invert(held, steps=50)
    assert z.shape == (6, space.num_joints, 9) and z.dtype == np.float32
    np.testing.assert_array_equal(z, space.invert(held, steps=50))  # deterministic (eta = 0)
    assert np.all(z[:, 1:, 6:] == 0)  # masked channels stay zero
    back = space.decode(z, steps=50)
    err = _angle_deg(back, held)
    spread = _angle_deg(held[np.arange(1, 6)], held[np.arange(0, 5)])  # how far distinct poses are
    assert err.mean() < 0.25 * spread.mean(), (err.mean(), spread.mean())
    assert err.mean() < 5.0  # degrees; a tiny toy model inverts less cleanly than the default one


def test_interpolation_endpoints_and_length(space, pairs):
    _, poses = pairs[0]
    a, b = poses[210], poses[220]
    path = space.interpolate(a, b, 7, steps=20)
    assert len(path) == 7 and path.name == "traversal"
    np.testing.assert_array_equal(path.rotations[0], a.rotations[0])
    np.testing.assert_array_equal(path.rotations[-1], b.rotations[0])
    free = space.interpolate(a, b, 7, steps=50, exact_endpoints=False)
    assert _angle_deg(free[0], a).mean() < 0.25 * _angle_deg(a, b).mean()
    assert _angle_deg(free[6], b).mean() < 0.25 * _angle_deg(a, b).mean()
    # Interior steps move monotonically away from a, on average.
    d = [_angle_deg(free[i], a).mean() for i in range(7)]
    assert d[-1] > d[len(d) // 2] > d[0]


def test_interpolate_path_puts_keyframes_at_segment_starts(space, pairs):
    _, poses = pairs[0]
    keys = poses[np.array([201, 205, 209])]
    path = space.interpolate_path(keys, 4, steps=10)
    assert len(path) == 9
    for k in range(3):
        np.testing.assert_array_equal(path.rotations[4 * k], keys.rotations[k])


def _leaf(rig) -> int:
    kids = rig.children()
    depth = rig.depths()
    leaves = [j for j in range(rig.num_joints) if not kids[j]]
    return max(leaves, key=lambda j: depth[j])


def test_ik_meets_handles_and_keeps_pins(space, pairs):
    rig, poses = pairs[0]
    init = poses[230]
    p0 = joint_positions(rig, init)[0]
    leaf = _leaf(rig)
    target = p0[leaf] + np.array([0.06, -0.04, 0.05]) * rig.height()
    pin = rig.joint_names[0]
    result, report = space.solve_ik({rig.joint_names[leaf]: target}, init=init, pins=[pin], return_report=True)
    assert len(result) == 1 and result.name == "ik"
    p1 = joint_positions(rig, result)[0]
    h = rig.height()
    assert np.linalg.norm(p1[leaf] - target) <= 0.02 * h
    assert np.linalg.norm(p1[0] - p0[0]) <= 0.02 * h  # the pinned root stayed
    assert report.error.shape == (1, 2) and report.max_relative_error <= 0.02
    np.testing.assert_allclose(report.error[0, 0], np.linalg.norm(p1[leaf] - target), atol=1e-4 * h)
    assert space.last_ik_report is report
    # Plausible: scores like the data (not like a corrupted pose).
    assert space.score(result)[0][0] >= space.threshold - 0.05


def test_ik_without_init_and_with_look_at(space, pairs):
    rig, _ = pairs[0]
    rest = rig.rest_joint_positions()
    leaf = _leaf(rig)
    target = rest[leaf] + np.array([0.0, 0.05, 0.05]) * rig.height()
    res, report = space.solve_ik({rig.joint_names[leaf]: target}, steps=8, seed=1, return_report=True)
    assert report.relative_error.max() <= 0.02
    # Look-at alone: the bone from the leaf's parent to the leaf turns towards a far point.
    aim = rig.joint_names[leaf]
    point = rest[leaf] + np.array([1.0, 0.5, 0.0]) * rig.height()
    res, report = space.solve_ik({}, look_at={aim: point}, steps=8, seed=1, return_report=True)
    assert report.error.shape == (1, 0)
    assert report.aim_error_degrees.shape == (1, 1) and report.aim_error_degrees[0, 0] < 5


def test_ik_errors_name_the_problem(space):
    with pytest.raises(VipsError, match="no joint named 'nope'"):
        space.solve_ik({"nope": [0, 0, 0]})
    with pytest.raises(VipsError, match="three finite numbers"):
        space.solve_ik({space.rig.joint_names[0]: [0, 1]})
    with pytest.raises(VipsError, match="at least one handle"):
        space.solve_ik({})


def test_score_shapes_and_clean_above_corrupted(space, pairs):
    from vips.evaluation.corruptions import random_rotation, twist
    from vips.evaluation.metrics import auroc

    rig, poses = pairs[0]
    clean = poses[np.arange(200, 232)]
    scores, plausible = space.score(clean)
    assert scores.shape == (32,) and scores.dtype == np.float32
    assert plausible.shape == (32,) and plausible.dtype == bool
    np.testing.assert_array_equal(scores, space.score(clean)[0])  # deterministic
    np.testing.assert_allclose(space.score(clean[3])[0], scores[3:4], rtol=1e-5)  # independent of the batch
    bad = random_rotation(rig, clean, seed=0).poses
    bad_scores, bad_plausible = space.score(bad)
    assert auroc(scores, bad_scores) > 0.9
    assert plausible.mean() > 0.7 and bad_plausible.mean() < 0.3
    tw = twist(rig, clean, seed=0).poses
    assert space.score(tw)[0].mean() < scores.mean()


def test_joint_scores_match_a_float64_reference_and_point_at_the_corrupted_joint(space, pairs):
    """Per-joint scores against an independent loop (one denoiser call per pose and draw, float64 error), the pose
    score is the worst joint's, and a joint replaced by a random rotation is the pose's worst joint most often."""
    from vips import diffusion
    from vips.evaluation.corruptions import random_rotation

    rig, poses = pairs[0]
    clean = poses[np.arange(200, 216)]
    got = space.joint_scores(clean)
    assert got.shape == (16, rig.num_joints) and got.dtype == np.float32
    cfg = space.info.score
    x0 = encode_poses(clean, space.cond)
    live = space.mask.sum(axis=1).astype(np.float64)
    ref = np.zeros((16, rig.num_joints))
    draws = [(li, d) for li in range(len(cfg["levels"])) for d in range(cfg["draws"])]
    for i in range(16):
        for li, d in draws:
            t = float(cfg["levels"][li])
            # The fixed draw fills the live channels in order (joint-major), the masked ones stay zero.
            eps = np.zeros(x0.shape[1:], np.float32)
            drawn = space.mask > 0
            eps[drawn] = np.random.default_rng([cfg["seed"], li, d]).standard_normal(int(drawn.sum()))
            ab = float(diffusion.alpha_bar(t, space.info.shift))
            x_t = (np.sqrt(ab) * x0[i].astype(np.float64) + np.sqrt(1 - ab) * eps).astype(np.float32)
            pred = space.denoiser(x_t[None], np.array([t], np.float32), space.encoded)[0].astype(np.float64)
            # v = sqrt(ab) eps - sqrt(1 - ab) x0 and x_t = sqrt(ab) x0 + sqrt(1 - ab) eps give eps back:
            eps_hat = np.sqrt(1 - ab) * x_t + np.sqrt(ab) * pred if space.denoiser.prediction == "v" else pred
            ref[i] -= (((eps_hat - eps) * space.mask) ** 2).sum(axis=1) / live / len(draws)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-5)
    np.testing.assert_array_equal(space.score(clean)[0], got.min(axis=1))

    bad = random_rotation(rig, clean, seed=3, max_joints=1)
    worst = space.joint_scores(bad.poses).argmin(axis=1)
    assert np.mean(worst == bad.joints) > 0.5, (worst, bad.joints)


def _check_gradient(space, x, handles, grad, entries, eps: float = 1e-3) -> None:  # noqa: ANN001
    """The loop's gradient at (pose, joint, channel) ``entries`` against central differences of its energy."""
    from vips.native.guided import guided_energy_grad

    for i, j, c in entries:
        xp, xm = x.copy(), x.copy()
        xp[i, j, c] += eps
        xm[i, j, c] -= eps
        fd = (guided_energy_grad(xp, space._rig_arrays(), handles)["energy"][i]
              - guided_energy_grad(xm, space._rig_arrays(), handles)["energy"][i]) / (2 * eps)
        assert abs(fd - grad[i, j, c]) < 2e-3 * max(1.0, abs(fd)), (i, j, c, fd, grad[i, j, c])


def test_native_decode_and_gradient_match_the_python_encoding(space, pairs):
    """The C++ loop decodes pose vectors exactly as vips.pose_encoding does, and its gradient is right."""
    from vips.native.guided import GuidedHandleArrays, guided_energy_grad

    rig, poses = pairs[0]
    x = encode_poses(poses[np.arange(5)], space.cond)
    x += np.random.default_rng(0).normal(size=x.shape).astype(np.float32) * 0.1 * space.mask
    J = rig.num_joints
    handles = GuidedHandleArrays(np.array([J - 1, 2], np.int32), np.random.default_rng(1).normal(size=(2, 3))
                                 .astype(np.float32), np.array([1.0, 0.5], np.float32), np.zeros(0, np.int32),
                                 np.zeros(0, np.int32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    out = guided_energy_grad(x, space._rig_arrays(), handles)
    rot, trans = local_transforms(rig, decode_poses(x, space.cond))
    dots = np.abs((out["local_rotations"].astype(np.float64) * rot).sum(-1))
    assert dots.min() > 1 - 1e-5
    np.testing.assert_allclose(out["local_translations"], trans, atol=1e-5)
    np.testing.assert_allclose(out["positions"], joint_positions(rig, decode_poses(x, space.cond)), atol=1e-4)
    # Energy against a float64 reference and its gradient against central differences.
    p = joint_positions(rig, decode_poses(x, space.cond)).astype(np.float64)
    ref = (np.array([1.0, 0.5]) * ((p[:, [J - 1, 2]] - handles.targets) ** 2).sum(-1)).sum(-1) / rig.height() ** 2
    np.testing.assert_allclose(out["energy"], ref, rtol=1e-4)
    _check_gradient(space, x, handles, out["grad"], [(0, J - 1, 0), (1, 2, 4), (2, 1, 2), (3, 0, 7), (4, J - 2, 5)])


def test_prior_free_baselines_reach_the_handle(pairs):
    from vips.ik_baselines import ccd, fabrik

    rig, poses = pairs[0]
    init = poses[230]
    leaf = _leaf(rig)
    p0 = joint_positions(rig, init)[0]
    target = p0[leaf] + np.array([0.05, -0.05, 0.03]) * rig.height()
    for solve in (ccd, fabrik):
        res = solve(rig, {rig.joint_names[leaf]: target}, init=init, iterations=30)
        err = np.linalg.norm(joint_positions(rig, res)[0, leaf] - target)
        assert err < 0.01 * rig.height(), (solve.__name__, err)


def test_unknown_model_folder_and_backend_fail_clearly(pairs, tmp_path):
    rig, _ = pairs[0]
    with pytest.raises(VipsError, match="no such model folder"):
        PoseSpace(rig, tmp_path / "missing")
    with pytest.raises(VipsError, match="unknown backend"):
        PoseSpace(rig, toy_model_dir(), backend="tensorflow")
    # A model of the earlier pose encoding (no "pose_encoding" key, as vips 0.1 wrote) would read tokens wrongly.
    import json

    old = tmp_path / "old_model"
    shutil.copytree(toy_model_dir(), old)
    meta = json.loads((old / "model.json").read_text())
    del meta["pose_encoding"]
    (old / "model.json").write_text(json.dumps(meta))
    with pytest.raises(VipsError, match="trained on pose encoding 1"):
        PoseSpace(rig, old)


def test_cpp_guided_loop_test_executable(tmp_path):
    """Builds csrc/guided/test_guided.cpp with CMake (VIPS_BUILD_TESTS=ON, no Python module) and runs it."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found")
    build = REPO / "build" / "cpp-tests"  # kept between runs (ignored by git) so rebuilds are incremental
    try:
        build.mkdir(parents=True, exist_ok=True)
    except OSError:
        build = tmp_path / "cpp-tests"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run([cmake, "-S", str(REPO), "-B", str(build), *gen, "-DVIPS_PYTHON=OFF", "-DVIPS_CUDA=OFF",
                    "-DVIPS_BUILD_TESTS=ON", "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(build), "--target", "test_guided"], check=True, capture_output=True)
    run = subprocess.run([str(build / "test_guided")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passed (0 failures)" in run.stdout


def test_traversal_turns_evenly_and_blends_the_reconstruction_error(space, pairs):
    """The path is rebuilt here from the diffusion primitives: keyframes turned to their rest facing, latents
    slerped, decoded, each keyframe's reconstruction error added with a cubic falloff (float64), then turned
    from one keyframe's heading to the next the shorter way."""
    from vips import diffusion
    from vips.kinematics import root_heading, turn_root
    from vips.pose_encoding import decode_poses, encode_poses

    rig, poses = pairs[0]
    keys = turn_root(rig, poses[np.array([203, 211, 219])], np.array([0.3, 2.9, -2.8]))  # 2.9 -> -2.8: short way
    n, steps = 4, 12
    exact = space.interpolate_path(keys, n, steps=steps)
    free = space.interpolate_path(keys, n, steps=steps, exact_endpoints=False)
    heading = root_heading(rig, keys)
    facing = turn_root(rig, keys, -heading)
    z = space.invert(facing, steps)
    x0 = diffusion.sample(space.denoiser, space.encoded,
                          np.stack([diffusion.slerp(z[k:k + 1], z[k + 1:k + 2], m / n)[0]
                                    for k in range(2) for m in range(n)] + [z[2]]),
                          steps, channel_mask=space.mask, spacing=space.info.spacing)
    residual = encode_poses(facing, space.cond).astype(np.float64) - x0[[0, n, 2 * n]]
    want = x0.astype(np.float64)
    for k in range(2):
        for m in range(n):
            want[k * n + m] += (1 - m / n) ** 3 * residual[k] + (m / n) ** 3 * residual[k + 1]
    want[2 * n] += residual[2]
    turn = np.array([heading[0] + (heading[1] - heading[0]) * m / n for m in range(n)] +
                    [heading[1] + np.angle(np.exp(1j * (heading[2] - heading[1]))) * m / n for m in range(n)] +
                    [heading[2]])
    ref = turn_root(rig, decode_poses(want, space.cond), turn)
    assert _angle_deg(exact, ref).max() < 0.05
    for k in range(3):
        np.testing.assert_array_equal(exact.rotations[k * n], keys.rotations[k])
    # A smaller jump next to each keyframe than pasting the keyframe over the free path's end would leave.
    for k, step in ((0, 1), (2, 2 * n - 1)):
        assert _angle_deg(exact[step], keys[k]).mean() < _angle_deg(free[step], keys[k]).mean()


def _grounded(pairs, control=None):
    """The first toy rig with a ground bone (and a control bone) above its root, and its poses turned and moved
    on the ground by the ground bone (root motion), as game rigs store them."""
    from test_pose_encoding import _poses_with_ground, with_ground_root

    from vips.poses import Poses
    from vips.rotations import axis_angle_to_quat

    rig, poses = pairs[0]
    if rig.bind_matrices is None:
        from vips.rig import Rig

        rig = Rig(rig.joint_names, rig.parents, rig.rest_translations, rig.rest_rotations,
                  bind_matrices=rig.rest_world_matrices(), vertices=rig.vertices, skin_indices=rig.skin_indices,
                  skin_weights=rig.skin_weights, name=rig.name)
    grounded = with_ground_root(rig, control)
    n = grounded.num_joints - rig.num_joints
    moved = _poses_with_ground(poses, n)
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-np.pi, np.pi, len(poses))
    rot = moved.rotations.copy()
    rot[:, 0] = axis_angle_to_quat(yaw[:, None] * np.array([0.0, 1.0, 0.0]))
    shift = np.zeros((len(poses), 3))
    shift[:, [0, 2]] = rng.normal(size=(len(poses), 2)) * rig.height()
    return rig, poses, grounded, Poses(rot, moved.root_translation + shift), n


@pytest.mark.parametrize("control", [None, 0.8])
def test_scores_do_not_see_a_ground_bone_or_where_the_body_stands(pairs, control):
    """The same bodies on the toy rig and on the rig with a ground (and control) bone above it, turned and moved
    by root motion: the model sees the same tokens, so scores are equal (the joints above the body are masked
    out of the model exactly)."""
    rig, poses, grounded, moved, n = _grounded(pairs, control)
    a = PoseSpace(rig, toy_model_dir()).joint_scores(poses[np.arange(0, 64, 4)])
    b = PoseSpace(grounded, toy_model_dir()).joint_scores(moved[np.arange(0, 64, 4)])
    np.testing.assert_allclose(b[:, n:], a, rtol=1e-4, atol=1e-5)
    assert not b[:, :n].any()  # no score for the bones above the body


def test_ik_on_a_rig_with_a_ground_bone_meets_world_targets(pairs):
    """The loop runs on unplaced poses: targets are taken into that frame and the result placed back."""
    _, _, rig, moved, n = _grounded(pairs)
    space = PoseSpace(rig, toy_model_dir())
    init = moved[230]
    p0 = joint_positions(rig, init)[0]
    leaf = _leaf(rig)
    target = p0[leaf] + np.array([0.05, -0.03, 0.04]) * rig.height()
    body = rig.joint_names[n]
    result, report = space.solve_ik({rig.joint_names[leaf]: target}, init=init, pins=[body], return_report=True)
    p1 = joint_positions(rig, result)[0]
    h = rig.height()
    assert np.linalg.norm(p1[leaf] - target) <= 0.02 * h
    assert np.linalg.norm(p1[n] - p0[n]) <= 0.02 * h
    np.testing.assert_allclose(report.error[0], [np.linalg.norm(p1[leaf] - target), np.linalg.norm(p1[n] - p0[n])],
                               atol=1e-4 * h)
    # It stands and faces where the init did: the ground bone keeps the init's heading and ground position.
    np.testing.assert_allclose(p1[0, [0, 2]], p0[0, [0, 2]], atol=0.02 * h)


def test_native_decode_matches_python_on_a_rig_with_a_ground_bone(pairs):
    from vips.native.guided import GuidedHandleArrays, guided_energy_grad

    _, _, rig, moved, n = _grounded(pairs, 0.8)
    space = PoseSpace(rig, toy_model_dir())
    x = encode_poses(moved[np.arange(4)], space.cond)
    x += np.random.default_rng(2).normal(size=x.shape).astype(np.float32) * 0.1 * space.mask
    J = rig.num_joints
    handles = GuidedHandleArrays(np.array([J - 1, n], np.int32), np.random.default_rng(3).normal(size=(2, 3))
                                 .astype(np.float32), np.array([1.0, 0.5], np.float32), np.zeros(0, np.int32),
                                 np.zeros(0, np.int32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    out = guided_energy_grad(x, space._rig_arrays(), handles)
    want = joint_positions(rig, decode_poses(x, space.cond))
    np.testing.assert_allclose(out["positions"], want, atol=1e-4)
    _check_gradient(space, x, handles, out["grad"], [(0, J - 1, 0), (1, n, 7), (2, n, 3), (3, n + 1, 1)])
    assert not out["grad"][:, :n].any()


def test_samples_do_not_see_a_ground_bone(pairs):
    """Same seed, same bodies, with or without a ground and a control bone above the pelvis."""
    rig, _, grounded, _, n = _grounded(pairs, 0.8)
    a = PoseSpace(rig, toy_model_dir()).sample(4, seed=3, steps=8)
    b = PoseSpace(grounded, toy_model_dir()).sample(4, seed=3, steps=8)
    np.testing.assert_allclose(joint_positions(grounded, b)[:, n:], joint_positions(rig, a), atol=1e-4 * rig.height())
    np.testing.assert_allclose(b.rotations[:, :n, 1:], 0, atol=1e-6)  # the bones above stay at rest


def test_balanced_threshold_matches_a_brute_force_search():
    from vips.posespace import balanced_threshold

    rng = np.random.default_rng(0)
    valid = {"procedural": rng.normal(0.0, 1.0, 300), "real": rng.normal(-1.0, 1.5, 40)}
    bad = {"procedural": rng.normal(-3.0, 1.0, 500), "real": rng.normal(-4.0, 2.0, 90)}
    t, table = balanced_threshold(valid, bad)

    def objective(th: float) -> float:
        return float(np.mean([0.5 * (np.mean(valid[g] >= th) + np.mean(bad[g] < th)) for g in valid]))

    best = max(np.concatenate(list(valid.values())), key=objective)
    assert objective(t) == pytest.approx(objective(best), abs=1e-12)
    assert table["real"]["passed"] == pytest.approx(np.mean(valid["real"] >= t))
    assert table["real"]["caught"] == pytest.approx(np.mean(bad["real"] < t))
    assert table["procedural"]["valid_poses"] == 300 and table["real"]["corrupted_poses"] == 90
    with pytest.raises(VipsError, match="every group"):
        balanced_threshold({"a": np.ones(3)}, {"b": np.ones(3)})


def _toy_model_scored_by(folder: Path, **score) -> Path:
    """``folder``, a copy of the toy model (made on first use) with ``score`` written into its model.json's score
    settings."""
    import json

    if not folder.exists():
        shutil.copytree(toy_model_dir(), folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["score"].update(score)
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


def test_score_reductions_follow_the_model_settings(pairs, tmp_path):
    """``score.reduce`` "mean" / "rms" / "min" reduce the joints' denoising errors (joints the model sees only);
    ``score.relative`` divides by the same reduction's median over 32 of the model's own samples on the rig;
    an unknown reduction is refused naming the setting."""
    from vips.posespace import REFERENCE_SAMPLES, REFERENCE_STEPS

    rig, poses = pairs[0]
    clean = poses[np.arange(10)]
    folder = tmp_path / "model"
    reductions = {"mean": lambda e: e.mean(axis=1), "rms": lambda e: np.sqrt((e ** 2).mean(axis=1)),
                  "min": lambda e: e.max(axis=1)}
    for reduce, error in reductions.items():
        for relative in (False, True):
            space = PoseSpace(rig, _toy_model_scored_by(folder, reduce=reduce, relative=relative))
            want = -error(-space.joint_scores(clean).astype(np.float64))
            if relative:
                samples = space.sample(REFERENCE_SAMPLES, seed=space.info.score["seed"], steps=REFERENCE_STEPS)
                want = want / np.median(error(-space.joint_scores(samples).astype(np.float64)))
            np.testing.assert_allclose(space.score(clean)[0], want, rtol=1e-5)
    with pytest.raises(VipsError, match="score.reduce"):
        PoseSpace(rig, _toy_model_scored_by(folder, reduce="median"))


def test_score_over_the_body_joints_leaves_out_what_moves_nothing(assets_dir, tmp_path):
    """``score.joints`` "body" reduces over the joints that shape the body only (vips.body.judged_joints), "all"
    (the default) over every joint the model sees; another value is refused naming the setting."""
    import vips
    from vips.body import judged_joints

    rig = vips.load(assets_dir / "bvh" / "walk.bvh")  # no skin: its end bones (leaves) move nothing
    clean = next(iter(rig.clips.values()))[np.arange(6)]
    folder = _toy_model_scored_by(tmp_path / "model", reduce="min", relative=False, joints="body")
    space = PoseSpace(rig, folder)
    live = space.cond.joint_mask > 0
    judged = live & judged_joints(rig, space.cond.body_root)
    assert 0 < judged.sum() < live.sum()
    np.testing.assert_array_equal(space.scored_joints, judged)
    want = -(-space.joint_scores(clean).astype(np.float64))[:, judged].max(axis=1)
    np.testing.assert_allclose(space.score(clean)[0], want, rtol=1e-5)
    every = PoseSpace(rig, _toy_model_scored_by(folder, joints="all"))
    np.testing.assert_array_equal(every.scored_joints, live)
    want = -(-every.joint_scores(clean).astype(np.float64))[:, live].max(axis=1)
    np.testing.assert_allclose(every.score(clean)[0], want, rtol=1e-5)
    # "visible": the joints whose turn shows; on this skeleton-only rig, every seen joint but the leaves.
    shown = PoseSpace(rig, _toy_model_scored_by(folder, joints="visible"))
    leaves = np.array([not any(p == j for p in rig.parents) for j in range(rig.num_joints)])
    np.testing.assert_array_equal(shown.scored_joints, live & ~leaves)
    want = -(-shown.joint_scores(clean).astype(np.float64))[:, live & ~leaves].max(axis=1)
    np.testing.assert_allclose(shown.score(clean)[0], want, rtol=1e-5)
    with pytest.raises(VipsError, match="score.joints"):
        PoseSpace(rig, _toy_model_scored_by(folder, joints="limbs"))


def test_rest_baseline_counts_only_the_error_above_the_rest_pose(pairs, tmp_path):
    """``score.baseline`` "rest": each joint's error minus the median of its error over 16 poses within a few
    degrees of the rest pose, 0 where below (against float64 numpy on the un-based-lined errors); the near-rest
    poses are seeded and near the rest; a joint turned far is still the worst joint most often; the pose score is
    the reduction of those excesses; "none" is the plain error; another value, or the rest baseline with a relative
    score, is refused naming the settings."""
    from vips.evaluation.corruptions import random_rotation
    from vips.posespace import REST_JITTER_DEGREES, REST_POSES, near_rest_poses

    rig, poses = pairs[0]
    clean = poses[np.arange(200, 216)]
    folder = _toy_model_scored_by(tmp_path / "model", reduce="rms", relative=False, baseline="none")
    plain = PoseSpace(rig, folder)
    seed = plain.info.score["seed"]

    near = near_rest_poses(rig.num_joints, seed=seed)
    assert len(near) == REST_POSES
    turned = np.degrees(quat_angle(near.rotations.astype(np.float64)))
    assert 0 < np.median(turned) < 2 * REST_JITTER_DEGREES and turned.max() < 6 * REST_JITTER_DEGREES
    np.testing.assert_array_equal(near.rotations, near_rest_poses(rig.num_joints, seed=seed).rotations)
    assert not np.array_equal(near.rotations, near_rest_poses(rig.num_joints, seed=seed + 1).rotations)

    raw = -plain.joint_scores(clean).astype(np.float64)
    np.testing.assert_allclose(raw, plain.denoising_errors(clean), rtol=1e-6)
    rest = np.median(-plain.joint_scores(near).astype(np.float64), axis=0)
    np.testing.assert_allclose(plain.rest_errors(), rest, rtol=1e-5)

    based = PoseSpace(rig, _toy_model_scored_by(folder, baseline="rest"))
    want = -np.maximum(raw - rest, 0.0)
    np.testing.assert_allclose(based.joint_scores(clean), want, rtol=1e-5, atol=1e-7)
    assert (want == 0).any() and (want < 0).any()  # some joints below their rest error, some above
    live = based.cond.joint_mask > 0
    np.testing.assert_allclose(based.score(clean)[0], -np.sqrt((want[:, live] ** 2).mean(axis=1)), rtol=1e-5)

    bad = random_rotation(rig, clean, seed=3, max_joints=1)
    worst = based.joint_scores(bad.poses).argmin(axis=1)
    assert np.mean(worst == bad.joints) > 0.5, (worst, bad.joints)

    with pytest.raises(VipsError, match="score.baseline"):
        PoseSpace(rig, _toy_model_scored_by(folder, baseline="samples"))
    with pytest.raises(VipsError, match="score.relative and score.baseline"):
        PoseSpace(rig, _toy_model_scored_by(folder, baseline="rest", relative=True))


def test_ik_warns_naming_the_handle_that_misses_and_keeps_the_report(space, pairs):
    import warnings

    from vips.errors import IKWarning

    rig, poses = pairs[0]
    leaf, h = _leaf(rig), rig.height()
    name = rig.joint_names[leaf]
    far = rig.rest_joint_positions()[leaf] + np.array([0.0, 3.0, 0.0]) * h  # beyond the whole rig's reach
    with pytest.warns(IKWarning, match=rf"^solve_ik: handle '{name}' ends [0-9.e+-]+ units \([0-9.]+% of the rig's "
                      r"height\) from its target;") as caught:
        result = space.solve_ik({name: far}, init=poses[3], pins=[rig.joint_names[0]])
    assert len([w for w in caught if issubclass(w.category, IKWarning)]) == 1
    assert len(result) == 1  # the pose is still returned...
    report = space.last_ik_report  # ...and so is the report
    miss = float(np.linalg.norm(joint_positions(rig, result)[0, leaf] - far))
    assert report.relative_error[0, 0] > 0.05 and report.error[0, 0] == pytest.approx(miss, rel=1e-3)
    message = str(caught[0].message)
    err, rel = float(report.error[0, 0]), float(report.relative_error[0, 0])
    assert f"{err:.4g} units ({rel:.1%}" in message and "the tolerance is 5.0% of the height" in message
    assert report.kinds == ["handle", "pin"] and 0 in report.missed()
    assert (f"pin '{rig.joint_names[0]}' ends" in message) == (1 in report.missed())
    # Several poses: the worst one is named, with how many miss.
    with pytest.warns(IKWarning, match=r"of 2 poses miss\)"):
        space.solve_ik({name: far}, init=poses[3:5], pins=[rig.joint_names[0]])
    # A tolerance that the miss fits in, or none, is silent; the report is the same either way.
    with warnings.catch_warnings():
        warnings.simplefilter("error", IKWarning)
        _, quiet = space.solve_ik({name: far}, init=poses[3], pins=[rig.joint_names[0]], return_report=True,
                                  tolerance=10.0)
        space.solve_ik({name: far}, init=poses[3], tolerance=None)
    np.testing.assert_allclose(quiet.error, report.error, rtol=1e-5)
    with pytest.raises(VipsError, match="tolerance must be"):
        space.solve_ik({name: far}, tolerance=-0.1)


def test_ik_that_meets_its_handles_does_not_warn(space, pairs):
    import warnings

    from vips.errors import IKWarning

    rig, poses = pairs[0]
    leaf = _leaf(rig)
    target = joint_positions(rig, poses[230])[0, leaf] + np.array([0.06, -0.04, 0.05]) * rig.height()
    with warnings.catch_warnings():
        warnings.simplefilter("error", IKWarning)
        space.solve_ik({rig.joint_names[leaf]: target}, init=poses[230], pins=[rig.joint_names[0]])
    assert space.last_ik_report.missed() == []
