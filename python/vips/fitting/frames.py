"""Reading a sequence of per-frame meshes (OBJ, PLY, GLB/glTF): the plug-in point for real reconstructions.

Feed it the output of a video model plus a per-frame 3D reconstruction tool: one mesh (or point cloud)
per frame in a folder, named so that sorting the names in natural order (``frame_2`` before
``frame_10``) gives time order. Vertex counts and order may differ from frame to frame; each frame may
live in its own coordinate frame (the fitting aligns them). Faces are optional (a PLY point cloud works);
with faces, frames are sampled uniformly over their surface.
"""

from __future__ import annotations

import os
import re
import struct
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


# ----- PLY --------------------------------------------------------------------------------------------
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _ply_header(path: Path, data: bytes) -> tuple[str, list[tuple[str, int, list[tuple]]], int]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise AssetError(f"{path}: not a PLY file (no 'ply' magic or no 'end_header')")
    body_start = data.index(b"\n", end) + 1
    fmt, elements = "", []
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        tok = line.split()
        if not tok or tok[0] in ("comment", "obj_info"):
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            elements.append((tok[1], int(tok[2]), []))
        elif tok[0] == "property" and elements:
            if tok[1] == "list":
                elements[-1][2].append((tok[4], "list", _PLY_TYPES.get(tok[2]), _PLY_TYPES.get(tok[3])))
            else:
                elements[-1][2].append((tok[2], _PLY_TYPES.get(tok[1])))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise AssetError(f"{path}: unknown PLY format '{fmt}'")
    return fmt, elements, body_start


def read_ply(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a PLY mesh or point cloud (ascii or binary): (V, 3) float32 vertices and (F, 3) int32 faces
    (polygons fan-triangulated; empty when the file has none)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssetError(f"{path}: cannot be read ({exc.strerror})") from None
    fmt, elements, pos = _ply_header(path, data)
    verts = np.zeros((0, 3), np.float32)
    faces: list[np.ndarray] = []
    try:
        if fmt == "ascii":
            tokens = data[pos:].split()
            cursor = 0
            for name, count, props in elements:
                rows = []
                for _ in range(count):
                    row = []
                    for prop in props:
                        if prop[1] == "list":
                            n = int(tokens[cursor])
                            row.append([float(t) for t in tokens[cursor + 1 : cursor + 1 + n]])
                            cursor += 1 + n
                        else:
                            row.append(float(tokens[cursor]))
                            cursor += 1
                    rows.append(row)
                if name == "vertex":
                    names = [p[0] for p in props]
                    verts = np.array([[r[names.index(a)] for a in "xyz"] for r in rows], np.float32).reshape(-1, 3)
                elif name == "face":
                    li = next(i for i, p in enumerate(props) if p[1] == "list")
                    faces.extend(np.array(r[li], np.int64) for r in rows)
        else:
            end = "<" if fmt == "binary_little_endian" else ">"
            for name, count, props in elements:
                if all(p[1] != "list" for p in props):
                    dtype = np.dtype([(p[0], end + p[1]) for p in props])
                    arr = np.frombuffer(data, dtype, count, pos)
                    pos += dtype.itemsize * count
                    if name == "vertex":
                        verts = np.stack([arr[a] for a in "xyz"], 1).astype(np.float32)
                    continue
                for _ in range(count):
                    for prop in props:
                        if prop[1] == "list":
                            ct, it = np.dtype(end + prop[2]), np.dtype(end + prop[3])
                            n = int(np.frombuffer(data, ct, 1, pos)[0])
                            pos += ct.itemsize
                            vals = np.frombuffer(data, it, n, pos)
                            pos += it.itemsize * n
                            if name == "face":
                                faces.append(vals.astype(np.int64))
                        else:
                            pos += np.dtype(prop[1]).itemsize
    except (ValueError, IndexError, KeyError, StopIteration, struct.error, TypeError) as exc:
        raise AssetError(f"{path}: the PLY data is truncated or corrupt ({exc})") from None
    tris = [np.stack([np.full(len(f) - 2, f[0]), f[1:-1], f[2:]], 1) for f in faces if len(f) >= 3]
    tri = np.concatenate(tris).astype(np.int32) if tris else np.zeros((0, 3), np.int32)
    if len(tri) and (tri.min() < 0 or tri.max() >= len(verts)):
        raise AssetError(f"{path}: a face refers to a vertex outside [0, {len(verts)})")
    return verts, tri


# ----- glTF -------------------------------------------------------------------------------------------
def _node_matrix(node: dict) -> np.ndarray:
    from vips.rotations import quat_to_matrix

    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T  # glTF stores column-major
    m = np.eye(4)
    if "rotation" in node:
        x, y, z, w = node["rotation"]
        m[:3, :3] = quat_to_matrix(np.array([w, x, y, z], np.float64))
    if "scale" in node:
        m[:3, :3] = m[:3, :3] * np.asarray(node["scale"], np.float64)[None]
    if "translation" in node:
        m[:3, 3] = node["translation"]
    return m


def read_gltf_positions(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """All triangle meshes of a .glb/.gltf file in world space (node transforms applied, skinning ignored):
    (V, 3) float32 vertices and (F, 3) int32 faces."""
    from vips.io.gltf_format import parse_file

    path = Path(path)
    doc = parse_file(path)
    nodes = doc.array("nodes")
    scenes = doc.array("scenes")
    roots = scenes[doc.json.get("scene", 0)].get("nodes", []) if scenes else list(range(len(nodes)))
    verts, faces, base = [], [], 0
    stack = [(int(r), np.eye(4)) for r in roots]
    seen = 0
    while stack:
        i, parent = stack.pop()
        seen += 1
        if seen > 100000:
            raise AssetError(f"{path}: the node hierarchy has a cycle")
        node = doc.item("nodes", i, f"node {i}")
        world = parent @ _node_matrix(node)
        if "mesh" in node:
            mesh = doc.item("meshes", node["mesh"], f"node {i} mesh")
            for k, prim in enumerate(mesh.get("primitives", [])):
                if prim.get("mode", 4) != 4 or "POSITION" not in prim.get("attributes", {}):
                    continue
                pos = doc.accessor(prim["attributes"]["POSITION"], f"mesh {node['mesh']} primitive {k} POSITION")
                pos = pos.reshape(-1, 3).astype(np.float64) @ world[:3, :3].T + world[:3, 3]
                if "indices" in prim:
                    idx = doc.accessor(prim["indices"], f"mesh {node['mesh']} primitive {k} indices").reshape(-1, 3)
                else:
                    idx = np.arange(len(pos)).reshape(-1, 3)
                verts.append(pos)
                faces.append(idx.astype(np.int64) + base)
                base += len(pos)
        stack.extend((int(c), world) for c in node.get("children", []))
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32)


# ----- any frame ----------------------------------------------------------------------------------------
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
        verts, faces = read_ply(path)
    elif suffix in (".glb", ".gltf"):
        verts, faces = read_gltf_positions(path)
    else:
        raise AssetError(f"{path}: frames must be .obj, .ply, .glb or .gltf files")
    if len(verts) == 0:
        raise AssetError(f"{path}: the frame is empty (no vertices)")
    if not np.isfinite(verts).all():
        raise AssetError(f"{path}: the frame has NaN or infinite vertex coordinates")
    return verts, faces


def frame_points(vertices: np.ndarray, faces: np.ndarray, count: int = 3000, seed: int = 0) -> np.ndarray:
    """(count, 3) float32 points spread uniformly over a frame's surface (area-weighted), or its vertices
    (subsampled to ``count``) when it has no faces."""
    rng = np.random.default_rng(seed)
    if len(faces) == 0:
        if len(vertices) <= count:
            return vertices.astype(np.float32)
        return vertices[rng.choice(len(vertices), count, replace=False)].astype(np.float32)
    from vips.fitting.surface import sample_surface

    face, bary = sample_surface(vertices.astype(np.float64), faces, count, rng)
    return (vertices[faces[face]] * bary[:, :, None]).sum(1).astype(np.float32)
