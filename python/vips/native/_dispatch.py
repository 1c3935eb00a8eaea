"""Dispatch helpers shared by the vips.native wrappers: output allocation and error translation."""

from __future__ import annotations

from typing import Any

import numpy as np

from vips import _native
from vips.errors import NativeError

#: True when this build carries the CUDA kernels (they still need a GPU at run time).
WITH_CUDA: bool = bool(_native.with_cuda)

_DTYPES = {"float32": (np.float32, "float32"), "int32": (np.int32, "int32"), "int64": (np.int64, "int64")}


def empty_like_lib(ref: Any, shape: tuple[int, ...], dtype: str = "float32") -> Any:
    """A new uninitialized array of ``shape`` in the same library and on the same device as ``ref``."""
    module = type(ref).__module__.split(".")[0]
    if module == "torch":
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype), device=ref.device)
    if module == "cupy":
        import cupy

        return cupy.empty(shape, dtype=dtype)
    return np.empty(shape, dtype=_DTYPES[dtype][0])


def call(kernel: str, *args: Any) -> None:
    """Run ``vips._native.<kernel>`` and turn argument errors into :class:`NativeError`."""
    try:
        getattr(_native, kernel)(*args)
    except ValueError as exc:
        raise NativeError(str(exc)) from None
    except TypeError as exc:
        # nanobind raises TypeError when an argument does not speak DLPack at all (a list, None...).
        raise NativeError(f"vips.native.{kernel}: {exc}") from None


