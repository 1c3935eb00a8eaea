"""glTF reader and writer: real assets, an independent float64 glTF-spec skinning reference, synthetic files that
exercise scale, hierarchy and accessor corner cases, round trips, strict checks of written files, fuzzing."""

from __future__ import annotations

import base64
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from vips.errors import AssetError, PoseError, RigError, VipsError
from vips.io import load, save
from vips.io.gltf import read_gltf, write_glb
from vips.kinematics import skin
from vips.poses import Poses
from vips.rig import Rig

from conftest import ASSETS_DIR, random_rig_arrays

ASSETS = ("CesiumMan.glb", "RiggedSimple.glb", "SimpleSkin.gltf")
DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def quiet_load(path: Path) -> Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


# ================================================================================================
# Independent reference: the glTF 2.0 specification's skinning, straight from a parsed description.
# A description is a dict: nodes (list of {children, matrix | translation, rotation (xyzw), scale}),
# skin_joints, ibm (S, 4, 4) row-major, vertices (V, 3), joints (V, K) skin-joint indices, weights (V, K),
# channels [(node, path, times, values, interpolation)]. Written from the spec, not from the reader.
# ================================================================================================
def ref_quat_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) glTF (x, y, z, w) -> (..., 3, 3)."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def ref_trs(t: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    m = np.zeros(t.shape[:-1] + (4, 4))
    m[..., :3, :3] = ref_quat_matrix(r) * s[..., None, :]
    m[..., :3, 3] = t
    m[..., 3, 3] = 1
    return m


def ref_slerp(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    d = np.sum(a * b, -1, keepdims=True)
    b = np.where(d < 0, -b, b)
    d = np.abs(d)
    theta = np.arccos(np.clip(d, -1, 1))
    small = theta < 1e-7
    sa = np.where(small, 1 - u, np.sin((1 - u) * theta) / np.where(small, 1, np.sin(theta)))
    sb = np.where(small, u, np.sin(u * theta) / np.where(small, 1, np.sin(theta)))
    return sa * a + sb * b


def ref_sample(times, values, interp, t, rotation):  # noqa: ANN001, ANN201
    """One channel at scalar time t (glTF Appendix C), values (T, C) or (T*3, C) for CUBICSPLINE."""
    if interp == "CUBICSPLINE":
        tri = values.reshape(len(times), 3, -1)
        v = tri[:, 1]
    else:
        v = values
    if t <= times[0]:
        out = v[0]
    elif t >= times[-1]:
        out = v[-1]
    else:
        k = int(np.searchsorted(times, t, side="right")) - 1
        dt = times[k + 1] - times[k]
        u = (t - times[k]) / dt
        if interp == "STEP":
            out = v[k]
        elif interp == "LINEAR":
            out = ref_slerp(v[k], v[k + 1], u) if rotation else (1 - u) * v[k] + u * v[k + 1]
        else:
            out = (
                (2 * u**3 - 3 * u**2 + 1) * v[k]
                + (u**3 - 2 * u**2 + u) * dt * tri[k, 2]
                + (-2 * u**3 + 3 * u**2) * v[k + 1]
                + (u**3 - u**2) * dt * tri[k + 1, 0]
            )
    return out / np.linalg.norm(out) if rotation else out


def ref_globals(desc: dict, t: float | None, skip: set) -> list[np.ndarray]:  # noqa: ANN001
    """Global matrix of every node at time t (None: the rest pose), leaving out channels in ``skip``."""
    nodes = desc["nodes"]
    locals_ = []
    for i, n in enumerate(nodes):
        if "matrix" in n:
            locals_.append(np.asarray(n["matrix"], np.float64).reshape(4, 4).T)
            continue
        trs = {
            "translation": np.asarray(n.get("translation", [0, 0, 0]), np.float64),
            "rotation": np.asarray(n.get("rotation", [0, 0, 0, 1]), np.float64),
            "scale": np.asarray(n.get("scale", [1, 1, 1]), np.float64),
        }
        if t is not None:
            for node, path, times, values, interp in desc["channels"]:
                if node == i and (node, path) not in skip:
                    trs[path] = ref_sample(times, values, interp, t, path == "rotation")
        locals_.append(ref_trs(trs["translation"], trs["rotation"], trs["scale"]))
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
    out: list[np.ndarray | None] = [None] * len(nodes)

    def world(i: int) -> np.ndarray:
        if out[i] is None:
            out[i] = locals_[i] if i not in parent else world(parent[i]) @ locals_[i]
        return out[i]

    return [world(i) for i in range(len(nodes))]


def ref_skin(desc: dict, t: float | None, skip: set = frozenset()) -> np.ndarray:  # noqa: ANN001
    """(V, 3) skinned vertices: sum_k w_k (G[joint_k] @ IBM_k) v, weights normalized per vertex."""
    g = ref_globals(desc, t, skip)
    jm = np.stack([g[n] @ desc["ibm"][s] for s, n in enumerate(desc["skin_joints"])])
    v = np.concatenate([desc["vertices"], np.ones((len(desc["vertices"]), 1))], 1)
    w = desc["weights"] / desc["weights"].sum(1, keepdims=True)
    per = np.einsum("vkab,vb->vka", jm[desc["joints"]], v)
    return np.einsum("vk,vka->va", w, per)[:, :3]


def ref_parse(path: Path) -> dict:
    """A description from a real .glb / .gltf file: float, unsigned byte/short accessors, strides, data URIs."""
    data = path.read_bytes()
    blob = None
    if data[:4] == b"glTF":
        jlen = struct.unpack_from("<I", data, 12)[0]
        gltf = json.loads(data[20 : 20 + jlen])
        blen = struct.unpack_from("<I", data, 20 + jlen)[0]
        blob = data[28 + jlen : 28 + jlen + blen]
    else:
        gltf = json.loads(data)
    buffers = []
    for b in gltf["buffers"]:
        uri = b.get("uri")
        buffers.append(blob if uri is None else base64.b64decode(uri.split(",", 1)[1]))

    def acc(i: int) -> np.ndarray:
        a = gltf["accessors"][i]
        view = gltf["bufferViews"][a["bufferView"]]
        dt = np.dtype(DTYPES[a["componentType"]])
        width = WIDTHS[a["type"]]
        stride = view.get("byteStride", dt.itemsize * width)
        start = view.get("byteOffset", 0) + a.get("byteOffset", 0)
        buf = buffers[view["buffer"]]
        rows = [np.frombuffer(buf, dt, width, start + k * stride) for k in range(a["count"])]
        out = np.array(rows, np.float64)
        if a.get("normalized"):
            out /= np.iinfo(dt).max
        return out

    skin_node = next(n for n in gltf["nodes"] if "skin" in n and "mesh" in n)
    skin_ = gltf["skins"][skin_node["skin"]]
    prim = gltf["meshes"][skin_node["mesh"]]["primitives"][0]
    channels = []
    for anim in gltf.get("animations", [])[:1]:
        for ch in anim["channels"]:
            s = anim["samplers"][ch["sampler"]]
            channels.append(
                (ch["target"]["node"], ch["target"]["path"], acc(s["input"])[:, 0], acc(s["output"]),
                 s.get("interpolation", "LINEAR"))
            )
    return {
        "nodes": gltf["nodes"],
        "skin_joints": skin_["joints"],
        "ibm": acc(skin_["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1),
        "vertices": acc(prim["attributes"]["POSITION"]),
        "faces": acc(prim["indices"]).astype(np.int64).reshape(-1, 3),
        "joints": acc(prim["attributes"]["JOINTS_0"]).astype(np.int64),
        "weights": acc(prim["attributes"]["WEIGHTS_0"]),
        "channels": channels,
    }


# ================================================================================================
# Real assets
# ================================================================================================
def test_cesium_man_structure(assets_dir: Path) -> None:
    rig = quiet_load(assets_dir / "gltf" / "CesiumMan.glb")
    desc = ref_parse(assets_dir / "gltf" / "CesiumMan.glb")
    assert rig.num_joints == 19  # its 19 skin joints are one connected tree
    assert rig.num_vertices == 3273 == len(desc["vertices"])
    assert rig.faces.shape == (14016 // 3, 3)
    np.testing.assert_allclose(rig.skin_weights.sum(1), 1, atol=1e-6)
    assert rig.up_axis == "Y" and rig.meters_per_unit == 1.0 and rig.name == "CesiumMan"
    assert list(rig.clips) == ["clip_0"] and rig.clips["clip_0"].fps == 24 and len(rig.clips["clip_0"]) == 49
    # Node 0 turns the Z-up mesh to Y up; the rig is in scene space, so the man stands along +Y, 1.5 m tall.
    assert rig.height() == pytest.approx(1.5065, abs=1e-3)
    # The skin lists parents first, so rig joint j is skin joint j; joint positions are the glTF global
    # translations (the non-joint ancestors are folded into the root).
    assert rig.joint_names == [f"joint_{n}" for n in desc["skin_joints"]]
    g = ref_globals(desc, None, set())
    expected = np.stack([g[n][:3, 3] for n in desc["skin_joints"]])
    np.testing.assert_allclose(rig.rest_joint_positions(), expected, atol=1e-6)


@pytest.mark.parametrize("name", ASSETS)
def test_rest_skinning_matches_gltf_spec(assets_dir: Path, name: str) -> None:
    rig = quiet_load(assets_dir / "gltf" / name)
    desc = ref_parse(assets_dir / "gltf" / name)
    ours = skin(rig, Poses.identity(1, rig.num_joints))[0]
    np.testing.assert_allclose(ours, ref_skin(desc, None), atol=1e-5 * rig.height())


@pytest.mark.parametrize("name", ASSETS)
def test_clip_skinning_matches_gltf_spec(assets_dir: Path, name: str) -> None:
    """Every frame of every clip against the spec reference. The rig has fixed bone lengths, so translation
    channels of joints other than the rig's root are left out of the reference; a second check bounds how far
    the full spec result is from ours by those translations' size."""
    rig = quiet_load(assets_dir / "gltf" / name)
    desc = ref_parse(assets_dir / "gltf" / name)
    clip = next(iter(rig.clips.values()))
    parent = {c: i for i, n in enumerate(desc["nodes"]) for c in n.get("children", [])}
    joints = set(desc["skin_joints"])
    root = next(j for j in desc["skin_joints"] if parent.get(j) not in joints)
    skip = {(n, p) for n, p, *_ in desc["channels"] if p == "translation" and n in joints and n != root}
    drift = 0.0
    for n, p, _, values, _ in desc["channels"]:
        if (n, p) in skip:
            drift = max(drift, np.abs(values - np.asarray(desc["nodes"][n].get("translation", [0, 0, 0]))).max())
    ours = skin(rig, clip)
    h = rig.height()
    for f in range(len(clip)):
        t = f / clip.fps
        np.testing.assert_allclose(ours[f], ref_skin(desc, t, skip), atol=1e-4 * h, err_msg=f"frame {f}")
        full = ref_skin(desc, t)
        assert np.abs(ours[f] - full).max() <= 4 * np.sqrt(3) * drift + 1e-4 * h


def test_cesium_man_reports_dropped_translations(assets_dir: Path) -> None:
    with pytest.warns(UserWarning, match="translates non-root joints.*file conversion keeps them"):
        rig = load(assets_dir / "gltf" / "CesiumMan.glb")
    assert any("translates non-root joints" in w for w in rig.warnings)
    # The pose model's clip leaves them out; the clip's full channels keep them.
    channels = rig.clip_channels["clip_0"]
    assert channels.poses is rig.clips["clip_0"]
    moved = np.abs(channels.translations[:, 1:] - rig.rest_translations[None, 1:]).max()
    assert moved > 1e-3


def test_simple_skin_gltf_with_data_uris(assets_dir: Path) -> None:
    rig = quiet_load(assets_dir / "gltf" / "SimpleSkin.gltf")
    assert rig.num_joints == 2 and rig.num_vertices == 10 and list(rig.parents) == [-1, 0]
    assert rig.joint_names == ["joint_1", "joint_2"]
    assert len(rig.clips["clip_0"]) == 12  # keys every 0.5 s up to 5.5 s -> 2 fps


# ================================================================================================
# Synthetic files: a small glTF builder
# ================================================================================================
class Gltf:
    """Builds a .gltf (data URI) or .glb file from numpy arrays, independently of the writer under test."""

    def __init__(self) -> None:
        self.json: dict = {"asset": {"version": "2.0"}, "nodes": [], "accessors": [], "bufferViews": []}
        self.blob = bytearray()

    def view(self, raw: bytes, stride: int | None = None) -> int:
        self.blob += b"\0" * (-len(self.blob) % 4)
        v = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw)}
        if stride:
            v["byteStride"] = stride
        self.json["bufferViews"].append(v)
        self.blob += raw
        return len(self.json["bufferViews"]) - 1

    def acc(self, a: np.ndarray, ctype: int = 5126, kind: str | None = None, normalized: bool = False,
            stride: int | None = None, sparse: tuple[np.ndarray, np.ndarray] | None = None) -> int:
        a = np.asarray(a).astype(DTYPES[ctype])
        a2 = a.reshape(len(a), -1)
        width = a2.shape[1]
        raw = a2.tobytes()
        if stride:  # interleave padding to exercise byteStride
            row = a2.itemsize * width
            raw = b"".join(a2[i].tobytes() + b"\xee" * (stride - row) for i in range(len(a2)))
        spec = {"bufferView": self.view(raw, stride), "componentType": ctype, "count": len(a),
                "type": kind or {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}[width]}
        if normalized:
            spec["normalized"] = True
        if sparse is not None:
            idx, vals = sparse
            spec["sparse"] = {
                "count": len(idx),
                "indices": {"bufferView": self.view(np.asarray(idx, "<u2").tobytes()), "componentType": 5123},
                "values": {"bufferView": self.view(np.asarray(vals, DTYPES[ctype]).tobytes())},
            }
        self.json["accessors"].append(spec)
        return len(self.json["accessors"]) - 1

    def write(self, path: Path) -> Path:
        j = dict(self.json)
        if path.suffix == ".gltf":
            uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode()
            j["buffers"] = [{"byteLength": len(self.blob), "uri": uri}]
            path.write_text(json.dumps(j))
        else:
            j["buffers"] = [{"byteLength": len(self.blob)}]
            text = json.dumps(j).encode()
            text += b" " * (-len(text) % 4)
            blob = bytes(self.blob) + b"\0" * (-len(self.blob) % 4)
            body = struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(blob), b"BIN\0") + blob
            path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
        return path


def unit(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    q = rng.normal(size=(4,) if n is None else (n, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def scaled_asset(tmp_path: Path, suffix: str = ".gltf", seed: int = 0) -> tuple[Path, dict]:
    """An armature scaled by 0.01 (centimetre joints, Mixamo style) with a twice-scaled non-skin node between
    joints, two top-level skin joints (their common ancestor becomes the root), an unnamed and a duplicate
    joint name, two primitives (one indexed with normalized UNSIGNED_BYTE weights, one non-indexed with 8
    influences, a strided buffer view and a sparse POSITION accessor) and LINEAR/STEP/CUBICSPLINE channels."""
    rng = np.random.default_rng(seed)
    nodes = [
        {"name": "Armature", "translation": [0.1, 0.0, 0.2], "rotation": list(unit(rng)), "scale": [0.01] * 3,
         "children": [1, 5, 6]},
        {"name": "hips", "translation": [0.0, 100.0, 0.0], "rotation": list(unit(rng)), "children": [2]},
        {"name": "between", "translation": [0.0, 10.0, 0.0], "rotation": list(unit(rng)), "scale": [2.0] * 3,
         "children": [3]},
        {"translation": [0.0, 20.0, 0.0], "rotation": list(unit(rng)), "children": [4]},
        {"name": "hips", "translation": [5.0, 10.0, 0.0]},
        {"name": "leg", "translation": [10.0, 90.0, 0.0], "rotation": list(unit(rng))},
        {"name": "body", "mesh": 0, "skin": 0},
    ]
    skin_joints = [3, 1, 5, 4]
    desc = {"nodes": nodes, "skin_joints": skin_joints, "channels": []}
    g = ref_globals(desc, None, set())
    ibm = np.stack([np.linalg.inv(g[n]) @ g[6] for n in skin_joints])  # bound in the rest pose, mesh at node 6
    b = Gltf()
    b.json["nodes"] = nodes
    b.json["scenes"] = [{"nodes": [0]}]
    b.json["scene"] = 0
    b.json["skins"] = [{"joints": skin_joints, "inverseBindMatrices": b.acc(ibm.transpose(0, 2, 1).reshape(-1, 16))}]
    # primitive A: indexed, 4 influences, UNSIGNED_BYTE normalized weights (rows sum to 255)
    va = rng.normal(size=(30, 3)) * 20 + [0, 120, 0]
    ja = np.stack([rng.permutation(4) for _ in range(30)]).astype(np.uint8)
    wa = rng.multinomial(255, [0.4, 0.3, 0.2, 0.1], size=30).astype(np.uint8)
    fa = rng.integers(0, 30, size=(20, 3))
    # primitive B: non-indexed, 8 influences (JOINTS_1 repeats joints), strided POSITION with sparse override
    vb_base = rng.normal(size=(12, 3)) * 20 + [0, 110, 0]
    sparse_idx = np.array([2, 7])
    sparse_val = rng.normal(size=(2, 3)) * 20
    vb = vb_base.copy()
    vb[sparse_idx] = sparse_val
    jb = rng.integers(0, 4, size=(12, 8)).astype(np.uint16)
    wb = rng.random((12, 8)).astype(np.float32)
    wb /= wb.sum(1, keepdims=True)
    prim_a = {"attributes": {"POSITION": b.acc(va), "JOINTS_0": b.acc(ja, 5121),
                             "WEIGHTS_0": b.acc(wa, 5121, normalized=True)},
              "indices": b.acc(fa.reshape(-1), 5123)}
    prim_b = {"attributes": {"POSITION": b.acc(vb_base, stride=16, sparse=(sparse_idx, sparse_val)),
                             "JOINTS_0": b.acc(jb[:, :4], 5123), "WEIGHTS_0": b.acc(wb[:, :4]),
                             "JOINTS_1": b.acc(jb[:, 4:], 5123), "WEIGHTS_1": b.acc(wb[:, 4:])}}
    b.json["meshes"] = [{"primitives": [prim_a, prim_b]}]
    times = np.array([0.0, 0.25, 0.5, 1.0])
    rot_lin = unit(rng, 4)
    rot_cubic = np.concatenate([[rng.normal(size=4) * 0.2, q, rng.normal(size=4) * 0.2] for q in unit(rng, 4)])
    rot_between = unit(rng, 4)
    root_step = rng.normal(size=(4, 3)) * 0.05
    channels = [(1, "rotation", times, rot_lin, "LINEAR"), (3, "rotation", times, rot_cubic, "CUBICSPLINE"),
                (2, "rotation", times, rot_between, "LINEAR"), (0, "translation", times, root_step, "STEP")]
    t_acc = b.acc(times)
    samplers, chans = [], []
    for node, path, _, values, interp in channels:
        samplers.append({"input": t_acc, "output": b.acc(values), "interpolation": interp})
        chans.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})
    b.json["animations"] = [{"name": "wave", "channels": chans, "samplers": samplers}]
    desc.update(
        ibm=ibm,
        vertices=np.concatenate([va, vb]),
        joints=np.concatenate([np.pad(ja.astype(np.int64), ((0, 0), (0, 4))), jb.astype(np.int64)]),
        weights=np.concatenate([np.pad(wa / 255.0, ((0, 0), (0, 4))), wb.astype(np.float64)]),
        channels=channels,
        faces=np.concatenate([fa, np.arange(12).reshape(4, 3) + 30]),
    )
    return b.write(tmp_path / f"scaled{suffix}"), desc


@pytest.mark.parametrize("suffix", [".gltf", ".glb"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scaled_hierarchy_skins_like_gltf(tmp_path: Path, suffix: str, seed: int) -> None:
    path, desc = scaled_asset(tmp_path, suffix, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rig = read_gltf(path)
    assert not [str(w.message) for w in caught]  # uniform scales are absorbed without loss
    # LCA 'Armature' becomes the root; 'between' (no skin weight) stays; unnamed and duplicate names fixed
    assert rig.joint_names == ["Armature", "hips", "between", "joint_3", "hips_1", "leg"]
    assert list(rig.parents) == [-1, 0, 1, 2, 3, 0]
    g = ref_globals(desc, None, set())
    np.testing.assert_allclose(rig.rest_joint_positions(), np.stack([g[n][:3, 3] for n in (0, 1, 2, 3, 4, 5)]),
                               atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rig.rest_rotations, axis=1), 1, atol=1e-6)
    assert rig.num_vertices == 42 and rig.skin_indices.shape[1] == 8
    np.testing.assert_array_equal(rig.faces, desc["faces"])
    h = rig.height()
    np.testing.assert_allclose(skin(rig, Poses.identity(1, 6))[0], ref_skin(desc, None), atol=1e-5 * h)
    clip = rig.clips["wave"]
    assert clip.fps == 4 and len(clip) == 5
    ours = skin(rig, clip)
    for f in range(len(clip)):
        np.testing.assert_allclose(ours[f], ref_skin(desc, f / clip.fps), atol=1e-5 * h, err_msg=f"frame {f}")


def two_root_asset(tmp_path: Path, scale: list[float] | None = None) -> Path:
    """Two separate scene roots, both skin joints, one of them named 'root'."""
    b = Gltf()
    b.json["nodes"] = [
        {"name": "root", "translation": [1.0, 0, 0], **({"scale": scale} if scale else {})},
        {"name": "b", "translation": [-1.0, 0, 0]},
        {"name": "mesh", "mesh": 0, "skin": 0},
    ]
    b.json["scenes"] = [{"nodes": [0, 1, 2]}]
    b.json["skins"] = [{"joints": [0, 1]}]  # no inverseBindMatrices: identity
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    b.json["meshes"] = [{"primitives": [{"attributes": {
        "POSITION": b.acc(v), "JOINTS_0": b.acc(np.array([[0, 1, 0, 0]] * 3), 5123),
        "WEIGHTS_0": b.acc(np.array([[0.5, 0.5, 0, 0]] * 3))}}]}]
    return b.write(tmp_path / "two_roots.gltf")


def test_several_roots_get_a_synthetic_root(tmp_path: Path) -> None:
    rig = read_gltf(two_root_asset(tmp_path))
    assert rig.joint_names == ["root_1", "root", "b"]
    assert list(rig.parents) == [-1, 0, 0]
    np.testing.assert_allclose(rig.rest_joint_positions(), [[0, 0, 0], [1, 0, 0], [-1, 0, 0]], atol=1e-7)
    # identity inverse bind matrices: glTF skins v -> 0.5 (G_root + G_b) v
    np.testing.assert_allclose(skin(rig, Poses.identity(1, 3))[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_non_uniform_scale_is_reported(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="non-uniform"):
        rig = read_gltf(two_root_asset(tmp_path, scale=[1.0, 2.0, 1.0]))
    # the rest pose still skins exactly as glTF: 0.5 * (diag(1,2,1) v + (1,0,0)) + 0.5 * (v + (-1,0,0))
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    expected = 0.5 * (v * [1, 2, 1] + [1, 0, 0]) + 0.5 * (v + [-1, 0, 0])
    np.testing.assert_allclose(skin(rig, Poses.identity(1, 3))[0], expected, atol=1e-6)


def test_mesh_without_skin_is_an_asset_error(tmp_path: Path) -> None:
    b = Gltf()
    b.json["nodes"] = [{"mesh": 0}]
    b.json["meshes"] = [{"primitives": [{"attributes": {"POSITION": b.acc(np.eye(3))}}]}]
    path = b.write(tmp_path / "static.gltf")
    with pytest.raises(AssetError, match="no skin") as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda j: j["accessors"][0].update(count=10**6), "accessor 0"),
        (lambda j: j["accessors"][0].update(componentType=7), "componentType"),
        (lambda j: j["skins"][0]["joints"].append(99), "outside"),
        (lambda j: j["nodes"][0]["children"].append(0), "parent|cycle"),
        (lambda j: j["bufferViews"][0].update(byteOffset=10**9), "bufferView 0"),
        (lambda j: j.pop("skins"), "no skin"),
        (lambda j: j["animations"][0]["samplers"][0].update(interpolation="SMOOTH"), "interpolation"),
        (lambda j: j["asset"].update(version="1.0"), "2.0"),
    ],
)
def test_structural_errors_name_the_problem(tmp_path: Path, edit, match: str) -> None:  # noqa: ANN001
    path, _ = scaled_asset(tmp_path)
    j = json.loads(path.read_text())
    edit(j)
    path.write_text(json.dumps(j))
    with pytest.raises(AssetError, match=match):
        read_gltf(path)


def test_external_buffer_relative_to_gltf(tmp_path: Path) -> None:
    path, desc = scaled_asset(tmp_path)
    j = json.loads(path.read_text())
    raw = base64.b64decode(j["buffers"][0]["uri"].split(",", 1)[1])
    (tmp_path / "data folder").mkdir()
    (tmp_path / "data folder" / "bin 0.bin").write_bytes(raw)
    j["buffers"][0]["uri"] = "data%20folder/bin%200.bin"
    path.write_text(json.dumps(j))
    rig = read_gltf(path)
    np.testing.assert_allclose(skin(rig, Poses.identity(1, 6))[0], ref_skin(desc, None), atol=1e-5 * rig.height())
    (tmp_path / "data folder" / "bin 0.bin").unlink()
    with pytest.raises(AssetError, match="cannot be read"):
        read_gltf(path)


# ================================================================================================
# Synthetic files: what real exports do (spawn clips, scaled armatures, NaN weights, a skin per mesh)
# ================================================================================================
SMALL_NODES = [
    {"name": "Armature", "children": [1, 3]},
    {"name": "hips", "translation": [0.0, 1.0, 0.0], "children": [2]},
    {"name": "tail", "translation": [0.0, 0.5, 0.0], "rotation": [0.0, 0.0, 0.38268343, 0.92387953]},
    {"name": "body", "mesh": 0, "skin": 0},
]


def small_asset(
    tmp_path: Path,
    edits: dict[int, dict] | None = None,
    clips: dict[str, list[tuple[int, str, np.ndarray, np.ndarray]]] | None = None,
    weights: np.ndarray | None = None,
    vertices: np.ndarray | None = None,
    meshes: int = 1,
) -> tuple[Path, dict]:
    """Armature -> hips -> tail with a mesh node 'body' (skin joints hips, tail; bound in the rest pose).
    ``edits`` update nodes, ``clips`` are LINEAR animations {name: [(node, path, times, values)]} (rotations
    glTF xyzw), ``weights`` (V, 4) float weights over joints (0, 1, 0, 0) of ``vertices`` (V, 3), ``meshes``
    mesh nodes each with its own skin of the same joints (as FBX2glTF writes). Returns the path and a
    description for :func:`ref_skin` whose channels are the first clip's."""
    nodes = [dict(n) for n in SMALL_NODES]
    for i, edit in (edits or {}).items():
        nodes[i].update(edit)
    if vertices is None:
        vertices = np.random.default_rng(0).normal(size=(20, 3)) * 0.3 + [0.0, 1.2, 0.0]
    if weights is None:
        weights = np.tile([0.7, 0.3, 0.0, 0.0], (len(vertices), 1))
    skin_joints = [1, 2]
    desc = {"nodes": nodes, "skin_joints": skin_joints, "channels": []}
    g = ref_globals(desc, None, set())
    ibm = np.stack([np.linalg.inv(g[n]) @ g[3] for n in skin_joints])
    b = Gltf()
    joints = np.tile([0, 1, 0, 0], (len(vertices), 1))
    prim = {"attributes": {"POSITION": b.acc(vertices), "JOINTS_0": b.acc(joints, 5121), "WEIGHTS_0": b.acc(weights)},
            "indices": b.acc(np.arange(len(vertices) // 3 * 3), 5123)}
    for m in range(1, meshes):  # one more mesh node, skin (its own copy of the inverse binds) and mesh each
        nodes[0]["children"] = nodes[0]["children"] + [len(nodes)]
        nodes.append({"name": f"body{m}", "mesh": m, "skin": m})
    b.json["nodes"] = nodes
    b.json["skins"] = [{"joints": skin_joints, "inverseBindMatrices": b.acc(ibm.transpose(0, 2, 1).reshape(-1, 16))}
                       for _ in range(meshes)]
    b.json["meshes"] = [{"primitives": [prim]} for _ in range(meshes)]
    b.json["animations"] = []
    for name, channels in (clips or {}).items():
        samplers, chans = [], []
        for node, path, times, values in channels:
            samplers.append({"input": b.acc(times), "output": b.acc(values)})
            chans.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})
        b.json["animations"].append({"name": name, "channels": chans, "samplers": samplers})
    first = next(iter((clips or {"": []}).values()))
    desc.update(ibm=ibm, vertices=vertices, joints=joints, weights=weights,
                channels=[(n, p, t, v, "LINEAR") for n, p, t, v in first])
    return b.write(tmp_path / "small.gltf"), desc


TIMES = np.array([0.0, 0.5, 1.0])
TAIL_REST = Rotation.from_quat(SMALL_NODES[2]["rotation"])
WAVE_DELTAS = Rotation.from_rotvec([[0, 0, 0], [1.2, 0, 0], [0, 0.4, 0.3]])  # from the rest rotation
WAVE = [(2, "rotation", TIMES, (TAIL_REST * WAVE_DELTAS).as_quat())]
GROW = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])


@pytest.mark.parametrize(
    "node, scales, named",
    [
        (1, GROW, "joint 'hips' to zero at frame 0"),
        (2, GROW, "joint 'tail' to zero at frame 0"),
        (0, GROW, "node 'Armature' above joint 'hips' to zero at frame 0"),  # not a joint: folded into the root
        (2, GROW[::-1], "joint 'tail' to zero at frame 2"),  # a despawn
    ],
)
def test_clip_scaling_a_joint_to_zero_is_dropped_alone(
    tmp_path: Path, node: int, scales: np.ndarray, named: str
) -> None:
    path, desc = small_asset(tmp_path, clips={"wave": WAVE, "Spawn_Air": [(node, "scale", TIMES, scales)]})
    with pytest.warns(UserWarning) as caught:
        rig = read_gltf(path)
    assert list(rig.clips) == ["wave"]
    message = f"clip 'Spawn_Air' dropped: it scales {named}"
    assert any(message in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert any(message in w for w in rig.warnings)
    clip = rig.clips["wave"]
    assert clip.fps == 2 and len(clip) == 3
    tail = rig.joint_index("tail")
    deltas = np.roll(WAVE_DELTAS.as_quat(), 1, axis=1)  # (w, x, y, z)
    np.testing.assert_allclose(clip.rotations[:, tail], deltas * np.sign(deltas[:, :1]), atol=1e-6)
    np.testing.assert_allclose(np.delete(clip.rotations, tail, axis=1), np.tile([1.0, 0, 0, 0], (3, 1, 1)), atol=1e-6)
    np.testing.assert_allclose(clip.root_translation, 0, atol=1e-6)
    ours = skin(rig, clip)
    for f in range(3):
        np.testing.assert_allclose(ours[f], ref_skin(desc, f / 2), atol=1e-5, err_msg=f"frame {f}")


@pytest.mark.parametrize(
    "edits, named",
    [
        ({2: {"scale": [0.0, 0.0, 0.0]}}, "joint 'tail' has a zero scale in the rest pose, so"),
        ({1: {"scale": [1.0, 0.0, 1.0]}}, "joint 'hips' has a zero scale in the rest pose, so"),
        ({0: {"matrix": [0.0] * 15 + [1.0]}}, "joint 'hips' has a zero scale in the rest pose (from node 'Armature' "
         "above it), so"),
    ],
)
def test_zero_scale_in_the_rest_pose_is_refused(tmp_path: Path, edits: dict, named: str) -> None:
    path, _ = small_asset(tmp_path, clips={"wave": WAVE})
    j = json.loads(path.read_text())
    for i, edit in edits.items():  # after the inverse bind matrices were computed from a sane rest pose
        j["nodes"][i].update(edit)
    path.write_text(json.dumps(j))
    with pytest.raises(AssetError, match="non-zero scale") as info:
        read_gltf(path)
    assert str(path) in str(info.value) and named in str(info.value)


def test_float_noise_in_a_centimetre_armature_is_not_a_scaled_clip(tmp_path: Path) -> None:
    """Quaternius exports: armature scale 100, bone scales 1 +- 2e-5 (float noise) and clips without scale."""
    path, desc = small_asset(tmp_path, {0: {"scale": [100.0] * 3}, 1: {"scale": [1.0, 1.0, 1.00003]}},
                             clips={"wave": WAVE, "grow": [(2, "scale", TIMES, np.ones((3, 3)) * [[1], [1.1], [1]])]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rig = read_gltf(path)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "'wave'" in m], messages
    assert [m for m in messages if "scale" in m] == [
        f"{rig.label}: clip 'grow' scales joint 'tail' by 10% at frame 1; poses hold no scale, so the pose "
        "model's clip leaves it out (file conversion keeps it)"
    ]
    assert list(rig.clips) == ["wave", "grow"]
    # The clip's full channels keep the scale, relative to the rest (the armature's 100 is in the bind matrices).
    np.testing.assert_allclose(rig.clip_channels["grow"].scales[:, 1], [[1] * 3, [1.1] * 3, [1] * 3], rtol=1e-4)
    np.testing.assert_allclose(rig.clip_channels["grow"].scales[:, 0], 1, rtol=1e-4)
    np.testing.assert_allclose(rig.clip_channels["wave"].scales, 1, rtol=1e-4)


def test_skins_per_mesh_with_the_same_joints_are_read_together(tmp_path: Path) -> None:
    path, _ = small_asset(tmp_path, meshes=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rig = read_gltf(path)
    assert not caught and rig.num_vertices == 60
    j = json.loads(path.read_text())
    j["skins"][2]["joints"] = [1]  # another skeleton: its mesh is left out, by name
    path.write_text(json.dumps(j))
    with pytest.warns(UserWarning, match="meshes 'body2' use another skeleton than the meshes of skin 0"):
        rig = read_gltf(path)
    assert rig.num_vertices == 40


def weights_with(rows: dict[int, list[float]], count: int = 40) -> np.ndarray:
    w = np.tile([0.7, 0.3, 0.0, 0.0], (count, 1))
    for v, row in rows.items():
        w[v] = row
    return w


def test_vertices_with_all_weights_nan_take_their_nearest_neighbours(tmp_path: Path) -> None:
    """FBX2glTF writes NaN for vertices without weight (0 / 0): a few take the nearest weighted vertex's."""
    vertices = np.stack([np.zeros(40), np.linspace(0.5, 2.0, 40), np.zeros(40)], 1)  # 5 cm apart along Y
    vertices[7] = vertices[20] + [0.001, 0, 0]
    weights = weights_with({20: [0.0, 1.0, 0, 0], 21: [0.2, 0.8, 0, 0], 9: [0.4, 0.6, 0, 0], 7: [np.nan] * 4,
                            8: [np.nan] * 4})
    path, _ = small_asset(tmp_path, weights=weights, vertices=vertices)
    with pytest.warns(UserWarning, match="mesh 0 primitive 0: 2 vertices had NaN skin weights") as caught:
        rig = read_gltf(path)
    assert "nearest vertex with weights" in str(caught[0].message)
    w = dense_weights(rig)
    np.testing.assert_allclose(w[7], [0.0, 1.0])  # the copy of vertex 20 (rig joints: hips, tail)
    np.testing.assert_allclose(w[8], [0.4, 0.6], atol=1e-6)  # nearest with weights: vertex 9 (7 moved away)
    np.testing.assert_allclose(np.delete(w, [7, 8], 0), np.delete(weights[:, :2], [7, 8], 0), atol=1e-6)


def test_nan_beside_finite_weights_is_dropped(tmp_path: Path) -> None:
    weights = weights_with({3: [0.6, np.nan, 0.0, 0.0], 4: [np.nan, 0.25, 0.0, 0.0]})
    path, _ = small_asset(tmp_path, weights=weights, vertices=np.random.default_rng(1).normal(size=(40, 3)))
    with pytest.warns(UserWarning) as caught:
        rig = read_gltf(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "mesh 0 primitive 0: 2 vertices had NaN skin weights beside finite ones; the NaN influences were dropped" \
        in messages and "2 vertices had skin weights not summing to one; they were renormalized" in messages
    w = dense_weights(rig)
    np.testing.assert_allclose(w[3], [1, 0], atol=1e-6)
    np.testing.assert_allclose(w[4], [0, 1], atol=1e-6)
    np.testing.assert_allclose(w[5], [0.7, 0.3], atol=1e-6)


@pytest.mark.parametrize(
    "rows, match",
    [
        ({v: [np.nan] * 4 for v in range(0, 40, 5)}, "mesh 0 primitive 0 has NaN skin weights at 8 of its 40 vertices "
         r"\(first: vertex 0\), too many .*weight-paint those vertices and export again"),
        ({v: [np.nan] * 4 for v in range(40)}, "NaN skin weights at 40 of its 40 vertices"),
        ({6: [np.inf, 0.5, 0, 0]}, r"mesh 0 primitive 0 has infinite skin weights \(first at vertex 6\)"),
    ],
)
def test_nan_weights_beyond_repair_are_refused(tmp_path: Path, rows: dict, match: str) -> None:
    path, _ = small_asset(tmp_path, weights=weights_with(rows), vertices=np.random.default_rng(1).normal(size=(40, 3)))
    with pytest.raises(AssetError, match=match) as info:
        read_gltf(path)
    assert str(path) in str(info.value)


# ================================================================================================
# Writer
# ================================================================================================
def check_glb(path: Path) -> dict:
    """A strict reading of the GLB layout rules of the spec; returns the JSON."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    assert jtype == b"JSON" and jlen % 4 == 0
    text = data[20 : 20 + jlen]
    gltf = json.loads(text)
    assert text == text.rstrip(b" ") + b" " * (len(text) - len(text.rstrip(b" ")))  # padded with spaces
    blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
    assert btype == b"BIN\0" and blen % 4 == 0 and 28 + jlen + blen == len(data)
    blob = data[28 + jlen :]
    assert gltf["asset"] == {"version": "2.0", "generator": "vips"}
    assert len(gltf["buffers"]) == 1 and "uri" not in gltf["buffers"][0]
    assert gltf["buffers"][0]["byteLength"] <= blen and blen - gltf["buffers"][0]["byteLength"] < 4
    for v in gltf["bufferViews"]:
        assert v["byteOffset"] % 4 == 0 and v["byteOffset"] + v["byteLength"] <= gltf["buffers"][0]["byteLength"]
    for a in gltf["accessors"]:
        v = gltf["bufferViews"][a["bufferView"]]
        size = np.dtype(DTYPES[a["componentType"]]).itemsize * WIDTHS[a["type"]]
        assert a.get("byteOffset", 0) + a["count"] * size <= v["byteLength"]
    prims = [p for m in gltf.get("meshes", []) for p in m["primitives"]]
    for p in prims:
        pos = gltf["accessors"][p["attributes"]["POSITION"]]
        view = gltf["bufferViews"][pos["bufferView"]]
        values = np.frombuffer(blob, "<f4", pos["count"] * 3, view["byteOffset"]).reshape(-1, 3)
        assert pos["min"] == values.min(0).tolist() and pos["max"] == values.max(0).tolist()
        for name, index in p["attributes"].items():
            assert gltf["bufferViews"][gltf["accessors"][index]["bufferView"]]["target"] == 34962, name
            if name.startswith("JOINTS"):
                assert gltf["accessors"][index]["componentType"] == 5123
            if name.startswith("WEIGHTS"):
                assert gltf["accessors"][index]["componentType"] == 5126
        if "indices" in p:
            ind = gltf["accessors"][p["indices"]]
            assert ind["componentType"] == 5125 and gltf["bufferViews"][ind["bufferView"]]["target"] == 34963
    for skin_ in gltf["skins"]:
        ibm = gltf["accessors"][skin_["inverseBindMatrices"]]
        assert ibm["type"] == "MAT4" and "target" not in gltf["bufferViews"][ibm["bufferView"]]
    for anim in gltf.get("animations", []):
        for s in anim["samplers"]:
            assert "min" in gltf["accessors"][s["input"]] and "max" in gltf["accessors"][s["input"]]
    return gltf


def dense_weights(rig: Rig) -> np.ndarray:
    w = np.zeros((rig.num_vertices, rig.num_joints))
    np.add.at(w, (np.arange(rig.num_vertices)[:, None], rig.skin_indices), rig.skin_weights)
    return w


def assert_same_rig(a: Rig, b: Rig) -> None:
    tol = 1e-5 * a.height()
    assert a.joint_names == b.joint_names
    np.testing.assert_array_equal(a.parents, b.parents)
    np.testing.assert_allclose(a.rest_world_matrices(), b.rest_world_matrices(), atol=tol)
    np.testing.assert_allclose(a.bind_matrices, b.bind_matrices, atol=tol)
    np.testing.assert_allclose(a.vertices, b.vertices, atol=tol)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_allclose(dense_weights(a), dense_weights(b), atol=1e-6)


def test_cesium_man_round_trip(assets_dir: Path, tmp_path: Path) -> None:
    rig = quiet_load(assets_dir / "gltf" / "CesiumMan.glb")
    out = save(rig, tmp_path / "cesium.glb")
    gltf = check_glb(out)
    assert len(gltf["animations"]) == 1 and gltf["animations"][0]["name"] == "clip_0"
    back = quiet_load(out)
    assert_same_rig(rig, back)
    a, b = rig.clips["clip_0"], back.clips["clip_0"]
    assert (len(a), a.fps) == (len(b), b.fps)
    np.testing.assert_allclose(skin(rig, a), skin(back, b), atol=1e-5 * rig.height())


def test_round_trip_of_scaled_eight_influence_rig(tmp_path: Path) -> None:
    path, _ = scaled_asset(tmp_path)
    rig = read_gltf(path)
    write_glb(rig, tmp_path / "out.glb", None)
    gltf = check_glb(tmp_path / "out.glb")
    assert "JOINTS_1" in gltf["meshes"][0]["primitives"][0]["attributes"]
    back = read_gltf(tmp_path / "out.glb")
    assert_same_rig(rig, back)
    np.testing.assert_allclose(skin(rig, rig.clips["wave"]), skin(back, back.clips["wave"]), atol=1e-5 * rig.height())


@pytest.mark.parametrize("up, mpu", [("Z", 0.01), ("Y", 2.5), ("Z", 1.0)])
def test_writer_converts_to_y_up_metres(tmp_path: Path, up: str, mpu: float) -> None:
    rng = np.random.default_rng(3)
    arrays = random_rig_arrays(rng, 7, 40, influences=3)
    arrays["faces"] = rng.integers(0, 40, size=(30, 3))
    rig = Rig(joint_names=[f"j{i}" for i in range(7)], up_axis=up, meters_per_unit=mpu, name="r", **arrays)
    rotations = unit(rng, 5 * 7).reshape(5, 7, 4)
    poses = Poses(rotations, rng.normal(size=(5, 3)), fps=10, name="walk")
    write_glb(rig, tmp_path / "r.glb", poses)
    check_glb(tmp_path / "r.glb")
    c = np.eye(3) * mpu
    if up == "Z":
        c = c @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])  # +Z up becomes +Y up
    # The file is Y-up metres for every glTF viewer (the spec's own reference reads it so)...
    desc = ref_parse(tmp_path / "r.glb")
    g = ref_globals(desc, None, set())
    in_file = np.stack([g[n][:3, 3] for n in desc["skin_joints"]])
    np.testing.assert_allclose(in_file, rig.rest_joint_positions() @ c.T, atol=1e-5 * mpu)
    np.testing.assert_allclose(ref_skin(desc, 2 / 10), skin(rig, poses)[2] @ c.T, atol=1e-5 * mpu * rig.height())
    # ... and vips reads it back in the rig's own frame, recorded in the scene's extras.
    back = read_gltf(tmp_path / "r.glb")
    assert back.up_axis == up and back.meters_per_unit == mpu and list(back.clips) == ["walk"]
    np.testing.assert_allclose(back.rest_joint_positions(), rig.rest_joint_positions(), atol=1e-5)
    np.testing.assert_allclose(skin(back, back.clips["walk"]), skin(rig, poses), atol=1e-5 * rig.height())
    # Edited so that the node no longer converts exactly that frame, the file is read as plain glTF.
    gltf = check_glb(tmp_path / "r.glb")
    gltf["scenes"][0]["extras"]["vips"]["meters_per_unit"] = mpu * 2
    plain = read_gltf(with_json(tmp_path / "r.glb", gltf, tmp_path / "e.glb"))
    assert plain.up_axis == "Y" and plain.meters_per_unit == 1.0
    np.testing.assert_allclose(plain.rest_joint_positions(), rig.rest_joint_positions() @ c.T, atol=1e-5 * mpu)


def with_json(path: Path, gltf: dict, out: Path) -> Path:
    """``out``: the .glb ``path`` with its JSON chunk replaced by ``gltf``."""
    data = path.read_bytes()
    jlen = struct.unpack_from("<I", data, 12)[0]
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<I", len(text)) + data[16:20] + text + data[20 + jlen :]
    out.write_bytes(data[:8] + struct.pack("<I", 12 + len(body)) + body)
    return out


@pytest.mark.parametrize(
    "scene, animation, warned",
    [
        ({"vips": {"frame_node": "0", "up_axis": "Z", "meters_per_unit": 0.01, "skel_root": 7}}, {}, None),
        ({"vips": {"frame_node": 0, "up_axis": "X", "meters_per_unit": -1}}, {"vips_fps": -3}, None),
        ({"vips": []}, {"vips_fps": 1e9, "vips_pose_set": {"kind": "samples", "scores": "high"}}, "'scores'"),
        ({}, {"vips_pose_set": {"kind": "dance"}}, "'kind'"),
        ({}, {"vips_pose_set": {"seeds": [1.5, 2]}}, "'seeds'"),
        ({}, {"vips_pose_set": {"seeds": [2 ** 70]}}, "pose-set metadata"),
        ({}, {"vips_pose_set": [1, 2]}, "not a JSON object"),
    ],
)
def test_malformed_vips_extras_are_ignored(tmp_path: Path, scene: dict, animation: dict, warned: str | None) -> None:
    """What vips records in extras is user input on the way back: anything malformed is ignored (and said)."""
    rng = np.random.default_rng(5)
    arrays = random_rig_arrays(rng, 4, 20)
    rig = Rig(joint_names=[f"j{i}" for i in range(4)], name="r", **arrays)
    write_glb(rig, tmp_path / "r.glb", Poses(unit(rng, 12).reshape(3, 4, 4), np.zeros((3, 3)), fps=10, name="w"))
    gltf = check_glb(tmp_path / "r.glb")
    gltf["scenes"][0]["extras"] = scene
    gltf["animations"][0]["extras"] = animation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = read_gltf(with_json(tmp_path / "r.glb", gltf, tmp_path / "e.glb"))
    notes = [str(w.message) for w in caught if "metadata" in str(w.message)]
    assert (back.up_axis, back.meters_per_unit, back.root_name) == ("Y", 1.0, "")
    assert back.clips["w"].fps == 10 and len(back.clips["w"]) == 3
    assert back.clip_channels["w"].pose_set is None
    if warned is None:
        assert not notes
    else:
        assert len(notes) == 1 and warned in notes[0] and "was ignored" in notes[0], notes


def test_failed_write_leaves_nothing_behind(tmp_path: Path, assets_dir: Path) -> None:
    rig = quiet_load(assets_dir / "gltf" / "RiggedSimple.glb")
    target = tmp_path / "out.glb"
    with pytest.raises(PoseError):
        write_glb(rig, target, Poses.identity(2, rig.num_joints + 1))
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"previous")
    with pytest.raises(PoseError):
        write_glb(rig, target, Poses.identity(2, rig.num_joints + 1))
    rig.rest_translations[1, 0] = np.nan  # a rig broken after validation fails while the file is built
    with pytest.raises(RigError):
        write_glb(rig, target, None)
    assert target.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["out.glb"]


# ================================================================================================
# Fuzzing: corrupt files raise VipsError subclasses, nothing else
# ================================================================================================
CESIUM = ASSETS_DIR / "gltf" / "CesiumMan.glb"
FUZZ = settings(max_examples=40, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def load_or_vips_error(path: Path) -> None:
    try:
        quiet_load(path)
    except VipsError:
        pass


@FUZZ
@given(cut=st.integers(min_value=0, max_value=491143))
def test_truncated_glb_raises_vips_error(tmp_path_factory: pytest.TempPathFactory, cut: int) -> None:
    path = tmp_path_factory.mktemp("cut") / "cut.glb"
    path.write_bytes(CESIUM.read_bytes()[:cut])
    with pytest.raises(VipsError):
        quiet_load(path)


@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.one_of(st.integers(0, 27727), st.integers(0, 491143)), st.integers(0, 7)), min_size=1, max_size=4
    )
)
def test_bit_flipped_glb_raises_only_vips_errors(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(CESIUM.read_bytes())
    for pos, bit in flips:
        data[pos] ^= 1 << bit
    path = tmp_path_factory.mktemp("flip") / "flip.glb"
    path.write_bytes(bytes(data))
    load_or_vips_error(path)


@FUZZ
@given(data=st.data())
def test_edited_json_raises_only_vips_errors(tmp_path_factory: pytest.TempPathFactory, data) -> None:  # noqa: ANN001
    """Random JSON-level edits of the synthetic asset: replace a value somewhere with a random one."""
    folder = tmp_path_factory.mktemp("edit")
    path, _ = scaled_asset(folder)
    j = json.loads(path.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        obj = j
        while True:
            keys = list(obj) if isinstance(obj, dict) else list(range(len(obj)))
            if not keys:
                break
            key = data.draw(st.sampled_from(keys))
            if isinstance(obj[key], (dict, list)) and obj[key] and data.draw(st.booleans()):
                obj = obj[key]
                continue
            if key == "uri":
                break
            obj[key] = data.draw(st.one_of(st.none(), st.integers(-3, 10**6), st.floats(allow_nan=False),
                                           st.text(max_size=5), st.just([]), st.just({})))
            break
    path.write_text(json.dumps(j))
    load_or_vips_error(path)


def test_convert_writes_a_spawn_clip_alone_or_with_every_other(tmp_path: Path) -> None:
    """`vips convert --clip` can pick a clip the pose model cannot hold (a spawn effect): its channels go out
    alone; without --clip every clip goes out, the spawn clip included."""
    import subprocess
    import sys

    path, _ = small_asset(tmp_path, clips={"wave": WAVE, "Spawn_Air": [(2, "scale", TIMES, GROW)]})
    vips_cli = [sys.executable, "-c", "from vips.cli import main; main()"]
    for clip, want in (("Spawn_Air", ["Spawn_Air"]), (None, ["wave", "Spawn_Air"])):
        out = tmp_path / f"{clip or 'all'}.glb"
        args = vips_cli + ["convert", str(path), str(out)] + (["--clip", clip] if clip else [])
        run = subprocess.run(args, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert f"{len(want)} clip(s)" in run.stdout
        with pytest.warns(UserWarning):
            back = read_gltf(out)
        assert list(back.clip_channels) == want
    run = subprocess.run(vips_cli + ["convert", str(path), str(tmp_path / "x.glb"), "--clip", "nope"],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "clips: wave, Spawn_Air" in run.stderr
