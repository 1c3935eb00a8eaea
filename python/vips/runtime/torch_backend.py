"""The torch backend: the same :class:`vips.diffusion.Denoiser` protocol from a safetensors weights file.

Numpy in, numpy out, so the shared sampler runs on it unchanged; useful for research and for checking the
ONNX graphs. Needs torch (the ``train`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vips.features import RigConditioning
from vips.model.network import PoseModel
from vips.model.weights import load_weights
from vips.model_contract import ENCODER
from vips.runtime.encoded import EncodedRig, encoded_rig, rig_inputs


class TorchDenoiser:
    """Denoiser on torch (eval mode, no autograd).

    Args:
        model: a :class:`vips.model.PoseModel`; see :meth:`from_weights` to load one from safetensors.
        device: where to run ("cpu", "cuda").
    """

    def __init__(self, model: PoseModel, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.prediction: str = model.config.prediction

    @classmethod
    def from_weights(cls, path: str | Path, device: str | torch.device = "cpu") -> "TorchDenoiser":
        return cls(load_weights(path, device), device)

    @torch.no_grad()
    def encode(self, cond: RigConditioning) -> EncodedRig:
        inputs = rig_inputs(cond)  # in the rig encoder graph's input order
        context, attn_bias = self.model.encode_rig(*(torch.from_numpy(inputs[k]).to(self.device)
                                                     for k in ENCODER.input_names))
        return encoded_rig(cond, context.cpu().numpy(), attn_bias.cpu().numpy())

    @torch.no_grad()
    def __call__(self, x_t: np.ndarray, t: np.ndarray, encoded: EncodedRig) -> np.ndarray:
        """x_t (B, J, D) float32, t (B,) in [0, 1] -> prediction (B, J, D) float32."""
        dev = self.device
        out = self.model.denoiser.denoise(
            torch.from_numpy(np.ascontiguousarray(x_t, np.float32)).to(dev),
            torch.from_numpy(np.ascontiguousarray(t, np.float32).reshape(-1)).to(dev),
            *(torch.from_numpy(a).to(dev) for a in encoded.denoiser_inputs().values()),
        )
        return out.cpu().numpy()
