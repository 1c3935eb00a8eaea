"""`vips convert` loses nothing (issue 15): every joint's animated rotation, translation and scale, the names and
the pose-set metadata survive glb -> usda -> glb -> usda.

Each hop is checked against the *source's own* animation, never against our rig: a glTF source through an
independent float64 reading of its TRS channels (the glTF 2.0 spec's skinning, written here from the spec), a BVH
source through an independent forward kinematics of its channels. Written USD files are skinned by usd-core's
UsdSkel (UsdSkel.Cache, ComputeSkinningTransforms, ComputeSkinnedPoints; joint world transforms for skeleton-only
rigs), written glb files by the same glTF reference. Everything within 1e-4 of the rig's height, at sampled frames
of every clip (every frame of the small assets in tests/data, up to FRAMES_PER_CLIP of each clip in
../shared/motion, which CI does not have: those tests skip without it).

The one loss is UsdSkel's: SkelAnimation scales are half3 (USD_NOTES.md), 11 significant bits. Where a clip animates
a scale other than one (KayKit's spawn effects), every hop from the first .usda on is compared with the source's
skinning with its scale values rounded to half, and the rounding's own effect is reported (and bounded) apart.
"""

from __future__ import annotations

import base64
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ASSETS_DIR, MOTION_DIR, requires_motion
from pxr import Usd, UsdGeom, UsdSkel
from test_io_gltf import ref_sample, ref_trs
from test_io_usd import validation_errors
from typer.testing import CliRunner

import vips
from vips.io.pose_set import PoseSetMeta, read_pose_set, write_pose_set
from vips.usd_schema import API_NAME

FRAMES_PER_CLIP = 10  # frames checked per clip of the large motion set (all frames of the small assets)
CLIPS_PER_FILE = 6  # clips checked per file of the large motion set (evenly spread; every clip is converted)
TOLERANCE = 1e-4  # of the rig's height
DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def load_quiet(path: Path) -> vips.Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vips.load(path)


# ================================================================================================
# Independent references: glTF 2.0 skinning of a file's own channels, BVH forward kinematics.
# ================================================================================================
class GltfReference:
    """A .glb / .gltf file read straight from the spec: node TRS, animation samplers, skins and primitives.

    Skinned meshes are those of the first skin a mesh node uses, plus every other skin with the same joints and
    inverse bind matrices (FBX2glTF writes one per mesh), in skin then node order, as vips concatenates them."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        blob = None
        if data[:4] == b"glTF":
            jlen = struct.unpack_from("<I", data, 12)[0]
            self.gltf = json.loads(data[20 : 20 + jlen])
            blob = data[28 + jlen : 28 + jlen + struct.unpack_from("<I", data, 20 + jlen)[0]]
        else:
            self.gltf = json.loads(data)
        self.buffers = [blob if b.get("uri") is None else base64.b64decode(b["uri"].split(",", 1)[1])
                        for b in self.gltf["buffers"]]
        self.nodes = self.gltf["nodes"]
        self.parent = {c: i for i, n in enumerate(self.nodes) for c in n.get("children", [])}
        self.meshes = self._skinned_meshes()

    def acc(self, i: int) -> np.ndarray:
        a = self.gltf["accessors"][i]
        assert "sparse" not in a
        view = self.gltf["bufferViews"][a["bufferView"]]
        dt = np.dtype(DTYPES[a["componentType"]])
        width = WIDTHS[a["type"]]
        stride = view.get("byteStride", dt.itemsize * width)
        start = view.get("byteOffset", 0) + a.get("byteOffset", 0)
        out = np.ndarray((a["count"], width), dt, self.buffers[view["buffer"]], start, (stride, dt.itemsize))
        out = out.astype(np.float64)
        return out / np.iinfo(dt).max if a.get("normalized") else out

    def _skinned_meshes(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """[(skin, vertices (V, 3), joints (V, K) skin-joint indices, weights (V, K), ibm (S, 4, 4))]."""
        users: dict[int, list[int]] = {}
        for i, n in enumerate(self.nodes):
            if "skin" in n and "mesh" in n:
                users.setdefault(n["skin"], []).append(i)
        if not users:
            return []
        first = min(users)
        ibm = {s: self.acc(self.gltf["skins"][s]["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
               for s in users}
        same = [s for s in sorted(users) if self.gltf["skins"][s]["joints"] == self.gltf["skins"][first]["joints"]
                and np.allclose(ibm[s], ibm[first], rtol=1e-5, atol=1e-6 * np.abs(ibm[first]).max())]
        out = []
        for s in same:
            for node in users[s]:
                for prim in self.gltf["meshes"][self.nodes[node]["mesh"]]["primitives"]:
                    if prim.get("mode", 4) not in (0, 4):
                        continue
                    at = prim["attributes"]
                    sets = [k for k in range(2) if f"JOINTS_{k}" in at]
                    joints = np.concatenate([self.acc(at[f"JOINTS_{k}"]) for k in sets], 1).astype(np.int64)
                    weights = np.concatenate([self.acc(at[f"WEIGHTS_{k}"]) for k in sets], 1)
                    out.append((s, self.acc(at["POSITION"]), joints, weights, ibm[s]))
        return out

    def animation(self, name: str) -> list[tuple]:
        """The channels [(node, path, times, values, interpolation)] of the animation vips names ``name``."""
        for a, anim in enumerate(self.gltf.get("animations", [])):
            if (anim.get("name") or f"clip_{a}") != name:
                continue
            out = []
            for ch in anim["channels"]:
                target, sampler = ch["target"], anim["samplers"][ch["sampler"]]
                if "node" in target and target["path"] != "weights":
                    out.append((target["node"], target["path"], self.acc(sampler["input"])[:, 0],
                                self.acc(sampler["output"]), sampler.get("interpolation", "LINEAR")))
            return out
        raise AssertionError(f"no animation named {name!r}")

    def globals(self, channels: list[tuple], t: float, half_scales: bool = False) -> list[np.ndarray]:
        """Global matrix of every node at time ``t``; ``half_scales`` rounds animated scales to float16, as a
        UsdSkel file holds them (the rig frames of these assets' scaled joints carry no rest scale)."""
        trs = []
        for n in self.nodes:
            if "matrix" in n:
                trs.append(np.asarray(n["matrix"], np.float64).reshape(4, 4).T)
                continue
            trs.append({"translation": np.asarray(n.get("translation", [0, 0, 0]), np.float64),
                        "rotation": np.asarray(n.get("rotation", [0, 0, 0, 1]), np.float64),
                        "scale": np.asarray(n.get("scale", [1, 1, 1]), np.float64)})
        for node, path, times, values, interp in channels:
            trs[node][path] = ref_sample(times, values, interp, t, path == "rotation")
            if half_scales and path == "scale":
                trs[node][path] = trs[node][path].astype(np.float16).astype(np.float64)
        local = [m if isinstance(m, np.ndarray) else ref_trs(m["translation"], m["rotation"], m["scale"]) for m in trs]
        out: list[np.ndarray | None] = [None] * len(self.nodes)
        for i in range(len(self.nodes)):  # parents first: walk up, then compose down
            chain, k = [], i
            while k is not None and out[k] is None:
                chain.append(k)
                k = self.parent.get(k)
            for k in reversed(chain):
                p = self.parent.get(k)
                out[k] = local[k] if p is None else out[p] @ local[k]
        return out

    def skin(self, channels: list[tuple], t: float, half_scales: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(skinned vertices (V, 3) of every skinned primitive at time ``t``, (V,) bool: weights are usable)."""
        g = self.globals(channels, t, half_scales)
        points, usable = [], []
        for s, v, joints, weights, ibm in self.meshes:
            skin_joints = self.gltf["skins"][s]["joints"]
            jm = np.stack([g[n] @ ibm[k] for k, n in enumerate(skin_joints)])
            total = weights.sum(1, keepdims=True)
            ok = np.isfinite(weights).all(1) & (total[:, 0] > 0)
            w = np.where(ok[:, None], weights / np.where(total > 0, total, 1), 0)
            vh = np.concatenate([v, np.ones((len(v), 1))], 1)
            per = np.einsum("vkab,vb->vka", jm[np.where(ok[:, None], joints, 0)], vh)
            points.append(np.einsum("vk,vka->va", w, per)[:, :3])
            usable.append(ok)
        return np.concatenate(points), np.concatenate(usable)


def bvh_positions(path: Path) -> tuple[list[int], np.ndarray, float]:
    """(parents, joint world positions (F, J, 3) of every frame, frame time) of a BVH file, End Sites included,
    in file order: OFFSET and position channels translate, rotation channels rotate in the order listed."""
    lines = path.read_text().splitlines()
    motion = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    tokens = " ".join(lines[:motion]).split()
    parents, offsets, channels, stack, i = [], [], [], [], 0
    while i < len(tokens):
        word = tokens[i]
        if word in ("ROOT", "JOINT") or word == "End":
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append([])
            i += 2
        elif word == "{":
            stack.append(len(parents) - 1)
            i += 1
        elif word == "}":
            stack.pop()
            i += 1
        elif word == "OFFSET":
            offsets[-1] = np.array(tokens[i + 1 : i + 4], np.float64)
            i += 4
        elif word == "CHANNELS":
            n = int(tokens[i + 1])
            channels[-1] = tokens[i + 2 : i + 2 + n]
            i += 2 + n
        else:
            i += 1
    frame_time = float(lines[motion + 2].split(":")[1])
    values = np.array([line.split() for line in lines[motion + 3 :] if line.strip()], np.float64)
    F, J = len(values), len(parents)
    world = np.zeros((F, J, 4, 4))
    column = 0
    for j in range(J):
        local = np.tile(np.eye(4), (F, 1, 1))
        local[:, :3, 3] = offsets[j]
        for name in channels[j]:
            axis = "XYZ".index(name[0])
            if name.endswith("position"):
                local[:, axis, 3] = values[:, column]
            else:
                a = np.radians(values[:, column])
                r = np.tile(np.eye(3), (F, 1, 1))
                i1, i2 = [(1, 2), (2, 0), (0, 1)][axis]
                r[:, i1, i1], r[:, i1, i2], r[:, i2, i1], r[:, i2, i2] = np.cos(a), -np.sin(a), np.sin(a), np.cos(a)
                local[:, :3, :3] = local[:, :3, :3] @ r
            column += 1
        world[:, j] = local if parents[j] < 0 else world[:, parents[j]] @ local
    return parents, world[:, :, :3, 3], frame_time


# ================================================================================================
# usd-core's view of a written file
# ================================================================================================
class UsdFile:
    """A written UsdSkel file as usd-core sees it: each SkelAnimation bound in turn to the Skeleton (in memory)."""

    def __init__(self, path: Path) -> None:
        self.stage = Usd.Stage.Open(str(path))
        self.root = next(p for p in self.stage.Traverse() if p.IsA(UsdSkel.Root))
        self.skel = next(p for p in self.stage.Traverse() if p.IsA(UsdSkel.Skeleton))
        self.anims = {(p.GetDisplayName() if p.HasAuthoredDisplayName() else p.GetName()): p
                      for p in self.stage.Traverse() if p.IsA(UsdSkel.Animation)}

    def bind(self, clip: str | None) -> tuple[UsdSkel.SkeletonQuery, UsdSkel.Binding | None, list[float]]:
        """(skeleton query, binding (None without a bound mesh), time codes of the clip's frames); the rest pose
        when ``clip`` is None."""
        if clip is not None:
            UsdSkel.BindingAPI(self.skel).GetAnimationSourceRel().SetTargets([self.anims[clip].GetPath()])
        cache = UsdSkel.Cache()
        root = UsdSkel.Root(self.root)
        cache.Populate(root, Usd.TraverseInstanceProxies())
        bindings = cache.ComputeSkelBindings(root, Usd.TraverseInstanceProxies())
        query = cache.GetSkelQuery(UsdSkel.Skeleton(self.skel))
        anim = query.GetAnimQuery()
        times = (sorted(set(anim.GetJointTransformTimeSamples())) if anim else []) or [0.0]
        return query, (bindings[0] if bindings else None), times

    def to_world(self, t: float) -> np.ndarray:
        return np.array(UsdGeom.Xformable(self.skel).ComputeLocalToWorldTransform(t), np.float64).T

    def skinned(self, query: UsdSkel.SkeletonQuery, binding: UsdSkel.Binding, t: float) -> np.ndarray:
        """(V, 3) usd-core's skinned points of every bound Mesh at time code ``t``, concatenated, in world space."""
        xforms = query.ComputeSkinningTransforms(t)
        m = self.to_world(t)
        out = []
        for target in binding.GetSkinningTargets():
            if not target.GetPrim().IsA(UsdGeom.Mesh):
                continue  # vips reads skinned meshes only
            points = UsdGeom.Mesh(target.GetPrim()).GetPointsAttr().Get(t)
            assert target.ComputeSkinnedPoints(xforms, points, t)
            out.append(np.asarray(points, np.float64) @ m[:3, :3].T + m[:3, 3])
        return np.concatenate(out)

    def joints(self, query: UsdSkel.SkeletonQuery, t: float) -> np.ndarray:
        """(J, 3) usd-core's joint world positions at time code ``t``."""
        m = self.to_world(t)
        xf = np.stack([np.array(x, np.float64).T for x in query.ComputeJointWorldTransforms(UsdGeom.XformCache(t))])
        return xf[:, :3, 3] @ m[:3, :3].T + m[:3, 3]


# ================================================================================================
# The chain and its checks
# ================================================================================================
def convert_chain(source: Path, folder: Path) -> tuple[list[Path], list[vips.Rig]]:
    """source -> a.usda -> b.glb -> c.usda, each hop as `vips convert` does it (load, save every clip); returns
    the four paths and the rigs read from them."""
    paths = [source, folder / "a.usda", folder / "b.glb", folder / "c.usda"]
    rigs = [load_quiet(source)]
    for dst in paths[1:]:
        vips.save(rigs[-1], dst)
        rigs.append(load_quiet(dst))
    return paths, rigs


def frames_to_check(count: int, limit: int | None) -> np.ndarray:
    """Every frame, or ``limit`` of them spread evenly from the first to the last."""
    if limit is None or count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round()).astype(int)


def clips_to_check(rig: vips.Rig, limit: int | None) -> list[str]:
    """Every clip, or ``limit`` of them spread evenly plus every clip the pose model has no poses for (spawns)."""
    names = list(rig.clip_channels)
    if limit is None or len(names) <= limit:
        return names
    chosen = {names[int(k)] for k in np.linspace(0, len(names) - 1, limit).round()}
    return [n for n in names if n in chosen or rig.clip_channels[n].poses is None]


HALF_EFFECT_BOUND = 1e-3  # of the height: how far half3 scales may move a skinned point (KayKit: up to 4.6e-4)


def check_gltf_source(source: Path, folder: Path, frames: int | None = None, clips: int | None = None) -> float:
    """Convert a glTF file through the chain and compare every hop with the source's own skinning; returns the
    worst error as a fraction of the rig's height (UsdSkel's half3 scales aside, see the module docstring)."""
    chain, rigs = convert_chain(source, folder)
    rig, h = rigs[0], rigs[0].height()
    ref = GltfReference(source)
    names = list(rig.clip_channels)
    worst = 0.0
    usd_files = [UsdFile(chain[1]), UsdFile(chain[3])]
    glb = GltfReference(chain[2])
    for back in rigs[1:]:  # names survive every hop
        assert back.joint_names == rig.joint_names and list(back.clip_channels) == names, back.source
        assert (back.root_name or back.name) == (rig.root_name or rig.name), back.source
    if not names:  # an unanimated character: its rest pose
        expected, ok = ref.skin([], 0.0)
        hops = [usd.skinned(*usd.bind(None)[:2], 0.0) for usd in usd_files] + [glb.skin([], 0.0)[0]]
        worst = max(float(np.abs(hop - expected)[ok].max()) / h for hop in hops)
        assert worst <= TOLERANCE, f"{source.name} rest pose: {worst:.3g} of the height"
        return worst
    for name in clips_to_check(rig, clips):
        channels = rig.clip_channels[name]
        source_channels, glb_channels = ref.animation(name), glb.animation(name)
        bound = [usd.bind(name) for usd in usd_files]
        for _, _, times in bound:
            assert len(times) == len(channels), f"{source.name} '{name}'"
        scaled = any(path == "scale" and not np.allclose(values, 1, rtol=0, atol=1e-6)
                     for _, path, _, values, _ in source_channels)
        for k in frames_to_check(len(channels), frames):
            t = k / channels.fps
            expected, ok = ref.skin(source_channels, t, half_scales=scaled)
            if scaled:  # the rounding of the scales alone
                half_effect = float(np.abs(ref.skin(source_channels, t)[0] - expected)[ok].max()) / h
                assert half_effect <= HALF_EFFECT_BOUND, f"{source.name} clip '{name}' frame {k}: {half_effect:.3g}"
            hops = [usd.skinned(query, binding, times[k]) for usd, (query, binding, times) in zip(usd_files, bound)]
            hops.append(glb.skin(glb_channels, t)[0])
            for hop in hops:
                worst = max(worst, float(np.abs(hop - expected)[ok].max()) / h)
            assert worst <= TOLERANCE, f"{source.name} clip '{name}' frame {k}: {worst:.3g} of the height"
    return worst


def check_bvh_source(source: Path, folder: Path, frames: int | None = None) -> float:
    """BVH through the chain: usd-core's joint positions (and the glb's, by the glTF reference) against the BVH's
    own forward kinematics; returns the worst error as a fraction of the height."""
    chain, rigs = convert_chain(source, folder)
    rig = rigs[0]
    assert all(back.joint_names == rig.joint_names and list(back.clip_channels) == [source.stem] for back in rigs)
    _, positions, _ = bvh_positions(source)
    h = rig.height()
    (name,) = rig.clip_channels
    mpu = rig.meters_per_unit  # the glb is Y-up metres; the USD files keep the BVH's own units
    glb = GltfReference(chain[2])
    glb_channels, skin_joints = glb.animation(name), glb.gltf["skins"][0]["joints"]
    usd_files = [UsdFile(chain[1]), UsdFile(chain[3])]
    bound = [usd.bind(name) for usd in usd_files]
    for usd, (_, _, times) in zip(usd_files, bound):
        assert UsdGeom.GetStageMetersPerUnit(usd.stage) == pytest.approx(mpu) and len(times) == len(positions)
    worst = 0.0
    for k in frames_to_check(len(positions), frames):
        for usd, (query, _, times) in zip(usd_files, bound):
            worst = max(worst, np.abs(usd.joints(query, times[k]) - positions[k]).max() / h)
        g = glb.globals(glb_channels, k / rig.clip_channels[name].fps)
        in_glb = np.stack([g[n][:3, 3] for n in skin_joints])
        worst = max(worst, np.abs(in_glb - positions[k] * mpu).max() / (h * mpu))
        assert worst <= TOLERANCE, f"{source.name} frame {k}: {worst:.3g} of the height"
    return worst


# ================================================================================================
# Tests: the small real assets (always), the large motion set (where ../shared/motion exists)
# ================================================================================================
@pytest.mark.parametrize("name", ["CesiumMan.glb", "RiggedSimple.glb", "SimpleSkin.gltf"])
def test_gltf_assets_survive_every_hop(tmp_path: Path, name: str) -> None:
    """CesiumMan translates and scales non-root joints: the pose model drops those, conversion may not."""
    worst = check_gltf_source(ASSETS_DIR / "gltf" / name, tmp_path)
    assert worst <= TOLERANCE


def test_bvh_survives_every_hop(tmp_path: Path) -> None:
    assert check_bvh_source(ASSETS_DIR / "bvh" / "walk.bvh", tmp_path) <= TOLERANCE


@pytest.mark.parametrize("name", ["skinnedArm.usda", "lbs.usda"])
def test_usd_assets_survive_every_hop(tmp_path: Path, name: str) -> None:
    """A UsdSkel source against usd-core's own skinning of the source file, every authored time sample."""
    source = ASSETS_DIR / "usd" / name
    chain, (rig, *_) = convert_chain(source, tmp_path)
    src = UsdFile(source)
    h = rig.height()
    for path in (chain[1], chain[3]):
        usd = UsdFile(path)
        assert validation_errors(usd.stage) == []
        assert UsdGeom.GetStageUpAxis(usd.stage) == UsdGeom.GetStageUpAxis(src.stage)
        assert UsdGeom.GetStageMetersPerUnit(usd.stage) == UsdGeom.GetStageMetersPerUnit(src.stage)
        for name_ in rig.clip_channels:
            q0, b0, t0 = src.bind(name_)
            q1, b1, t1 = usd.bind(name_)
            assert len(t0) == len(t1)
            for a, b in zip(t0, t1):
                assert np.abs(usd.skinned(q1, b1, b) - src.skinned(q0, b0, a)).max() <= TOLERANCE * h


def _spawn_asset(tmp_path: Path) -> Path:
    """The small two-joint asset of test_io_gltf with a spawn clip: the tail grows from a zero scale."""
    from test_io_gltf import TIMES, small_asset

    grow = np.array([[0.0, 0.0, 0.0], [0.37, 0.37, 0.37], [1.0, 1.0, 1.0]])
    hop = np.array([[0.0, 1.0, 0.0], [0.0, 1.3, 0.2], [0.0, 1.0, 0.0]])
    path, _ = small_asset(tmp_path, clips={"Spawn_Air": [(2, "scale", TIMES, grow), (1, "translation", TIMES, hop)]})
    return path


def test_spawn_clip_the_pose_model_drops_is_still_converted(tmp_path: Path) -> None:
    source = _spawn_asset(tmp_path)
    with pytest.warns(vips.RigWarning, match="Spawn_Air' dropped: .*file conversion keeps it"):
        rig = vips.load(source)
    assert "Spawn_Air" not in rig.clips and rig.clip_channels["Spawn_Air"].poses is None
    folder = tmp_path / "out"
    folder.mkdir()
    assert check_gltf_source(source, folder) <= TOLERANCE
    back = load_quiet(folder / "c.usda")
    np.testing.assert_array_equal(back.clip_channels["Spawn_Air"].scales[0, 1], 0)


def test_names_that_are_not_identifiers_survive(tmp_path: Path) -> None:
    rig = load_quiet(ASSETS_DIR / "gltf" / "RiggedSimple.glb")
    clip = next(iter(rig.clips.values()))
    rig.joint_names = ["Bone.L", "Bone|2 (end)"]
    clip.name = "Armature|Walk (1)"
    rig.clips, rig.clip_channels, rig.root_name = {clip.name: clip}, {}, "Fox"
    first = tmp_path / "first.glb"
    vips.save(rig, first)
    chain, rigs = convert_chain(first, tmp_path)
    stage = Usd.Stage.Open(str(chain[3]))
    assert stage.GetDefaultPrim().GetPath() == "/Fox" and validation_errors(stage) == []
    for path, back in zip(chain, rigs):
        assert back.joint_names == rig.joint_names and list(back.clips) == [clip.name], path
        assert back.root_name == "Fox", path


def test_frame_rates_survive_including_mixed_and_fractional(tmp_path: Path) -> None:
    """Clips at different rates in one file, and a mocap rate that is no whole number (1 / 0.0083333 s)."""
    rig = load_quiet(ASSETS_DIR / "gltf" / "RiggedSimple.glb")
    clip = next(iter(rig.clips.values()))
    rig.clips = {name: vips.Poses(clip.rotations, clip.root_translation, fps, name)
                 for name, fps in (("slow", 24.0), ("fast", 30.0), ("mocap", 1 / 0.0083333))}
    rig.clip_channels = {}
    first = tmp_path / "first.usda"
    vips.save(rig, first)
    _, rigs = convert_chain(first, tmp_path)
    for back in rigs:
        assert [(n, c.fps, len(c)) for n, c in back.clips.items()] == [
            (n, pytest.approx(c.fps, rel=1e-9), len(c)) for n, c in rig.clips.items()], back.source
        for name, c in rig.clips.items():
            np.testing.assert_allclose(back.clips[name].rotations, c.rotations, atol=1e-6)


def _usd_pose_set_attributes(path: Path) -> dict:
    stage = Usd.Stage.Open(str(path))
    anim = next(p for p in stage.Traverse() if p.IsA(UsdSkel.Animation))
    assert anim.HasAPI(API_NAME)
    return {a.GetName(): (str(a.GetTypeName()), a.GetVariability(), a.Get()) for a in anim.GetAttributes()
            if a.GetName().startswith("vips:poseSet:")}


def test_pose_set_metadata_and_skelroot_survive_convert(tmp_path: Path) -> None:
    """`vips sample`'s file through `vips convert`: .usda -> .glb -> .usda keeps /Fox and every vips:poseSet:*."""
    from vips.cli import app

    rig = load_quiet(ASSETS_DIR / "gltf" / "CesiumMan.glb")
    rig.name = "Fox"
    clip = next(iter(rig.clips.values()))
    poses = vips.Poses(clip.rotations[::8], clip.root_translation[::8], 24.0, "samples")
    rng = np.random.default_rng(1)
    scores = rng.normal(size=len(poses)).astype(np.float32)
    meta = PoseSetMeta("samples", scores, scores > 0, np.arange(len(poses)) + 40, "vips-test/1", 0.25)
    source = write_pose_set(rig, tmp_path / "fox_samples.usda", poses, scores=scores, plausible=scores > 0,
                            seeds=meta.seeds, kind="samples", model_id="vips-test/1", threshold=0.25)
    expected = _usd_pose_set_attributes(source)
    assert set(expected) == {f"vips:poseSet:{k}" for k in ("kind", "scores", "plausible", "seeds", "modelId",
                                                           "threshold")}
    runner = CliRunner()
    hops = [source, tmp_path / "conv_fox.glb", tmp_path / "conv_fox.usda"]
    for src, dst in zip(hops, hops[1:]):
        result = runner.invoke(app, ["convert", str(src), str(dst)])
        assert result.exit_code == 0, result.output
    for path in hops:
        _, back, got = read_pose_set(path)
        assert got == meta and got.schema_applied, path
        np.testing.assert_allclose(back.rotations, poses.rotations, atol=1e-6)
    assert _usd_pose_set_attributes(hops[2]) == expected
    stage = Usd.Stage.Open(str(hops[2]))
    assert [str(p.GetPath()) for p in stage.GetPseudoRoot().GetChildren()] == ["/Fox"]
    assert str(stage.GetDefaultPrim().GetPath()) == "/Fox" and validation_errors(stage) == []
    # glTF viewers see plain glTF; the metadata rides in the animation's extras.
    anim = GltfReference(hops[1]).gltf["animations"][0]
    assert anim["extras"]["vips_pose_set"]["model_id"] == "vips-test/1"


# ----- the large real motion set -------------------------------------------------------------------------------
# Without the motion set one placeholder stands for its files, so the skip says why (requires_motion).
MOTION_GLB = (sorted(MOTION_DIR.rglob("*.glb")) if MOTION_DIR.is_dir() else []) or [MOTION_DIR / "every.glb"]
MOTION_BVH = ["cmu_daz/02_01.bvh", "cmu_daz/16_01.bvh", "cmu_iclone/002_05.bvh"]


@requires_motion
@pytest.mark.parametrize("path", MOTION_GLB, ids=lambda p: str(p.relative_to(MOTION_DIR)))
def test_motion_glb_survives_every_hop(tmp_path: Path, path: Path) -> None:
    """Every .glb of ../shared/motion: KayKit (hips under a ground bone, animated scales, spawn clips), Quaternius
    (centimetre armatures, IK foot bones that translate), each clip converted, sampled clips and frames checked."""
    assert check_gltf_source(path, tmp_path, FRAMES_PER_CLIP, CLIPS_PER_FILE) <= TOLERANCE


@requires_motion
@pytest.mark.parametrize("name", MOTION_BVH)
def test_motion_bvh_survives_every_hop(tmp_path: Path, name: str) -> None:
    assert check_bvh_source(MOTION_DIR / name, tmp_path, FRAMES_PER_CLIP) <= TOLERANCE


def test_convert_one_clip_keeps_its_channels(tmp_path: Path) -> None:
    """`vips convert --clip NAME` writes that clip from its full channels too (CesiumMan translates joints)."""
    from vips.cli import app

    source = ASSETS_DIR / "gltf" / "CesiumMan.glb"
    out = tmp_path / "one.usda"
    result = CliRunner().invoke(app, ["convert", str(source), str(out), "--clip", "clip_0"])
    assert result.exit_code == 0, result.output
    ref, usd, h = GltfReference(source), UsdFile(out), load_quiet(source).height()
    query, binding, times = usd.bind("clip_0")
    for k in (0, 17, 48):
        expected, ok = ref.skin(ref.animation("clip_0"), k / 24)
        assert np.abs(usd.skinned(query, binding, times[k]) - expected)[ok].max() <= TOLERANCE * h


def test_convert_rest_first_frame_binds_the_first_frame_and_keeps_the_motion(tmp_path: Path) -> None:
    """`vips convert --rest first-frame`: the written rest (usd-core's rest pose) is the BVH's first frame and every
    frame stands where the BVH's own forward kinematics puts it; a first frame that translates joints (CesiumMan)
    and a file without clips are refused, naming the option, with nothing written."""
    from vips.cli import app

    source = ASSETS_DIR / "bvh" / "walk.bvh"
    out = tmp_path / "rested.usda"
    result = CliRunner().invoke(app, ["convert", str(source), str(out), "--rest", "first-frame"])
    assert result.exit_code == 0, result.output
    _, positions, _ = bvh_positions(source)
    h = load_quiet(source).height()
    usd = UsdFile(out)
    query, _, _ = usd.bind(None)
    rest = np.stack([np.array(x, np.float64).T for x in query.ComputeJointWorldTransforms(UsdGeom.XformCache(0),
                                                                                             atRest=True)])
    assert np.abs(rest[:, :3, 3] - positions[0]).max() <= TOLERANCE * h
    assert np.abs(rest[:, :3, 3] - positions[len(positions) // 2]).max() > 0.05 * h  # the test can fail
    query, _, times = usd.bind(source.stem)
    for k in frames_to_check(len(positions), 12):
        assert np.abs(usd.joints(query, times[k]) - positions[k]).max() <= TOLERANCE * h
    # CesiumMan's first frame translates joints (a rest cannot hold that): refused, nothing written.
    gltf = ASSETS_DIR / "gltf" / "CesiumMan.glb"
    out = tmp_path / "cesium.usda"
    result = CliRunner().invoke(app, ["convert", str(gltf), str(out), "--rest", "first-frame"])
    assert result.exit_code == 1 and "moves joints by translation or scale" in result.output
    assert not out.exists()
    still = ASSETS_DIR / "rignet" / "humanoid_auto_rig.txt"
    result = CliRunner().invoke(app, ["convert", str(still), str(tmp_path / "x.usda"), "--rest", "first-frame"])
    assert result.exit_code == 1 and "--rest first-frame needs a clip" in result.output
    assert not (tmp_path / "x.usda").exists()
    result = CliRunner().invoke(app, ["convert", str(source), str(tmp_path / "y.usda"), "--rest", "middle"])
    assert result.exit_code == 1 and "--rest must be 'file' or 'first-frame'" in result.output
