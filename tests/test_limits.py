"""Joint limits (vips.limits): the swing-twist angles and the estimator against brute-force float64 references on
synthetic poses with known limits, containment and clamping, JSON / USD / glTF round trips (the USD applied API
read by usd-core in a fresh process), CCD and FABRIK inside the limits, PoseSpace.joint_limits and `vips limits`
end to end with the small test model."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from runtime_support import toy_model_dir, toy_pairs
from typer.testing import CliRunner

import vips
from vips.errors import VipsError
from vips.limits import (
    SwingTwistLimits,
    estimate_limits,
    from_swing_twist,
    limit_frames,
    load_limits,
    project_box_disk,
    swing_twist_angles,
    trimmed_bounds,
    widened_toward,
)
from vips.poses import Poses
from vips.rotations import quat_normalize, quat_to_matrix


@pytest.fixture(scope="module")
def toy():
    rig, poses = toy_pairs()[1]
    return rig, poses


def _random_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return quat_normalize(rng.normal(size=shape + (4,)))


def _reference_angles(q: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, float]:
    """Swing vector (s_u, s_v) and twist angle of one rotation, from its matrix (float64, no quaternion split):
    the swing is the shortest turn from the twist axis a to R a; the twist is what the swing leaves, about a."""
    u, v, a = frame
    R = quat_to_matrix(q)
    d = R @ a
    axis = np.cross(a, d)
    s = np.linalg.norm(axis)
    angle = np.arctan2(s, a @ d)
    swing_axis = axis / s if s > 1e-12 else u
    K = np.array([[0, -swing_axis[2], swing_axis[1]], [swing_axis[2], 0, -swing_axis[0]],
                  [-swing_axis[1], swing_axis[0], 0]])
    S = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K  # Rodrigues
    T = S.T @ R
    tu = T @ u
    return angle * np.array([swing_axis @ u, swing_axis @ v]), float(np.arctan2(tu @ v, tu @ u))


# ----- angles -------------------------------------------------------------------------------------------------
def test_swing_twist_angles_match_a_matrix_reference(toy):
    rig, _ = toy
    rng = np.random.default_rng(0)
    frames = limit_frames(rig)
    np.testing.assert_allclose(np.einsum("jab,jcb->jac", frames, frames), np.broadcast_to(np.eye(3), frames.shape),
                               atol=1e-12)
    assert np.all(np.linalg.det(frames) > 0)
    q = _random_quats(rng, (40, rig.num_joints))
    s, t = swing_twist_angles(q, frames)
    for i in range(len(q)):
        for j in range(rig.num_joints):
            ref_s, ref_t = _reference_angles(q[i, j], frames[j])
            np.testing.assert_allclose(s[i, j], ref_s, atol=1e-9)
            assert abs(np.angle(np.exp(1j * (t[i, j] - ref_t)))) < 1e-9
    back = from_swing_twist(s, t, frames)
    np.testing.assert_allclose(back, q, atol=1e-12)


def test_leaves_twist_about_their_incoming_bone(toy):
    rig, _ = toy
    frames = limit_frames(rig)
    leaves = [j for j, kids in enumerate(rig.children()) if not kids]
    rest = quat_to_matrix(rig.rest_rotations.astype(np.float64))
    for j in leaves:
        incoming = rest[j].T @ rig.rest_translations[j].astype(np.float64)
        np.testing.assert_allclose(frames[j, 2], incoming / np.linalg.norm(incoming), atol=1e-6)


# ----- estimation: brute force and known limits ------------------------------------------------------------
def _brute_force(values: np.ndarray, radius: np.ndarray, coverage: float):
    """Per joint, equal weights: the tail count m (alpha = m / N) is the largest with m / N <= 1 - coverage that
    keeps coverage inside; bounds drop floor(m / 2) values off each end of the twist and swing components and m
    off the top of the swing angle. Plain loops over sorted float64 lists."""
    N, J, _ = values.shape
    lower, upper, cone = np.zeros((J, 3)), np.zeros((J, 3)), np.zeros(J)
    for j in range(J):
        best = None
        for m in range(0, N):
            if m > (1 - coverage) * N + 1e-9:
                break
            cols = [sorted(float(x) for x in values[:, j, c]) for c in range(3)]
            lo = [col[m // 2] for col in cols]
            hi = [col[N - 1 - m // 2] for col in cols]
            top = sorted(float(r) for r in radius[:, j])[N - 1 - m]
            inside = sum(all(lo[c] <= values[i, j, c] <= hi[c] for c in range(3)) and radius[i, j] <= top
                         for i in range(N))
            if inside >= coverage * N - 1e-9:
                best = (lo, hi, top)
        lower[j], upper[j], cone[j] = best
    return lower, upper, cone


def _synthetic(rng: np.random.Generator, n: int, twist=(-0.4, 0.9), su=(-0.2, 1.2), sv=(-0.3, 0.3), cone=1.0):
    """n (swing, twist) draws uniform in a known box of (twist, s_u, s_v) cut by the cone |s| <= cone."""
    out_s, out_t = [], []
    while sum(len(s) for s in out_s) < n:
        s = np.stack([rng.uniform(*su, size=4 * n), rng.uniform(*sv, size=4 * n)], axis=1)
        s = s[np.linalg.norm(s, axis=1) <= cone]
        out_s.append(s)
        out_t.append(rng.uniform(*twist, size=len(s)))
    return np.concatenate(out_s)[:n], np.concatenate(out_t)[:n]


def _poses_from_angles(rig, swing: np.ndarray, twist: np.ndarray) -> Poses:
    """Poses whose every joint has the given swing (N, 2) and twist (N,) in its own limit frame."""
    frames = limit_frames(rig)
    J = rig.num_joints
    q = from_swing_twist(np.repeat(swing[:, None], J, axis=1), np.repeat(twist[:, None], J, axis=1), frames)
    return Poses(q.astype(np.float32), np.zeros((len(q), 3), np.float32))


@pytest.mark.parametrize("coverage", [0.9, 0.97, 1.0])
def test_estimate_matches_brute_force(toy, coverage):
    rig, poses = toy
    poses = poses[:64]  # weights 1/64: cumulative weights are exact in binary floating point
    limits = estimate_limits(rig, poses, coverage)
    s, t = swing_twist_angles(poses.rotations.astype(np.float64), limits.frames)
    values = np.stack([t, s[..., 0], s[..., 1]], axis=-1)
    lower, upper, cone = _brute_force(values, np.linalg.norm(s, axis=-1), coverage)
    np.testing.assert_allclose(limits.twist, np.stack([lower[:, 0], upper[:, 0]], 1), atol=1e-9)
    np.testing.assert_allclose(limits.swing[:, :, 0], lower[:, 1:], atol=1e-9)
    np.testing.assert_allclose(limits.swing[:, :, 1], upper[:, 1:], atol=1e-9)
    np.testing.assert_allclose(limits.cone, cone, atol=1e-9)
    assert np.all(limits.achieved >= coverage - 1e-12)
    np.testing.assert_allclose(limits.contains(poses, tolerance=1e-9).mean(axis=0), limits.achieved, atol=1e-12)


def test_trimmed_bounds_match_a_weighted_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    w = rng.uniform(0.1, 2.0, size=50)
    w /= w.sum()
    alpha = np.array([0.0, 0.013, 0.05, 0.2])
    lo, hi = trimmed_bounds(x, w, alpha)
    for k in range(4):
        order = np.argsort(x[:, k])
        cum = 0.0
        for i in order:  # the first value whose cumulative weight (itself included) passes alpha
            cum += w[i]
            if cum > alpha[k]:
                assert lo[k] == x[i, k]
                break
        cum = 0.0
        for i in order[::-1]:
            cum += w[i]
            if cum > alpha[k]:
                assert hi[k] == x[i, k]
                break
    assert lo[0] == x[:, 0].min() and hi[0] == x[:, 0].max()


def test_estimate_recovers_known_limits(toy):
    rig, _ = toy
    rng = np.random.default_rng(7)
    swing, twist = _synthetic(rng, 20000)
    limits = estimate_limits(rig, _poses_from_angles(rig, swing, twist), coverage=0.99)
    # 1 % of the poses outside, split over five bounds: each bound at most ~1 % of its width inside the truth.
    np.testing.assert_allclose(limits.twist, np.broadcast_to([-0.4, 0.9], (rig.num_joints, 2)), atol=0.02)
    # s_u's box reaches 1.2 but the cone stops it at 1.0 (where s_v = 0).
    np.testing.assert_allclose(limits.swing[:, 0], np.broadcast_to([-0.2, 1.0], (rig.num_joints, 2)), atol=0.03)
    np.testing.assert_allclose(limits.swing[:, 1], np.broadcast_to([-0.3, 0.3], (rig.num_joints, 2)), atol=0.02)
    np.testing.assert_allclose(limits.cone, 1.0, atol=0.03)
    assert np.all(limits.twist[:, 0] >= -0.4 - 1e-6) and np.all(limits.cone <= 1.0 + 1e-6)
    fresh = _poses_from_angles(rig, *_synthetic(np.random.default_rng(8), 4000))
    share = limits.contains(fresh).mean(axis=0)
    assert np.all((share > 0.97) & (share < 0.999)), share


def test_twist_range_across_pi_stays_one_short_interval(toy):
    rig, _ = toy
    rng = np.random.default_rng(1)
    twist = np.angle(np.exp(1j * rng.uniform(2.8, 3.5, size=3000)))  # wraps from +pi to -pi
    swing = rng.uniform(-0.1, 0.1, size=(3000, 2))
    limits = estimate_limits(rig, _poses_from_angles(rig, swing, twist), coverage=1.0)
    np.testing.assert_allclose(limits.twist[:, 1] - limits.twist[:, 0], 0.7, atol=0.01)
    inside = _poses_from_angles(rig, np.zeros((2, 2)), np.array([np.pi, -3.0]))
    outside = _poses_from_angles(rig, np.zeros((2, 2)), np.array([0.0, 2.5]))
    assert limits.contains(inside).all() and not limits.contains(outside).any()


def test_weights_and_bad_arguments(toy):
    rig, poses = toy
    a, b = poses[:100], poses[100:200]
    only_a = estimate_limits(rig, [a, b], 1.0, weights=[np.ones(100), np.zeros(100)])
    np.testing.assert_allclose(only_a.cone, estimate_limits(rig, a, 1.0).cone)
    with pytest.raises(VipsError, match="coverage"):
        estimate_limits(rig, a, 0.0)
    with pytest.raises(VipsError, match="weights"):
        estimate_limits(rig, a, 0.9, weights=-np.ones(100))


# ----- limits of an animation widened toward the pose space's --------------------------------------------------
def _box_limits(rig, twist, su, sv, cone, n=6000, seed=0):
    """Limits at coverage 1 of poses uniform in a known box (so the bounds are known to ~1e-3)."""
    swing, t = _synthetic(np.random.default_rng(seed), n, twist, su, sv, cone)
    poses = _poses_from_angles(rig, swing, t)
    return estimate_limits(rig, poses, 1.0), poses


@pytest.mark.parametrize("margin", [0.0, 0.2, 0.5, np.inf])
def test_widening_toward_wider_limits_is_capped_by_the_margin(toy, margin):
    rig, _ = toy
    inner, frames = _box_limits(rig, (-0.2, 0.2), (-0.1, 0.3), (-0.2, 0.2), 0.35)
    outer, _ = _box_limits(rig, (-1.0, 0.25), (-0.5, 0.9), (-0.1, 0.8), 1.0, seed=1)
    out = widened_toward(inner, outer, margin, frames)
    for key in ("twist", "swing"):
        lo_in, hi_in = getattr(inner, key)[..., 0], getattr(inner, key)[..., 1]
        lo_out, hi_out = getattr(outer, key)[..., 0], getattr(outer, key)[..., 1]
        half = np.inf if np.isinf(margin) else margin * (hi_in - lo_in) / 2
        # independent of the code's clipping: each side moves to the outer bound or by half the margin, the nearer
        expect_lo = np.where(lo_out < lo_in, np.maximum(lo_out, lo_in - half), lo_in)
        expect_hi = np.where(hi_out > hi_in, np.minimum(hi_out, hi_in + half), hi_in)
        np.testing.assert_allclose(getattr(out, key)[..., 0], expect_lo, atol=1e-12)
        np.testing.assert_allclose(getattr(out, key)[..., 1], expect_hi, atol=1e-12)
    np.testing.assert_allclose(out.cone, np.minimum(outer.cone, inner.cone * (1 + margin)), atol=1e-12)
    widths, own = out.widths(), inner.widths()
    for key in widths:  # never wider than the animation's own range widened by the margin
        assert np.all(widths[key] <= own[key] * (1 + margin) + 1e-9)
    assert np.all(out.achieved == 1.0) and out.contains(frames).all()


def test_widening_keeps_a_twist_range_across_pi_one_interval(toy):
    rig, _ = toy
    inner, frames = _box_limits(rig, (2.9, 3.3), (-0.1, 0.1), (-0.1, 0.1), 0.2)  # across +pi
    outer, _ = _box_limits(rig, (2.5, 3.6), (-0.1, 0.1), (-0.1, 0.1), 0.2, seed=1)
    out = widened_toward(inner, outer, 0.5, frames)
    np.testing.assert_allclose(out.twist[:, 1] - out.twist[:, 0], 0.4 * 1.5, atol=0.01)
    np.testing.assert_allclose(out.twist.mean(axis=1) % (2 * np.pi), 3.1, atol=0.01)
    narrower, _ = _box_limits(rig, (3.0, 3.1), (-0.05, 0.05), (-0.05, 0.05), 0.1, seed=2)
    same = widened_toward(inner, narrower, 0.5, frames)  # the outer limits lie inside: nothing moves
    np.testing.assert_allclose(same.twist, inner.twist, atol=1e-12)
    np.testing.assert_allclose(same.cone, inner.cone, atol=1e-12)
    with pytest.raises(VipsError, match="same joints"):
        widened_toward(inner, SwingTwistLimits(inner.joint_names[:1], inner.frames[:1], inner.twist[:1],
                                               inner.swing[:1], inner.cone[:1]), 0.2, frames)


# ----- containment and clamping ----------------------------------------------------------------------------
def test_clamp_projects_into_the_limits_and_keeps_what_is_inside(toy):
    rig, poses = toy
    limits = estimate_limits(rig, poses, 0.95)
    q = _random_quats(np.random.default_rng(2), (200, rig.num_joints))
    assert limits.violation(q).max() > 0.5
    clamped = limits.clamp(q)
    assert limits.violation(clamped).max() < 1e-9
    inside = limits.contains(poses, tolerance=0.0)
    kept = limits.clamp(poses.rotations)
    np.testing.assert_array_equal(kept[inside], poses.rotations.astype(np.float64)[inside])
    one = limits.clamp(q, joints=[2])
    np.testing.assert_array_equal(np.delete(one, 2, axis=1), np.delete(q, 2, axis=1))
    np.testing.assert_allclose(limits.clamp_joint(2, q[5, 2]), clamped[5, 2], atol=1e-12)


def test_box_disk_projection_is_the_nearest_feasible_point():
    rng = np.random.default_rng(4)
    box = np.array([[[-0.3, 1.2], [-0.5, 0.4]], [[0.2, 2.0], [-1.0, 1.0]]])
    radius = np.array([1.0, 1.1])
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 801), np.linspace(-2, 2, 801)), -1).reshape(-1, 2)
    points = rng.uniform(-2.5, 2.5, size=(60, 2, 2))
    proj = project_box_disk(points, box, radius)
    for j in range(2):
        ok = np.all((grid >= box[j, :, 0]) & (grid <= box[j, :, 1]), axis=1) & (np.linalg.norm(grid, axis=1)
                                                                                  <= radius[j])
        feasible = grid[ok]
        for p, x in zip(points[:, j], proj[:, j]):
            assert np.all(x >= box[j, :, 0] - 1e-9) and np.all(x <= box[j, :, 1] + 1e-9)
            assert np.linalg.norm(x) <= radius[j] + 1e-9
            assert np.linalg.norm(p - x) <= np.linalg.norm(feasible - p, axis=1).min() + 1e-9


# ----- files ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written(toy, tmp_path_factory):
    rig, poses = toy
    limits = estimate_limits(rig, poses, 0.99, info={"model_id": "test"})
    folder = tmp_path_factory.mktemp("limits")
    return rig, limits, {s: limits.save(folder / f"limits.{s}", rig) for s in ("json", "usda", "usdc", "glb")}


@pytest.mark.parametrize("suffix", ["json", "usda", "usdc", "glb"])
def test_round_trip(written, suffix):
    rig, limits, paths = written
    back = load_limits(paths[suffix])
    atol = 1e-6 if suffix.startswith("usd") else 1e-12  # USD stores float32
    assert back.joint_names == limits.joint_names and back.info == limits.info
    for name in ("frames", "twist", "swing", "cone", "achieved"):
        np.testing.assert_allclose(getattr(back, name), getattr(limits, name), atol=atol, err_msg=name)
    assert back.coverage == pytest.approx(limits.coverage)
    back.check_rig(rig)
    if suffix != "json":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert vips.load(paths[suffix]).joint_names == rig.joint_names  # still an asset every reader takes


def test_gltf_extras_on_skin_and_joint_nodes(written):
    from vips.io.gltf_format import parse_file

    rig, limits, paths = written
    doc = parse_file(paths["glb"]).json
    skin = doc["skins"][0]
    assert skin["extras"]["vips_joint_limits"]["format"] == "vips-joint-limits/1"
    for node, name in zip(skin["joints"], rig.joint_names):
        entry = doc["nodes"][node]["extras"]["vips_joint_limit"]
        assert entry["name"] == name and doc["nodes"][node]["name"] == name
        assert len(entry["twist_deg"]) == 2 and entry["swing_cone_deg"] >= 0


READ_USD = """
import json, sys
import vips
from pxr import Usd, UsdSkel, UsdValidation
stage = Usd.Stage.Open(sys.argv[1])
skel = next(p for p in stage.Traverse() if p.IsA(UsdSkel.Skeleton))
reg = Usd.SchemaRegistry()
definition = reg.FindAppliedAPIPrimDefinition("VipsJointLimitsAPI")
errors = UsdValidation.ValidationContext(UsdValidation.ValidationRegistry().GetOrLoadAllValidators()).Validate(stage)
print(json.dumps({"applied": list(skel.GetAppliedSchemas()), "has_api": skel.HasAPI("VipsJointLimitsAPI"),
                  "properties": list(definition.GetPropertyNames()),
                  "pose_set_api": reg.FindAppliedAPIPrimDefinition("VipsPoseSetAPI") is not None,
                  "cone": [float(x) for x in skel.GetAttribute("vips:jointLimits:swingCone").Get()],
                  "joints": len(skel.GetAttribute("joints").Get()), "errors": [e.GetMessage() for e in errors]}))
"""


def test_usd_applied_api_in_a_fresh_process(written, tmp_path):
    rig, limits, paths = written
    script = tmp_path / "read.py"
    script.write_text(READ_USD)
    done = subprocess.run([sys.executable, str(script), str(paths["usda"])], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "VipsJointLimitsAPI" in out["applied"] and out["has_api"] and out["pose_set_api"]
    assert {"vips:jointLimits:twistRange", "vips:jointLimits:swingCone", "vips:jointLimits:twistAxis"} <= set(
        out["properties"])
    assert out["joints"] == rig.num_joints and out["errors"] == []
    np.testing.assert_allclose(out["cone"], np.degrees(limits.cone), rtol=1e-6)


def test_bad_documents_and_mismatched_rigs(written, tmp_path):
    rig, limits, paths = written
    doc = limits.to_json()
    with pytest.raises(VipsError, match="not a joint-limits document"):
        SwingTwistLimits.from_json({"format": "other"})
    broken = json.loads(json.dumps(doc))
    del broken["joints"][1]["twist_deg"]
    with pytest.raises(VipsError, match="joint 1 is malformed"):
        SwingTwistLimits.from_json(broken)
    flipped = json.loads(json.dumps(doc))
    flipped["joints"][0]["twist_deg"] = [10.0, -10.0]
    with pytest.raises(VipsError, match="lower <= upper"):
        SwingTwistLimits.from_json(flipped)
    other, _ = toy_pairs()[0]
    with pytest.raises(VipsError, match="do not fit rig"):
        limits.check_rig(other)
    with pytest.raises(VipsError):
        limits.save(tmp_path / "limits.txt", rig)


# ----- IK baselines --------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["ccd", "fabrik"])
def test_ik_baselines_stay_inside_the_limits(toy, solver):
    from vips import ik_baselines
    from vips.kinematics import joint_positions

    rig, poses = toy
    limits = estimate_limits(rig, poses, 0.95)
    init = limits.clamp_poses(poses[:1])
    leaf = max((j for j, kids in enumerate(rig.children()) if not kids), key=lambda j: rig.depths()[j])
    target = joint_positions(rig, init)[0, leaf] + 0.3 * rig.height() * np.array([0.2, -0.5, 0.3])
    solve = getattr(ik_baselines, solver)
    free = solve(rig, {rig.joint_names[leaf]: target}, init=init)
    held = solve(rig, {rig.joint_names[leaf]: target}, init=init, limits=limits)
    assert limits.violation(free).max() > 0.05  # the target asks for more than the limits allow
    assert limits.violation(held).max() < 1e-5
    moved = np.flatnonzero(np.abs(held.rotations[0] - init.rotations[0]).max(axis=1) > 0)
    chain = set(ik_baselines._ancestors(rig, leaf))
    assert set(moved) <= chain
    start = np.linalg.norm(joint_positions(rig, init)[0, leaf] - target)
    assert np.linalg.norm(joint_positions(rig, held)[0, leaf] - target) < start  # still reaches towards it
    with pytest.raises(VipsError, match="do not fit rig"):
        solve(toy_pairs()[0][0], {"joint_1": target}, limits=limits)


# ----- pose space and CLI ------------------------------------------------------------------------------------
def test_pose_space_joint_limits(toy, assets_dir):
    from vips.posespace import PoseSpace

    rig, _ = toy
    space = PoseSpace(rig, toy_model_dir())
    limits = space.joint_limits(n_samples=48, coverage=0.9, steps=4, seed=2)
    assert limits.info["samples"] == 48 and limits.info["clip_frames"] == 0
    assert limits.info["model_id"] == "toy-pose-space" and np.all(limits.achieved >= 0.9)
    again = space.joint_limits(n_samples=48, coverage=0.9, steps=4, seed=2)
    np.testing.assert_array_equal(again.twist, limits.twist)
    samples = space.sample(48, seed=2, steps=4)
    np.testing.assert_allclose(limits.contains(samples, 1e-9).mean(axis=0), limits.achieved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        animated = vips.load(assets_dir / "gltf" / "RiggedSimple.glb")
    space = PoseSpace(animated, toy_model_dir())
    with_clips = space.joint_limits(n_samples=16, coverage=1.0, steps=4)
    frames = Poses.concatenate(list(animated.clips.values()))
    assert with_clips.info["clip_frames"] == len(frames) and with_clips.info["clip_margin"] == 0.2
    assert with_clips.contains(frames, 1e-6).all()  # coverage 1: every frame inside
    own = estimate_limits(animated, frames, 1.0).widths()  # the animation's own range
    model = space.joint_limits(n_samples=16, coverage=1.0, steps=4, clips=False)
    assert model.info["clip_frames"] == 0 and model.contains(space.sample(16, seed=0, steps=4), 1e-6).all()
    for key, width in with_clips.widths().items():  # within 20 % of the animation's range, the model's at most
        assert np.all(width <= own[key] * 1.2 + 1e-9), key
    hull = space.joint_limits(n_samples=16, coverage=1.0, steps=4, clip_margin=np.inf)
    everything = Poses.concatenate([space.sample(16, seed=0, steps=4), frames])
    assert hull.contains(everything, 1e-6).all()  # up to the model's limits: every sample and frame inside
    with pytest.raises(VipsError, match="clip_margin"):
        space.joint_limits(n_samples=4, steps=2, clip_margin=-0.1)


def test_cli_writes_every_format(tmp_path):
    from vips.cli import app

    outs = [tmp_path / f"cesium.{s}" for s in ("json", "usda", "glb")]
    args = ["limits", "example:CesiumMan", "-n", "24", "--steps", "4", "--coverage", "0.95", "--model",
            str(toy_model_dir()), "--json"]
    for out in outs:
        args += ["-o", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["model_id"] == "toy-pose-space" and summary["samples"] == 24 and summary["clip_frames"] > 0
    loaded = [load_limits(p) for p in outs]
    assert summary["joints"] == loaded[0].num_joints == 19
    for other in loaded[1:]:
        np.testing.assert_allclose(other.cone, loaded[0].cone, atol=1e-6)
    text = CliRunner().invoke(app, args[:-7] + ["--model", str(toy_model_dir()), "-o", str(tmp_path / "t.json")])
    assert text.exit_code == 0 and "wrote" in text.output and "cone" in text.output
    bad = CliRunner().invoke(app, ["limits", "example:CesiumMan", "-o", str(tmp_path / "x.txt")])
    assert bad.exit_code == 1 and "joint limits is written as" in bad.output
    bad = CliRunner().invoke(app, ["limits", "example:CesiumMan", "-o", str(tmp_path / "x.json"), "--coverage", "0"])
    assert bad.exit_code == 1 and "--coverage" in bad.output and not (tmp_path / "x.json").exists()
    bad = CliRunner().invoke(app, ["limits", "example:CesiumMan", "-o", str(tmp_path / "x.json"), "--clip-margin",
                                   "-0.5"])
    assert bad.exit_code == 1 and "--clip-margin" in bad.output and not (tmp_path / "x.json").exists()


# ----- the truth checks of vips.benchmarks.limits ------------------------------------------------------------------
def test_iou_against_an_euler_box_and_tightness(toy):
    from vips.benchmarks.limits import limits_iou, tightness
    from vips.data.creatures.limits import euler_to_quat

    rig, _ = toy
    rng = np.random.default_rng(5)
    lower, upper = np.array([-0.6, -0.2, -0.3]), np.array([0.8, 0.2, 0.3])
    angles = rng.uniform(lower, upper, size=(3000, rig.num_joints, 3))
    q = euler_to_quat(angles, "XYZ")
    inside_box = estimate_limits(rig, Poses(q.astype(np.float32), np.zeros((3000, 3), np.float32)), 1.0)
    near = limits_iou(inside_box, 2, lower, upper, "XYZ", draws=40_000)
    far = limits_iou(inside_box, 2, lower + 2.0, upper + 2.0, "XYZ", draws=40_000)
    assert 0.4 < near <= 1.0 and far == 0.0
    own = estimate_limits(rig, Poses(q[:500].astype(np.float32), np.zeros((500, 3), np.float32)), 1.0)
    assert tightness(inside_box, own).all()  # 3000 draws of the same box: no wider than 500 of them + 20 %
    wide = SwingTwistLimits(own.joint_names, own.frames, own.twist * 1.5 + [[-0.1, 0.1]], own.swing, own.cone)
    assert not tightness(wide, own).any()
