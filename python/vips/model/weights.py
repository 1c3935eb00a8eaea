"""Model weights files: safetensors with the model config as JSON metadata (never pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vips.model.network import ModelConfig, PoseModel

FORMAT = "vips-pose-model/1"


def save_weights(model: PoseModel, path: str | Path, extra: dict[str, str] | None = None) -> Path:
    """Write ``model``'s parameters (float32) and config to ``path`` atomically; returns the path."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "config": model.config.to_json(), **(extra or {})}
    return atomic_save(tensors, path, meta)


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> PoseModel:
    """A :class:`PoseModel` (eval mode) from a weights file written by :func:`save_weights`."""
    path = Path(path)
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a ViPS pose model weights file (format {meta.get('format')!r})")
        config = ModelConfig.from_json(meta["config"])
        state = {k: f.get_tensor(k) for k in f.keys()}
    model = PoseModel(config).to(device)
    model.load_state_dict(state)
    return model.eval()


def read_metadata(path: str | Path) -> dict[str, str]:
    """The JSON metadata of a safetensors file (strings)."""
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def atomic_save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """``safetensors.torch.save_file`` through a temporary file and a rename (no half-written files)."""
    from vips.io.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp),
                  metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    return path
