"""Reading a folder of per-frame meshes (OBJ, PLY, GLB/glTF): the plug-in point for real reconstructions.

Feed it the output of a video model plus a per-frame 3D reconstruction tool: one mesh (or point cloud)
per frame in a folder, named so that sorting the names in natural order (``frame_2`` before
``frame_10``) gives time order. Vertex counts and order may differ from frame to frame; each frame may
live in its own coordinate frame (the fitting aligns them). Faces are optional (a PLY point cloud works);
the fitting samples points over faces where there are some (:func:`vips.fitting.frames.frame_points`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vips.errors import AssetError

FRAME_SUFFIXES = (".obj", ".ply", ".glb", ".gltf")


def natural_key(name: str) -> list[object]:
    """Sort key that orders embedded numbers by value: frame_2 < frame_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """The mesh files (.obj, .ply, .glb, .gltf) of ``folder`` in natural file-name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssetError(f"{folder}: not a folder of frame meshes")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise AssetError(f"{folder}: no frame meshes ({', '.join(FRAME_SUFFIXES)}) in this folder")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_frame(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float32 vertices and (F, 3) int32 faces (possibly empty) of one frame file.

    Raises :class:`AssetError` naming the file when it cannot be read or holds no finite vertex.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".obj":
        from vips.io.obj import read_obj

        verts, faces = read_obj(path)
    elif suffix == ".ply":
        from vips.io.ply import read_ply

        verts, faces = read_ply(path)
    elif suffix in (".glb", ".gltf"):
        from vips.io.gltf_mesh import read_gltf_positions

        verts, faces = read_gltf_positions(path)
    else:
        raise AssetError(f"{path}: frames must be .obj, .ply, .glb or .gltf files")
    if len(verts) == 0:
        raise AssetError(f"{path}: the frame is empty (no vertices)")
    if not np.isfinite(verts).all():
        raise AssetError(f"{path}: the frame has NaN or infinite vertex coordinates")
    return verts, faces
