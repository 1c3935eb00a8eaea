"""Proxy renders of posed rigs: the mesh (depth-tested, shaded) with the skeleton drawn over it.

Used for keyframe proxies that condition video models, contact sheets of sampled poses and batch
thumbnails. No system GL: triangles go through the native rasterizer, lines through Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vips import native
from vips.kinematics import joint_positions, skin

if TYPE_CHECKING:
    from PIL import Image

    from vips.poses import Poses
    from vips.rig import Rig

MESH_COLOR = np.array([0.72, 0.74, 0.78], np.float32)
BACKGROUND = (0.13, 0.14, 0.16)
BONE_COLOR = (255, 170, 40)


@dataclass
class Camera:
    """A pinhole (or orthographic when ``fov_degrees`` is 0) camera looking at ``target``.

    Positions are in the rig's world space and units; ``up`` is the world up vector.
    """

    eye: np.ndarray
    target: np.ndarray
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    fov_degrees: float = 35.0
    ortho_height: float = 2.0

    def view_matrix(self) -> np.ndarray:
        """(4, 4) world-to-camera matrix; the camera looks down its -Z axis."""
        f = np.asarray(self.target, float) - np.asarray(self.eye, float)
        f /= np.linalg.norm(f)
        r = np.cross(f, self.up)
        if np.linalg.norm(r) < 1e-9:  # looking along up: pick any perpendicular
            r = np.cross(f, [1.0, 0, 0] if abs(f[0]) < 0.9 else [0, 0, 1.0])
        r /= np.linalg.norm(r)
        u = np.cross(r, f)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = r, u, -f
        m[:3, 3] = -m[:3, :3] @ np.asarray(self.eye, float)
        return m

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N, 3) world points -> (N, 3) pixel x, pixel y (down), depth (distance along the view axis)."""
        cam = (self.view_matrix() @ np.c_[points, np.ones(len(points))].T).T[:, :3]
        depth = -cam[:, 2]
        if self.fov_degrees > 0:
            focal = 0.5 * height / np.tan(np.radians(self.fov_degrees) / 2)
            safe = np.where(np.abs(depth) > 1e-9, depth, 1e-9)
            x, y = focal * cam[:, 0] / safe, focal * cam[:, 1] / safe
        else:
            scale = height / self.ortho_height
            x, y = scale * cam[:, 0], scale * cam[:, 1]
            depth = depth - depth.min(initial=0) + 1.0  # keep depth positive for the rasterizer
        return np.stack([x + width / 2, height / 2 - y, depth], axis=1).astype(np.float32)

    def to_json(self) -> dict:
        return {"eye": np.asarray(self.eye, float).tolist(), "target": np.asarray(self.target, float).tolist(),
                "up": np.asarray(self.up, float).tolist(), "fov_degrees": self.fov_degrees,
                "ortho_height": self.ortho_height}


def framing_camera(rig: "Rig", points: np.ndarray, azimuth_degrees: float = 30.0, elevation_degrees: float = 12.0,
                   fov_degrees: float = 35.0) -> Camera:
    """A camera that frames ``points`` (N, 3) from the rig's front (+Z in Y-up assets), turned by azimuth."""
    up = rig.up_vector().astype(float)
    forward = np.array([0, 0, 1.0]) if rig.up_axis == "Y" else np.array([0, -1.0, 0])
    lo, hi = points.min(axis=0), points.max(axis=0)
    center, radius = (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
    az, el = np.radians(azimuth_degrees), np.radians(elevation_degrees)
    side = np.cross(up, forward)
    direction = np.cos(el) * (np.cos(az) * forward + np.sin(az) * side) + np.sin(el) * up
    distance = radius / np.sin(np.radians(fov_degrees) / 2) * 1.05
    return Camera(center + direction * distance, center, up, fov_degrees, 2.2 * radius)


def _shade(vertices: np.ndarray, faces: np.ndarray, view_dir: np.ndarray) -> np.ndarray:
    """(V, 3) per-vertex colors: two-sided Lambert from a light at the camera, plus ambient."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(vn, faces[:, k], n)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    lambert = np.abs(vn @ view_dir)
    return (MESH_COLOR[None] * (0.25 + 0.75 * lambert[:, None])).astype(np.float32)


def render_pose(rig: "Rig", poses: "Poses", camera: Camera | None = None, size: tuple[int, int] = (512, 512),
                skeleton: bool = True, invalid: bool = False) -> "Image.Image":
    """Render the first pose of ``poses``: shaded mesh (if the rig has one) and the skeleton on top.

    ``invalid`` tints the image red (the "red dot" of an implausible pose in contact sheets).
    """
    from PIL import Image, ImageDraw

    width, height = size
    joints = joint_positions(rig, poses[:1])[0].astype(float)
    verts = skin(rig, poses[:1])[0].astype(float) if rig.has_mesh else None
    camera = camera or framing_camera(rig, verts if verts is not None else joints)
    image = np.empty((height, width, 3), np.float32)
    image[:] = BACKGROUND
    if verts is not None and rig.faces is not None and len(rig.faces):
        depth = np.full((height, width), np.inf, np.float32)
        view_dir = np.asarray(camera.target, float) - np.asarray(camera.eye, float)
        colors = _shade(verts, rig.faces, view_dir / np.linalg.norm(view_dir))
        if invalid:
            colors = colors * np.array([1.0, 0.45, 0.45], np.float32)
        native.raster(camera.project(verts, width, height), rig.faces, colors, depth, image)
    img = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    if skeleton:
        draw = ImageDraw.Draw(img)
        px = camera.project(joints, width, height)
        radius = max(1, width // 200)
        for j, p in enumerate(rig.parents):
            if p >= 0:
                draw.line([tuple(px[p, :2]), tuple(px[j, :2])], fill=BONE_COLOR, width=max(1, width // 256))
        for x, y, _ in px:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    return img


def contact_sheet(rig: "Rig", poses: "Poses", columns: int = 8, cell: int = 192,
                  labels: list[str] | None = None, invalid: np.ndarray | None = None) -> "Image.Image":
    """A grid of renders of every pose, all from one camera framing them all, optionally labelled."""
    from PIL import Image, ImageDraw

    # One camera for every tile, following each pose's root: poses stay comparable in size and pose, and
    # root motion does not shrink them all to fit the union of their positions.
    roots = joint_positions(rig, poses)[:, 0].astype(float)
    points = skin(rig, poses) if rig.has_mesh else joint_positions(rig, poses)
    camera = framing_camera(rig, (points - roots[:, None].astype(points.dtype)).reshape(-1, 3))
    rows = (len(poses) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, max(rows, 1) * cell), (20, 20, 24))
    for i in range(len(poses)):
        bad = bool(invalid[i]) if invalid is not None else False
        follow = Camera(camera.eye + roots[i], camera.target + roots[i], camera.up, camera.fov_degrees,
                        camera.ortho_height)
        tile = render_pose(rig, poses[i], follow, (cell, cell), invalid=bad)
        if labels is not None:
            ImageDraw.Draw(tile).text((4, 4), labels[i], fill=(255, 80, 80) if bad else (230, 230, 230))
        sheet.paste(tile, ((i % columns) * cell, (i // columns) * cell))
    return sheet
