"""Motion between keyframes (vips.animation, PoseSpace.animate, `vips animate`) with the small test model."""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pytest
from runtime_support import toy_model_dir, toy_pairs
from typer.testing import CliRunner

from vips import animation
from vips.cli import app
from vips.errors import VipsError
from vips.io.pose_set import read_pose_set, write_pose_set
from vips.kinematics import joint_positions
from vips.poses import Poses
from vips.posespace import PoseSpace

TIMES = [0.0, 0.5, 1.1, 1.6]
FPS = 30.0


def _plausible_keys(rig_index: int) -> tuple[PoseSpace, Poses]:
    """(space, keys): a toy rig with four of its poses that the toy model scores plausible."""
    rig, poses = toy_pairs()[rig_index]
    space = PoseSpace(rig, toy_model_dir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = np.flatnonzero(space.score(poses[:64])[1])
    return space, poses[np.random.default_rng(0).choice(ok, len(TIMES), replace=False)]


@pytest.fixture(scope="module")
def toy():
    """(space, keys) of the first toy rig."""
    return _plausible_keys(0)


@pytest.fixture(scope="module")
def clip(toy):
    space, keys = toy
    return space.animate(keys, TIMES, FPS, return_report=True)


def test_frame_times_put_keys_on_frames():
    ft, kf = animation.frame_times([1.0, 1.5, 2.02], 24)
    assert len(ft) == 25 and kf.tolist() == [0, 12, 24]
    np.testing.assert_allclose(ft, 1.0 + np.arange(25) / 24)
    with pytest.raises(VipsError, match="same frame"):
        animation.frame_times([0, 0.01], 30)
    with pytest.raises(VipsError, match="increasing"):
        animation.frame_times([0, 1, 0.5], 30)
    with pytest.raises(VipsError, match="3 keys but 2 times"):
        animation.frame_times([0, 1], 30, num_keys=3)
    with pytest.raises(VipsError, match="fps"):
        animation.frame_times([0, 1], 0)


def test_natural_cubic_spline_matches_scipy():
    from scipy.interpolate import CubicSpline

    rng = np.random.default_rng(1)
    knots = np.cumsum(rng.uniform(0.2, 1.0, 6))
    values = rng.normal(size=(6, 4, 3))
    at = np.linspace(knots[0], knots[-1], 57)
    ours = animation.natural_cubic_spline(knots, values, at)
    np.testing.assert_allclose(ours, CubicSpline(knots, values, bc_type="natural")(at), atol=1e-12)
    line = animation.natural_cubic_spline(knots[:2], values[:2], at[:5])
    np.testing.assert_allclose(line, CubicSpline(knots[:2], values[:2], bc_type="natural")(at[:5]), atol=1e-12)


def test_clip_covers_the_times_and_hits_every_key(toy, clip):
    space, keys = toy
    poses, report = clip
    rig = space.rig
    assert len(poses) == round((TIMES[-1] - TIMES[0]) * FPS) + 1 and poses.fps == FPS
    assert report.key_frames.tolist() == [0, 15, 33, 48]
    at_keys = joint_positions(rig, poses[report.key_frames])
    assert np.abs(at_keys - joint_positions(rig, keys)).max() <= 1e-4 * rig.height()
    # No jump into or out of a key: frame-to-frame steps stay those of the spline through the keys.
    def steps(p):
        return np.linalg.norm(np.diff(joint_positions(rig, p), axis=0), axis=-1).max(axis=1)

    assert steps(poses).max() <= 1.25 * steps(animation.spline_poses(keys, TIMES, FPS)).max()


def _fk64(rig, poses: Poses) -> np.ndarray:
    """Brute-force float64 forward kinematics: (F, J, 3) world joint positions."""
    def matrix(q):
        w, x, y, z = q / np.linalg.norm(q)
        return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])

    out = np.zeros((len(poses), rig.num_joints, 3))
    for f in range(len(poses)):
        rot = [None] * rig.num_joints
        for j in range(rig.num_joints):
            local = matrix(rig.rest_rotations[j].astype(np.float64)) @ matrix(poses.rotations[f, j].astype(np.float64))
            t = rig.rest_translations[j].astype(np.float64) + (poses.root_translation[f] if j == 0 else 0.0)
            p = rig.parents[j]
            if p < 0:
                rot[j], out[f, j] = local, t
            else:
                rot[j], out[f, j] = rot[p] @ local, out[f, p] + rot[p] @ t
    return out


def test_jerk_matches_a_float64_reference(toy, clip):
    space, _ = toy
    poses, report = clip
    rig = space.rig
    pos = _fk64(rig, poses)
    ref = np.array([max(abs(pos[f + 3, j, a] - 3 * pos[f + 2, j, a] + 3 * pos[f + 1, j, a] - pos[f, j, a])
                        for j in range(rig.num_joints) for a in range(3)) for f in range(len(poses) - 3)])
    ref /= rig.height()
    assert report.jerk.shape == (len(poses) - 3,)
    np.testing.assert_allclose(report.jerk, ref, atol=2e-6)
    np.testing.assert_allclose(animation.frame_jerk(pos, rig.height()), ref, atol=1e-12)


def test_on_the_manifold_and_smooth(toy, clip):
    space, keys = toy
    poses, report = clip
    rig = space.rig
    assert report.plausible_fraction >= 0.95
    spline = animation.spline_poses(keys, TIMES, FPS)
    slerp = animation.slerp_poses(keys, TIMES, FPS)
    spline_jerk = animation.clip_jerk(rig, spline).max()
    # The target is 2x of the C2 spline's jerk; piecewise slerp (C0 at the keys) is far above it.
    assert report.max_jerk <= 2.0 * spline_jerk
    assert animation.clip_jerk(rig, slerp).max() > 4 * spline_jerk
    # Strength 0 is the spline itself.
    flat = space.animate(keys, TIMES, FPS, strength=0.0)
    np.testing.assert_allclose(joint_positions(rig, flat), joint_positions(rig, spline), atol=1e-5 * rig.height())


def test_jerk_budget_holds_by_smoothing_more():
    space, keys = _plausible_keys(2)
    rig = space.rig
    spline_jerk = animation.clip_jerk(rig, animation.spline_poses(keys, TIMES, FPS)).max()
    _, loose = animation.animate(space, keys, TIMES, FPS, strength=0.6, smoothing=0.0, jerk_budget=None, score=False)
    _, tight = animation.animate(space, keys, TIMES, FPS, strength=0.6, smoothing=0.0, jerk_budget=1.05, score=False)
    assert loose.max_jerk > 1.5 * spline_jerk  # unsmoothed, the projection is jerkier than the spline here
    assert tight.max_jerk <= 1.05 * spline_jerk and tight.smoothing > 0
    assert np.isnan(tight.plausible_fraction) and len(tight.scores) == 0


def test_projection_is_deterministic_and_seeded(toy):
    space, keys = toy
    a = space.animate(keys[:2], [0, 0.5], FPS, seed=3)
    b = space.animate(keys[:2], [0, 0.5], FPS, seed=3)
    c = space.animate(keys[:2], [0, 0.5], FPS, seed=4)
    np.testing.assert_array_equal(a.rotations, b.rotations)
    assert not np.array_equal(a.rotations[5], c.rotations[5])


def _planted_keys(space, keys, foot: str) -> Poses:
    """keys[0] and keys[1] moved by manifold IK so that ``foot`` stands where keys[0] has it."""
    rig = space.rig
    spot = joint_positions(rig, keys[0])[0, rig.joint_index(foot)]
    second = space.solve_ik({foot: spot}, init=keys[1], tolerance=None)
    return Poses.concatenate([keys[0], second])


def test_contacts_keep_planted_joints(toy):
    space, keys = toy
    rig = space.rig
    kids = rig.children()
    foot = rig.joint_names[max((j for j in range(rig.num_joints) if not kids[j]), key=lambda j: rig.depths()[j])]
    j = rig.joint_index(foot)
    pair = _planted_keys(space, keys, foot)
    spot = joint_positions(rig, pair[0])[0, j]
    free = space.animate(pair, [0, 1.0], FPS)
    held, report = space.animate(pair, [0, 1.0], FPS, contacts=[foot], return_report=True)
    drift = [np.linalg.norm(joint_positions(rig, c)[:, j] - spot, axis=-1).max() / rig.height() for c in (free, held)]
    assert report.contacts == {foot: [(0, 1)]}
    assert drift[1] < 0.005 and drift[1] < drift[0] / 4
    assert report.contact_error[foot] == pytest.approx(drift[1], abs=1e-3)
    # Keys still exact, clip still smooth.
    assert np.abs(joint_positions(rig, held[[0, len(held) - 1]]) - joint_positions(rig, pair)).max() \
        <= 1e-4 * rig.height()
    assert report.max_jerk <= 2.0 * animation.clip_jerk(rig, animation.spline_poses(pair, [0, 1.0], FPS)).max() + 1e-4
    # A joint the keys do not plant is left alone.
    moved = np.linalg.norm(np.diff(joint_positions(rig, pair), axis=0)[0], axis=-1) / rig.height()
    other = rig.joint_names[int(np.argmax(moved))]
    _, report = space.animate(pair, [0, 1.0], FPS, contacts=[other], return_report=True)
    assert report.contacts == {}


def test_contact_weight_fades_only_where_the_planted_joints_change():
    kf = np.array([0, 10, 20, 30])
    w = animation._contact_weight({"l": [(0, 1), (1, 2)]}, kf, 0.25)
    assert (w[:18] == 1).all() and 0 < w[19] < 1 and (w[20:] == 0).all()  # no fade at key 1: still planted
    w = animation._contact_weight({"l": [(0, 1)], "r": [(1, 2)]}, kf, 0.25)
    assert w[5] == 1 and w[10] == 0 and w[15] == 1 and w[20] == 0
    np.testing.assert_allclose(w[8:10], w[12:10:-1])  # the same C2 ramp out of key 1 as into it
    fine = animation._contact_weight({"l": [(0, 1)], "r": [(1, 2)]}, kf * 100, 0.25)
    assert np.abs(np.diff(fine[995:1006])).max() < 1e-4  # flat at the key (the ramp climbs 4e-3 a frame on average)


def test_bad_arguments_are_errors(toy):
    space, keys = toy
    with pytest.raises(VipsError, match="strength"):
        space.animate(keys[:2], [0, 1], FPS, strength=2.0)
    with pytest.raises(VipsError, match="2 keys but 3 times"):
        space.animate(keys[:2], [0, 1, 2], FPS)
    with pytest.raises(VipsError, match="no_such_joint"):
        space.animate(keys[:2], [0, 1], FPS, contacts=["no_such_joint"])


def test_usd_clip_is_a_skel_animation_at_the_frame_rate(toy, clip, tmp_path):
    from pxr import Usd, UsdGeom, UsdSkel, UsdValidation

    space, keys = toy
    poses, report = clip
    rig = space.rig
    path = write_pose_set(rig, tmp_path / "clip.usda", poses, scores=report.scores, plausible=report.plausible,
                          kind="clip")
    stage = Usd.Stage.Open(str(path))
    assert stage.GetTimeCodesPerSecond() == FPS and stage.GetFramesPerSecond() == FPS
    assert stage.GetStartTimeCode() == 0 and stage.GetEndTimeCode() == len(poses) - 1
    anims = [UsdSkel.Animation(p) for p in stage.Traverse() if p.IsA(UsdSkel.Animation)]
    assert len(anims) == 1
    assert anims[0].GetRotationsAttr().GetTimeSamples() == [float(f) for f in range(len(poses))]
    skel = next(UsdSkel.Skeleton(p) for p in stage.Traverse() if p.IsA(UsdSkel.Skeleton))
    assert skel.GetPrim().GetRelationship("skel:animationSource").GetTargets() == [anims[0].GetPrim().GetPath()]
    query = UsdSkel.Cache().GetSkelQuery(skel)
    for k, f in enumerate(report.key_frames):
        world = query.ComputeJointWorldTransforms(UsdGeom.XformCache(float(f)))
        got = np.array([[m[3][0], m[3][1], m[3][2]] for m in world])
        want = joint_positions(rig, keys[k])[0]
        assert np.abs(got - want).max() <= 1e-4 * rig.height()
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    assert [e.GetMessage() for e in UsdValidation.ValidationContext(validators).Validate(stage)] == []
    _, back, meta = read_pose_set(path)
    assert meta.kind == "clip" and len(back) == len(poses) and back.fps == FPS


def _glb_json_and_bin(path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, _, _ = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF"
    jlen, _ = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20:20 + jlen])
    blen, _ = struct.unpack_from("<II", data, 20 + jlen)
    return doc, data[28 + jlen:28 + jlen + blen]


def test_glb_clip_is_a_gltf_animation_at_the_frame_rate(toy, clip, tmp_path):
    import vips

    space, keys = toy
    poses, report = clip
    rig = space.rig
    path = vips.save(rig, tmp_path / "clip.glb", poses)
    doc, binary = _glb_json_and_bin(path)
    assert len(doc["animations"]) == 1
    anim = doc["animations"][0]
    assert {c["target"]["path"] for c in anim["channels"]} >= {"rotation", "translation"}
    acc = doc["accessors"][anim["samplers"][0]["input"]]
    view = doc["bufferViews"][acc["bufferView"]]
    offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    times = np.frombuffer(binary, np.float32, acc["count"], offset)
    np.testing.assert_allclose(times, np.arange(len(poses)) / FPS, atol=1e-6)
    back = vips.load(path)
    (clip_back,) = back.clips.values()
    assert len(clip_back) == len(poses) and clip_back.fps == pytest.approx(FPS)
    np.testing.assert_allclose(joint_positions(back, clip_back[report.key_frames]), joint_positions(rig, keys),
                               atol=1e-4 * rig.height())


def test_cli_animates_end_to_end(tmp_path):
    import vips

    rig, poses = toy_pairs()[0]
    asset = vips.save(rig, tmp_path / "toy.glb")
    keys_file = write_pose_set(rig, tmp_path / "keys.usda", poses[:6])
    out = tmp_path / "clip.usda"
    runner = CliRunner()
    r = runner.invoke(app, ["animate", str(asset), "--keys", f"{keys_file}:0,{keys_file}:4,{keys_file}:2",
                            "--at", "0,0.6,1.0", "--fps", "25", "-o", str(out), "--model", str(toy_model_dir()),
                            "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["frames"] == 26 and doc["key_frames"] == [0, 15, 25] and doc["fps"] == 25
    assert doc["max_jerk"] > 0 and doc["spline_max_jerk"] > 0 and 0 <= doc["plausible_fraction"] <= 1
    rig2, clip, meta = read_pose_set(out)
    assert len(clip) == 26 and clip.fps == 25 and meta.kind == "clip" and len(meta.scores) == 26
    np.testing.assert_allclose(joint_positions(rig2, clip[[0, 15, 25]]), joint_positions(rig, poses[[0, 4, 2]]),
                               atol=1e-4 * rig.height())
    r = runner.invoke(app, ["animate", str(asset), "--keys", f"{keys_file}:0,{keys_file}:4", "--at", "0,1,2",
                            "-o", str(tmp_path / "bad.usda"), "--model", str(toy_model_dir())])
    assert r.exit_code == 1 and "2 keys but 3 times" in r.output and not (tmp_path / "bad.usda").exists()
    r = runner.invoke(app, ["animate", str(asset), "--keys", f"{keys_file}:0,{keys_file}:4", "--at", "0,x",
                            "-o", str(tmp_path / "bad.usda"), "--model", str(toy_model_dir())])
    assert r.exit_code == 1 and "--at" in r.output
