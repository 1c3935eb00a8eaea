"""Differentiable Chamfer distance for torch (training, pose fitting). Imports torch; the runtime does not.

The nearest-neighbour indices come from the native kernel (no gradient flows through a choice of
neighbour); the distances are recomputed in torch from those indices, so gradients reach both clouds.
"""

from __future__ import annotations

from typing import Any

import torch

from vips.errors import NativeError
from vips.native.nearest import knn


def chamfer_distance_torch(
    a: torch.Tensor, b: torch.Tensor, lengths_a: Any = None, lengths_b: Any = None, reduction: str = "mean"
) -> torch.Tensor:
    """Chamfer distance with gradients to both point sets.

    Args:
        a: (B, N, 3) float tensor (float32 or float64, CPU or CUDA; may require grad).
        b: (B, M, 3) float tensor on the same device.
        lengths_a: (B,) integer valid points per cloud of ``a`` (None: all N); any array library.
        lengths_b: (B,) the same for ``b`` (None: all M).
        reduction: "mean" (mean squared nearest distance over valid points, per direction) or "sum".

    Returns:
        (B,) tensor in ``a``'s dtype: per cloud, the reduced squared distances a -> b plus b -> a. An
        empty cloud contributes 0 from its own side; a non-empty cloud matched against an empty one gives inf.
        The neighbours are searched in float32 (the kernel's precision); distances and gradients are then
        computed in the inputs' dtype.
    """
    if reduction not in ("mean", "sum"):
        raise NativeError(f"chamfer_distance_torch: argument 'reduction' must be 'mean' or 'sum', got {reduction!r}")
    B, N, M = a.shape[0], a.shape[1], b.shape[1]
    la = _lengths(lengths_a, B, N, a.device)
    lb = _lengths(lengths_b, B, M, a.device)
    with torch.no_grad():
        a32 = a.detach().to(torch.float32).contiguous()
        b32 = b.detach().to(torch.float32).contiguous()
        _, idx_ab = knn(a32, b32, la, lb, 1)
        _, idx_ba = knn(b32, a32, lb, la, 1)
    return _direction(a, b, idx_ab[..., 0], la, reduction) + _direction(b, a, idx_ba[..., 0], lb, reduction)


def _direction(src: torch.Tensor, dst: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor, reduction: str):
    """Reduced squared distance from each valid point of src (B, P, 3) to dst at idx (B, P)."""
    nearest = torch.gather(dst, 1, idx.clamp(min=0)[..., None].expand(-1, -1, 3))
    d = ((src - nearest) ** 2).sum(-1)
    d = torch.where(idx >= 0, d, torch.full((), float("inf"), dtype=d.dtype, device=d.device))
    valid = torch.arange(src.shape[1], device=src.device)[None, :] < lengths[:, None]
    total = torch.where(valid, d, torch.zeros((), dtype=d.dtype, device=d.device)).sum(1)
    if reduction == "mean":
        total = total / lengths.clamp(min=1).to(d.dtype)
    return total


def _lengths(lengths: Any, batch: int, full: int, device: torch.device) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), full, dtype=torch.int64, device=device)
    if type(lengths).__module__.split(".")[0] == "cupy":
        lengths = lengths.get()
    return torch.as_tensor(lengths, dtype=torch.int64, device=device).contiguous()
