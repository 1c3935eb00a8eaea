"""The Python face of the native kernels (``vips._native``).

Every function accepts numpy arrays, torch tensors (CPU or CUDA) and cupy arrays through DLPack without
copying them, runs the CPU or CUDA kernel according to where the arrays live, and returns results in the
same array library on the same device. Arguments must already have the documented dtype and be
C-contiguous: a mismatch raises :class:`vips.errors.NativeError` naming the argument (no silent copies).
"""

from vips.native._dispatch import WITH_CUDA
from vips.native.ddim import ddim_invert_step, ddim_step
from vips.native.guidance import fk_energy_grad
from vips.native.guided import guided_energy_grad, guided_sample
from vips.native.kinematics import fk, lbs
from vips.native.nearest import ChamferResult, chamfer, knn
from vips.native.raster import raster

__all__ = [
    "chamfer",
    "ChamferResult",
    "ddim_invert_step",
    "ddim_step",
    "fk",
    "fk_energy_grad", "guided_energy_grad", "guided_sample",
    "knn",
    "lbs",
    "raster",
    "WITH_CUDA",
]
