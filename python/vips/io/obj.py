"""Wavefront OBJ meshes: positions and triangulated faces only (normals, UVs and materials are ignored).

Used as the mesh half of a RigNet rig (``NAME.obj`` + ``NAME_rig.txt``), whose ``skin`` lines index the
OBJ's ``v`` lines in file order (0-based), so vertices are kept exactly in file order and never merged.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from vips.errors import AssetError
from vips.io.atomic import atomic_path
from vips.io.guard import MAX_TEXT_BYTES, read_asset


def read_text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file; :class:`AssetError` naming the file when it cannot be read, is not a
    regular file or is larger than :data:`~vips.io.guard.MAX_TEXT_BYTES`."""
    data = read_asset(path, MAX_TEXT_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AssetError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    return text.splitlines()


def parse_float(token: str, where: str, what: str) -> float:
    """``token`` as a finite float, else :class:`AssetError` saying ``where`` (file:line) and ``what``."""
    try:
        value = float(token)
    except ValueError:
        raise AssetError(f"{where}: {what} '{token}' is not a number") from None
    if not math.isfinite(value):
        raise AssetError(f"{where}: {what} is '{token}'; it must be a finite number")
    return value


def _face_index(token: str, num_vertices: int, where: str) -> int:
    """0-based vertex index of one face corner (``v``, ``v/vt``, ``v/vt/vn`` or ``v//vn``)."""
    head = token.split("/", 1)[0]
    try:
        index = int(head)
    except ValueError:
        raise AssetError(f"{where}: face corner '{token}' does not start with a vertex index") from None
    # OBJ indices are 1-based; negative ones count back from the last vertex read so far.
    resolved = index - 1 if index > 0 else num_vertices + index
    if index == 0 or not 0 <= resolved < num_vertices:
        raise AssetError(
            f"{where}: face corner '{token}' refers to vertex {index}, but only {num_vertices} vertices "
            "are defined before this line (OBJ indices start at 1; negative ones count back)"
        )
    return resolved


def read_obj(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read an OBJ mesh.

    Returns:
        vertices: (V, 3) float32 positions of the ``v`` lines, in file order (a fourth ``w`` or trailing
            vertex colours are ignored).
        faces: (F, 3) int32 0-based triangles; polygons are fan-triangulated around their first corner.

    Raises :class:`AssetError` with file:line for malformed lines, and when the file has no vertices.
    """
    path = Path(path)
    vertices: list[tuple[float, float, float]] = []
    faces: list[tuple[int, int, int]] = []
    for number, line in enumerate(read_text_lines(path), start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        where = f"{path}:{number}"
        if tokens[0] == "v":
            if len(tokens) < 4:
                raise AssetError(f"{where}: a 'v' line needs three coordinates, got {len(tokens) - 1}")
            x, y, z = (parse_float(t, where, "vertex coordinate") for t in tokens[1:4])
            vertices.append((x, y, z))
        elif tokens[0] == "f":
            if len(tokens) < 4:
                raise AssetError(f"{where}: a face needs at least three corners, got {len(tokens) - 1}")
            corners = [_face_index(t, len(vertices), where) for t in tokens[1:]]
            faces.extend((corners[0], corners[k], corners[k + 1]) for k in range(1, len(corners) - 1))
        # vn, vt, g, o, s, usemtl, mtllib, l, p...: not needed for a skinned mesh.
    if not vertices:
        raise AssetError(f"{path}: the OBJ file has no vertices ('v' lines)")
    return np.asarray(vertices, np.float32).reshape(-1, 3), np.asarray(faces, np.int32).reshape(-1, 3)


def format_float(value: float) -> str:
    """Shortest decimal that reads back as the same float32 (no exponent, so any float parser takes it)."""
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def write_obj(path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray | None = None) -> Path:
    """Write ``vertices`` (V, 3) and ``faces`` (F, 3) 0-based triangles (or None) as OBJ, atomically.

    Coordinates are written as the shortest decimals that read back to the same float32 values.
    Returns the path written.
    """
    path = Path(path)
    v = np.asarray(vertices, np.float32)
    if v.ndim != 2 or v.shape[1] != 3:
        raise AssetError(f"{path}: vertices must have shape (V, 3), got {v.shape}")
    lines = [f"v {format_float(x)} {format_float(y)} {format_float(z)}" for x, y, z in v]
    if faces is not None:
        f = np.asarray(faces, np.int64)
        if f.ndim != 2 or f.shape[1] != 3:
            raise AssetError(f"{path}: faces must have shape (F, 3), got {f.shape}")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise AssetError(f"{path}: faces refer to vertices outside [0, {len(v)})")
        lines.extend(f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
