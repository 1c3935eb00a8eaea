"""Inference backends behind the :class:`vips.diffusion.Denoiser` protocol.

:class:`OnnxDenoiser` (ONNX Runtime, the default; imports without torch) and, from
:mod:`vips.runtime.torch_backend`, ``TorchDenoiser`` (needs torch; not imported here).
"""

from vips.runtime.encoded import EncodedRig
from vips.runtime.onnx_backend import OnnxDenoiser, default_providers

__all__ = ["EncodedRig", "OnnxDenoiser", "default_providers"]
