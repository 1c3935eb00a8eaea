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
     "pose_encoding": 2,                            # the pose encoding it was trained on (vips.pose_encoding)
     "prediction": "v",                             # "eps" or "v"; else read from the ONNX metadata
     "schedule": {"spacing": "karras", "shift": 4.0},  # the cosine schedule of vips.diffusion: grid spacing
                                                    # and shift (1 when absent)
     "threshold": -0.42,                            # calibrated plausibility threshold (score >= threshold)
     "calibration": {"quantile": 0.05, "poses": 4096, "source": "validation split"},
     "score": {"levels": [0.05, 0.1, 0.2], "seed": 0, "draws": 2}}   # see PoseSpace.joint_scores

No pickle anywhere: graphs load through ONNX Runtime, weights through safetensors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vips.errors import VipsError
from vips.pose_encoding import VERSION as ENCODING_VERSION
from vips.runtime.onnx_backend import DENOISER_FILE, ENCODER_FILE

FORMAT = "vips-pose-space/1"
MODEL_JSON = "model.json"
WEIGHTS_FILE = "model.safetensors"
#: Noise levels (times) and draws of the plausibility score when model.json gives none. Low levels: a corrupted
#: joint stands out most while little noise hides it (measured on held-out species, see MODEL_CARD.md).
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
    """Read and check a model folder; :class:`VipsError` naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VipsError(f"{folder}: no such model folder (it should hold {ENCODER_FILE}, {DENOISER_FILE}, "
                        f"{MODEL_JSON})")
    meta: dict[str, Any] = {}
    path = folder / MODEL_JSON
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise VipsError(f"{path}: cannot be read as JSON ({exc})") from None
        if meta.get("format", FORMAT) != FORMAT:
            raise VipsError(f"{path}: unknown model format {meta.get('format')!r} (this vips reads {FORMAT})")
    encoding = meta.get("pose_encoding", 1)
    if encoding != ENCODING_VERSION:
        raise VipsError(f"{folder}: the model was trained on pose encoding {encoding!r}, but this vips reads "
                        f"encoding {ENCODING_VERSION} (joint orientations in the body frame); use a model made by "
                        "this version (the shipped default, or `vips train` + `vips export-onnx`)")
    threshold = meta.get("threshold")
    shift = _positive(meta.get("schedule", {}).get("shift", 1.0), path, "schedule.shift")
    return ModelInfo(
        folder=folder,
        model_id=str(meta.get("model_id") or folder.name),
        prediction=meta.get("prediction"),
        spacing=str(meta.get("schedule", {}).get("spacing", "karras")),
        shift=shift,
        threshold=None if threshold is None else float(threshold),
        calibration=dict(meta.get("calibration", {})),
        score={**default_score(shift), **meta.get("score", {})},
    )


def default_score(shift: float = 1.0) -> dict[str, Any]:
    """:data:`DEFAULT_SCORE` for a model trained with schedule ``shift``: its levels moved to the times at which
    the shifted schedule has the same noise-to-signal ratios (what the score's quality depends on; the same
    times would mean less noise, and the held-out hyper-extension AUROC of a shift-6 model fell from 0.97 to
    0.88 with them)."""
    from vips.diffusion import alpha_bar, t_from_alpha_bar

    levels = [round(float(t_from_alpha_bar(alpha_bar(t), shift)), 6) for t in DEFAULT_SCORE["levels"]]
    return {**DEFAULT_SCORE, "levels": levels}


def _positive(value: Any, path: Path, key: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not out > 0 or out == float("inf"):
        raise VipsError(f"{path}: {key} must be a positive number, got {value!r}")
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
    from vips.model.export import export_onnx
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
