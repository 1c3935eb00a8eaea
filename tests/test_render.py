"""Proxy rasterizer against a brute-force per-pixel reference, and renders of real assets."""

from __future__ import annotations

import numpy as np
import pytest

import vips
from vips import native
from vips.errors import NativeError
from vips.render import Camera, contact_sheet, framing_camera, render_pose


def reference_raster(screen, faces, colors, H, W):
    """Per pixel, per triangle: barycentric inside test, nearest depth wins (float64)."""
    depth = np.full((H, W), np.inf)
    image = np.zeros((H, W, 3))
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    for f in faces:
        a, b, c = screen[f].astype(np.float64)
        if min(a[2], b[2], c[2]) <= 0:
            continue
        area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(area) < 1e-12:
            continue
        w0 = ((c[0] - b[0]) * (ys - b[1]) - (c[1] - b[1]) * (xs - b[0])) / area
        w1 = ((a[0] - c[0]) * (ys - c[1]) - (a[1] - c[1]) * (xs - c[0])) / area
        w2 = 1 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        win = inside & (z < depth)
        depth[win] = z[win]
        col = w0[..., None] * colors[f[0]] + w1[..., None] * colors[f[1]] + w2[..., None] * colors[f[2]]
        image[win] = col[win]
    return depth, image


@pytest.mark.parametrize("seed", range(4))
def test_raster_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    H, W, V, F = 37, 53, 30, 25
    screen = np.c_[rng.uniform(-5, W + 5, V), rng.uniform(-5, H + 5, V), rng.uniform(0.5, 3, V)].astype(np.float32)
    faces = rng.integers(0, V, (F, 3)).astype(np.int32)
    colors = rng.random((V, 3)).astype(np.float32)
    depth = np.full((H, W), np.inf, np.float32)
    image = np.zeros((H, W, 3), np.float32)
    native.raster(screen, faces, colors, depth, image)
    ref_depth, ref_image = reference_raster(screen, faces, colors, H, W)
    covered = np.isfinite(ref_depth)
    # Pixels exactly on an edge may go either way in float32; they are a tiny fraction.
    agree = np.isfinite(depth) == covered
    assert agree.mean() > 0.99
    both = covered & np.isfinite(depth)
    close = np.abs(depth[both] - ref_depth[both]) < 1e-4
    assert close.mean() > 0.99
    np.testing.assert_allclose(image[both][close], ref_image[both][close], atol=1e-4)


def test_raster_rejects_bad_faces() -> None:
    with pytest.raises(NativeError, match="face 0 refers to vertex 7"):
        native.raster(np.zeros((3, 3), np.float32), np.array([[0, 1, 7]], np.int32), np.zeros((3, 3), np.float32),
                      np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.float32))


def test_camera_projects_target_to_image_centre() -> None:
    cam = Camera(eye=np.array([0, 1.0, 5]), target=np.array([0, 1.0, 0]))
    p = cam.project(np.array([[0, 1.0, 0], [0, 2.0, 0]]), 200, 100)
    np.testing.assert_allclose(p[0, :2], [100, 50], atol=1e-4)
    assert p[1, 1] < 50  # up in the world is up in the image
    np.testing.assert_allclose(p[0, 2], 5, atol=1e-5)


def test_render_real_asset_shows_the_mesh(assets_dir) -> None:
    rig = vips.load(assets_dir / "gltf" / "CesiumMan.glb")
    clip = next(iter(rig.clips.values()))
    img = np.asarray(render_pose(rig, clip[5], size=(128, 128), skeleton=False))
    background = np.all(np.abs(img.astype(int) - np.array([33, 36, 41])) <= 1, axis=-1)
    assert 0.05 < (~background).mean() < 0.8  # the figure fills part of the frame, not all of it
    cam = framing_camera(rig, rig.vertices)
    px = cam.project(rig.vertices, 128, 128)
    assert (px[:, :2] >= 0).all() and (px[:, :2] < 128).all()  # framing keeps every vertex in view
    sheet = contact_sheet(rig, clip[:6], columns=3, cell=64, invalid=np.array([0, 1, 0, 0, 0, 0], bool))
    assert sheet.size == (192, 128)


# ----- ground and control bones, framing, joint labels -----------------------------------------------------------
def _with_ground_and_pole(rig: vips.Rig) -> vips.Rig:
    """``rig`` (identity rest rotations, as RigNet rigs read) under a ground bone on the floor below its root,
    with an IK pole target far in front of it that moves no skin: the layout of Quaternius' and Blender's rigs."""
    pos = rig.rest_joint_positions().astype(np.float64)
    ground = np.array([pos[0, 0], rig.vertices[:, 1].min(), pos[0, 2]])
    pole = ground + [0.0, 0.5 * rig.height(), 2.0 * rig.height()]
    world = np.concatenate([[ground], pos, [pole]])
    parents = np.concatenate([[-1], np.asarray(rig.parents) + 1, [0]]).astype(np.int32)
    parents[1] = 0
    local = world - np.where(parents[:, None] >= 0, world[np.maximum(parents, 0)], 0.0)
    bind = np.tile(np.eye(4, dtype=np.float32), (len(world), 1, 1))
    bind[:, :3, 3] = world
    return vips.Rig(joint_names=["ground", *rig.joint_names, "pole"], parents=parents, rest_translations=local,
                    rest_rotations=np.tile([1.0, 0, 0, 0], (len(world), 1)), bind_matrices=bind,
                    vertices=rig.vertices, faces=rig.faces, skin_indices=rig.skin_indices + 1,
                    skin_weights=rig.skin_weights, name=f"{rig.name}_grounded")


def _load_quiet(path) -> vips.Rig:  # noqa: ANN001
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        return vips.load(path)


def _foreground_extent(img: np.ndarray) -> tuple[float, float]:
    """Fraction of the image's height and width spanned by pixels that are not background."""
    fg = np.any(np.abs(img.astype(int) - np.array([33, 36, 41])) > 2, axis=-1)
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    return (rows[-1] - rows[0] + 1) / img.shape[0], (cols[-1] - cols[0] + 1) / img.shape[1]


@pytest.mark.parametrize("asset", ["gltf/CesiumMan.glb", "rignet/fox_auto_rig.txt", "rignet/humanoid_auto_rig.txt",
                                   "usd/skinnedArm.usda", "bvh/walk.bvh", "grounded"])
def test_the_character_fills_most_of_the_frame(assets_dir, asset: str) -> None:
    from vips.render import control_joints, framing_points

    if asset == "grounded":
        rig = _with_ground_and_pole(_load_quiet(assets_dir / "rignet/humanoid_auto_rig.txt"))
    else:
        rig = _load_quiet(assets_dir / asset)
    pose = next(iter(rig.clips.values()))[len(next(iter(rig.clips.values()))) // 2] if rig.clips else \
        vips.Poses.identity(1, rig.num_joints)
    for size in [(160, 160), (240, 135)]:
        img = np.asarray(render_pose(rig, pose, size=size, skeleton=not rig.has_mesh))
        tall, wide = _foreground_extent(img)
        assert max(tall, wide) >= 0.8, (asset, size, tall, wide)  # the old bounding-sphere framing: 0.42 (a fox)
        cam = framing_camera(rig, framing_points(rig, pose), aspect=size[0] / size[1])
        px = cam.project(framing_points(rig, pose).reshape(-1, 3), *size)
        assert (px[:, :2] >= 0).all() and (px[:, 0] < size[0]).all() and (px[:, 1] < size[1]).all(), asset
    if asset == "grounded":  # the far pole is left out of the framing, not squeezed in
        assert [rig.joint_names[j] for j in np.flatnonzero(control_joints(rig))] == ["ground", "pole"]


def test_ground_bones_are_not_drawn_as_limbs() -> None:
    from vips.render import BONE_COLOR, CONTROL_COLOR, control_joints

    # A skeleton-only figure standing on a ground bone; the legs stay clear of the ground bone's line.
    names = ["ground", "pelvis", "spine", "head", "leg_l", "foot_l", "leg_r", "foot_r"]
    parents = np.array([-1, 0, 1, 2, 1, 4, 1, 6], np.int32)
    world = np.array([[0, 0, 0], [0, 1, 0], [0, 1.5, 0], [0, 2, 0], [0.4, 0.9, 0], [0.5, 0.02, 0],
                      [-0.4, 0.9, 0], [-0.5, 0.02, 0]], np.float64)
    local = world - np.where(parents[:, None] >= 0, world[np.maximum(parents, 0)], 0.0)
    rig = vips.Rig(joint_names=names, parents=parents, rest_translations=local,
                   rest_rotations=np.tile([1.0, 0, 0, 0], (8, 1)), name="grounded_stick")
    assert control_joints(rig).tolist() == [True] + [False] * 7
    pose = vips.Poses.identity(1, 8)
    cam = Camera(eye=np.array([0, 1.0, 6.0]), target=np.array([0, 1.0, 0]))
    img = np.asarray(render_pose(rig, pose, cam, size=(200, 200)))
    px = cam.project(world, 200, 200)

    def colours_along(a: int, b: int) -> set[tuple[int, ...]]:
        seen = set()
        for t in np.linspace(0.15, 0.85, 30):
            x, y = np.round(px[a, :2] + t * (px[b, :2] - px[a, :2])).astype(int)
            seen |= {tuple(c) for c in img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)}
        return seen

    assert tuple(BONE_COLOR) not in colours_along(0, 1)  # ground -> pelvis: not a limb
    assert tuple(CONTROL_COLOR) in colours_along(0, 1)  # but drawn, apart
    assert tuple(BONE_COLOR) in colours_along(1, 2) and tuple(BONE_COLOR) in colours_along(4, 5)


def test_joint_labels_draw_names_inside_the_image(assets_dir) -> None:
    from PIL import Image, ImageDraw

    from vips.render import _draw_labels

    rig = _load_quiet(assets_dir / "gltf" / "CesiumMan.glb")
    pose = next(iter(rig.clips.values()))[5]
    plain = np.asarray(render_pose(rig, pose, size=(256, 256))).astype(int)
    named = np.asarray(render_pose(rig, pose, size=(256, 256), labels=True)).astype(int)
    assert (np.abs(named - plain).sum(-1) > 60).sum() > 40 * rig.num_joints  # text for every joint
    # Joints in the corners and at the edges: every name still lands wholly inside the image.
    px = np.array([[1, 1, 1], [254, 1, 1], [1, 254, 1], [254, 254, 1], [128, 0.5, 1], [255.5, 128, 1]])
    draw = ImageDraw.Draw(Image.new("RGB", (256, 256)))
    boxes = _draw_labels(draw, px, ["a_long_joint_name"] * 6, np.zeros(6, bool), (256, 256))
    assert len(boxes) == 6
    for left, top, right, bottom in boxes.values():
        assert 0 <= left < right <= 256 and 0 <= top < bottom <= 256
    assert min(b[3] - b[1] for b in boxes.values()) >= 7  # a readable size, not the 6-pixel bitmap font
