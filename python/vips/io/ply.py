"""PLY meshes and point clouds (ascii, binary little- and big-endian): vertex positions and faces only."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from vips.errors import AssetError

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
