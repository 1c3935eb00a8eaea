"""ONNX export of the pose model as two graphs, and the check that ONNX Runtime matches torch.

``rig_encoder.onnx``: node_features (R, J, F) float32, graph_code (R, J, J) int64, mask (R, J) float32
-> rig_tokens (R, J, W).
``denoiser.onnx``: x_t (B, J, D) float32, t (B,) float32, rig_tokens (R, J, W), graph_code (R, J, J) int64,
mask (R, J) -> prediction (B, J, D), with R = 1 (broadcast) or B.

Batch and joint counts are dynamic. Each graph carries metadata ``vips_config`` (the model config JSON,
including the prediction type) and ``vips_role``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from vips.model.network import PoseModel
from vips.model.weights import load_weights
from vips.runtime.onnx_backend import DENOISER_FILE, ENCODER_FILE

OPSET = 17
ENCODER_INPUTS = ["node_features", "graph_code", "mask"]
DENOISER_INPUTS = ["x_t", "t", "rig_tokens", "graph_code", "mask"]


def export_onnx(model: PoseModel | str | Path, out_dir: str | Path, opset: int = OPSET) -> tuple[Path, Path]:
    """Write ``rig_encoder.onnx`` and ``denoiser.onnx`` for ``model`` (or a weights file) into ``out_dir``.

    Returns:
        (encoder path, denoiser path).
    """
    if not isinstance(model, PoseModel):
        model = load_weights(model)
    model = model.to("cpu").eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    R, B, J = 2, 2, 5
    rng = torch.Generator().manual_seed(0)
    feats = torch.randn(R, J, cfg.feature_dim, generator=rng)
    code = torch.randint(0, cfg.num_graph_codes, (R, J, J), generator=rng)
    mask = torch.ones(R, J)
    x_t = torch.randn(B, J, cfg.pose_dim, generator=rng)
    t = torch.rand(B, generator=rng)
    tokens = model.encoder(feats, code, mask).detach()
    rig_axes = {0: "R", 1: "J"}
    enc = _export(model.encoder, (feats, code, mask), out / ENCODER_FILE, ENCODER_INPUTS, ["rig_tokens"],
                  {"node_features": rig_axes, "graph_code": {0: "R", 1: "J", 2: "J"}, "mask": rig_axes,
                   "rig_tokens": rig_axes}, opset, {"vips_config": cfg.to_json(), "vips_role": "rig_encoder"})
    den = _export(model.denoiser, (x_t, t, tokens, code, mask), out / DENOISER_FILE, DENOISER_INPUTS,
                  ["prediction"],
                  {"x_t": {0: "B", 1: "J"}, "t": {0: "B"}, "rig_tokens": rig_axes,
                   "graph_code": {0: "R", 1: "J", 2: "J"}, "mask": rig_axes, "prediction": {0: "B", 1: "J"}},
                  opset, {"vips_config": cfg.to_json(), "vips_role": "denoiser"})
    return enc, den


def _export(module, args, path: Path, inputs, outputs, axes, opset: int, metadata: dict[str, str]) -> Path:
    import onnx

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(module, args, tmp, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        proto = onnx.load(tmp)
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_onnx(model: PoseModel, out_dir: str | Path, seed: int = 0, joint_counts=(1, 3, 24, 67),
               batch: int = 4) -> float:
    """Max absolute difference between ONNX Runtime (CPU) and torch over random rigs and poses.

    For each joint count: a random tree, random features and noisy poses, rig inputs with R = 1 and R = B.
    """
    import onnxruntime as ort

    from vips.features import graph_codes, graph_distances

    out = Path(out_dir)
    enc = ort.InferenceSession(str(out / ENCODER_FILE), providers=["CPUExecutionProvider"])
    den = ort.InferenceSession(str(out / DENOISER_FILE), providers=["CPUExecutionProvider"])
    cfg = model.config
    rng = np.random.default_rng(seed)
    worst = 0.0
    model = model.to("cpu").eval()
    for J in joint_counts:
        parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)])
        code = graph_codes(parents, graph_distances(parents))[None]
        feats = rng.normal(size=(1, J, cfg.feature_dim)).astype(np.float32)
        mask = np.ones((1, J), np.float32)
        x_t = rng.normal(size=(batch, J, cfg.pose_dim)).astype(np.float32)
        t = rng.random(batch).astype(np.float32)
        (tok,) = enc.run(None, {"node_features": feats, "graph_code": code, "mask": mask})
        with torch.no_grad():
            tok_ref = model.encoder(torch.from_numpy(feats), torch.from_numpy(code), torch.from_numpy(mask)).numpy()
        worst = max(worst, float(np.abs(tok - tok_ref).max()))
        for R in (1, batch):
            rig = {"rig_tokens": np.repeat(tok_ref, R, 0), "graph_code": np.repeat(code, R, 0),
                   "mask": np.repeat(mask, R, 0)}
            (pred,) = den.run(None, {"x_t": x_t, "t": t, **rig})
            with torch.no_grad():
                ref = model.denoiser(torch.from_numpy(x_t), torch.from_numpy(t),
                                     *(torch.from_numpy(rig[k]) for k in ("rig_tokens", "graph_code", "mask")))
            worst = max(worst, float(np.abs(pred - ref.numpy()).max()))
    return worst
