"""The default, torch-free backend: the rig encoder and denoiser ONNX graphs on ONNX Runtime.

Implements the :class:`vips.diffusion.Denoiser` protocol, so :func:`vips.diffusion.sample` and
:func:`vips.diffusion.invert` run on it unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vips.features import RigConditioning
from vips.runtime.encoded import EncodedRig, encoded_rig, rig_inputs

ENCODER_FILE = "rig_encoder.onnx"
DENOISER_FILE = "denoiser.onnx"
#: The graphs' interface (written by :func:`vips.model.export.export_onnx`; engine plugins feed the same names).
ENCODER_OUTPUTS = ["rig_context", "attn_bias"]
DENOISER_INPUTS = ["x_t", "t", "rig_context", "attn_bias", "mask"]


def default_providers() -> list[str]:
    """CUDA execution provider first when this onnxruntime has it, then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxDenoiser:
    """Denoiser on ONNX Runtime.

    Args:
        encoder_path, denoiser_path: the two graphs written by :func:`vips.model.export.export_onnx`.
        providers: ONNX Runtime execution providers (default :func:`default_providers`).
        threads: intra-op threads (0 lets ONNX Runtime choose).
    """

    def __init__(self, encoder_path: str | Path, denoiser_path: str | Path, providers: list[str] | None = None,
                 threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = providers or default_providers()
        self.encoder = ort.InferenceSession(str(encoder_path), options, providers=providers)
        self.denoiser = ort.InferenceSession(str(denoiser_path), options, providers=providers)
        meta = self.denoiser.get_modelmeta().custom_metadata_map
        if "vips_config" not in meta:
            raise ValueError(f"{denoiser_path}: not a ViPS denoiser graph (no vips_config metadata)")
        inputs = [i.name for i in self.denoiser.get_inputs()]
        if inputs != DENOISER_INPUTS:
            raise ValueError(f"{denoiser_path}: denoiser inputs {inputs}, expected {DENOISER_INPUTS} (a graph from "
                             "an older vips: export it again from its weights with `vips export-onnx`)")
        self.config = json.loads(meta["vips_config"])
        self.prediction: str = self.config["prediction"]

    @classmethod
    def from_dir(cls, directory: str | Path, **kwargs) -> "OnnxDenoiser":  # noqa: ANN003 - forwarded
        """Load ``rig_encoder.onnx`` and ``denoiser.onnx`` from ``directory``."""
        d = Path(directory)
        return cls(d / ENCODER_FILE, d / DENOISER_FILE, **kwargs)

    def encode(self, cond: RigConditioning) -> EncodedRig:
        """Run the rig encoder once for a rig."""
        context, attn_bias = self.encoder.run(ENCODER_OUTPUTS, rig_inputs(cond))
        return encoded_rig(cond, context, attn_bias)

    def __call__(self, x_t: np.ndarray, t: np.ndarray, encoded: EncodedRig) -> np.ndarray:
        """x_t (B, J, D) float32, t (B,) in [0, 1] -> prediction (B, J, D) float32."""
        feeds = {
            "x_t": np.ascontiguousarray(x_t, np.float32),
            "t": np.ascontiguousarray(t, np.float32).reshape(-1),
            **encoded.denoiser_inputs(),
        }
        (out,) = self.denoiser.run(["prediction"], feeds)
        return out
