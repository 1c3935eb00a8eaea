"""The command line as users meet it: real subprocesses, one-line errors, no half-written outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_vips(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed `vips` entry point (as a user would) and capture its output."""
    exe = Path(sys.executable).with_name("vips")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vips.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_help_explains_every_command() -> None:
    out = run_vips("--help")
    assert out.returncode == 0
    for command in ("info", "convert", "examples", "usd-plugin-path"):
        assert command in out.stdout
        sub = run_vips(command, "--help")
        assert sub.returncode == 0 and "Usage" in sub.stdout


def test_info_json_on_shipped_example() -> None:
    out = run_vips("info", "example:CesiumMan", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["joints"] >= 19 and summary["vertices"] == 3273
    assert summary["up_axis"] == "Y" and summary["meters_per_unit"] == 1.0
    assert len(summary["clips"]) == 1 and summary["height"] > 1.0


def test_convert_writes_usd_and_glb(tmp_path: Path) -> None:
    for name in ("man.usda", "man.usdc", "man.glb"):
        out = run_vips("convert", "example:CesiumMan", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        umask = os.umask(0)
        os.umask(umask)
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask  # like a plain open(), not mkstemp's 0600
        info = run_vips("info", str(tmp_path / name), "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["vertices"] == 3273


def _written(path: Path, data: bytes | None) -> Path:
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("missing.glb", None, "no such file"),
        ("empty.glb", b"", "empty"),
        ("junk.glb", b"glTF" + bytes(range(64)), "junk.glb"),
        ("notes.txt", b"hello world\n", "not a format"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_writes_nothing(
    tmp_path: Path, name: str, data: bytes | None, expected: str
) -> None:
    source = _written(tmp_path / name, data)
    target = tmp_path / "out.usda"
    for args in (("info", str(source)), ("convert", str(source), str(target))):
        out = run_vips(*args)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
        assert expected in lines[0]
        assert "Traceback" not in out.stderr
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_convert_to_unknown_suffix_and_unknown_clip(tmp_path: Path) -> None:
    out = run_vips("convert", "example:CesiumMan", str(tmp_path / "x.fbx"))
    assert out.returncode == 1 and "cannot write '.fbx'" in out.stderr
    out = run_vips("convert", "example:CesiumMan", str(tmp_path / "x.usda"), "--clip", "nope")
    assert out.returncode == 1 and "no clip named 'nope'" in out.stderr
    assert not (tmp_path / "x.usda").exists()


def test_failed_convert_keeps_existing_output(tmp_path: Path) -> None:
    target = tmp_path / "keep.usda"
    target.write_text("precious")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00" + b"\x00" * 8)
    out = run_vips("convert", str(bad), str(target))
    assert out.returncode == 1
    assert target.read_text() == "precious"


# ----- vips info: the joint tree ------------------------------------------------------------------------------
def _tree(stdout: str) -> dict[str, tuple[int, str]]:
    """Joint name -> (indentation, tags) of the text tree that follows the 'joint tree' line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  joint tree"))
    rows = {}
    for line in lines[start + 1:]:
        if not line.startswith("    ") or line.strip().startswith("..."):
            break
        body = line[4:]
        name, _, tags = body.strip().partition("  ")
        rows[name] = (len(body) - len(body.lstrip()), tags.strip())
    return rows


def test_info_prints_the_joint_tree_of_the_shipped_example() -> None:
    out = run_vips("info", "example:CesiumMan")
    assert out.returncode == 0, out.stderr
    assert "body root 'joint_2', 0 ground/control bones above it, 0 helper joints, 5 leaves, 7 mirror pairs" \
        in out.stdout
    tree = _tree(out.stdout)
    assert len(tree) == 19
    # The left arm: shoulder, elbow, hand, each one level deeper, paired with the right arm's joints.
    indent = [tree[n][0] for n in ("joint_12", "joint_16", "joint_17", "joint_18")]
    assert indent == sorted(indent) and len(set(indent)) == 4
    assert tree["joint_18"][1] == "leaf, mirror joint_15" and tree["joint_16"][1] == "mirror joint_13"
    assert tree["joint_2"][1] == "body root" and tree["joint_11"][1] == ""
    assert sorted(n for n, (_, tags) in tree.items() if "leaf" in tags) == \
        ["joint_10", "joint_15", "joint_18", "joint_20", "joint_6"]


def test_info_json_gives_the_skeleton() -> None:
    import numpy as np

    import vips

    out = run_vips("info", "example:CesiumMan", "--json")
    assert out.returncode == 0, out.stderr
    skel = json.loads(out.stdout)["skeleton"]
    rig = vips.load("example:CesiumMan")
    assert skel["names"] == rig.joint_names and skel["parents"] == rig.parents.tolist()
    np.testing.assert_allclose(skel["rest_positions"], rig.rest_joint_positions(), rtol=1e-6, atol=1e-7)
    assert skel["leaf"] == [not kids for kids in rig.children()]
    assert skel["body_root"] == "joint_2" and not any(skel["control"]) and all(skel["moves_skin"])
    mirror = skel["mirror"]
    assert [mirror[m] for m in mirror] == list(range(rig.num_joints))  # partners of partners are the joints
    name = dict(enumerate(rig.joint_names))
    pairs = {tuple(sorted((name[j], name[m]))) for j, m in enumerate(mirror) if m != j}
    assert ("joint_15", "joint_18") in pairs and ("joint_10", "joint_6") in pairs and len(pairs) == 7


def _grounded_rig(path: Path) -> Path:
    """A small biped standing on a ground bone, with two IK targets beside its feet that move no skin."""
    import numpy as np

    import vips

    names = ["ground", "hips", "spine", "head", "leg_l", "foot_l", "leg_r", "foot_r", "target_l", "target_r"]
    parents = np.array([-1, 0, 1, 2, 1, 4, 1, 6, 0, 0])
    world = np.array([[0, 0, 0], [0, 1, 0], [0, 1.5, 0], [0, 2, 0], [0.2, 0.5, 0], [0.2, 0, 0.1], [-0.2, 0.5, 0],
                      [-0.2, 0, 0.1], [0.3, 0, 0.3], [-0.3, 0, 0.3]], float)
    local = world - np.where(parents[:, None] >= 0, world[np.maximum(parents, 0)], 0)
    corners = np.array([[x, y, z] for x in (-0.05, 0.05) for y in (-0.05, 0.05) for z in (-0.05, 0.05)])
    verts = np.concatenate([world[j] + corners for j in range(1, 8)])
    faces = np.concatenate([np.array([[0, 1, 2], [1, 3, 2], [4, 5, 6], [5, 7, 6]]) + 8 * k for k in range(7)])
    bones = np.repeat(np.arange(1, 8), 8)[:, None]
    rig = vips.Rig(names, parents, local, np.tile([1.0, 0, 0, 0], (len(names), 1)), vertices=verts, faces=faces,
                   skin_indices=bones, skin_weights=np.ones_like(bones, float))
    return vips.save(rig, path)


def test_info_marks_the_ground_bone_body_root_and_targets(tmp_path: Path) -> None:
    path = _grounded_rig(tmp_path / "grounded.glb")
    out = run_vips("info", str(path))
    assert out.returncode == 0, out.stderr
    assert "body root 'hips', 1 ground/control bones above it, 0 helper joints, 5 leaves, 3 mirror pairs" in out.stdout
    tree = _tree(out.stdout)
    assert tree["ground"] == (0, "ground/control bone") and tree["hips"] == (2, "body root")
    assert tree["foot_l"] == (6, "leaf, mirror foot_r")
    assert tree["target_l"] == (2, "leaf, moves no skin, mirror target_r")
    skel = json.loads(run_vips("info", str(path), "--json").stdout)["skeleton"]
    assert skel["body_root"] == "hips" and skel["control"] == [True] + [False] * 9
    assert skel["moves_skin"] == [True] * 8 + [False] * 2


def test_info_on_a_20000_joint_chain_takes_seconds_and_truncates_the_tree(tmp_path: Path) -> None:
    import time

    from test_hostile_io import write_chain

    path = write_chain(tmp_path, "gltf", 20_000)
    start = time.perf_counter()
    out = run_vips("info", str(path))
    text_seconds = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert len(_tree(out.stdout)) == 400
    assert "... 19600 more joints" in out.stdout and "not searched on rigs of more than 1000 joints" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) < 200  # deep joints show their depth, not 40,000 spaces
    start = time.perf_counter()
    out = run_vips("info", str(path), "--json", "--tree-limit", "0")
    json_seconds = time.perf_counter() - start
    skel = json.loads(out.stdout)["skeleton"]
    assert len(skel["names"]) == 20_000 and skel["parents"][-1] == 19_998 and skel["mirror"] is None
    assert skel["leaf"].count(True) == 1 and skel["rest_positions"][-1][1] == pytest.approx(199.99, rel=1e-3)
    # About 1.5 s each on one free core (mostly loading the file); the bound leaves room for a busy machine.
    assert text_seconds < 15 and json_seconds < 15, (text_seconds, json_seconds)


def test_usd_plugin_path_prints_the_schema_folder() -> None:
    from vips.usd_schema import schema_dir

    out = run_vips("usd-plugin-path")
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip())
    assert folder == schema_dir() and (folder / "plugInfo.json").is_file()
    assert out.stdout.count("\n") == 1  # the path alone, for $(vips usd-plugin-path)
