"""A pose-space model folder: the two ONNX graphs, the safetensors weights and ``model.json``.

::

    <folder>/
      rig_encoder.onnx     node features -> rig tokens        (ONNX Runtime backend)
      denoiser.onnx        x_t, t, rig tokens -> prediction   (ONNX Runtime backend)
      model.safetensors    the same weights                   (torch backend; optional)
      model.json           what the runtime needs to use them (below)

``model.json`` (all keys but ``format`` optional)::

    {"format": "vips-pose-space/1",
     "model_id": "vips-default-2025-11",           # recorded in every pose set the model makes
     "pose_encoding": 3,                            # the pose encoding it was trained on (vips.pose_encoding)
     "prediction": "v",                             # "eps" or "v"; else read from the ONNX metadata
     "schedule": {"spacing": "karras", "shift": 4.0},  # the cosine schedule of vips.diffusion: grid spacing
                                                    # and shift (1 when absent)
     "threshold": -0.42,                            # calibrated plausibility threshold (score >= threshold)
     "calibration": {"quantile": 0.05, "poses": 4096, "source": "validation split"},
     "score": {"levels": [0.05, 0.1, 0.2], "seed": 0, "draws": 2,   # see PoseSpace.joint_scores
               "reduce": "min", "relative": false, "joints": "body",     # see PoseSpace.score
               "baseline": "rest"}}

No pickle anywhere: graphs load through ONNX Runtime, weights through safetensors.

:func:`read_model_dir` validates the folder: ``model.json`` against the schema above (types, ranges, finite
numbers: :func:`check_model_json`), the safetensors header against the file's size
(:func:`check_safetensors`), and that every file present is a regular file; the ONNX graphs are checked when
they load (:mod:`vips.runtime.onnx_backend`). Each problem is one :class:`ModelError` naming the file and field.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vips.errors import VipsError
from vips.model_contract import DENOISER_FILE, ENCODER_FILE, MODEL_FILES, MODEL_JSON, PREDICTIONS, WEIGHTS_FILE
from vips.pose_encoding import VERSION as ENCODING_VERSION
from vips.runtime.onnx_backend import ModelError, model_file_size

FORMAT = "vips-pose-space/1"
#: How a pose's per-joint scores reduce to its score (``score.reduce``, see :meth:`vips.posespace.PoseSpace.score`;
#: "min" when a model.json gives none).
SCORE_REDUCTIONS = ("mean", "rms", "min")
#: Which joints a pose's score reduces over (``score.joints``): every joint the model sees, only those that shape
#: the body (:func:`vips.body.judged_joints`), or only those whose turn shows (:func:`vips.body.visible_joints`: no
#: leaf of a skeleton-only rig); "all" when a model.json gives none.
SCORE_JOINTS = ("all", "body", "visible")
#: What each joint's error is measured against (``score.baseline``): nothing, or the same joint's error near the
#: rig's rest pose (:meth:`vips.posespace.PoseSpace.rest_errors`); "none" when a model.json gives none.
SCORE_BASELINES = ("none", "rest")
#: Grid spacings of :func:`vips.diffusion.timesteps`.
SPACINGS = ("karras", "uniform")
#: Bounds of model.json's ``score`` settings: each pose's score costs ``len(levels) * draws`` denoiser calls.
MAX_SCORE_LEVELS, MAX_SCORE_DRAWS, SEED_LIMIT = 16, 64, 2**63
MAX_JSON_BYTES = 2**20
#: safetensors element types and their sizes in bytes.
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
MAX_SAFETENSORS_HEADER = 100 * 2**20
#: Noise levels (times) and draws of the plausibility score when model.json gives none. Low levels: a corrupted
#: joint stands out most while little noise hides it (the levels are chosen on held-out species, training/README.md).
DEFAULT_SCORE = {"levels": [0.05, 0.1, 0.2], "seed": 0, "draws": 2}

@dataclass
class ModelInfo:
    """What ``model.json`` says about a model folder (see the module docstring)."""

    folder: Path
    model_id: str
    prediction: str | None = None
    spacing: str = "karras"
    shift: float = 1.0
    threshold: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    score: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SCORE))

    @property
    def encoder_path(self) -> Path:
        return self.folder / ENCODER_FILE

    @property
    def denoiser_path(self) -> Path:
        return self.folder / DENOISER_FILE

    @property
    def weights_path(self) -> Path:
        return self.folder / WEIGHTS_FILE

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "model_id": self.model_id, "pose_encoding": ENCODING_VERSION,
                               "schedule": {"spacing": self.spacing, "shift": self.shift}, "score": self.score}
        if self.prediction is not None:
            out["prediction"] = self.prediction
        if self.threshold is not None:
            out["threshold"] = float(self.threshold)
        if self.calibration:
            out["calibration"] = self.calibration
        return out


def read_model_dir(folder: str | os.PathLike[str]) -> ModelInfo:
    """Read and check a model folder; :class:`VipsError` (:class:`ModelError` for a file that is there but
    unusable) naming what is missing or wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VipsError(f"{folder}: no such model folder (it should hold {ENCODER_FILE}, {DENOISER_FILE}, "
                        f"{MODEL_JSON})")
    present = {name: model_file_size(folder / name) for name in MODEL_FILES if os.path.lexists(folder / name)}
    meta: dict[str, Any] = {}
    path = folder / MODEL_JSON
    if MODEL_JSON in present:
        if present[MODEL_JSON] > MAX_JSON_BYTES:
            raise ModelError(f"{path}: is {present[MODEL_JSON]} bytes; a model.json is a few hundred")
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelError(f"{path}: cannot be read as JSON ({' '.join(str(exc).split())[:200]})") from None
        if not isinstance(meta, dict):
            raise ModelError(f"{path}: must hold a JSON object, got {_kind(meta)}")
        if meta.get("format", FORMAT) != FORMAT:
            raise VipsError(f"{path}: unknown model format {meta.get('format')!r} (this vips reads {FORMAT})")
    encoding = meta.get("pose_encoding", 1)
    if encoding != ENCODING_VERSION:
        raise VipsError(f"{folder}: the model was trained on pose encoding {encoding!r}, but this vips reads "
                        f"encoding {ENCODING_VERSION} (joint orientations in the body frame); use a model made by "
                        "this version (the shipped default, or `vips train` + `vips export-onnx`)")
    meta = check_model_json(meta, path)
    if WEIGHTS_FILE in present:
        check_safetensors(folder / WEIGHTS_FILE)
    threshold = meta.get("threshold")
    schedule = meta.get("schedule") or {}
    shift = float(schedule.get("shift", 1.0))
    score = {**default_score(shift), **(meta.get("score") or {})}
    _check_score(score, path)
    return ModelInfo(
        folder=folder,
        model_id=str(meta.get("model_id") or folder.name),
        prediction=meta.get("prediction"),
        spacing=str(schedule.get("spacing", "karras")),
        shift=shift,
        threshold=None if threshold is None else float(threshold),
        calibration=dict(meta.get("calibration") or {}),
        score=score,
    )


def _kind(value: Any) -> str:
    """A JSON value as messages quote it: its JSON text, cut at 60 characters."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field_error(path: Path, key: str, expected: str, value: Any) -> ModelError:
    return ModelError(f"{path}: {key} must be {expected}, got {_kind(value)}")


def check_model_json(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """Check ``model.json``'s fields (see the module docstring) and return ``meta``; :class:`ModelError` naming
    the first bad field. Unknown keys are ignored (a newer vips may add some)."""
    model_id = meta.get("model_id")
    if model_id is not None and not (isinstance(model_id, str) and 0 < len(model_id) <= 200):
        raise _field_error(path, "model_id", "a string of 1 to 200 characters", model_id)
    prediction = meta.get("prediction")
    if prediction is not None and prediction not in PREDICTIONS:
        raise _field_error(path, "prediction", f"one of {', '.join(PREDICTIONS)}", prediction)
    threshold = meta.get("threshold")
    if threshold is not None and not (_number(threshold) and math.isfinite(threshold)):
        raise _field_error(path, "threshold", "a finite number", threshold)
    for key in ("schedule", "calibration", "score"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise _field_error(path, key, "an object", meta[key])
    schedule = meta.get("schedule") or {}
    spacing = schedule.get("spacing", "karras")
    if spacing not in SPACINGS:
        raise _field_error(path, "schedule.spacing", f"one of {', '.join(SPACINGS)}", spacing)
    shift = schedule.get("shift", 1.0)
    if not _number(shift):
        raise _field_error(path, "schedule.shift", "a positive number", shift)
    _positive(shift, path, "schedule.shift")
    return meta


def _check_score(score: dict[str, Any], path: Path) -> None:
    levels, draws, seed = score.get("levels"), score.get("draws"), score.get("seed")
    if score.get("reduce", "min") not in SCORE_REDUCTIONS:
        raise _field_error(path, "score.reduce", f"one of {', '.join(SCORE_REDUCTIONS)}", score.get("reduce"))
    if not isinstance(score.get("relative", False), bool):
        raise _field_error(path, "score.relative", "true or false", score.get("relative"))
    if score.get("joints", "all") not in SCORE_JOINTS:
        raise _field_error(path, "score.joints", f"one of {', '.join(SCORE_JOINTS)}", score.get("joints"))
    if score.get("baseline", "none") not in SCORE_BASELINES:
        raise _field_error(path, "score.baseline", f"one of {', '.join(SCORE_BASELINES)}", score.get("baseline"))
    if score.get("relative", False) and score.get("baseline", "none") == "rest":
        # Most of a model's own samples sit below their rest errors: the median of their excess is about 0.
        raise ModelError(f"{path}: score.relative and score.baseline \"rest\" cannot be combined (the samples' "
                         "median error above the rest baseline, the relative score's divisor, is about 0)")
    if not (isinstance(levels, list) and 1 <= len(levels) <= MAX_SCORE_LEVELS
            and all(_number(t) and 0 < t < 1 for t in levels)):
        raise _field_error(path, "score.levels", f"a list of 1 to {MAX_SCORE_LEVELS} noise levels in (0, 1)",
                           levels)
    if not (isinstance(draws, int) and not isinstance(draws, bool) and 1 <= draws <= MAX_SCORE_DRAWS):
        raise _field_error(path, "score.draws", f"an integer from 1 to {MAX_SCORE_DRAWS}", draws)
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT):
        raise _field_error(path, "score.seed", "an integer with 0 <= seed < 2^63", seed)


def check_safetensors(path: Path) -> None:
    """Check a safetensors file's header against its size without loading it (no torch): the header length,
    the header JSON, and each tensor's dtype, shape and data_offsets inside the data. :class:`ModelError` naming
    the file and the field for an empty, truncated or corrupt file."""
    size = model_file_size(path)
    if size < 8:
        raise ModelError(f"{path}: is {'empty' if size == 0 else 'truncated'} ({size} bytes; a safetensors file "
                         "starts with an 8-byte header length)")
    with open(path, "rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        if length > min(size - 8, MAX_SAFETENSORS_HEADER):
            raise ModelError(f"{path}: its header length ({length} bytes) runs past the end of the file ({size} "
                             "bytes): truncated or not a safetensors file")
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise ModelError(f"{path}: its header is not valid JSON (corrupt or not a safetensors file)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: its header must be a JSON object, got {_kind(header)}")
    data = size - 8 - length
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise ModelError(f"{path}: header field __metadata__ must map names to strings")
            continue
        _check_tensor_entry(path, name, info, data)


def _check_tensor_entry(path: Path, name: str, info: Any, data: int) -> None:
    where = f"{path}: tensor '{name[:80]}'"
    if not isinstance(info, dict) or info.get("dtype") not in SAFETENSORS_DTYPES:
        raise ModelError(f"{where}: field dtype must be one of {', '.join(SAFETENSORS_DTYPES)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                            for d in shape)):
        raise ModelError(f"{where}: field shape must be a list of non-negative integers, got {_kind(shape)}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise ModelError(f"{where}: field data_offsets must be [begin, end] with 0 <= begin <= end")
    if offsets[1] > data:
        raise ModelError(f"{where}: field data_offsets {offsets} runs past the end of the data ({data} bytes): the "
                         "file is truncated")
    if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPES[info["dtype"]]:
        raise ModelError(f"{where}: field data_offsets spans {offsets[1] - offsets[0]} bytes, but shape {shape} of "
                         f"{info['dtype']} needs {math.prod(shape) * SAFETENSORS_DTYPES[info['dtype']]}")


def default_score(shift: float = 1.0) -> dict[str, Any]:
    """:data:`DEFAULT_SCORE` for a model trained with schedule ``shift``: its levels moved to the times at which
    the shifted schedule has the same noise-to-signal ratios: the score's power depends on how much noise hides a
    corrupted joint, and the same times carry far less noise under a shifted schedule (measured in
    training/README.md)."""
    from vips.diffusion import alpha_bar, t_from_alpha_bar

    levels = [round(float(t_from_alpha_bar(alpha_bar(t), shift)), 6) for t in DEFAULT_SCORE["levels"]]
    return {**DEFAULT_SCORE, "levels": levels}


def _positive(value: Any, path: Path, key: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not out > 0 or out == float("inf"):
        raise ModelError(f"{path}: {key} must be a positive finite number, got {value!r}")
    return out


def write_model_json(info: ModelInfo) -> Path:
    """Write ``info`` as ``model.json`` in its folder, atomically."""
    from vips.io.atomic import write_bytes_atomic

    path = info.folder / MODEL_JSON
    write_bytes_atomic(path, (json.dumps(info.to_json(), indent=2) + "\n").encode())
    return path


def export_model_dir(weights: Any, folder: str | os.PathLike[str], model_id: str | None = None,
                     threshold: float | None = None) -> ModelInfo:
    """Write a complete model folder from a :class:`vips.model.PoseModel` or a weights file (needs torch):
    the ONNX graphs, ``model.safetensors`` and ``model.json``. Calibrate the threshold afterwards with
    :func:`vips.posespace.calibrate_threshold` when it is not given."""
    from vips.model.onnx_export import export_onnx
    from vips.model.network import PoseModel
    from vips.model.weights import load_weights, save_weights

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = weights if isinstance(weights, PoseModel) else load_weights(weights)
    export_onnx(model, folder)
    save_weights(model, folder / WEIGHTS_FILE)
    shift = model.config.schedule_shift
    info = ModelInfo(folder=folder, model_id=model_id or folder.name, prediction=model.config.prediction,
                     shift=shift, threshold=threshold, score=default_score(shift))
    write_model_json(info)
    return info
