"""RigNet rig text + OBJ reading and writing: real assets, a hand-written rig, round trips and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import edit_lines

from vips.errors import AssetError, RigError, VipsError
from vips.io import load
from vips.io.obj import read_obj, write_obj
from vips.io.rignet import read_rignet, write_rignet
from vips.rig import Rig, RigWarning

# RigNet-format rigs in tests/data/assets/rignet (a humanoid and a quadruped, with RigNet's joint names and branch
# copies; made by tests/data/make_rignet_rigs.py).
ASSET_NAMES = ["humanoid_auto", "fox_auto"]

# ----- a rig written by hand -----------------------------------------------------------------------
# Joints are listed out of parents-first order (head before spine) so the reader must reorder them.
# Coordinates are binary fractions: exact in float32, so expected values compare with ==.
HAND_RIG = """\
joints hip 0 1 0
joints head 0 2 0.25
joints spine 0 1.5 0
joints lleg 0.25 0.5 0.125
root hip
hier hip spine
hier spine head
hier hip lleg
skin 0 hip 1.0
skin 1 hip 0.5 spine 0.5
skin 2 spine 0.25 head 0.75
skin 3 head 1
skin 4 lleg 0.5 hip 0.25 spine 0.25
skin 5 lleg 1.0
"""
HAND_OBJ = """\
# six vertices, every face-corner form, a quad and negative indices
v 0 1 0
v 0.5 1 0
v 0 2 0.25
v 0 2.5 0
v 0.25 0.5 0.125
v 0.25 0 0 1.0
vt 0 0
vt 1 0
vt 1 1
vn 0 0 1
vn 0 1 0
vn 1 0 0
f 1 2 3
f 1/1 3/2 4/3
f 4//1 5//2 6//3
f 2/1/1 3/2/2 5/3/3
f -4 -3 -2 -1
"""
HAND_NAMES = ["hip", "spine", "head", "lleg"]
HAND_PARENTS = [-1, 0, 1, 0]
HAND_POSITIONS = np.array([[0, 1, 0], [0, 1.5, 0], [0, 2, 0.25], [0.25, 0.5, 0.125]], np.float32)
HAND_VERTICES = np.array(
    [[0, 1, 0], [0.5, 1, 0], [0, 2, 0.25], [0, 2.5, 0], [0.25, 0.5, 0.125], [0.25, 0, 0]], np.float32
)
HAND_FACES = np.array([[0, 1, 2], [0, 2, 3], [3, 4, 5], [1, 2, 4], [2, 3, 4], [2, 4, 5]], np.int32)
# Dense (V, J) weights in HAND_NAMES order.
HAND_WEIGHTS = np.array(
    [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0.25, 0.75, 0], [0, 0, 1, 0], [0.25, 0.25, 0, 0.5], [0, 0, 0, 1]],
    np.float32,
)


def write_pair(folder: Path, rig_text: str = HAND_RIG, obj_text: str = HAND_OBJ, name: str = "hand") -> Path:
    (folder / f"{name}.obj").write_text(obj_text)
    txt = folder / f"{name}_rig.txt"
    txt.write_text(rig_text)
    return txt


def dense_weights(rig: Rig) -> np.ndarray:
    dense = np.zeros((rig.num_vertices, rig.num_joints), np.float64)
    np.add.at(dense, (np.arange(rig.num_vertices)[:, None], rig.skin_indices), rig.skin_weights)
    return dense


def fk_positions_float64(rig: Rig) -> np.ndarray:
    """World rest joint positions from rest translations, float64 (identity rest rotations)."""
    out = np.zeros((rig.num_joints, 3))
    for j, p in enumerate(rig.parents):
        out[j] = rig.rest_translations[j] + (out[p] if p >= 0 else 0)
    return out


# ----- the test assets -----------------------------------------------------------------------------
def parse_rig_file(path: Path) -> dict:
    positions, hier, skin = {}, [], {}
    for line in path.read_text().splitlines():
        t = line.split()
        if t and t[0] == "joints":
            positions[t[1]] = np.array([float(x) for x in t[2:5]], np.float64).astype(np.float32)
        elif t and t[0] == "hier":
            hier.append((t[1], t[2]))
        elif t and t[0] == "skin":
            skin[int(t[1])] = {n: float(w) for n, w in zip(t[2::2], t[3::2])}
    return {"positions": positions, "hier": hier, "skin": skin}


@pytest.mark.parametrize("name", ASSET_NAMES)
def test_assets_load(assets_dir: Path, name: str) -> None:
    txt, obj = assets_dir / "rignet" / f"{name}_rig.txt", assets_dir / "rignet" / f"{name}.obj"
    expected = parse_rig_file(txt)
    obj_lines = [line.split() for line in obj.read_text().splitlines()]
    num_v = sum(1 for t in obj_lines if t[:1] == ["v"])
    num_tris = sum(len(t) - 3 for t in obj_lines if t[:1] == ["f"])

    rig = read_rignet(txt)
    assert rig.num_joints == len(expected["positions"])
    assert rig.num_vertices == num_v
    assert rig.faces.shape == (num_tris, 3)
    assert rig.up_axis == "Y" and rig.meters_per_unit == 1.0
    assert rig.name == name
    want = np.stack([expected["positions"][n] for n in rig.joint_names])
    # Bind matrices keep the file's positions bit for bit; float32 FK of the rest pose lands within round-off.
    np.testing.assert_array_equal(rig.bind_matrices[:, :3, 3], want)
    identity = np.tile(np.eye(3, dtype=np.float32), (rig.num_joints, 1, 1))
    np.testing.assert_array_equal(rig.bind_matrices[:, :3, :3], identity)
    np.testing.assert_allclose(rig.rest_joint_positions(), want, rtol=0, atol=1e-6 * rig.height())
    np.testing.assert_allclose(fk_positions_float64(rig), want, rtol=0, atol=1e-6 * rig.height())
    np.testing.assert_array_equal(rig.rest_rotations, np.tile([1, 0, 0, 0], (rig.num_joints, 1)))
    # Hierarchy: one parent per hier line, parents first.
    assert rig.parents[0] == -1 and all(rig.parents[j] < j for j in range(1, rig.num_joints))
    got_bones = {(rig.joint_names[p], rig.joint_names[j]) for j, p in enumerate(rig.parents) if p >= 0}
    assert got_bones == set(expected["hier"])
    # Skin: every vertex's weights, renormalized, as in the file.
    dense = dense_weights(rig)
    for v, influences in expected["skin"].items():
        total = sum(influences.values())
        for joint, w in influences.items():
            assert dense[v, rig.joint_index(joint)] == pytest.approx(w / total, abs=1e-6)
    # The mesh half finds its rig; load() dispatches to the same reader.
    for other in (read_rignet(obj), load(obj), load(txt)):
        assert other.joint_names == rig.joint_names
        np.testing.assert_array_equal(other.vertices, rig.vertices)


# ----- the hand-written rig ------------------------------------------------------------------------
def test_hand_written_rig_exact(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RigWarning)  # nothing here needs repairing
        rig = read_rignet(write_pair(tmp_path))
    assert rig.joint_names == HAND_NAMES
    np.testing.assert_array_equal(rig.parents, HAND_PARENTS)
    expected_local = HAND_POSITIONS - np.where(np.array(HAND_PARENTS)[:, None] >= 0, HAND_POSITIONS[[0, 0, 1, 0]], 0)
    np.testing.assert_array_equal(rig.rest_translations, expected_local)
    np.testing.assert_array_equal(rig.rest_joint_positions(), HAND_POSITIONS)
    np.testing.assert_array_equal(rig.bind_matrices[:, :3, 3], HAND_POSITIONS)
    np.testing.assert_array_equal(rig.vertices, HAND_VERTICES)
    np.testing.assert_array_equal(rig.faces, HAND_FACES)
    np.testing.assert_array_equal(dense_weights(rig), HAND_WEIGHTS)
    # Strongest influence first.
    assert (np.diff(rig.skin_weights, axis=1) <= 0).all()
    assert rig.source == str(tmp_path / "hand_rig.txt")


def test_name_txt_beside_obj(tmp_path: Path) -> None:
    (tmp_path / "thing.obj").write_text(HAND_OBJ)
    (tmp_path / "thing.txt").write_text(HAND_RIG)
    assert read_rignet(tmp_path / "thing.obj").joint_names == HAND_NAMES
    assert read_rignet(tmp_path / "thing.txt").num_vertices == 6


def test_missing_partner_names_both_paths(tmp_path: Path) -> None:
    (tmp_path / "lonely.obj").write_text(HAND_OBJ)
    with pytest.raises(AssetError) as err:
        read_rignet(tmp_path / "lonely.obj")
    assert "lonely_rig.txt" in str(err.value) and "lonely.txt" in str(err.value)
    (tmp_path / "nomesh_rig.txt").write_text(HAND_RIG)
    with pytest.raises(AssetError) as err:
        read_rignet(tmp_path / "nomesh_rig.txt")
    assert "nomesh.obj" in str(err.value)


def test_skeleton_only_rig_text(tmp_path: Path) -> None:
    skeleton = "".join(line + "\n" for line in HAND_RIG.splitlines() if not line.startswith("skin"))
    txt = tmp_path / "bones_rig.txt"
    txt.write_text(skeleton)
    rig = read_rignet(txt)
    assert not rig.has_mesh and rig.joint_names == HAND_NAMES


def test_missing_root_line(tmp_path: Path) -> None:
    no_root = HAND_RIG.replace("root hip\n", "")
    assert read_rignet(write_pair(tmp_path, no_root)).joint_names == HAND_NAMES
    two_orphans = no_root.replace("hier hip lleg\n", "").replace("skin 4 lleg 0.5 hip 0.25 spine 0.25", "skin 4 hip 1")
    with pytest.raises(RigError, match="no parent.*'hip'.*'lleg'|no parent.*'lleg'.*'hip'"):
        read_rignet(write_pair(tmp_path, two_orphans, name="orphans"))


def test_more_than_eight_influences_keeps_top_eight(tmp_path: Path) -> None:
    names = [f"j{k}" for k in range(10)]
    lines = [f"joints {n} {k} 0 0" for k, n in enumerate(names)] + ["root j0"]
    lines += [f"hier j{k - 1} j{k}" for k in range(1, 10)]
    weights = np.arange(1, 11, dtype=np.float64)
    lines += [f"skin 0 " + " ".join(f"{n} {w}" for n, w in zip(names, weights))]
    rig_path = write_pair(tmp_path, "\n".join(lines) + "\n", "v 0 0 0\n", name="many")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rig = read_rignet(rig_path)
    messages = [str(w.message) for w in caught if issubclass(w.category, RigWarning)]
    assert any("1 vertices had more than 8 influences" in m for m in messages), messages
    assert rig.warnings and "more than 8 influences" in rig.warnings[0]
    assert rig.skin_indices.shape == (1, 8)
    np.testing.assert_array_equal(rig.skin_indices[0], np.arange(9, 1, -1))
    np.testing.assert_allclose(rig.skin_weights[0], weights[:1:-1] / weights[2:].sum(), rtol=1e-6)


# ----- writing -------------------------------------------------------------------------------------
def test_write_read_round_trip_of_hand_rig(tmp_path: Path) -> None:
    rig = read_rignet(write_pair(tmp_path))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    txt, obj = write_rignet(rig, out_dir / "copy_rig.txt")
    assert obj == out_dir / "copy.obj" and obj.is_file()
    back = read_rignet(txt)
    assert back.joint_names == rig.joint_names
    np.testing.assert_array_equal(back.parents, rig.parents)
    np.testing.assert_array_equal(back.bind_matrices, rig.bind_matrices)
    np.testing.assert_array_equal(back.rest_translations, rig.rest_translations)
    np.testing.assert_array_equal(back.vertices, rig.vertices)
    np.testing.assert_array_equal(back.faces, rig.faces)
    np.testing.assert_array_equal(dense_weights(back), dense_weights(rig))
    assert sorted(p.name for p in out_dir.iterdir()) == ["copy.obj", "copy_rig.txt"]  # no temporary files left


@pytest.mark.parametrize("name", ASSET_NAMES)
def test_write_read_round_trip_of_assets(assets_dir: Path, tmp_path: Path, name: str) -> None:
    rig = read_rignet(assets_dir / "rignet" / f"{name}_rig.txt")
    back = read_rignet(write_rignet(rig, tmp_path / f"{name}_rig.txt")[0])
    assert back.joint_names == rig.joint_names
    np.testing.assert_array_equal(back.parents, rig.parents)
    np.testing.assert_array_equal(back.bind_matrices, rig.bind_matrices)
    np.testing.assert_array_equal(back.vertices, rig.vertices)
    np.testing.assert_array_equal(back.faces, rig.faces)
    np.testing.assert_allclose(dense_weights(back), dense_weights(rig), rtol=0, atol=1e-7)


def test_writer_uses_world_positions_of_rotated_rig(tmp_path: Path) -> None:
    from conftest import random_rig_arrays

    rng = np.random.default_rng(7)
    arrays = random_rig_arrays(rng, num_joints=9, num_vertices=20, influences=3)
    rig = Rig(joint_names=[f"bone {k}" for k in range(9)], **arrays)  # names with spaces, rotated rest pose
    txt, obj = write_rignet(rig, tmp_path / "rot.txt", tmp_path / "mesh_for_rot.obj")
    assert obj == tmp_path / "mesh_for_rot.obj"
    (tmp_path / "rot.obj").write_bytes(obj.read_bytes())  # the reader's pairing: rot.txt <-> rot.obj
    back = read_rignet(txt)
    assert back.joint_names == [f"bone_{k}" for k in range(9)]
    np.testing.assert_array_equal(back.bind_matrices[:, :3, 3], rig.bind_matrices[:, :3, 3])
    # The float64 world positions of the rotated rest pose, computed independently of vips.kinematics.
    from scipy.spatial.transform import Rotation

    world_r, world_t = [None] * 9, np.zeros((9, 3))
    for j, p in enumerate(arrays["parents"]):
        local = Rotation.from_quat(np.roll(arrays["rest_rotations"][j], -1)).as_matrix()  # scipy: x, y, z, w
        if p < 0:
            world_r[j], world_t[j] = local, arrays["rest_translations"][j]
        else:
            world_r[j] = world_r[p] @ local
            world_t[j] = world_r[p] @ arrays["rest_translations"][j] + world_t[p]
    np.testing.assert_allclose(back.rest_joint_positions(), world_t, rtol=0, atol=1e-5)
    np.testing.assert_allclose(back.vertices, arrays["vertices"], rtol=0, atol=1e-6)


def test_skeleton_only_writes_no_obj(tmp_path: Path) -> None:
    rig = Rig(["a", "b"], np.array([-1, 0]), np.array([[0, 1, 0], [0, 0.5, 0]]), np.tile([1.0, 0, 0, 0], (2, 1)))
    txt, obj = write_rignet(rig, tmp_path / "sk_rig.txt")
    assert obj is None and not (tmp_path / "sk.obj").exists()
    assert not any(line.startswith("skin") for line in txt.read_text().splitlines())
    back = read_rignet(txt)
    assert back.joint_names == ["a", "b"] and not back.has_mesh
    np.testing.assert_array_equal(back.rest_joint_positions(), [[0, 1, 0], [0, 1.5, 0]])


# ----- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "old, new, error, pattern",
    [
        ("hier spine head", "hier spine nobody", AssetError, r"hand_rig.txt:7: .*'nobody'"),
        ("skin 3 head 1", "skin 3 ghost 1", AssetError, r"hand_rig.txt:12: .*'ghost'"),
        ("skin 3 head 1", "skin 6 head 1", AssetError, r"hand_rig.txt:12: vertex 6 is outside"),
        ("skin 3 head 1", "skin -1 head 1", AssetError, r"hand_rig.txt:12: vertex -1 is outside"),
        ("skin 3 head 1", "skin 3 head one", AssetError, r"hand_rig.txt:12: .*'one' is not a number"),
        ("skin 3 head 1", "skin 3 head -1", AssetError, r"hand_rig.txt:12: .*negative"),
        ("skin 3 head 1", "skin 3 head", AssetError, r"hand_rig.txt:12: expected 'skin"),
        ("skin 3 head 1", "skin 2 head 1", AssetError, r"hand_rig.txt:12: vertex 2 has a second skin line"),
        ("skin 3 head 1", "", RigError, r"no skin weight \(first: vertex 3\)"),
        ("joints spine 0 1.5 0", "joints spine 0 x 0", AssetError, r"hand_rig.txt:3: .*not three numbers"),
        ("joints spine 0 1.5 0", "joints spine 0 1.5", AssetError, r"hand_rig.txt:3: expected 'joints"),
        ("joints spine 0 1.5 0", "joints hip 0 1.5 0", AssetError, r"hand_rig.txt:3: joint 'hip' is declared twice"),
        ("joints spine 0 1.5 0", "joints spine 0 nan 0", RigError, r"hand_rig.txt:3: joint 'spine' has a NaN"),
        ("joints spine 0 1.5 0", "joints spine inf 1.5 0", RigError, r"NaN or infinite"),
        ("root hip", "root spine", RigError, r"root joint 'spine' is given a parent 'hip'"),
        ("root hip", "bone hip", AssetError, r"hand_rig.txt:5: unknown record 'bone'"),
        ("hier hip lleg", "hier spine lleg\nhier head lleg", RigError, r"'lleg' has two parents"),
        ("hier hip lleg", "hier lleg lleg", RigError, r"'lleg' is its own parent"),
        ("hier hip lleg", "", RigError, r"not connected to the root 'hip'.*'lleg'"),
    ],
)
def test_malformed_rig_lines(tmp_path: Path, old: str, new: str, error: type, pattern: str) -> None:
    assert old in HAND_RIG
    with pytest.raises(error, match=pattern):
        read_rignet(write_pair(tmp_path, HAND_RIG.replace(old, new)))


def test_cyclic_hierarchy_names_the_joints(tmp_path: Path) -> None:
    text = HAND_RIG + "joints a 0 0 0\njoints b 1 0 0\njoints c 2 0 0\nhier a b\nhier b c\nhier c a\n"
    with pytest.raises(RigError, match="cycle") as err:
        read_rignet(write_pair(tmp_path, text))
    message = str(err.value)
    assert all(f"{n} ->" in message or f"-> {n}" in message for n in "abc")


def test_nan_position_is_a_rig_error(tmp_path: Path) -> None:
    with pytest.raises(RigError, match="'head'.*NaN"):
        read_rignet(write_pair(tmp_path, HAND_RIG.replace("joints head 0 2 0.25", "joints head 0 NaN 0.25")))


def test_not_utf8_and_empty_rig(tmp_path: Path) -> None:
    (tmp_path / "bin.obj").write_text(HAND_OBJ)
    (tmp_path / "bin_rig.txt").write_bytes(b"joints \xff\xfe 0 0 0\n")
    with pytest.raises(AssetError, match="not a text file"):
        read_rignet(tmp_path / "bin_rig.txt")
    with pytest.raises(AssetError, match="no 'joints' lines"):
        read_rignet(write_pair(tmp_path, "\n\n", name="empty"))


GARBAGE_TOKENS = st.sampled_from(
    ["joints", "root", "hier", "skin", "hip", "spine", "head", "lleg", "ghost", "0", "1", "5", "6", "-1",
     "0.5", "nan", "inf", "-inf", "1e400", "x", "", "//", "#", "99999999999999999999"]
)
# Mostly lines that start with a real record keyword, so the garbage reaches every parser, not just the
# "unknown record" check.
GARBAGE_LINE = st.one_of(
    st.tuples(st.sampled_from(["joints", "root", "hier", "skin"]), st.lists(GARBAGE_TOKENS, max_size=7)).map(
        lambda kw_rest: " ".join([kw_rest[0], *kw_rest[1]])
    ),
    st.lists(GARBAGE_TOKENS, min_size=1, max_size=8).map(" ".join),
    st.text(max_size=30),
)


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.booleans(), st.integers(0, 20), GARBAGE_LINE), min_size=1, max_size=4),
)
def test_garbage_lines_give_vips_errors(tmp_path: Path, edits: list[tuple[bool, int, str]]) -> None:
    lines = edit_lines(HAND_RIG, edits)
    txt = write_pair(tmp_path, "\n".join(lines) + "\n", name="fuzz")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RigWarning)
            rig = read_rignet(txt)
    except VipsError:
        return
    assert isinstance(rig, Rig) and rig.num_vertices == 6


# ----- OBJ -----------------------------------------------------------------------------------------
def test_obj_reader_faces_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.obj"
    path.write_text(HAND_OBJ)
    vertices, faces = read_obj(path)
    np.testing.assert_array_equal(vertices, HAND_VERTICES)
    np.testing.assert_array_equal(faces, HAND_FACES)
    assert vertices.dtype == np.float32 and faces.dtype == np.int32
    for bad, pattern in [
        ("v 0 0 0\nv 1 0 0\nf 1 2 3\n", r"m.obj:3: face corner '3' refers to vertex 3"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n", r"m.obj:4: .*vertex 0"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -4 2 3\n", r"m.obj:4: .*vertex -4"),
        ("v 0 0 0\nv 1 0 0\nf 1 2\n", r"m.obj:3: a face needs at least three corners"),
        ("v 0 0\n", r"m.obj:1: a 'v' line needs three coordinates"),
        ("v 0 zero 0\n", r"m.obj:1: .*'zero' is not a number"),
        ("v 0 nan 0\n", r"m.obj:1: .*finite"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf a/1 2 3\n", r"m.obj:4: face corner 'a/1'"),
        ("# nothing\nvn 0 0 1\n", r"no vertices"),
    ]:
        path.write_text(bad)
        with pytest.raises(AssetError, match=pattern):
            read_obj(path)


def test_obj_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(50, 3)).astype(np.float32) * np.float32(1e3)
    faces = rng.integers(0, 50, size=(30, 3)).astype(np.int32)
    path = write_obj(tmp_path / "r.obj", vertices, faces)
    v, f = read_obj(path)
    np.testing.assert_array_equal(v, vertices)
    np.testing.assert_array_equal(f, faces)
    with pytest.raises(AssetError, match="faces refer to vertices outside"):
        write_obj(tmp_path / "bad.obj", vertices, faces + 50)
    assert not (tmp_path / "bad.obj").exists()
