"""Pose set files (USD with VipsPoseSetAPI, glb), keyframe proxies and pictures, on the shipped CesiumMan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import cesium_man

import vips
from vips.export.keyframes import keyframe_indices, write_keyframes
from vips.evaluation.plots import write_pose_map
from vips.render import write_contact_sheet
from vips.io.pose_set import PoseSetMeta, load_poses, parse_pose_ref, read_pose_set, write_pose_set
from vips.errors import PoseError
from vips.kinematics import joint_positions, skin
from vips.usd_schema import API_NAME, register


@pytest.fixture(scope="module")
def cesium():
    rig, clip = cesium_man()
    poses = clip[np.arange(0, len(clip), max(1, len(clip) // 6))][np.arange(6)]
    poses.name = "samples"
    return rig, poses


def _meta_args(n: int) -> dict:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=n).astype(np.float32)
    return {"scores": scores, "plausible": scores > 0, "seeds": np.arange(n) + 7, "kind": "samples",
            "model_id": "test-model", "threshold": 0.0}


def _usd_binding(stage):
    from pxr import Usd, UsdSkel

    cache = UsdSkel.Cache()
    for prim in stage.Traverse():
        if prim.IsA(UsdSkel.Root):
            root = UsdSkel.Root(prim)
            cache.Populate(root, Usd.TraverseInstanceProxies())
            return cache, cache.ComputeSkelBindings(root, Usd.TraverseInstanceProxies())[0]
    raise AssertionError("no SkelRoot")


def test_usd_pose_set_has_the_schema_skins_like_us_and_validates(cesium, tmp_path):
    assert register()
    from pxr import Usd, UsdGeom, UsdSkel, UsdValidation

    rig, poses = cesium
    path = write_pose_set(rig, tmp_path / "set.usda", poses, **_meta_args(len(poses)))
    stage = Usd.Stage.Open(str(path))
    # Stage metadata authored explicitly.
    layer = stage.GetRootLayer()
    for key in ("upAxis", "metersPerUnit", "timeCodesPerSecond", "startTimeCode", "endTimeCode", "defaultPrim"):
        assert layer.pseudoRoot.GetInfo(key) is not None or stage.HasAuthoredMetadata(key), key
    assert stage.GetEndTimeCode() == len(poses) - 1
    anims = [p for p in stage.Traverse() if p.IsA(UsdSkel.Animation)]
    assert len(anims) == 1
    anim = anims[0]
    assert anim.HasAPI(API_NAME) and API_NAME in anim.GetAppliedSchemas()
    assert anim.GetAttribute("vips:poseSet:kind").Get() == "samples"
    assert anim.GetAttribute("vips:poseSet:modelId").Get() == "test-model"
    np.testing.assert_allclose(np.array(anim.GetAttribute("vips:poseSet:scores").Get()), _meta_args(6)["scores"])
    assert list(anim.GetAttribute("vips:poseSet:seeds").Get()) == list(range(7, 13))
    # Rotations are quatf (never quath).
    assert str(UsdSkel.Animation(anim).GetRotationsAttr().GetTypeName()) == "quatf[]"
    # usd-core's own skinning equals ours at every time sample.
    cache, binding = _usd_binding(stage)
    query = cache.GetSkelQuery(binding.GetSkeleton())
    ours = skin(rig, poses)
    for k in range(len(poses)):
        xforms = query.ComputeSkinningTransforms(k)
        pts = []
        for target in binding.GetSkinningTargets():
            points = UsdGeom.Mesh(target.GetPrim()).GetPointsAttr().Get(k)
            assert target.ComputeSkinnedPoints(xforms, points, k)
            pts.append(np.asarray(points, np.float64))
        np.testing.assert_allclose(np.concatenate(pts), ours[k], atol=1e-4 * rig.height())
    # Zero validator errors.
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    errors = UsdValidation.ValidationContext(validators).Validate(stage)
    assert [e.GetMessage() for e in errors] == []


@pytest.mark.parametrize("suffix", [".usda", ".usdc", ".glb"])
def test_pose_set_round_trip(cesium, tmp_path, suffix):
    rig, poses = cesium
    args = _meta_args(len(poses))
    path = write_pose_set(rig, tmp_path / f"set{suffix}", poses, **args)
    rig2, poses2, meta = read_pose_set(path)
    assert rig2.num_joints == rig.num_joints and len(poses2) == len(poses)
    np.testing.assert_allclose(joint_positions(rig2, poses2), joint_positions(rig, poses), atol=1e-4)
    assert meta.kind == "samples" and meta.model_id == "test-model" and meta.threshold == pytest.approx(0.0)
    assert meta.schema_applied
    np.testing.assert_allclose(meta.scores, args["scores"], rtol=1e-6)
    np.testing.assert_array_equal(meta.plausible, args["plausible"])
    np.testing.assert_array_equal(meta.seeds, args["seeds"])
    one = load_poses(f"{path}:2", rig)
    assert len(one) == 1
    np.testing.assert_allclose(joint_positions(rig, one)[0], joint_positions(rig, poses)[2], atol=1e-4)


def test_pose_refs_and_bad_metadata(cesium, tmp_path):
    rig, poses = cesium
    assert parse_pose_ref("a/b.usda:3") == (parse_pose_ref("a/b.usda")[0], 3)
    assert parse_pose_ref("a/b.usda")[1] is None and parse_pose_ref("x.glb:-1")[1] == -1
    with pytest.raises(PoseError, match="one per pose"):
        write_pose_set(rig, tmp_path / "x.usda", poses, scores=[1.0, 2.0])
    with pytest.raises(PoseError, match="kind must be one of"):
        write_pose_set(rig, tmp_path / "x.usda", poses, kind="random")
    assert not (tmp_path / "x.usda").exists()
    path = write_pose_set(rig, tmp_path / "p.glb", poses)
    with pytest.raises(PoseError, match="out of range"):
        load_poses(f"{path}:99", rig)
    assert read_pose_set(path)[2] == PoseSetMeta("samples", model_id="")


def test_keyframes_json_and_images(cesium, tmp_path):
    from PIL import Image

    rig, poses = cesium
    assert keyframe_indices(10, 4) == [0, 3, 6, 9] and keyframe_indices(3, None) == [0, 1, 2]
    path = write_keyframes(rig, poses, tmp_path / "kf", count=3, size=(160, 120),
                           scores=np.arange(6.0), plausible=np.arange(6) % 2 == 0)
    doc = json.loads(path.read_text())
    assert doc["format"] == "vips-keyframes/1" and doc["num_frames"] == 6 and doc["image_size"] == [160, 120]
    assert [k["frame"] for k in doc["keyframes"]] == [0, 2, 5]
    assert set(doc["camera"]) >= {"eye", "target", "up", "fov_degrees", "focal_px", "view_matrix"}
    for k in doc["keyframes"]:
        img = Image.open(tmp_path / "kf" / k["image"])
        assert img.size == (160, 120)
        assert np.asarray(img).std() > 1  # something was drawn
        q = np.asarray(k["rotations"])
        np.testing.assert_allclose(np.abs((q * poses.rotations[k["frame"]]).sum(-1)), 1, atol=1e-5)
        uv = np.asarray(k["joints_2d"])
        assert uv.shape == (rig.num_joints, 2) and (uv[:, 0] > 0).all() and (uv[:, 0] < 160).all()
        assert k["plausible"] == (k["frame"] % 2 == 0)


def test_contact_sheet_and_pose_map(cesium, tmp_path):
    from PIL import Image

    rig, poses = cesium
    sheet = write_contact_sheet(rig, poses, tmp_path / "sheet.png", scores=np.arange(6.0),
                                plausible=np.array([1, 0, 1, 1, 0, 1], bool), columns=3, cell=64)
    assert Image.open(sheet).size == (192, 128)
    pm = write_pose_map(rig, poses, np.array([1, 0, 1, 1, 0, 1], bool), tmp_path / "map.png", reference=poses)
    img = np.asarray(Image.open(pm).convert("RGB")).reshape(-1, 3)
    assert ((img[:, 0] > 200) & (img[:, 1] < 60) & (img[:, 2] < 60)).any()  # red dots drawn
