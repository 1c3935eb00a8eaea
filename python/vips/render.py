"""Proxy renders of posed rigs: the mesh (depth-tested, shaded) with the skeleton drawn over it.

Used for keyframe proxies that condition video models, contact sheets of sampled poses and batch
thumbnails. No system GL: triangles go through the native rasterizer, lines and text through Pillow.

Only the body is drawn as limbs and framed: the *control joints* (:func:`control_joints`: ground, locomotion and
control bones above the body root, and IK targets or poles that move no skin and sit away from the mesh) and the
bones to them are drawn thin and grey, and the camera frames the skinned mesh and the body's joints, so the
character fills most of the image. ``labels=True`` writes each joint's name beside it, for picking IK handles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vips import native
from vips.io.atomic import atomic_path
from vips.kinematics import joint_positions, skin

if TYPE_CHECKING:
    from PIL import Image

    from vips.poses import Poses
    from vips.rig import Rig

MESH_COLOR = np.array([0.72, 0.74, 0.78], np.float32)
BACKGROUND = (0.13, 0.14, 0.16)
BONE_COLOR = (255, 170, 40)
CONTROL_COLOR = (118, 122, 132)  # ground / control / IK bones: apart from the limbs
LABEL_COLOR = (255, 236, 170)
#: How much of the image's height or width the framed character spans (the rest is margin).
FILL = 0.9
#: A joint that moves no skin (nor do its descendants) and lies farther than this fraction of the rig's height
#: from the rest mesh is an IK target or pole, not part of the body.
FAR_FRACTION = 0.1


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


def control_joints(rig: "Rig") -> np.ndarray:
    """(J,) bool: joints that are not part of the body, drawn apart from the limbs and left out of the framing.

    They are the joints above the body root (:func:`vips.body.above_body`: ground, locomotion and control
    bones) and, on a skinned rig, joints whose subtree moves no skin and that lie farther than ``FAR_FRACTION``
    of the rig's height from the rest mesh (IK targets, pole targets).
    """
    from vips.body import above_body, body_root

    out = above_body(rig.parents, body_root(rig))
    if not (rig.has_mesh and rig.num_vertices and rig.skin_weights is not None):
        return out
    weight = np.bincount(np.asarray(rig.skin_indices, np.int64).ravel(),
                         weights=np.asarray(rig.skin_weights, np.float64).ravel(), minlength=rig.num_joints)
    subtree = weight.copy()
    for j in range(rig.num_joints - 1, 0, -1):  # parents come before children
        if rig.parents[j] >= 0:
            subtree[rig.parents[j]] += subtree[j]
    skinless = np.flatnonzero(subtree <= 1e-9 * max(float(weight.sum()), 1e-12))
    if len(skinless):
        from vips.poses import Poses

        mesh = skin(rig, Poses.identity(1, rig.num_joints))[0].astype(np.float64)
        joints = rig.rest_joint_positions().astype(np.float64)[skinless]
        nearest = np.array([np.sqrt(((mesh - p) ** 2).sum(axis=1).min()) for p in joints])
        out[skinless[nearest > FAR_FRACTION * rig.height()]] = True
    return out


def framing_points(rig: "Rig", poses: "Poses", control: np.ndarray | None = None) -> np.ndarray:
    """(F, N, 3) world points a camera should frame for each pose: the skinned mesh and the body's joints.

    ``control`` (J,) bool, default :func:`control_joints`, names the joints left out.
    """
    control = control_joints(rig) if control is None else np.asarray(control, bool)
    joints = joint_positions(rig, poses)[:, ~control]
    if not rig.has_mesh:
        return joints
    return np.concatenate([skin(rig, poses), joints], axis=1)


def framing_camera(rig: "Rig", points: np.ndarray, azimuth_degrees: float = 30.0, elevation_degrees: float = 12.0,
                   fov_degrees: float = 35.0, aspect: float = 1.0, fill: float = FILL) -> Camera:
    """A camera that frames ``points`` (N, 3) from the rig's front (+Z in Y-up assets), turned by azimuth.

    Every point is in view and the points span ``fill`` of the image's height or width (whichever binds first),
    for images of width / height ``aspect``. Pass :func:`framing_points` to frame the body.
    """
    up = rig.up_vector().astype(float)
    forward = np.array([0, 0, 1.0]) if rig.up_axis == "Y" else np.array([0, -1.0, 0])
    points = np.asarray(points, np.float64).reshape(-1, 3)
    lo, hi = points.min(axis=0), points.max(axis=0)
    center, radius = (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
    az, el = np.radians(azimuth_degrees), np.radians(elevation_degrees)
    side = np.cross(up, forward)
    direction = np.cos(el) * (np.cos(az) * forward + np.sin(az) * side) + np.sin(el) * up
    # The points in the camera's axes (x right, y up, z towards the camera), about the box centre.
    axes = Camera(center + direction, center, up).view_matrix()[:3, :3]
    x, y, z = ((points - center) @ axes.T).T
    if fov_degrees <= 0:
        cx, cy = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
        height = max(y.max() - y.min(), (x.max() - x.min()) / aspect, 1e-6 * radius) / fill
        return Camera(center + axes.T @ [cx, cy, 2 * radius], center + axes.T @ [cx, cy, 0], up, 0.0, height)
    ty = np.tan(np.radians(fov_degrees) / 2) * fill
    tx = ty * aspect

    def fit(cx: float, cy: float) -> float:  # the nearest eye distance that keeps every point in the frame
        return max(float(np.max(z + np.maximum(np.abs(x - cx) / tx, np.abs(y - cy) / ty))), z.max() + 1e-3 * radius)

    cx = cy = 0.0
    for _ in range(4):  # perspective moves the projected extent off centre: re-centre on it, then fit again
        depth = fit(cx, cy) - z
        u, v = (x - cx) / depth, (y - cy) / depth
        shift_u, shift_v = (u.max() + u.min()) / 2, (v.max() + v.min()) / 2
        if max(abs(shift_u) / tx, abs(shift_v) / ty) < 1e-3:
            break
        cx, cy = cx + shift_u * float(np.median(depth)), cy + shift_v * float(np.median(depth))
    distance = fit(cx, cy)
    eye = center + axes.T @ [cx, cy, distance]
    return Camera(eye, eye - direction * distance, up, fov_degrees, 2.2 * radius)


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
                skeleton: bool = True, invalid: bool = False, labels: bool = False,
                control: np.ndarray | None = None) -> "Image.Image":
    """Render the first pose of ``poses``: shaded mesh (if the rig has one) and the skeleton on top.

    Args:
        camera: default :func:`framing_camera` of :func:`framing_points`: the body fills most of the image.
        size: image (width, height) in pixels.
        skeleton: draw the skeleton: limbs in orange with white joints; the control joints and the bones to them
            (ground, locomotion, control and IK bones, see :func:`control_joints`) thin and grey.
        invalid: tint the image red (the "red dot" of an implausible pose in contact sheets).
        labels: write each joint's name beside it (for picking IK handles), kept inside the image.
        control: (J,) bool joints drawn apart and left out of the framing; default :func:`control_joints`.
    """
    from PIL import Image, ImageDraw

    width, height = size
    control = control_joints(rig) if control is None else np.asarray(control, bool)
    joints = joint_positions(rig, poses[:1])[0].astype(float)
    verts = skin(rig, poses[:1])[0].astype(float) if rig.has_mesh else None
    camera = camera or framing_camera(rig, framing_points(rig, poses[:1], control), aspect=width / height)
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
    px = camera.project(joints, width, height)
    # Control joints are shown where they lie by the body (a ground bone under it), not where they lie away from
    # it (pole targets, a ground bone left behind by root motion): lines to those say nothing about the pose.
    body = px[~control] if verts is None else np.concatenate([camera.project(verts, width, height), px[~control]])
    pad = 0.05 * min(size)
    near = np.all((px[:, :2] >= body[:, :2].min(axis=0) - pad) & (px[:, :2] <= body[:, :2].max(axis=0) + pad), axis=1)
    shown = ~control | near
    if skeleton:
        _draw_skeleton(ImageDraw.Draw(img), px, rig.parents, control, shown, width)
    if labels:
        _draw_labels(ImageDraw.Draw(img), px, rig.joint_names, control, size, shown)
    return img


def _draw_skeleton(draw, px: np.ndarray, parents: np.ndarray, control: np.ndarray,  # noqa: ANN001 - ImageDraw
                   shown: np.ndarray, width: int) -> None:
    """Bones to or from a control joint thin and grey, under the limbs, where both ends are ``shown``; then the
    limbs; then the joints as dots."""
    radius, limb = max(1, width // 200), max(1, width // 256)
    bones = [(int(p), j) for j, p in enumerate(parents) if p >= 0]
    for p, j in bones:
        if (control[p] or control[j]) and shown[p] and shown[j]:
            draw.line([tuple(px[p, :2]), tuple(px[j, :2])], fill=CONTROL_COLOR, width=1)
    for p, j in bones:
        if not (control[p] or control[j]):
            draw.line([tuple(px[p, :2]), tuple(px[j, :2])], fill=BONE_COLOR, width=limb)
    for j in np.flatnonzero(shown):
        x, y = px[j, :2]
        r = max(1, radius - 1) if control[j] else radius
        draw.ellipse([x - r, y - r, x + r, y + r], fill=CONTROL_COLOR if control[j] else (255, 255, 255))


def _label_font(size: tuple[int, int]):  # noqa: ANN202 - a Pillow font
    from PIL import ImageFont

    points = max(10, round(min(size) / 42))
    try:
        return ImageFont.load_default(size=points)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_labels(draw, px: np.ndarray, names: list[str], control: np.ndarray,  # noqa: ANN001 - a Pillow ImageDraw
                 size: tuple[int, int], shown: np.ndarray | None = None) -> dict[int, tuple[float, ...]]:
    """Each joint's name beside it, outlined for contrast, inside the image, avoiding labels already placed.

    Body joints are placed first (they are the IK handles). A name goes to the first free spot of eight around
    its joint, then of two wider rings (with a leader line to its joint), else to the spot that overlaps least.
    Joints outside the image or not ``shown`` get no label. Returns each labelled joint's text box (left, top,
    right, bottom).
    """
    width, height = size
    font = _label_font(size)
    gap = max(3, width // 120)
    boxes: dict[int, tuple[float, ...]] = {}
    for j in sorted(range(len(names)), key=lambda k: bool(control[k])):
        x, y = float(px[j, 0]), float(px[j, 1])
        if not (0 <= x < width and 0 <= y < height) or (shown is not None and not shown[j]):
            continue
        left, top, right, bottom = draw.textbbox((0, 0), names[j], font=font, stroke_width=2)
        w, h = right - left, bottom - top
        best = None
        for ring in (1.0, 3.0, 5.0):
            for sx, sy in _label_spots(x, y, w, h, gap * ring):
                sx, sy = min(max(sx, 0.0), max(width - w, 0)), min(max(sy, 0.0), max(height - h, 0))
                box = (sx, sy, sx + w, sy + h)
                overlap = sum(_overlap(box, other) for other in boxes.values())
                if best is None or overlap < best[0]:
                    best = (overlap, box, ring)
            if best[0] == 0:
                break
        _, box, ring = best
        boxes[j] = box
        color = CONTROL_COLOR if control[j] else LABEL_COLOR
        if ring > 1:
            end = (min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3]))
            draw.line([(x, y), end], fill=color, width=1)
        draw.text((box[0] - left, box[1] - top), names[j], font=font, stroke_width=2, stroke_fill=(0, 0, 0),
                  fill=color)
    return boxes


def _label_spots(x: float, y: float, w: float, h: float, gap: float) -> list[tuple[float, float]]:
    """Top-left corners of a w x h label beside the point (x, y), ``gap`` away: right, left, above, below."""
    return [(x + gap, y - h / 2), (x - gap - w, y - h / 2), (x + gap, y - gap - h), (x - gap - w, y - gap - h),
            (x + gap, y + gap), (x - gap - w, y + gap), (x - w / 2, y - gap - h), (x - w / 2, y + gap)]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area shared by two (left, top, right, bottom) boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def contact_sheet(rig: "Rig", poses: "Poses", columns: int = 8, cell: int = 192, labels: list[str] | None = None,
                  invalid: np.ndarray | None = None, joint_labels: bool = False) -> "Image.Image":
    """A grid of renders of every pose, all from one camera framing them all, optionally labelled.

    ``labels`` are one caption per tile; ``joint_labels`` writes the joint names in every tile.
    """
    from PIL import Image, ImageDraw

    from vips.body import body_root

    # One camera for every tile, following each pose's body root over the ground: poses stay comparable in size
    # and pose, and root motion does not shrink them all to fit the union of their positions.
    control = control_joints(rig)
    up = rig.up_vector().astype(float)
    roots = joint_positions(rig, poses)[:, body_root(rig)].astype(float)
    roots -= (roots @ up)[:, None] * up
    points = framing_points(rig, poses, control).astype(float) - roots[:, None]
    camera = framing_camera(rig, points)
    rows = (len(poses) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, max(rows, 1) * cell), (20, 20, 24))
    for i in range(len(poses)):
        bad = bool(invalid[i]) if invalid is not None else False
        follow = Camera(camera.eye + roots[i], camera.target + roots[i], camera.up, camera.fov_degrees,
                        camera.ortho_height)
        tile = render_pose(rig, poses[i], follow, (cell, cell), invalid=bad, labels=joint_labels, control=control)
        if labels is not None:
            ImageDraw.Draw(tile).text((4, 4), labels[i], fill=(255, 80, 80) if bad else (230, 230, 230))
        sheet.paste(tile, ((i % columns) * cell, (i // columns) * cell))
    return sheet


def write_contact_sheet(rig: "Rig", poses: "Poses", path: str | os.PathLike[str], scores=None, plausible=None,
                        columns: int = 8, cell: int = 192) -> Path:  # noqa: ANN001
    """:func:`contact_sheet` of every pose written as a PNG (atomically), each tile labelled with its index and
    (N,) ``scores``; poses whose (N,) bool ``plausible`` is False are tinted red."""
    labels = [f"{i}" + ("" if scores is None else f"  {float(scores[i]):.3g}") for i in range(len(poses))]
    invalid = None if plausible is None else ~np.asarray(plausible, bool)
    sheet = contact_sheet(rig, poses, columns=min(columns, max(1, len(poses))), cell=cell, labels=labels,
                          invalid=invalid)
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
