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
