"""Conversions at the USD boundary shared by the UsdSkel reader and writer.

Gf matrices act on row vectors (``p * M``, translation in the last row); ours act on column vectors
(``M @ p``, translation in ``M[:3, 3]``): every matrix is transposed when it crosses. GfQuatf is stored
imaginary-first in memory, so ``Vt.QuatfArray`` <-> numpy is (x, y, z, w) while ours is (w, x, y, z).
"""

from __future__ import annotations

import re

import numpy as np
from pxr import Vt

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def matrices_from_usd(values) -> np.ndarray:  # noqa: ANN001 - Vt.Matrix4dArray or a list of Gf.Matrix4d
    """(N,) Gf matrices -> (N, 4, 4) float64 column-vector matrices."""
    arr = np.array([np.array(m, dtype=np.float64) for m in values]).reshape(-1, 4, 4)
    return np.ascontiguousarray(arr.transpose(0, 2, 1))


def matrix_from_usd(value) -> np.ndarray:  # noqa: ANN001 - Gf.Matrix4d
    """One Gf matrix -> (4, 4) float64 column-vector matrix."""
    return np.array(value, dtype=np.float64).reshape(4, 4).T.copy()


def matrices_to_usd(matrices: np.ndarray) -> Vt.Matrix4dArray:
    """(N, 4, 4) column-vector matrices -> Vt.Matrix4dArray (row-vector, float64)."""
    m = np.asarray(matrices, np.float64).reshape(-1, 4, 4)
    return Vt.Matrix4dArray.FromNumpy(np.ascontiguousarray(m.transpose(0, 2, 1)))


def quats_to_usd(quats: np.ndarray) -> Vt.QuatfArray:
    """(N, 4) quaternions (w, x, y, z) -> Vt.QuatfArray."""
    q = np.asarray(quats, np.float32).reshape(-1, 4)
    return Vt.QuatfArray.FromNumpy(np.ascontiguousarray(q[:, [1, 2, 3, 0]]))


def describe_error(exc: BaseException) -> str:
    """usd-core's error message on one line (at most 500 characters); from a corrupt file its text can hold
    undecodable bytes, and then only the exception's type is given."""
    try:
        return " ".join(str(exc).split())[:500]
    except Exception:  # noqa: BLE001 - the message itself is broken
        return type(exc).__name__


def identifier(name: str, fallback: str = "_") -> str:
    """``name`` made identifier-safe (``[A-Za-z_][A-Za-z0-9_]*``): other characters become '_'."""
    out = _NOT_IDENTIFIER.sub("_", str(name)) or fallback
    return "_" + out if out[0].isdigit() else out


def unique_identifiers(names: list[str], fallback: str = "joint") -> list[str]:
    """Identifier-safe, unique versions of ``names`` (a clash gets a numeric suffix), in order."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        base = identifier(name, fallback)
        candidate, k = base, 1
        while candidate in used:
            candidate = f"{base}_{k}"
            k += 1
        used.add(candidate)
        out.append(candidate)
    return out
