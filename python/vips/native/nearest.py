"""Nearest neighbours and Chamfer distances between batched, ragged 3D point clouds.

Clouds are padded to a common size and come with per-cloud lengths, as in PyTorch3D: cloud ``i`` of ``a``
is ``a[i, :lengths_a[i]]``; points past the length are padding and are ignored. The kernels run on the CPU
(a uniform grid per cloud with a kd-tree fallback, OpenMP) or on CUDA (tiled brute force) according to
where ``a`` lives, and results come back in the same array library (numpy, torch, cupy) on that device.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from vips.errors import NativeError
from vips.native._dispatch import call, empty_like_lib

#: Largest number of neighbours per query the kernels return.
MAX_K = 32


def knn(a: Any, b: Any, lengths_a: Any = None, lengths_b: Any = None, k: int = 1) -> tuple[Any, Any]:
    """The ``k`` nearest points of ``b`` to every point of ``a``, cloud by cloud.

    Args:
        a: (B, N, 3) float32 query clouds, C-contiguous.
        b: (B, M, 3) float32 searched clouds, same library and device as ``a``.
        lengths_a: (B,) integer number of valid points of each cloud of ``a`` (values in [0, N]); None
            means all N. Any array library or a list; converted to int64 on ``a``'s device (it is tiny).
        lengths_b: (B,) the same for ``b`` (values in [0, M]); None means all M.
        k: neighbours per query, 1 <= k <= 32.

    Returns:
        ``(dist2, idx)``: (B, N, k) float32 squared Euclidean distances, ascending along the last axis,
        and (B, N, k) int64 indices into ``b[i]`` (same library and device as ``a``). Slots with no
        neighbour hold ``dist2 = inf`` and ``idx = -1``: all slots of padded queries (n >= lengths_a[i]),
        all slots when cloud ``b[i]`` is empty, and slots ``j >= lengths_b[i]``. Among neighbours at equal
        distance (duplicate points) any index may come first; each returned index has its distance.
        Distances are computed in float32; CPU and CUDA give identical distances.

    Raises:
        NativeError: wrong dtype, shape, contiguity or device of an argument, ``k`` out of range, or
            lengths outside [0, N] / [0, M] (checked on CPU; CUDA clamps them).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= MAX_K:
        raise NativeError(f"vips.native.knn: argument 'k' must be an integer in [1, {MAX_K}], got {k!r}")
    B, N = _shape(a, "a")[:2]
    M = _shape(b, "b")[1]
    la = _lengths(a, lengths_a, B, N, "lengths_a")
    lb = _lengths(a, lengths_b, B, M, "lengths_b")
    dist = empty_like_lib(a, (B, N, int(k)), "float32")
    idx = empty_like_lib(a, (B, N, int(k)), "int64")
    call("knn", a, b, la, lb, dist, idx)
    return dist, idx


class ChamferResult(NamedTuple):
    """Both directions of a Chamfer match; unpacks like a tuple.

    Attributes:
        distance: (B,) float32 per-cloud Chamfer distance: the reduction ("mean" or "sum") of the squared
            nearest-neighbour distances a -> b over the valid points of ``a``, plus the same for b -> a.
            An empty cloud contributes 0 from its own side; a non-empty cloud matched against an empty one
            contributes inf.
        dist_ab: (B, N) float32 squared distance from each point of ``a`` to its nearest point of ``b``
            (inf for padding).
        idx_ab: (B, N) int64 index of that point in ``b[i]`` (-1 for padding or an empty ``b[i]``).
        dist_ba: (B, M) float32, the same from ``b`` to ``a``.
        idx_ba: (B, M) int64 indices into ``a[i]``.
    """

    distance: Any
    dist_ab: Any
    idx_ab: Any
    dist_ba: Any
    idx_ba: Any


def chamfer(a: Any, b: Any, lengths_a: Any = None, lengths_b: Any = None, reduction: str = "mean") -> ChamferResult:
    """Chamfer distance between batched clouds ``a`` (B, N, 3) and ``b`` (B, M, 3), both directions.

    Args:
        a, b, lengths_a, lengths_b: as in :func:`knn` (float32, C-contiguous, same device).
        reduction: "mean" (mean squared distance over each cloud's valid points, the usual Chamfer
            distance) or "sum".

    Returns:
        :class:`ChamferResult` ``(distance, dist_ab, idx_ab, dist_ba, idx_ba)`` in the library and on the
        device of ``a``. Not differentiable: for gradients use
        :func:`vips.native.chamfer_torch.chamfer_distance_torch`.
    """
    if reduction not in ("mean", "sum"):
        raise NativeError(f"vips.native.chamfer: argument 'reduction' must be 'mean' or 'sum', got {reduction!r}")
    B, N = _shape(a, "a")[:2]
    M = _shape(b, "b")[1]
    la = _lengths(a, lengths_a, B, N, "lengths_a")
    lb = _lengths(a, lengths_b, B, M, "lengths_b")
    d_ab, i_ab = knn(a, b, la, lb, 1)
    d_ba, i_ba = knn(b, a, lb, la, 1)
    d_ab, i_ab, d_ba, i_ba = d_ab.reshape(B, N), i_ab.reshape(B, N), d_ba.reshape(B, M), i_ba.reshape(B, M)
    mean = reduction == "mean"
    distance = _reduce(d_ab, la, mean) + _reduce(d_ba, lb, mean)
    return ChamferResult(distance, d_ab, i_ab, d_ba, i_ba)


def _shape(x: Any, name: str) -> tuple[int, ...]:
    """The shape of a (B, P, 3) cloud argument, or a NativeError naming it."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        got = "no array" if shape is None else f"shape {tuple(shape)}"
        raise NativeError(f"vips.native.knn: argument '{name}' must be a (B, P, 3) float32 array, got {got}")
    return tuple(int(s) for s in shape)


def _lib(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def _lengths(ref: Any, lengths: Any, batch: int, full: int, name: str) -> Any:
    """(B,) int64 lengths in the library and on the device of ``ref``; ``full`` everywhere when None."""
    lib = _lib(ref)
    if lib == "torch":
        import torch

        if lengths is None:
            return torch.full((batch,), full, dtype=torch.int64, device=ref.device)
        if _lib(lengths) == "cupy":
            lengths = lengths.get()
        return torch.as_tensor(lengths, dtype=torch.int64, device=ref.device).contiguous()
    if lib == "cupy":
        import cupy

        if lengths is None:
            return cupy.full((batch,), full, dtype=cupy.int64)
        if _lib(lengths) == "torch":
            lengths = lengths.detach()
        return cupy.ascontiguousarray(cupy.asarray(lengths, dtype=cupy.int64))
    if lengths is None:
        return np.full((batch,), full, dtype=np.int64)
    if _lib(lengths) == "torch":
        lengths = lengths.detach().cpu().numpy()
    elif _lib(lengths) == "cupy":
        lengths = lengths.get()
    try:
        return np.ascontiguousarray(lengths, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise NativeError(f"vips.native.knn: argument '{name}' must be (B,) integers: {exc}") from None


def _reduce(dist: Any, lengths: Any, mean: bool) -> Any:
    """Per-cloud sum or mean of dist (B, P) over the first lengths[i] entries, float32 (B,)."""
    P = dist.shape[1]
    if _lib(dist) == "torch":
        import torch

        mask = torch.arange(P, device=dist.device)[None, :] < lengths[:, None]
        total = torch.where(mask, dist, torch.zeros((), dtype=dist.dtype, device=dist.device))
        total = total.sum(1, dtype=torch.float64)
        if mean:
            total = total / lengths.clamp(min=1)
        return total.to(torch.float32)
    if _lib(dist) == "cupy":
        import cupy as xp
    else:
        xp = np
    mask = xp.arange(P)[None, :] < lengths[:, None]
    total = xp.where(mask, dist, 0).sum(1, dtype=xp.float64)
    if mean:
        total = total / xp.maximum(lengths, 1)
    return total.astype(xp.float32)
