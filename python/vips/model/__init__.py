"""The pose model for training and research (torch). The torch-free runtime lives in :mod:`vips.runtime`.

- :mod:`vips.model.network`: :class:`RigEncoder`, :class:`PoseDenoiser`, :class:`PoseModel`, :class:`ModelConfig`.
- :mod:`vips.model.weights`: safetensors weights files.
- :mod:`vips.model.data`: pose groups (a rig's conditioning and encoded poses) and batching by rig.
- :mod:`vips.model.training_groups`: a built dataset (or a folder of saved groups) as training groups, with
  re-rested copies.
- :mod:`vips.model.train`: the training loop (``train(config) -> run_dir``; DDP under torchrun).
- :mod:`vips.model.onnx_export`: ONNX export of the two networks and the ONNX-vs-torch check.
"""

from vips.model.network import ModelConfig, PoseDenoiser, PoseModel, RigEncoder
from vips.model.weights import load_weights, save_weights

__all__ = ["ModelConfig", "PoseDenoiser", "PoseModel", "RigEncoder", "load_weights", "save_weights"]
