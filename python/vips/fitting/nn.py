"""Nearest neighbours for fitting: a thin layer over the native K-nearest-neighbour kernel.

Fitting needs only indices (distances are recomputed in torch so gradients flow), on float32 clouds that
may be ragged, so every call goes through :func:`nearest` with explicit lengths. Takes numpy arrays or torch
tensors; needs no torch for numpy arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch tensors are taken, but torch is not needed for numpy arrays
    import torch


def _to_numpy(x: np.ndarray | torch.Tensor, dtype: type) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _lengths(lengths: np.ndarray | torch.Tensor | None, batch: int, size: int) -> np.ndarray:
    if lengths is None:
        return np.full(batch, size, np.int64)
    return _to_numpy(lengths, np.int64)


def nearest(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    lengths_a: np.ndarray | torch.Tensor | None = None,
    lengths_b: np.ndarray | torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest point of ``b`` for every point of ``a``, batched and ragged (native kernel, no gradient).

    Args:
        a: (B, N, 3) query clouds; points past ``lengths_a[i]`` are padding.
        b: (B, M, 3) target clouds; points past ``lengths_b[i]`` are padding.
        lengths_a, lengths_b: (B,) valid points per cloud (None: all).

    Returns:
        dist2: (B, N) float32 squared distances (+inf for padded queries or empty targets).
        idx: (B, N) int64 indices into ``b[i]`` (-1 where there is no neighbour).
    """
    from vips import native

    a_np, b_np = _to_numpy(a, np.float32), _to_numpy(b, np.float32)
    la = _lengths(lengths_a, a_np.shape[0], a_np.shape[1])
    lb = _lengths(lengths_b, b_np.shape[0], b_np.shape[1])
    dist, idx = native.knn(a_np, b_np, la, lb, 1)
    return np.asarray(dist)[..., 0], np.asarray(idx)[..., 0]


def nearest_single(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest` for one query cloud ``a`` (N, 3) and one target ``b`` (M, 3): (N,) dist2 and (N,) idx."""
    d, i = nearest(np.asarray(a, np.float32)[None], np.asarray(b, np.float32)[None])
    return d[0], i[0]
