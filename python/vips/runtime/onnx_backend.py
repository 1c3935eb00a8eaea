"""The default, torch-free backend: the rig encoder and denoiser ONNX graphs on ONNX Runtime.

Implements the :class:`vips.diffusion.Denoiser` protocol, so :func:`vips.diffusion.sample` and
:func:`vips.diffusion.invert` run on it unchanged.

Both graphs are checked when they load: a file that ONNX Runtime cannot read (empty, truncated, corrupt), a
graph whose inputs and outputs are not the contract of :mod:`vips.model.export` (names, ranks, element types:
:data:`ENCODER_SIGNATURE`, :data:`DENOISER_SIGNATURE`), swapped graphs, and an encoder and denoiser of different
models (token width, layers, heads) are a :class:`ModelError` naming the file and the field.

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
from vips.pose_encoding import POSE_DIM
from vips.runtime.encoded import EncodedRig, encoded_rig, rig_inputs

for _variable in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):
    os.environ.setdefault(_variable, "1")

ENCODER_FILE = "rig_encoder.onnx"
DENOISER_FILE = "denoiser.onnx"
#: The graphs' interface (written by :func:`vips.model.export.export_onnx`; engine plugins feed the same names).
ENCODER_OUTPUTS = ["rig_context", "attn_bias"]
DENOISER_INPUTS = ["x_t", "t", "rig_context", "attn_bias", "mask"]
_FLOAT, _INT64 = "tensor(float)", "tensor(int64)"
#: (inputs, outputs) of each graph as (name, rank, element type).
ENCODER_SIGNATURE = ([("node_features", 3, _FLOAT), ("graph_code", 3, _INT64), ("mask", 2, _FLOAT)],
                     [("rig_context", 3, _FLOAT), ("attn_bias", 5, _FLOAT)])
DENOISER_SIGNATURE = ([("x_t", 3, _FLOAT), ("t", 1, _FLOAT), ("rig_context", 3, _FLOAT), ("attn_bias", 5, _FLOAT),
                       ("mask", 2, _FLOAT)],
                      [("prediction", 3, _FLOAT)])
PREDICTIONS = ("eps", "v")
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


def _check_signature(session, path: Path, role: str, signature, other: tuple[str, list[str]]) -> None:  # noqa: ANN001
    """Names, ranks and element types of a graph's inputs and outputs against ``signature``; ``other`` is the
    other graph's role and input names (a graph with those is in the wrong file)."""
    expected_in, expected_out = signature
    names = [a.name for a in session.get_inputs()]
    want = [name for name, _, _ in expected_in]
    if names == other[1]:
        raise ModelError(f"{path}: holds a {other[0]} graph (inputs {', '.join(names)}), not the {role}; "
                         f"are {ENCODER_FILE} and {DENOISER_FILE} swapped?")
    if names != want:
        raise ModelError(f"{path}: {role} inputs {names}, expected {want} (a graph from an older vips or another "
                         "program: export it again from its weights with `vips export-onnx`)")
    outputs = [a.name for a in session.get_outputs()]
    if outputs != [name for name, _, _ in expected_out]:
        raise ModelError(f"{path}: {role} outputs {outputs}, expected {[n for n, _, _ in expected_out]}")
    for kind, args, expected in (("input", session.get_inputs(), expected_in),
                                 ("output", session.get_outputs(), expected_out)):
        for arg, (name, rank, dtype) in zip(args, expected):
            if len(arg.shape) != rank or arg.type != dtype:
                raise ModelError(f"{path}: {kind} '{name}' is {arg.type} of rank {len(arg.shape)}, expected "
                                 f"{dtype} of rank {rank}")


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) else None


def _check_dim(path: Path, what: str, got: Any, other: str, want: Any, hint: str) -> None:
    got, want = _static(got), _static(want)
    if got is not None and want is not None and got != want:
        raise ModelError(f"{path}: {what} {got} does not match {other} {want} ({hint})")


def _config(session, path: Path) -> dict[str, Any] | None:  # noqa: ANN001
    """The graph's ``vips_config`` metadata as a dict (None when it has none)."""
    meta = session.get_modelmeta().custom_metadata_map
    if "vips_config" not in meta:
        return None
    try:
        config = json.loads(meta["vips_config"])
    except (ValueError, RecursionError):
        config = None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: metadata field vips_config is not a JSON object")
    return config


def _check_pair(enc, den, enc_path: Path, den_path: Path) -> dict[str, Any]:  # noqa: ANN001
    """The two graphs fit each other and this vips; returns the denoiser's ``vips_config``."""
    roles = (enc.get_modelmeta().custom_metadata_map.get("vips_role"),
             den.get_modelmeta().custom_metadata_map.get("vips_role"))
    if roles == ("denoiser", "rig_encoder"):
        raise ModelError(f"{enc_path}: holds the denoiser graph and {den_path.name} the rig encoder (metadata "
                         f"vips_role); are {ENCODER_FILE} and {DENOISER_FILE} swapped?")
    enc_names = [n for n, _, _ in ENCODER_SIGNATURE[0]]
    _check_signature(enc, enc_path, "rig encoder", ENCODER_SIGNATURE, ("denoiser", DENOISER_INPUTS))
    config = _config(den, den_path)
    if config is None:
        raise ModelError(f"{den_path}: not a ViPS denoiser graph (no vips_config metadata)")
    _check_signature(den, den_path, "denoiser", DENOISER_SIGNATURE, ("rig encoder", enc_names))
    if config.get("prediction") not in PREDICTIONS:
        raise ModelError(f"{den_path}: metadata field vips_config.prediction must be one of {', '.join(PREDICTIONS)}, "
                         f"got {config.get('prediction')!r}")
    enc_config = _config(enc, enc_path)
    if enc_config is not None and enc_config != config:
        keys = sorted(k for k in set(config) | set(enc_config) if config.get(k) != enc_config.get(k))
        diff = ", ".join(f"{k} {enc_config.get(k)!r} vs {config.get(k)!r}" for k in keys)
        raise ModelError(f"{enc_path} and {den_path.name} come from different models (vips_config: {diff})")
    _check_widths(enc, den, enc_path, den_path)
    return config


def _check_widths(enc, den, enc_path: Path, den_path: Path) -> None:  # noqa: ANN001
    """The static widths the two graphs share (token width, layers, heads) agree, and fit this vips's features."""
    e_in, e_out = _io(enc.get_inputs()), _io(enc.get_outputs())
    d_in, d_out = _io(den.get_inputs()), _io(den.get_outputs())
    theirs, other = f"{den_path.name}'s", "the graphs come from different models"
    for what, got, want in (("rig_context width", e_out["rig_context"].shape[2], d_in["rig_context"].shape[2]),
                            ("attn_bias layer count", e_out["attn_bias"].shape[1], d_in["attn_bias"].shape[1]),
                            ("attn_bias head count", e_out["attn_bias"].shape[2], d_in["attn_bias"].shape[2])):
        _check_dim(enc_path, what, got, theirs, want, other)
    newer = "a model made for another vips version"
    _check_dim(enc_path, "node_features width", e_in["node_features"].shape[2], "this vips's rig features",
               FEATURE_DIM, newer)
    for path, what, got in ((den_path, "x_t width", d_in["x_t"].shape[2]),
                            (den_path, "prediction width", d_out["prediction"].shape[2])):
        _check_dim(path, what, got, "this vips's pose encoding", POSE_DIM, newer)


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
        encoder_path, denoiser_path: the two graphs written by :func:`vips.model.export.export_onnx`.
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
        """Load ``rig_encoder.onnx`` and ``denoiser.onnx`` from ``directory``."""
        d = Path(directory)
        return cls(d / ENCODER_FILE, d / DENOISER_FILE, **kwargs)

    def encode(self, cond: RigConditioning) -> EncodedRig:
        """Run the rig encoder once for a rig."""
        context, attn_bias = _run(self.encoder, self.encoder_path, ENCODER_OUTPUTS, rig_inputs(cond))
        return encoded_rig(cond, context, attn_bias)

    def __call__(self, x_t: np.ndarray, t: np.ndarray, encoded: EncodedRig) -> np.ndarray:
        """x_t (B, J, D) float32, t (B,) in [0, 1] -> prediction (B, J, D) float32."""
        feeds = {
            "x_t": np.ascontiguousarray(x_t, np.float32),
            "t": np.ascontiguousarray(t, np.float32).reshape(-1),
            **encoded.denoiser_inputs(),
        }
        (out,) = _run(self.denoiser, self.denoiser_path, ["prediction"], feeds)
        return out
