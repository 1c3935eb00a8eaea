"""The default, torch-free backend: the rig encoder and denoiser ONNX graphs on ONNX Runtime.

Implements the :class:`vips.diffusion.Denoiser` protocol, so :func:`vips.diffusion.sample` and
:func:`vips.diffusion.invert` run on it unchanged.

Both graphs are checked when they load: a file that ONNX Runtime cannot read (empty, truncated, corrupt), a
graph whose inputs and outputs are not the contract of :mod:`vips.model_contract` (names, ranks, element types),
swapped graphs, and an encoder and denoiser of different models (token width, layers, heads) are a
:class:`ModelError` naming the file and the field.

ONNX Runtime's telemetry is switched off: since 1.2x its Linux and macOS builds write a device id and an event
database under ``~/.cache/Microsoft/DeveloperTools`` (``$XDG_CACHE_HOME``) as soon as the module is imported.
Its opt-out variables (``ORT_DISABLE_TELEMETRY``, ``ORT_TELEMETRY_DISABLED``) are set when this module is
imported, before any ``import onnxruntime`` of vips, unless the user set them; worker processes inherit them. A
program that imports onnxruntime itself before vips should set them first.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from vips.errors import VipsError
from vips.features import FEATURE_DIM, RigConditioning
from vips.model_contract import (
    ATTN_BIAS,
    CONFIG_KEY,
    DENOISER,
    ENCODER,
    NODE_FEATURES,
    PREDICTION,
    PREDICTIONS,
    RIG_CONTEXT,
    ROLE_KEY,
    T,
    X_T,
    Graph,
)
from vips.pose_encoding import POSE_DIM
from vips.runtime.encoded import EncodedRig, encoded_rig, rig_inputs

for _variable in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):
    os.environ.setdefault(_variable, "1")

#: ONNX files are protobufs, which cannot exceed 2 GiB.
MAX_GRAPH_BYTES = 2**31


class ModelError(VipsError, ValueError):
    """A model folder's file cannot be used: unreadable, corrupt, truncated, of another interface or model."""


def import_onnxruntime():  # noqa: ANN201 - the onnxruntime module
    """``import onnxruntime`` with its telemetry off (the variables above, and its runtime switch)."""
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    return ort


def default_providers() -> list[str]:
    """CUDA execution provider first when this onnxruntime has it, then CPU."""
    available = import_onnxruntime().get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _ort_message(exc: BaseException) -> str:
    """ONNX Runtime's message on one line, without its '[ONNXRuntimeError] : 7 : CODE :' prefix."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(":", 3)[-1].strip()
    return text if len(text) <= 240 else text[:237] + "..."


def model_file_size(path: Path) -> int:
    """The size of a model folder's file, which must be a regular file (a link to one is fine); else
    :class:`ModelError` (a FIFO or device would block or never end)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelError(f"{path}: is not a regular file")
    return st.st_size


def _session(ort, path: Path, options, providers: list[str]):  # noqa: ANN001, ANN202 - an InferenceSession
    size = model_file_size(path)
    if size == 0:
        raise ModelError(f"{path}: is empty (0 bytes); copy or export the model folder again")
    if size >= MAX_GRAPH_BYTES:
        raise ModelError(f"{path}: is {size / 2**30:.1f} GiB, larger than any ONNX graph can be")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types (InvalidProtobuf, Fail...)
        raise ModelError(f"{path}: not a loadable ONNX graph, corrupt or truncated ({_ort_message(exc)})") from None


def _io(args) -> dict[str, Any]:  # noqa: ANN001 - onnxruntime NodeArg list
    return {a.name: a for a in args}


def _check_signature(session, path: Path, graph: Graph, other: Graph) -> None:  # noqa: ANN001
    """Names, ranks and element types of a graph's inputs and outputs against the contract's ``graph``; a graph
    with the inputs of ``other`` is in the wrong file."""
    names = [a.name for a in session.get_inputs()]
    role = graph.title
    if names == other.input_names:
        raise ModelError(f"{path}: holds a {other.title} graph (inputs {', '.join(names)}), not the {role}; "
                         f"are {ENCODER.file} and {DENOISER.file} swapped?")
    if names != graph.input_names:
        raise ModelError(f"{path}: {role} inputs {names}, expected {graph.input_names} (a graph from an older vips "
                         "or another program: export it again from its weights with `vips export-onnx`)")
    outputs = [a.name for a in session.get_outputs()]
    if outputs != graph.output_names:
        raise ModelError(f"{path}: {role} outputs {outputs}, expected {graph.output_names}")
    for kind, args, expected in (("input", session.get_inputs(), graph.inputs),
                                 ("output", session.get_outputs(), graph.outputs)):
        for arg, want in zip(args, expected):
            if len(arg.shape) != want.rank or arg.type != want.dtype:
                raise ModelError(f"{path}: {kind} '{want.name}' is {arg.type} of rank {len(arg.shape)}, expected "
                                 f"{want.dtype} of rank {want.rank}")


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) else None


def _check_dim(path: Path, what: str, got: Any, other: str, want: Any, hint: str) -> None:
    got, want = _static(got), _static(want)
    if got is not None and want is not None and got != want:
        raise ModelError(f"{path}: {what} {got} does not match {other} {want} ({hint})")


def _config(session, path: Path) -> dict[str, Any] | None:  # noqa: ANN001
    """The graph's model config metadata (:data:`~vips.model_contract.CONFIG_KEY`) as a dict (None without)."""
    meta = session.get_modelmeta().custom_metadata_map
    if CONFIG_KEY not in meta:
        return None
    try:
        config = json.loads(meta[CONFIG_KEY])
    except (ValueError, RecursionError):
        config = None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: metadata field {CONFIG_KEY} is not a JSON object")
    return config


def _check_pair(enc, den, enc_path: Path, den_path: Path) -> dict[str, Any]:  # noqa: ANN001
    """The two graphs fit each other and this vips; returns the denoiser's model config."""
    roles = (enc.get_modelmeta().custom_metadata_map.get(ROLE_KEY),
             den.get_modelmeta().custom_metadata_map.get(ROLE_KEY))
    if roles == (DENOISER.role, ENCODER.role):
        raise ModelError(f"{enc_path}: holds the denoiser graph and {den_path.name} the rig encoder (metadata "
                         f"{ROLE_KEY}); are {ENCODER.file} and {DENOISER.file} swapped?")
    _check_signature(enc, enc_path, ENCODER, DENOISER)
    config = _config(den, den_path)
    if config is None:
        raise ModelError(f"{den_path}: not a ViPS denoiser graph (no {CONFIG_KEY} metadata)")
    _check_signature(den, den_path, DENOISER, ENCODER)
    if config.get("prediction") not in PREDICTIONS:
        raise ModelError(f"{den_path}: metadata field {CONFIG_KEY}.prediction must be one of "
                         f"{', '.join(PREDICTIONS)}, got {config.get('prediction')!r}")
    enc_config = _config(enc, enc_path)
    if enc_config is not None and enc_config != config:
        keys = sorted(k for k in set(config) | set(enc_config) if config.get(k) != enc_config.get(k))
        diff = ", ".join(f"{k} {enc_config.get(k)!r} vs {config.get(k)!r}" for k in keys)
        raise ModelError(f"{enc_path} and {den_path.name} come from different models ({CONFIG_KEY}: {diff})")
    _check_widths(enc, den, enc_path, den_path)
    return config


def _check_widths(enc, den, enc_path: Path, den_path: Path) -> None:  # noqa: ANN001
    """The static widths the two graphs share (token width, layers, heads) agree, and fit this vips's features."""
    e_in, e_out = _io(enc.get_inputs()), _io(enc.get_outputs())
    d_in, d_out = _io(den.get_inputs()), _io(den.get_outputs())
    theirs, other = f"{den_path.name}'s", "the graphs come from different models"
    for name, axis, what in ((RIG_CONTEXT, 2, "width"), (ATTN_BIAS, 1, "layer count"), (ATTN_BIAS, 2, "head count")):
        _check_dim(enc_path, f"{name} {what}", e_out[name].shape[axis], theirs, d_in[name].shape[axis], other)
    newer = "a model made for another vips version"
    _check_dim(enc_path, f"{NODE_FEATURES} width", e_in[NODE_FEATURES].shape[2], "this vips's rig features",
               FEATURE_DIM, newer)
    for name, got in ((X_T, d_in[X_T].shape[2]), (PREDICTION, d_out[PREDICTION].shape[2])):
        _check_dim(den_path, f"{name} width", got, "this vips's pose encoding", POSE_DIM, newer)


def _run(session, path: Path, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:  # noqa: ANN001
    try:
        return session.run(outputs, feeds)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ModelError(f"{path}: ONNX Runtime could not run the graph ({_ort_message(exc)})") from None


class OnnxDenoiser:
    """Denoiser on ONNX Runtime.

    Args:
        encoder_path, denoiser_path: the two graphs written by :func:`vips.model.onnx_export.export_onnx`.
        providers: ONNX Runtime execution providers (default :func:`default_providers`).
        threads: intra-op threads (0 lets ONNX Runtime choose).
    Raises :class:`ModelError` when a graph cannot be loaded or does not fit the contract (module docstring).
    """

    def __init__(self, encoder_path: str | Path, denoiser_path: str | Path, providers: list[str] | None = None,
                 threads: int = 0) -> None:
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = providers or default_providers()
        self.encoder_path, self.denoiser_path = Path(encoder_path), Path(denoiser_path)
        self.encoder = _session(ort, self.encoder_path, options, providers)
        self.denoiser = _session(ort, self.denoiser_path, options, providers)
        self.config = _check_pair(self.encoder, self.denoiser, self.encoder_path, self.denoiser_path)
        self.prediction: str = self.config["prediction"]

    @classmethod
    def from_dir(cls, directory: str | Path, **kwargs) -> "OnnxDenoiser":  # noqa: ANN003 - forwarded
        """Load the rig encoder and the denoiser graph (:mod:`vips.model_contract`) from ``directory``."""
        d = Path(directory)
        return cls(d / ENCODER.file, d / DENOISER.file, **kwargs)

    def encode(self, cond: RigConditioning) -> EncodedRig:
        """Run the rig encoder once for a rig."""
        context, attn_bias = _run(self.encoder, self.encoder_path, ENCODER.output_names, rig_inputs(cond))
        return encoded_rig(cond, context, attn_bias)

    def __call__(self, x_t: np.ndarray, t: np.ndarray, encoded: EncodedRig) -> np.ndarray:
        """x_t (B, J, D) float32, t (B,) in [0, 1] -> prediction (B, J, D) float32."""
        feeds = {
            X_T: np.ascontiguousarray(x_t, np.float32),
            T: np.ascontiguousarray(t, np.float32).reshape(-1),
            **encoded.denoiser_inputs(),
        }
        (out,) = _run(self.denoiser, self.denoiser_path, DENOISER.output_names, feeds)
        return out
