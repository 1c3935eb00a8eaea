"""The seam between the pose model and the runtime: the files of a model folder and the interface of its two ONNX
graphs (tensor names, axes, element types, metadata keys).

:func:`vips.model.onnx_export.export_onnx` writes graphs to this contract and
:class:`vips.runtime.onnx_backend.OnnxDenoiser` checks and feeds them by it (engine plugins feed the same names). The module holds constants and where the default
model lives, and imports nothing of vips but its errors, so the exporter, the trainer (which fine-tunes from the
default model) and the runtime share it without importing each other.

The graphs (``R`` is 1 to broadcast one rig over the poses, or ``B``)::

    rig_encoder.onnx   node_features (R, J, F) float32, graph_code (R, J, J) int64, mask (R, J) float32
                       -> rig_context (R, J, W) float32, attn_bias (R, L, H, J, J) float32     (once per rig)
    denoiser.onnx      x_t (B, J, D) float32, t (B,) float32, rig_context, attn_bias, mask
                       -> prediction (B, J, D) float32                                     (every denoising step)

Axis letters: ``B`` poses, ``R`` rigs, ``J`` joints (``B``, ``R`` and ``J`` are dynamic); ``F`` the node feature
width (:data:`vips.features.FEATURE_DIM`), ``D`` the pose channels (:data:`vips.pose_encoding.POSE_DIM`), ``W``
the token width, ``L`` the denoiser's layers and ``H`` its attention heads (fixed by the model). ``mask`` is 1 for
the joints the model sees; ``t`` is the diffusion time in [0, 1]; ``prediction`` is the noise or the velocity,
as the model config's ``prediction`` says (:data:`PREDICTIONS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vips.errors import VipsError

# ----- the files of a model folder ---------------------------------------------------------------------------
ENCODER_FILE = "rig_encoder.onnx"
DENOISER_FILE = "denoiser.onnx"
#: The weights (torch backend, fine-tuning); optional in a model folder, and the name training writes.
WEIGHTS_FILE = "model.safetensors"
#: What the runtime needs to use the graphs (:mod:`vips.runtime.model_dir`).
MODEL_JSON = "model.json"
MODEL_FILES = (ENCODER_FILE, DENOISER_FILE, WEIGHTS_FILE, MODEL_JSON)
#: Where the package ships its default model; the VIPS_MODEL environment variable overrides it.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"


def default_model_dir() -> Path:
    """The default model folder: ``$VIPS_MODEL`` if set, else the one shipped in the package.

    Raises :class:`VipsError` when neither holds a model.
    """
    env = os.environ.get("VIPS_MODEL")
    folder = Path(env) if env else DEFAULT_MODEL_DIR
    if not (folder / DENOISER_FILE).is_file():
        where = f"VIPS_MODEL={env}" if env else str(folder)
        raise VipsError(f"no pose-space model found at {where}; pass model=FOLDER (--model FOLDER on the command "
                        f"line) or set VIPS_MODEL to a folder made by `vips export-onnx`")
    return folder


# ----- graph metadata --------------------------------------------------------------------------------------------
#: Metadata key of the model config as JSON (its ``prediction`` is one of :data:`PREDICTIONS`), in both graphs.
CONFIG_KEY = "vips_config"
#: Metadata key of the graph's role (:attr:`Graph.role`), so swapped files are recognised.
ROLE_KEY = "vips_role"
#: What the denoiser predicts: the noise ("eps") or the velocity ("v").
PREDICTIONS = ("eps", "v")

# ----- tensors ---------------------------------------------------------------------------------------------------
#: Element types as ONNX Runtime names them (``NodeArg.type``).
FLOAT, INT64 = "tensor(float)", "tensor(int64)"
#: Axes whose length changes from call to call; the others are fixed when the model is exported.
DYNAMIC_AXES = ("B", "R", "J")

NODE_FEATURES, GRAPH_CODE, MASK = "node_features", "graph_code", "mask"
RIG_CONTEXT, ATTN_BIAS = "rig_context", "attn_bias"
X_T, T, PREDICTION = "x_t", "t", "prediction"


@dataclass(frozen=True)
class Tensor:
    """One graph input or output: its ``name``, its ``axes`` (letters of the module docstring) and its element
    ``dtype`` (:data:`FLOAT` or :data:`INT64`)."""

    name: str
    axes: tuple[str, ...]
    dtype: str

    @property
    def rank(self) -> int:
        return len(self.axes)

    @property
    def dynamic_axes(self) -> dict[int, str]:
        """Position -> letter of the dynamic axes (the exporter's ``dynamic_axes`` entry)."""
        return {i: a for i, a in enumerate(self.axes) if a in DYNAMIC_AXES}


@dataclass(frozen=True)
class Graph:
    """One ONNX graph of a model folder: its ``file``, its ``role`` (metadata :data:`ROLE_KEY`), how messages name
    it (``title``) and its ``inputs`` and ``outputs`` in order."""

    file: str
    role: str
    title: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def input_names(self) -> list[str]:
        return [x.name for x in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [x.name for x in self.outputs]

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Every input's and output's dynamic axes by name (the exporter's ``dynamic_axes``)."""
        return {x.name: x.dynamic_axes for x in self.inputs + self.outputs}


_MASK = Tensor(MASK, ("R", "J"), FLOAT)
_RIG_CONTEXT = Tensor(RIG_CONTEXT, ("R", "J", "W"), FLOAT)
_ATTN_BIAS = Tensor(ATTN_BIAS, ("R", "L", "H", "J", "J"), FLOAT)

#: The rig encoder: everything that depends on the rig only, run once per rig.
ENCODER = Graph(
    file=ENCODER_FILE, role="rig_encoder", title="rig encoder",
    inputs=(Tensor(NODE_FEATURES, ("R", "J", "F"), FLOAT), Tensor(GRAPH_CODE, ("R", "J", "J"), INT64), _MASK),
    outputs=(_RIG_CONTEXT, _ATTN_BIAS),
)
#: The denoiser: one denoising step of a batch of poses, given the rig encoder's outputs.
DENOISER = Graph(
    file=DENOISER_FILE, role="denoiser", title="denoiser",
    inputs=(Tensor(X_T, ("B", "J", "D"), FLOAT), Tensor(T, ("B",), FLOAT), _RIG_CONTEXT, _ATTN_BIAS, _MASK),
    outputs=(Tensor(PREDICTION, ("B", "J", "D"), FLOAT),),
)
