"""BVH reading: a hand-written file with hand-computed positions, CMU walk.bvh against an independent
float64 forward kinematics, and malformed files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from conftest import edit_lines

from vips.errors import AssetError, VipsError
from vips.io import load
from vips.io.bvh import clip_floor, CMU_UNIT, guess_units, read_bvh
from vips.kinematics import joint_positions
from vips.rig import RigWarning

# Three joints and an End Site. Frame 0 is the rest pose (root position = OFFSET); frame 1 moves the root to
# (10, 0, 0), turns it 90 degrees about Z, bends the spine 90 degrees about X and the head by
# Xrotation 90 then Zrotation 90 (listed X Y Z, so R_head = Rx(90) @ Ry(0) @ Rz(90)).
HAND_BVH = """\
HIERARCHY
ROOT hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT spine
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT head
    {
      OFFSET 0 1 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 0 0 0 0 0 0 0 0
10 0 0 90 0 0 0 90 0 90 0 90
"""
# By hand, frame 1: Rz(90) maps (x, y, z) -> (-y, x, z) and Rx(90) maps (x, y, z) -> (x, -z, y).
#   spine = (10, 0, 0) + Rz (0, 1, 0) = (9, 0, 0)
#   head  = spine + Rz Rx (0, 1, 0) = spine + Rz (0, 0, 1) = (9, 0, 1)
#   end   = head + Rz Rx [Rx Rz (0, 0.5, 0)] = head + Rz Rx Rx (-0.5, 0, 0) = head + Rz (-0.5, 0, 0) = (9, -0.5, 1)
HAND_POSITIONS = np.array(
    [
        [[1, 2, 3], [1, 3, 3], [1, 4, 3], [1, 4.5, 3]],
        [[10, 0, 0], [9, 0, 0], [9, 0, 1], [9, -0.5, 1]],
    ],
    np.float64,
)


def write(tmp_path: Path, text: str, name: str = "hand") -> Path:
    path = tmp_path / f"{name}.bvh"
    path.write_text(text)
    return path


def test_hand_written_bvh(tmp_path: Path) -> None:
    rig = read_bvh(write(tmp_path, HAND_BVH))
    assert rig.joint_names == ["hips", "spine", "head", "head_end"]
    np.testing.assert_array_equal(rig.parents, [-1, 0, 1, 2])
    # OFFSETs, but the root raised or lowered so the rest skeleton stands on the clip's floor.
    np.testing.assert_array_equal(rig.rest_translations[1:], [[0, 1, 0], [0, 1, 0], [0, 0.5, 0]])
    np.testing.assert_array_equal(rig.rest_translations[0, [0, 2]], [1, 3])
    assert rig.rest_joint_positions()[:, 1].min() == pytest.approx(clip_floor(rig, rig.clips["hand"]), abs=1e-6)
    # The floor by hand: the frames' lowest joints are at 2 and -0.5; their 5 % quantile is 2 - 0.95 * 2.5.
    assert clip_floor(rig, rig.clips["hand"]) == pytest.approx(-0.375)
    np.testing.assert_array_equal(rig.rest_rotations, np.tile([1, 0, 0, 0], (4, 1)))
    assert not rig.has_mesh and rig.up_axis == "Y"
    assert rig.meters_per_unit == 1.0  # 2.5 units tall: metres by the heuristic
    assert list(rig.clips) == ["hand"]
    clip = rig.clips["hand"]
    assert len(clip) == 2 and clip.fps == pytest.approx(25.0)
    np.testing.assert_allclose(clip.root_translation, [[0, 2.375, 0], [9, 0.375, -3]], atol=1e-6)
    np.testing.assert_allclose(joint_positions(rig, clip), HAND_POSITIONS, atol=1e-5)
    # Frame 1's root rotation is 90 degrees about +Z: (w, x, y, z) = (cos 45, 0, 0, sin 45).
    np.testing.assert_allclose(clip.rotations[1, 0], [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-6)
    assert load(tmp_path / "hand.bvh").joint_names == rig.joint_names  # sniffed as BVH


def test_end_site_names_stay_unique(tmp_path: Path) -> None:
    text = HAND_BVH.replace("JOINT head", "JOINT spine_end")
    rig = read_bvh(write(tmp_path, text))
    assert rig.joint_names == ["hips", "spine", "spine_end", "spine_end_end"]
    # an End Site directly under 'spine' next to a joint already called 'spine_end'
    text = HAND_BVH.replace(
        "    JOINT head", "    End Site\n    {\n      OFFSET 0 0.25 0\n    }\n    JOINT spine_end"
    )
    rig = read_bvh(write(tmp_path, text, "two"))
    assert rig.joint_names == ["hips", "spine", "spine_end1", "spine_end", "spine_end_end"]


def test_units_heuristic() -> None:
    assert guess_units(1.8)[0] == 1.0
    assert guess_units(30.0)[0] == pytest.approx(CMU_UNIT)
    assert guess_units(70.0)[0] == 0.0254
    assert guess_units(170.0)[0] == 0.01
    assert guess_units(1700.0)[0] == 0.001


def test_non_root_position_channels_warn(tmp_path: Path) -> None:
    text = HAND_BVH.replace(
        "CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation"
    )
    text = text.replace("1 2 3 0 0 0 0 0 0 0 0 0", "1 2 3 0 0 0 0 0 0 0 1 0 0 0 0")
    text = text.replace("10 0 0 90 0 0 0 90 0 90 0 90", "10 0 0 90 0 0 0 90 0 0 3 0 90 0 90")
    with pytest.warns(RigWarning, match="translates non-root joints.*'head'"):
        rig = read_bvh(write(tmp_path, text))
    # The head's translation is dropped: positions are the hand-computed ones of the plain file.
    np.testing.assert_allclose(joint_positions(rig, rig.clips["hand"]), HAND_POSITIONS, atol=1e-5)


# ----- walk.bvh against an independent float64 FK ---------------------------------------------------
def reference_bvh(path: Path) -> tuple[list[int], np.ndarray, list[list[str]], np.ndarray, float]:
    """A minimal line-based BVH reader: parents, offsets (J, 3), channel names per joint, frames, frame time."""
    lines = path.read_text().splitlines()
    parents, offsets, channels, stack = [], [], [], []
    n = 0
    while lines[n].strip() != "MOTION":
        words = lines[n].split()
        if words[:1] in (["ROOT"], ["JOINT"], ["End"]):
            parents.append(stack[-1] if stack else -1)
            channels.append([])
        elif words[:1] == ["{"]:
            stack.append(len(parents) - 1)
        elif words[:1] == ["}"]:
            stack.pop()
        elif words[:1] == ["OFFSET"]:
            offsets.append([float(w) for w in words[1:4]])
        elif words[:1] == ["CHANNELS"]:
            channels[-1] = words[2:]
        n += 1
    frames = np.array([[float(w) for w in line.split()] for line in lines[n + 3:] if line.strip()])
    return parents, np.array(offsets), channels, frames, float(lines[n + 2].split(":")[1])


def reference_positions(parents, offsets, channels, frame: np.ndarray) -> np.ndarray:
    """(J, 3) float64 world joint positions of one frame; Euler angles via scipy's intrinsic sequences."""
    world_r, world_t, column = [], [], 0
    for j, p in enumerate(parents):
        names = channels[j]
        values = dict(zip(names, frame[column: column + len(names)]))
        column += len(names)
        order = "".join(c[0] for c in names if c.endswith("rotation"))
        angles = [values[f"{a}rotation"] for a in order]
        local_r = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix() if order else np.eye(3)
        local_t = np.array([values.get(f"{a}position", offsets[j][i]) for i, a in enumerate("XYZ")])
        if p < 0:
            world_r.append(local_r)
            world_t.append(local_t)
        else:
            world_r.append(world_r[p] @ local_r)
            world_t.append(world_r[p] @ local_t + world_t[p])
    return np.array(world_t)


def test_walk_bvh_against_float64_fk(assets_dir: Path) -> None:
    path = assets_dir / "bvh" / "walk.bvh"
    text = path.read_text()
    rig = read_bvh(path)
    assert rig.num_joints == len(re.findall(r"^\s*(ROOT|JOINT|End Site)\b", text, flags=re.MULTILINE))
    frames_declared = int(re.search(r"Frames:\s*(\d+)", text).group(1))
    frame_time = float(re.search(r"Frame Time:\s*(\S+)", text).group(1))
    clip = rig.clips["walk"]
    assert len(clip) == frames_declared == 344
    assert clip.fps == pytest.approx(1.0 / frame_time)
    assert rig.meters_per_unit == pytest.approx(CMU_UNIT)  # a CMU skeleton, ~25 units tall
    assert not rig.warnings

    parents, offsets, channels, frames, _ = reference_bvh(path)
    np.testing.assert_array_equal(rig.parents, parents)
    np.testing.assert_array_equal(rig.rest_translations[1:], offsets[1:].astype(np.float32))
    np.testing.assert_array_equal(rig.rest_translations[0, [0, 2]], offsets[0, [0, 2]].astype(np.float32))
    floor = np.quantile(np.array([reference_positions(parents, offsets, channels, f)[:, 1].min() for f in frames]),
                        0.05)
    assert rig.rest_joint_positions()[:, 1].min() == pytest.approx(floor, abs=1e-3 * rig.height())
    picked = [0, 1, 57, 171, 343]
    got = joint_positions(rig, clip[np.array(picked)])
    for k, f in enumerate(picked):
        want = reference_positions(parents, offsets, channels, frames[f])
        np.testing.assert_allclose(got[k], want, rtol=0, atol=2e-4 * rig.height())


def test_walk_bvh_units_override(assets_dir: Path) -> None:
    assert read_bvh(assets_dir / "bvh" / "walk.bvh", meters_per_unit=0.01).meters_per_unit == 0.01


# ----- malformed files -----------------------------------------------------------------------------
def test_every_truncation_is_an_asset_error(tmp_path: Path) -> None:
    lines = HAND_BVH.splitlines(keepends=True)
    for keep in range(len(lines)):
        with pytest.raises(AssetError, match=r"cut\.bvh:\d+: "):
            read_bvh(write(tmp_path, "".join(lines[:keep]) or "HIERARCHY\n", "cut"))
    # A line cut in the middle of the last frame.
    with pytest.raises(AssetError, match=r"cut\.bvh:25: frame 1 has 8 values; the HIERARCHY declares 12"):
        read_bvh(write(tmp_path, HAND_BVH[: HAND_BVH.rindex(" 0 90 0 90")], "cut"))


def test_truncated_walk(assets_dir: Path, tmp_path: Path) -> None:
    text = (assets_dir / "bvh" / "walk.bvh").read_text()
    for cut in (500, 2000, len(text) // 2):
        with pytest.raises(AssetError, match=r"walk\.bvh:\d+: "):
            read_bvh(write(tmp_path, text[:cut], "walk"))


@pytest.mark.parametrize(
    "old, new, pattern",
    [
        ("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 4 Zrotation Xrotation Yrotation",
         r"hand\.bvh:10: CHANNELS of joint 'spine' declares 4 channels but 'JOINT'"),
        ("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 2 Zrotation Xrotation Yrotation",
         r"hand\.bvh:9: unexpected 'Yrotation' in joint 'spine'"),
        ("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS three Zrotation Xrotation Yrotation",
         r"hand\.bvh:9: CHANNELS of joint 'spine' must start with a count"),
        ("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Xrotation Wrotation",
         r"hand\.bvh:9: .*'Wrotation'"),
        ("10 0 0 90 0 0 0 90 0 90 0 90", "10 0 0 90 0 0 0 90 0 90 0",
         r"hand\.bvh:25: frame 1 has 11 values; the HIERARCHY declares 12 channels"),
        ("10 0 0 90 0 0 0 90 0 90 0 90", "10 0 0 90 0 0 0 90 0 90 0 90 7",
         r"hand\.bvh:25: frame 1 has 13 values"),
        ("10 0 0 90 0 0 0 90 0 90 0 90", "10 0 0 90 0 0 0 ninety 0 90 0 90",
         r"hand\.bvh:25: frame 1 holds 'ninety', which is not a number"),
        ("10 0 0 90 0 0 0 90 0 90 0 90", "10 0 0 90 0 0 0 nan 0 90 0 90", r"hand\.bvh:25: .*NaN"),
        ("Frames: 2", "Frames: 3", r"hand\.bvh:\d+: the header promises 3 frames but only 2"),
        ("Frames: 2", "Frames: two", r"hand\.bvh:22: the frame count 'two'"),
        ("Frames: 2", "Frame: 2", r"hand\.bvh:22: expected 'Frames:"),
        ("Frame Time: 0.04", "Frame Time: 0", r"hand\.bvh:23: Frame Time must be positive"),
        ("Frame Time: 0.04", "Frame Time: fast", r"hand\.bvh:23: Frame Time 'fast' is not a number"),
        ("OFFSET 0 1 0\n    CHANNELS 3 Z", "OFFSET 0 one 0\n    CHANNELS 3 Z", r"hand\.bvh:8: OFFSET of joint 'spine'"),
        ("      OFFSET 0 1 0\n", "", r"hand\.bvh:10: joint 'head' has no OFFSET"),
        ("JOINT head", "JOINT spine", r"hand\.bvh:10: joint name 'spine' is used twice"),
        ("JOINT head", "JOINT", r"hand\.bvh:10: JOINT without a name"),
        ("End Site", "End Sight", r"hand\.bvh:14: expected 'End Site'"),
        ("  JOINT spine\n  {", "  JOINT spine\n  (", r"hand\.bvh:7: expected '\{' in joint 'spine', found '\('"),
        ("HIERARCHY", "HIERARCHIES", r"hand\.bvh:1: expected 'HIERARCHY'"),
        ("}\nMOTION", "}\nROOT other\n{\nOFFSET 0 0 0\n}\nMOTION", r"hand\.bvh:21: .*only one ROOT"),
        ("MOTION\n", "", r"hand\.bvh:\d+: unexpected 'Frames:'"),
    ],
)
def test_malformed_bvh(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    assert old in HAND_BVH
    with pytest.raises(AssetError, match=pattern):
        read_bvh(write(tmp_path, HAND_BVH.replace(old, new, 1)))


def test_extra_frame_lines_warn(tmp_path: Path) -> None:
    with pytest.warns(RigWarning, match="1 lines after the 2 declared frames were ignored"):
        rig = read_bvh(write(tmp_path, HAND_BVH + "1 2 3 4\n"))
    assert len(rig.clips["hand"]) == 2


BVH_TOKENS = st.sampled_from(
    ["ROOT", "JOINT", "End", "Site", "{", "}", "OFFSET", "CHANNELS", "3", "6", "-1", "0", "Xrotation",
     "Yposition", "MOTION", "Frames:", "Frame", "Time:", "nan", "1e400", "x", "hips"]
)


@settings(derandomize=True, max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.lists(BVH_TOKENS, max_size=6).map(" ".join)),
                      min_size=1, max_size=3))
def test_garbage_bvh_lines_give_vips_errors(tmp_path: Path, edits: list[tuple[bool, int, str]]) -> None:
    lines = edit_lines(HAND_BVH, edits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RigWarning)
            rig = read_bvh(write(tmp_path, "\n".join(lines) + "\n", "fuzz"))
    except VipsError:
        return
    assert rig.num_joints >= 1
