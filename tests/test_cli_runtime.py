"""The pose-space CLI end to end on the shipped example:CesiumMan with the small test model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runtime_support import toy_model_dir
from typer.testing import CliRunner

from vips.cli import app
from vips.io.pose_set import read_pose_set
from vips.kinematics import joint_positions

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "samples.usda"
    r = invoke("sample", "example:CesiumMan", "-n", 4, "--seed", 3, "-o", out, "--steps", 8,
               "--model", toy_model_dir(), "--contact-sheet", out.with_suffix(".png"),
               "--map", out.with_name("map.png"), "--json")
    assert r.exit_code == 0, r.output
    return out, json.loads(r.output)


def test_sample_writes_a_scored_pose_set(samples):
    out, summary = samples
    assert summary["poses"] == 4 and len(summary["scores"]) == 4
    rig, poses, meta = read_pose_set(out)
    assert len(poses) == 4 and meta.kind == "samples" and meta.model_id == "toy-pose-space"
    assert list(meta.seeds) == [3, 3, 3, 3]
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_name("map.png").stat().st_size > 0


def test_score_json_prints_one_entry_per_pose(samples):
    out, summary = samples
    r = invoke("score", "example:CesiumMan", out, "--model", toy_model_dir(), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert len(doc["scores"]) == 4 and len(doc["plausible"]) == 4
    assert all(isinstance(p, bool) for p in doc["plausible"])
    np.testing.assert_allclose(doc["scores"], summary["scores"], rtol=1e-5)
    one = json.loads(invoke("score", "example:CesiumMan", f"{out}:1", "--model", toy_model_dir(), "--json").output)
    np.testing.assert_allclose(one["scores"], summary["scores"][1:2], rtol=1e-5)


def test_interpolate_and_keyframes(samples, tmp_path):
    out, _ = samples
    path = tmp_path / "walk.glb"
    r = invoke("interpolate", "example:CesiumMan", "--from", f"{out}:0", "--to", f"{out}:2", "-n", 5, "-o", path,
               "--steps", 8, "--model", toy_model_dir())
    assert r.exit_code == 0, r.output
    rig, poses, meta = read_pose_set(path)
    assert len(poses) == 5 and meta.kind == "traversal"
    _, start, _ = read_pose_set(out)
    np.testing.assert_allclose(joint_positions(rig, poses[0]), joint_positions(rig, start[0]), atol=1e-4)
    r = invoke("keyframes", "example:CesiumMan", "--poses", path, "--out", tmp_path / "kf", "--count", 3,
               "--size", 96, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "kf" / "keyframes.json").read_text())
    assert [k["frame"] for k in doc["keyframes"]] == [0, 2, 4]
    assert all((tmp_path / "kf" / k["image"]).is_file() for k in doc["keyframes"])


def test_ik_meets_the_handle(samples, tmp_path):
    out, _ = samples
    rig, poses, _ = read_pose_set(out)
    start = joint_positions(rig, poses[1])[0]
    hand = rig.joint_names[15]
    target = start[15] + np.array([0.05, 0.1, 0.0])
    r = invoke("ik", "example:CesiumMan", "--handle", f"{hand}=" + ",".join(f"{v:.6f}" for v in target),
               "--pin", rig.joint_names[0], "--init", f"{out}:1", "-o", tmp_path / "ik.usda",
               "--model", toy_model_dir(), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["max_relative_error"] <= 0.02
    _, edited, meta = read_pose_set(tmp_path / "ik.usda")
    assert meta.kind == "ik" and len(edited) == 1
    assert np.linalg.norm(joint_positions(rig, edited)[0, 15] - target) <= 0.02 * rig.height()


def test_user_errors_are_one_line(samples, tmp_path):
    out, _ = samples
    r = invoke("ik", "example:CesiumMan", "--handle", "nope=1,2,3", "-o", tmp_path / "x.usda",
               "--model", toy_model_dir())
    assert r.exit_code == 1 and "no joint named 'nope'" in r.output and "Traceback" not in r.output
    r = invoke("ik", "example:CesiumMan", "--handle", "joint_2=1,2", "-o", tmp_path / "x.usda",
               "--model", toy_model_dir())
    assert r.exit_code == 1 and "JOINT=x,y,z" in r.output
    r = invoke("sample", "example:CesiumMan", "-o", tmp_path / "x.usda", "--model", tmp_path / "nothing")
    assert r.exit_code == 1 and "no such model folder" in r.output
    r = invoke("score", "example:CesiumMan", f"{out}:9", "--model", toy_model_dir())
    assert r.exit_code == 1 and "out of range" in r.output
    assert not (tmp_path / "x.usda").exists()


def test_export_onnx_writes_a_loadable_model_folder(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    r = invoke("export-onnx", toy_model_dir() / "model.safetensors", "--out", tmp_path / "m", "--model-id", "mine",
               "--threshold", -0.2, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["max_abs_diff"] < 1e-3
    from vips.runtime.model_dir import read_model_dir

    info = read_model_dir(tmp_path / "m")
    assert info.model_id == "mine" and info.threshold == pytest.approx(-0.2) and info.prediction == "v"
    r = invoke("sample", "example:CesiumMan", "-n", 2, "-o", tmp_path / "s.glb", "--steps", 4, "--model",
               tmp_path / "m", "--json")
    assert r.exit_code == 0, r.output


def test_ik_unknown_joints_list_close_matches_and_the_leaves(tmp_path):
    for option, value in (("--handle", "joint_188=0,1,0"), ("--pin", "joint_188"), ("--look-at", "joint_188=0,1,0")):
        args = [option, value] if option != "--pin" else ["--handle", "joint_18=0.1,1,0", option, value]
        r = invoke("ik", "example:CesiumMan", *args, "-o", tmp_path / "x.usda", "--model", toy_model_dir())
        assert r.exit_code == 1 and "Traceback" not in r.output
        line = r.output.strip()
        assert line.count("\n") == 0 and line.startswith(f"error: {option} joint_188: example:CesiumMan has no joint")
        assert "close: joint_18" in line
        assert "leaf joints (limb ends, head, tail) are joint_20, joint_18, joint_15, joint_10, joint_6;" in line
        assert line.endswith("`vips info example:CesiumMan` shows the joint tree")
    # README-era names match nothing close on CesiumMan: the leaves are still listed.
    r = invoke("ik", "example:CesiumMan", "--handle", "hand_l=0,1,0", "-o", tmp_path / "x.usda")
    assert r.exit_code == 1 and "no joint named 'hand_l'; its leaf joints" in r.output
    assert not (tmp_path / "x.usda").exists()


def test_ik_prints_each_handle_error_and_warns_when_one_misses(samples, tmp_path):
    out, _ = samples
    rig, poses, _ = read_pose_set(out)
    start = joint_positions(rig, poses[1])[0]
    far = start[9] + np.array([0.0, 2.5, 0.0]) * rig.height()  # joint_18, the left hand: out of the arm's reach
    target = "joint_18=" + ",".join(f"{v:.6f}" for v in far)
    args = ["ik", "example:CesiumMan", "--handle", target, "--pin", "joint_10", "--init", f"{out}:1",
            "--model", toy_model_dir()]
    r = invoke(*args, "-o", tmp_path / "far.usda")
    assert r.exit_code == 0, r.output
    handle = next(line for line in r.stdout.splitlines() if "handle joint_18" in line)
    error = np.linalg.norm(joint_positions(rig, read_pose_set(tmp_path / "far.usda")[1])[0, 9] - far)
    assert f"error {error:.4g} units ({error / rig.height():.2%} of the rig's height)  MISSED" in handle
    assert "pin    joint_10" in r.stdout
    warning = r.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: solve_ik: handle 'joint_18' ends ")
    assert f"({error / rig.height():.1%} of the rig's height)" in warning[0]
    doc = json.loads(invoke(*args, "-o", tmp_path / "far2.usda", "--json").stdout)
    assert doc["missed"][0] == "joint_18" and doc["tolerance"] == 0.05 and len(doc["warnings"]) == 1
    r = invoke(*args, "-o", tmp_path / "far3.usda", "--tolerance", 100)
    assert r.exit_code == 0 and "warning" not in r.output and "MISSED" not in r.output
    r = invoke(*args, "-o", tmp_path / "far4.usda", "--tolerance", -1)
    assert r.exit_code == 1 and "--tolerance must be" in r.output


def test_keyframes_frame_the_body_and_label_the_joints(samples, tmp_path):
    from PIL import Image

    from vips.render import LABEL_COLOR, Camera, framing_points

    out, _ = samples
    size = 160
    for folder, extra in (("plain", []), ("labels", ["--labels"])):
        r = invoke("keyframes", "example:CesiumMan", "--poses", out, "--out", tmp_path / folder, "--size", size,
                   "--azimuth", 60, *extra)
        assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "plain" / "keyframes.json").read_text())
    cam = {k: np.asarray(v) if isinstance(v, list) else v for k, v in doc["camera"].items()
           if k in ("eye", "target", "up", "fov_degrees", "ortho_height")}
    rig, poses, _ = read_pose_set(out)
    px = Camera(**cam).project(framing_points(rig, poses).reshape(-1, 3), size, size)
    span = px[:, :2].max(axis=0) - px[:, :2].min(axis=0)
    assert px[:, :2].min() >= 0 and px[:, :2].max() <= size  # every pose in view...
    assert span.max() >= 0.8 * size  # ...and the body fills most of the image
    plain, labelled = (np.asarray(Image.open(tmp_path / f / "frame_0000.png").convert("RGB")) for f in ("plain",
                                                                                                          "labels"))
    def label_pixels(image: np.ndarray) -> int:
        return int(np.all(np.abs(image.astype(int) - LABEL_COLOR) <= 2, axis=-1).sum())

    assert label_pixels(labelled) > 50 and label_pixels(plain) < label_pixels(labelled) / 5
