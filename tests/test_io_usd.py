"""UsdSkel reader and writer, checked against usd-core's own skinning, FK, topology and validators."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import random_rig_arrays
from pxr import Gf, Sdf, Usd, UsdGeom, UsdSkel, UsdValidation, Vt

import vips
from vips.errors import AssetError, PoseError
from vips.io.usd import author_rig, read_usd, write_usd
from vips.kinematics import skin, world_matrices
from vips.rotations import quat_normalize, quat_to_matrix

USD_ASSETS = ("skinnedArm.usda", "lbs.usda")


# ----- references from usd-core --------------------------------------------------------------------
def _col(m) -> np.ndarray:  # noqa: ANN001 - Gf.Matrix4d
    """Gf (row-vector) matrix -> numpy column-vector matrix."""
    return np.array(m, np.float64).reshape(4, 4).T


def _first_binding(stage: Usd.Stage):
    cache = UsdSkel.Cache()
    for prim in stage.Traverse():
        if prim.IsA(UsdSkel.Root):
            root = UsdSkel.Root(prim)
            cache.Populate(root, Usd.TraverseInstanceProxies())
            bindings = cache.ComputeSkelBindings(root, Usd.TraverseInstanceProxies())
            if bindings:
                return cache, bindings[0]
    raise AssertionError("no skeleton binding in the stage")


def usd_skinned_world(stage: Usd.Stage, time: float) -> np.ndarray:
    """(V, 3) usd-core's skinned points of every bound Mesh, concatenated, in world space."""
    cache, binding = _first_binding(stage)
    skel = binding.GetSkeleton()
    query = cache.GetSkelQuery(skel)
    xforms = query.ComputeSkinningTransforms(time)
    to_world = _col(UsdGeom.Xformable(skel.GetPrim()).ComputeLocalToWorldTransform(time))
    out = []
    for target in binding.GetSkinningTargets():
        if not target.GetPrim().IsA(UsdGeom.Mesh):
            continue
        points = UsdGeom.Mesh(target.GetPrim()).GetPointsAttr().Get(time)
        assert target.ComputeSkinnedPoints(xforms, points, time)
        p = np.asarray(points, np.float64)
        out.append(p @ to_world[:3, :3].T + to_world[:3, 3])
    return np.concatenate(out)


def usd_joint_world(stage: Usd.Stage, time: float) -> np.ndarray:
    """(J, 4, 4) usd-core's joint world transforms (column-vector)."""
    cache, binding = _first_binding(stage)
    query = cache.GetSkelQuery(binding.GetSkeleton())
    return np.stack([_col(m) for m in query.ComputeJointWorldTransforms(UsdGeom.XformCache(time))])


def usd_times(stage: Usd.Stage) -> list[float]:
    cache, binding = _first_binding(stage)
    anim = cache.GetSkelQuery(binding.GetSkeleton()).GetAnimQuery()
    return list(anim.GetJointTransformTimeSamples()) if anim else []


def validation_errors(stage: Usd.Stage) -> list[str]:
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    errors = UsdValidation.ValidationContext(validators).Validate(stage)
    return [f"{e.GetValidator().GetMetadata().name if e.GetValidator() else '?'}: {e.GetMessage()}" for e in errors]


# ----- rigs ----------------------------------------------------------------------------------------
def random_rig(seed: int, joints: int = 7, vertices: int = 60, influences: int = 4, names=None) -> vips.Rig:
    rng = np.random.default_rng(seed)
    arrays = random_rig_arrays(rng, joints, vertices, influences)
    faces = rng.integers(0, vertices, size=(2 * vertices, 3)).astype(np.int32)
    bind = world_matrices(
        vips.Rig([f"j{i}" for i in range(joints)], arrays["parents"], arrays["rest_translations"],
                 arrays["rest_rotations"]),
        vips.Poses(quat_normalize(rng.normal(size=(1, joints, 4)) * [8, 1, 1, 1]), rng.normal(size=(1, 3)) * 0.1),
    )[0]
    rig = vips.Rig(
        names or [f"joint_{i}" for i in range(joints)],
        faces=faces,
        bind_matrices=bind,
        up_axis="Z" if seed % 2 else "Y",
        meters_per_unit=0.01 if seed % 2 else 1.0,
        name=f"random {seed}",
        **arrays,
    )
    rig.clips["walk"] = random_poses(rng, joints, 5, "walk", fps=24.0)
    rig.clips["jump 2"] = random_poses(rng, joints, 3, "jump 2", fps=24.0)
    return rig


def random_poses(rng: np.random.Generator, joints: int, count: int, name: str = "poses", fps: float = 30.0):
    return vips.Poses(rng.normal(size=(count, joints, 4)), rng.normal(size=(count, 3)) * 0.2, fps, name)


def load_quiet(path: Path) -> vips.Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        return read_usd(path)


def assert_skin_matches_usd(rig: vips.Rig, clip: vips.Poses, stage: Usd.Stage, times: list[float]) -> None:
    ours = skin(rig, clip)
    tol = 1e-4 * rig.height()
    assert len(times) == len(clip)
    for k, t in enumerate(times):
        ref = usd_skinned_world(stage, t)
        err = np.abs(ours[k] - ref).max()
        assert err <= tol, f"pose {k} (time {t}): skinning differs from usd-core by {err:.3g} > {tol:.3g}"


# ----- reading the shared assets -------------------------------------------------------------------
def test_skinned_arm_loads(assets_dir: Path) -> None:
    rig = read_usd(assets_dir / "usd" / "skinnedArm.usda")
    assert rig.joint_names == ["Shoulder", "Elbow", "Hand"]
    assert rig.parents.tolist() == [-1, 0, 1]
    assert rig.num_vertices == 12 and rig.faces.shape == (20, 3)
    assert rig.up_axis == "Y" and rig.meters_per_unit == pytest.approx(0.01)
    assert list(rig.clips) == ["Anim"] and len(rig.clips["Anim"]) == 2
    assert rig.name == "skinnedArm" and rig.source.endswith("skinnedArm.usda")
    np.testing.assert_allclose(rig.rest_joint_positions(), [[0, 0, 0], [0, 0, 2], [0, 0, 4]], atol=1e-6)


def test_lbs_loads_and_skips_non_meshes(assets_dir: Path) -> None:
    with pytest.warns(vips.RigWarning, match="not meshes were skipped"):
        rig = read_usd(assets_dir / "usd" / "lbs.usda")
    assert rig.joint_names == ["joint1", "joint2", "joint3"]
    assert rig.parents.tolist() == [-1, 0, 1]
    assert rig.num_vertices == 40 + 12 + 12 and rig.skin_indices.shape[1] == 3
    assert len(rig.clips["Animation"]) == 30 and rig.clips["Animation"].fps == 24


@pytest.mark.parametrize("name", USD_ASSETS)
def test_reader_skinning_matches_usd(assets_dir: Path, name: str) -> None:
    path = assets_dir / "usd" / name
    rig = load_quiet(path)
    stage = Usd.Stage.Open(str(path))
    clip = next(iter(rig.clips.values()))
    assert_skin_matches_usd(rig, clip, stage, usd_times(stage))


@pytest.mark.parametrize("name", USD_ASSETS)
def test_reader_joints_match_usd(assets_dir: Path, name: str) -> None:
    path = assets_dir / "usd" / name
    rig = load_quiet(path)
    stage = Usd.Stage.Open(str(path))
    ours = world_matrices(rig, next(iter(rig.clips.values())))
    # skinnedArm's (0.7071, 0.7071, 0, 0) is not a unit quaternion: usd-core keeps its 2e-5 shrink, we normalize.
    for k, t in enumerate(usd_times(stage)):
        np.testing.assert_allclose(ours[k], usd_joint_world(stage, t), atol=1e-4 * rig.height())


# ----- writing -------------------------------------------------------------------------------------
def _check_written(path: Path, rig: vips.Rig, clip: vips.Poses) -> Usd.Stage:
    stage = Usd.Stage.Open(str(path))
    assert stage is not None
    cache, binding = _first_binding(stage)
    skel = binding.GetSkeleton()
    ok, why = UsdSkel.Topology(skel.GetJointsAttr().Get()).Validate()
    assert ok, why
    # Metadata is authored explicitly, never left to fallbacks.
    layer = stage.GetRootLayer()
    assert layer.HasTimeCodesPerSecond() and stage.GetTimeCodesPerSecond() == pytest.approx(clip.fps)
    assert layer.HasStartTimeCode() and stage.GetStartTimeCode() == 0
    assert layer.HasEndTimeCode() and stage.GetEndTimeCode() >= len(clip) - 1
    assert stage.HasAuthoredMetadata("upAxis") and UsdGeom.GetStageUpAxis(stage) == rig.up_axis
    assert stage.HasAuthoredMetadata("metersPerUnit")
    assert UsdGeom.GetStageMetersPerUnit(stage) == pytest.approx(rig.meters_per_unit)
    assert stage.GetDefaultPrim().IsA(UsdSkel.Root)
    anim = cache.GetSkelQuery(skel).GetAnimQuery().GetPrim()
    assert anim.GetAttribute("rotations").GetTypeName() == Sdf.ValueTypeNames.QuatfArray
    assert anim.GetAttribute("scales").GetTypeName() == Sdf.ValueTypeNames.Half3Array
    assert anim.GetAttribute("translations").GetTypeName() == Sdf.ValueTypeNames.Float3Array
    assert validation_errors(stage) == []
    times = [float(k) for k in range(len(clip))]
    assert usd_times(stage) == times
    assert_skin_matches_usd(rig, clip, stage, times)
    ours = world_matrices(rig, clip)
    for k, t in enumerate(times):
        np.testing.assert_allclose(ours[k], usd_joint_world(stage, t), atol=1e-5 * rig.height())
    return stage


@pytest.mark.parametrize("suffix", [".usda", ".usdc", ".usd"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_writer_random_rig_matches_usd(tmp_path: Path, seed: int, suffix: str) -> None:
    rig = random_rig(seed, joints=3 + 4 * seed, vertices=30 + 20 * seed, influences=1 + seed * 3)
    poses = random_poses(np.random.default_rng(100 + seed), rig.num_joints, 6, "samples", fps=12.0)
    path = tmp_path / f"out{suffix}"
    write_usd(rig, path, poses)
    head = path.read_bytes()[:8]
    assert head.startswith(b"#usda") if suffix == ".usda" else head.startswith(b"PXR-USDC")
    _check_written(path, rig, poses)


@pytest.mark.parametrize("name", USD_ASSETS)
@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
def test_writer_asset_rigs_match_usd(assets_dir: Path, tmp_path: Path, name: str, suffix: str) -> None:
    rig = load_quiet(assets_dir / "usd" / name)
    clip = next(iter(rig.clips.values()))
    path = tmp_path / f"asset{suffix}"
    write_usd(rig, path)  # the rig's own clips
    _check_written(path, rig, clip)


def test_writer_clips_become_sibling_animations(tmp_path: Path) -> None:
    rig = random_rig(3)
    path = tmp_path / "clips.usda"
    write_usd(rig, path)
    back = load_quiet(path)
    assert list(back.clips) == ["walk", "jump 2"]  # the prim is jump_2, its displayName the clip's own name
    for ours, theirs in zip(rig.clips.values(), back.clips.values()):
        _assert_same_poses(rig, ours, theirs)
    stage = Usd.Stage.Open(str(path))
    assert stage.GetEndTimeCode() == 4 and validation_errors(stage) == []


def test_author_rig_returns_prims() -> None:
    rig = random_rig(4)
    stage = Usd.Stage.CreateInMemory()
    prims = author_rig(stage, rig, None, "/Asset")
    assert prims["root"].GetPath() == Sdf.Path("/Asset") and stage.GetDefaultPrim() == prims["root"]
    assert prims["skeleton"].IsA(UsdSkel.Skeleton) and prims["mesh"].IsA(UsdGeom.Mesh)
    assert list(prims["animations"]) == ["walk", "jump 2"]
    assert prims["animation"] == prims["animations"]["walk"]
    assert prims["mesh"].HasAPI(UsdSkel.BindingAPI) and prims["skeleton"].HasAPI(UsdSkel.BindingAPI)


def test_writer_sanitizes_names(tmp_path: Path) -> None:
    names = ["root joint", "2nd", "a.b", "a-b", "ok_name"]
    rig = random_rig(5, joints=5, names=names)
    path = tmp_path / "names.usda"
    write_usd(rig, path)
    stage = Usd.Stage.Open(str(path))
    written = [str(n) for n in UsdSkel.Skeleton(stage.GetPrimAtPath("/random_5/Skeleton")).GetJointNamesAttr().Get()]
    assert written == ["root_joint", "_2nd", "a_b", "a_b_1", "ok_name"]
    assert all(Sdf.Path.IsValidIdentifier(n) for n in written)
    assert validation_errors(stage) == []
    # The rig's own names ride beside them (vips:jointNames), as do the clip's and the asset's (displayName).
    back = load_quiet(path)
    assert back.joint_names == names and list(back.clips) == ["walk", "jump 2"] and back.root_name == "random 5"
    # Edited so that they no longer fit the skeleton, they are ignored.
    skel = stage.GetPrimAtPath("/random_5/Skeleton")
    for broken in (names[:4], ["a"] * 5, ["", *names[1:]]):
        skel.GetAttribute("vips:jointNames").Set(Vt.StringArray(broken))
        stage.GetRootLayer().Export(str(tmp_path / "edited.usda"))
        assert load_quiet(tmp_path / "edited.usda").joint_names == written


def test_skeleton_only_rig(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    rig = vips.Rig([f"b{i}" for i in range(4)], **random_rig_arrays(rng, 4), name="bones")
    poses = random_poses(rng, 4, 3)
    path = tmp_path / "bones.usdc"
    write_usd(rig, path, poses)
    back = load_quiet(path)
    assert back.vertices is None and back.joint_names == rig.joint_names
    _assert_same_poses(rig, poses, back.clips["poses"])
    np.testing.assert_allclose(
        world_matrices(back, back.clips["poses"]), world_matrices(rig, poses), atol=1e-5 * rig.height()
    )


# ----- round trip ----------------------------------------------------------------------------------
def _assert_same_poses(rig: vips.Rig, a: vips.Poses, b: vips.Poses) -> None:
    tol = 1e-5 * rig.height()
    np.testing.assert_allclose(quat_to_matrix(b.rotations), quat_to_matrix(a.rotations), atol=1e-5)
    np.testing.assert_allclose(b.root_translation, a.root_translation, atol=tol)
    assert b.fps == pytest.approx(a.fps)


@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
@pytest.mark.parametrize("seed", [10, 11, 12])
def test_round_trip(tmp_path: Path, seed: int, suffix: str) -> None:
    rig = random_rig(seed, joints=4 + seed % 5, vertices=50, influences=2 + seed % 3)
    poses = random_poses(np.random.default_rng(seed), rig.num_joints, 7, "samples")
    path = tmp_path / f"rt{suffix}"
    write_usd(rig, path, poses)
    back = read_usd(path)  # a clean file reads without repairs
    assert back.warnings == []
    tol = 1e-5 * rig.height()
    assert back.joint_names == rig.joint_names
    np.testing.assert_array_equal(back.parents, rig.parents)
    np.testing.assert_allclose(back.rest_translations, rig.rest_translations, atol=tol)
    np.testing.assert_allclose(quat_to_matrix(back.rest_rotations), quat_to_matrix(rig.rest_rotations), atol=1e-5)
    np.testing.assert_allclose(back.bind_matrices, rig.bind_matrices, atol=tol)
    np.testing.assert_allclose(back.vertices, rig.vertices, atol=tol)
    np.testing.assert_array_equal(back.faces, rig.faces)
    np.testing.assert_array_equal(back.skin_indices, rig.skin_indices)
    np.testing.assert_allclose(back.skin_weights, rig.skin_weights, atol=1e-6)
    assert (back.up_axis, back.meters_per_unit) == (rig.up_axis, pytest.approx(rig.meters_per_unit))
    assert list(back.clips) == ["samples"]
    _assert_same_poses(rig, poses, back.clips["samples"])
    np.testing.assert_allclose(skin(back, back.clips["samples"]), skin(rig, poses), atol=1e-4 * rig.height())


def test_round_trip_through_vips_save_and_load(tmp_path: Path) -> None:
    rig = random_rig(13)
    path = vips.save(rig, tmp_path / "saved.usd")
    back = vips.load(path)
    assert back.joint_names == rig.joint_names and list(back.clips) == ["walk", "jump 2"]


# ----- spaces the reader must fold: skeleton transforms, several roots, duplicate leaf names ------
def test_reader_folds_skeleton_transform(tmp_path: Path) -> None:
    rig = random_rig(20)
    src = tmp_path / "plain.usda"
    write_usd(rig, src, rig.clips["walk"])
    stage = Usd.Stage.Open(str(src))
    root = UsdGeom.Xformable(stage.GetDefaultPrim())
    root.AddTranslateOp().Set(Gf.Vec3d(1.0, -2.0, 0.5))
    root.AddRotateXYZOp().Set(Gf.Vec3f(30.0, -45.0, 10.0))
    root.AddScaleOp().Set(Gf.Vec3f(2.5, 2.5, 2.5))
    skel = UsdGeom.Xformable(stage.GetPrimAtPath("/random_20/Skeleton"))
    move = skel.AddTranslateOp()
    move.Set(Gf.Vec3d(0, 0, 0), 0.0)
    move.Set(Gf.Vec3d(0.3, 0.1, -0.2), 4.0)  # root motion, sampled at the same times as the poses
    path = tmp_path / "moved.usda"
    stage.GetRootLayer().Export(str(path))

    back = read_usd(path)
    stage = Usd.Stage.Open(str(path))
    assert back.warnings == []
    assert_skin_matches_usd(back, back.clips["walk"], stage, usd_times(stage))
    ours = world_matrices(back, back.clips["walk"])
    for k, t in enumerate(usd_times(stage)):
        ref = usd_joint_world(stage, t)
        np.testing.assert_allclose(ours[k, :, :3, 3], ref[:, :3, 3], atol=1e-4 * back.height())
        np.testing.assert_allclose(ours[k, :, :3, :3] * 2.5, ref[:, :3, :3], atol=1e-4)


def _hand_made_stage(
    path: Path, joints: list[str], names: list[str] | None = None, root_scale: float = 1.0, bound: bool = True
) -> None:
    """A SkelRoot with a Skeleton (rest and bind from random rotations, the first joint's rest scaled by
    ``root_scale``), a partial animation (bound when ``bound``) and one skinned quad per joint."""
    rng = np.random.default_rng(len(joints))
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdSkel.Root.Define(stage, "/R")
    skel = UsdSkel.Skeleton.Define(stage, "/R/Skel")
    UsdSkel.BindingAPI.Apply(skel.GetPrim())
    skel.CreateJointsAttr().Set(joints)
    if names is not None:
        skel.CreateJointNamesAttr().Set(names)
    topo = UsdSkel.Topology(joints)
    parents = list(topo.GetParentIndices())
    spins = [Gf.Rotation(Gf.Vec3d(*rng.normal(size=3)), float(rng.uniform(-90, 90))) for _ in joints]
    rest = [Gf.Matrix4d(spin, Gf.Vec3d(*rng.normal(size=3))) for spin in spins]
    rest[0] = Gf.Matrix4d(Gf.Vec4d(root_scale, root_scale, root_scale, 1)) * rest[0]
    world = []
    for j, p in enumerate(parents):
        world.append(rest[j] if p < 0 else rest[j] * world[p])
    skel.CreateRestTransformsAttr().Set(Vt.Matrix4dArray(rest))
    skel.CreateBindTransformsAttr().Set(Vt.Matrix4dArray(world))
    anim = UsdSkel.Animation.Define(stage, "/R/Skel/Anim")
    anim.CreateJointsAttr().Set(joints[1:])  # a partial animation: the first joint keeps its rest
    for t in (0.0, 2.0):
        quats = [Gf.Quatf(*quat_normalize(rng.normal(size=4))) for _ in joints[1:]]
        anim.CreateRotationsAttr().Set(Vt.QuatfArray(quats), t)
    moves = [Gf.Vec3f(*rest[j].ExtractTranslation()) for j in range(1, len(joints))]
    anim.CreateTranslationsAttr().Set(Vt.Vec3fArray(moves))
    anim.CreateScalesAttr().Set(Vt.Vec3hArray([Gf.Vec3h(1, 1, 1)] * (len(joints) - 1)))
    if bound:
        UsdSkel.BindingAPI(skel.GetPrim()).CreateAnimationSourceRel().SetTargets([anim.GetPath()])
    mesh = UsdGeom.Mesh.Define(stage, "/R/Mesh")
    pts = rng.normal(size=(4 * len(joints), 3))
    mesh.CreatePointsAttr().Set(Vt.Vec3fArray.FromNumpy(pts.astype(np.float32)))
    mesh.CreateFaceVertexCountsAttr().Set([4] * len(joints))
    mesh.CreateFaceVertexIndicesAttr().Set(list(range(4 * len(joints))))
    binding = UsdSkel.BindingAPI.Apply(mesh.GetPrim())
    binding.CreateSkeletonRel().SetTargets([skel.GetPath()])
    # The mesh's own joint order is reversed, to check the skel:joints mapping.
    binding.CreateJointsAttr().Set(list(reversed(joints)))
    idx = np.repeat(np.arange(len(joints))[::-1], 4)
    binding.CreateJointIndicesPrimvar(False, 1).Set(Vt.IntArray.FromNumpy(idx.astype(np.int32)))
    binding.CreateJointWeightsPrimvar(False, 1).Set(Vt.FloatArray.FromNumpy(np.ones(len(idx), np.float32)))
    binding.CreateGeomBindTransformAttr().Set(Gf.Matrix4d(Gf.Rotation(Gf.Vec3d(0, 1, 0), 40), Gf.Vec3d(1, 2, 3)))
    stage.GetRootLayer().Save()


def test_reader_several_roots_and_duplicate_leaves(tmp_path: Path) -> None:
    path = tmp_path / "two_roots.usda"
    _hand_made_stage(path, ["a", "a/x", "b", "b/x", "b/x/y"])
    with pytest.warns(vips.RigWarning, match="root joints"):
        rig = read_usd(path)
    assert rig.joint_names == ["root", "a", "a_x", "b", "b_x", "y"]
    assert rig.parents.tolist() == [-1, 0, 1, 0, 3, 4]
    stage = Usd.Stage.Open(str(path))
    assert_skin_matches_usd(rig, rig.clips["Anim"], stage, usd_times(stage))
    ours = world_matrices(rig, rig.clips["Anim"])
    for k, t in enumerate(usd_times(stage)):
        np.testing.assert_allclose(ours[k, 1:], usd_joint_world(stage, t), atol=1e-5 * rig.height())


def test_reader_keeps_uniform_joint_scale(tmp_path: Path) -> None:
    path = tmp_path / "scaled.usda"
    _hand_made_stage(path, ["hips", "hips/spine", "hips/spine/head", "hips/leg"], root_scale=3.0)
    rig = read_usd(path)
    assert rig.warnings == []
    stage = Usd.Stage.Open(str(path))
    assert_skin_matches_usd(rig, rig.clips["Anim"], stage, usd_times(stage))


def test_reader_non_uniform_stage_scale_skins_rest_exactly(tmp_path: Path) -> None:
    path = tmp_path / "squashed.usda"
    _hand_made_stage(path, ["hips", "hips/spine", "hips/spine/head"], bound=False)
    stage = Usd.Stage.Open(str(path))
    UsdGeom.Xformable(stage.GetPrimAtPath("/R")).AddScaleOp().Set(Gf.Vec3f(1.0, 2.0, 0.5))
    stage.GetRootLayer().Save()
    with pytest.warns(vips.RigWarning) as record:
        rig = read_usd(path)
    assert any("non-uniform" in str(w.message) for w in record)
    assert list(rig.clips) == ["Anim"]  # not bound, still read as a clip
    rest = skin(rig, vips.Poses.identity(1, rig.num_joints))[0]
    np.testing.assert_allclose(rest, usd_skinned_world(Usd.Stage.Open(str(path)), Usd.TimeCode.Default()),
                               atol=1e-4 * rig.height())


def test_reader_uses_unique_joint_names(tmp_path: Path) -> None:
    path = tmp_path / "named.usda"
    _hand_made_stage(path, ["hips", "hips/spine", "hips/spine/head"], names=["Hips", "Spine", "Head"])
    rig = read_usd(path)
    assert rig.joint_names == ["Hips", "Spine", "Head"]
    stage = Usd.Stage.Open(str(path))
    assert_skin_matches_usd(rig, rig.clips["Anim"], stage, usd_times(stage))


# ----- bad input ----------------------------------------------------------------------------------
def test_garbage_usda_is_an_asset_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.usda"
    path.write_text("#usda 1.0\ndef Xform \"A\" {\n  this is not usd ((( \n")
    with pytest.raises(AssetError, match="garbage.usda"):
        read_usd(path)
    with pytest.raises(AssetError, match="garbage.usda"):
        vips.load(path)


def test_truncated_usdc_is_an_asset_error(tmp_path: Path) -> None:
    good = tmp_path / "good.usdc"
    write_usd(random_rig(30), good)
    data = good.read_bytes()
    for cut in (len(data) // 2, 64):
        bad = tmp_path / f"cut{cut}.usdc"
        bad.write_bytes(data[:cut])
        with pytest.raises(AssetError, match=bad.name):
            read_usd(bad)


@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
def test_corrupted_files_raise_vips_errors(tmp_path: Path, suffix: str) -> None:
    """Random byte damage gives a rig or a VipsError naming the file, never another exception."""
    good = tmp_path / f"good{suffix}"
    write_usd(random_rig(33), good)
    data = good.read_bytes()
    rng = np.random.default_rng(7)
    for i in range(25):
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        bad = tmp_path / f"bad{i}{suffix}"
        bad.write_bytes(bytes(damaged))
        try:
            load_quiet(bad)
        except vips.VipsError as exc:
            assert bad.name in str(exc)


def test_stage_without_skeleton_is_an_asset_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.Mesh.Define(stage, "/World/Mesh")
    stage.GetRootLayer().Save()
    with pytest.raises(AssetError, match="no UsdSkel Skeleton"):
        read_usd(path)


def test_missing_file_is_an_asset_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="no such file"):
        read_usd(tmp_path / "nope.usda")


def test_failed_write_keeps_existing_file(tmp_path: Path) -> None:
    rig = random_rig(31)
    path = tmp_path / "keep.usda"
    write_usd(rig, path)
    before = path.read_bytes()
    # A clip that no longer fits the rig fails the write after its temporary file exists.
    rig.clips["broken"] = vips.Poses.identity(2, rig.num_joints + 1, name="broken")
    with pytest.raises(PoseError):
        write_usd(rig, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.usda"]
    fresh = tmp_path / "fresh.usdc"
    with pytest.raises(PoseError):
        write_usd(rig, fresh)
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["keep.usda"]


def test_write_to_missing_folder_or_bad_suffix(tmp_path: Path) -> None:
    rig = random_rig(32)
    with pytest.raises(AssetError, match="does not exist"):
        write_usd(rig, tmp_path / "no" / "such" / "dir.usda")
    with pytest.raises(AssetError, match=r"\.usd"):
        write_usd(rig, tmp_path / "rig.txt")
    assert list(tmp_path.iterdir()) == []
