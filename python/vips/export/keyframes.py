"""Keyframe proxies for video models: renders of mesh + skeleton at chosen frames, and ``keyframes.json``.

A video diffusion model conditioned on keyframes wants, per keyframe, an image and where it sits in time; a
pose-conditioned one also wants the pose and the camera. ``keyframes.json`` (format ``vips-keyframes/1``)::

    {"format": "vips-keyframes/1", "asset": NAME, "fps": 30, "num_frames": F, "image_size": [W, H],
     "camera": {"eye", "target", "up", "fov_degrees", "ortho_height", "focal_px", "view_matrix"},
     "joint_names": [...], "parents": [...], "up_axis": "Y", "meters_per_unit": 1.0,
     "keyframes": [{"frame": k, "time": k / fps, "image": "frame_0000.png",
                    "rotations": [[w, x, y, z] per joint, relative to the rest pose],
                    "local_rotations": [[w, x, y, z] per joint, full local rotation],
                    "root_translation": [x, y, z],
                    "joint_positions": [[x, y, z] world, asset units], "joints_2d": [[u, v] pixels],
                    "score": s, "plausible": b}]}

One camera frames every keyframe, so renders line up in time. Images and the JSON are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vips.errors import VipsError
from vips.io.atomic import atomic_path, make_output_folder, write_bytes_atomic

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.render import Camera
    from vips.rig import Rig

FORMAT = "vips-keyframes/1"
JSON_FILE = "keyframes.json"


def frame_file(index: int) -> str:
    """The image file name of pose ``index``: ``frame_NNNN.png``."""
    return f"frame_{index:04d}.png"


def keyframe_indices(num_poses: int, count: int | None) -> list[int]:
    """``count`` frame indices spread evenly over ``num_poses`` (first and last included); all when None."""
    if count is None or count >= num_poses:
        return list(range(num_poses))
    if count < 1:
        raise VipsError(f"keyframes: the number of keyframes must be >= 1, got {count}")
    if count == 1:
        return [0]
    return sorted({int(round(x)) for x in np.linspace(0, num_poses - 1, count)})


def write_keyframes(rig: "Rig", poses: "Poses", out_dir: str | os.PathLike[str], frames: Sequence[int] | None = None,
                    count: int | None = None, camera: "Camera | None" = None, size: tuple[int, int] = (512, 512),
                    scores=None, plausible=None, skeleton: bool = True, labels: bool = False) -> Path:  # noqa: ANN001
    """Render keyframes of ``poses`` into ``out_dir`` (PNG per keyframe) and write ``keyframes.json``.

    Args:
        frames: pose indices to render; default ``count`` evenly spread ones (all poses when both are None).
        camera: the camera (default: one framing the body, mesh and joints without the ground and control bones,
            over every keyframe, from the rig's front; see :func:`vips.render.framing_points`).
        size: image (width, height) in pixels.
        scores, plausible: optional (F,) per-pose values recorded with each keyframe.
        skeleton, labels: draw the skeleton; write the joint names beside the joints (see
            :func:`vips.render.render_pose`).
    Returns the path of ``keyframes.json``.
    """
    from vips.kinematics import joint_positions, local_transforms
    from vips.render import control_joints, framing_camera, framing_points, render_pose

    idx = list(frames) if frames is not None else keyframe_indices(len(poses), count)
    for i in idx:
        if not 0 <= i < len(poses):
            raise VipsError(f"keyframes: frame {i} is out of range (the poses hold {len(poses)})")
    out = make_output_folder(out_dir)
    sel = poses[np.asarray(idx, np.int64)]
    positions = joint_positions(rig, sel).astype(np.float64)
    control = control_joints(rig)
    if camera is None:
        camera = framing_camera(rig, framing_points(rig, sel, control), aspect=size[0] / size[1])
    local_rot, _ = local_transforms(rig, sel)
    W, H = size
    entries = []
    for k, i in enumerate(idx):
        name = frame_file(i)
        bad = plausible is not None and not bool(plausible[i])
        image = render_pose(rig, sel[k], camera, size, skeleton=skeleton, invalid=bad, labels=labels, control=control)
        with atomic_path(out / name) as tmp:
            image.save(tmp, format="PNG")
        entry = {
            "frame": int(i),
            "time": float(i / poses.fps),
            "image": name,
            "rotations": sel.rotations[k].astype(float).round(7).tolist(),
            "local_rotations": local_rot[k].astype(float).round(7).tolist(),
            "root_translation": sel.root_translation[k].astype(float).tolist(),
            "joint_positions": positions[k].round(7).tolist(),
            "joints_2d": camera.project(positions[k], W, H)[:, :2].astype(float).round(3).tolist(),
        }
        if scores is not None:
            entry["score"] = float(scores[i])
        if plausible is not None:
            entry["plausible"] = bool(plausible[i])
        entries.append(entry)
    cam = camera.to_json()
    cam["focal_px"] = float(0.5 * H / np.tan(np.radians(camera.fov_degrees) / 2)) if camera.fov_degrees > 0 else None
    cam["view_matrix"] = camera.view_matrix().tolist()
    doc = {"format": FORMAT, "asset": rig.name, "fps": float(poses.fps), "num_frames": len(poses),
           "image_size": [W, H], "camera": cam, "joint_names": list(rig.joint_names),
           "parents": [int(p) for p in rig.parents], "up_axis": rig.up_axis,
           "meters_per_unit": float(rig.meters_per_unit), "keyframes": entries}
    path = out / JSON_FILE
    write_bytes_atomic(path, (json.dumps(doc, indent=1) + "\n").encode())
    return path
