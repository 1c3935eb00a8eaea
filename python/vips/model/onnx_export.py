"""ONNX export of the pose model as two graphs, and the check that ONNX Runtime matches torch.

The graphs' files, inputs, outputs and metadata are the contract of :mod:`vips.model_contract`: the rig encoder
(rig features -> rig context and attention biases, once per rig) and the denoiser (one denoising step).

Everything that depends on the rig only (the rig encoder, the projection of its tokens, the per-layer graph
attention biases) lives in the first graph, so a denoising step does none of it: on one CPU thread that
makes a step of a 50-joint rig about a fifth faster than computing the biases in every call.

Batch and joint counts are dynamic. Each graph carries the model config JSON (including the prediction type) and
its role as metadata.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from vips.model.network import PoseModel
from vips.model.weights import load_weights
from vips.model_contract import CONFIG_KEY, DENOISER, ENCODER, ROLE_KEY, Graph

OPSET = 17


class _RigGraph(torch.nn.Module):
    """The exported rig encoder: :meth:`PoseModel.encode_rig`."""

    def __init__(self, model: PoseModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, node_features: torch.Tensor, graph_code: torch.Tensor, mask: torch.Tensor):  # noqa: ANN201
        return self.model.encode_rig(node_features, graph_code, mask)


class _DenoiserGraph(torch.nn.Module):
    """The exported denoiser: :meth:`PoseDenoiser.denoise`."""

    def __init__(self, model: PoseModel) -> None:
        super().__init__()
        self.denoiser = model.denoiser

    def forward(self, x_t, t, rig_context, attn_bias, mask):  # noqa: ANN001, ANN201
        return self.denoiser.denoise(x_t, t, rig_context, attn_bias, mask)


def export_onnx(model: PoseModel | str | Path, out_dir: str | Path, opset: int = OPSET) -> tuple[Path, Path]:
    """Write the rig encoder and the denoiser graph (:mod:`vips.model_contract`) of ``model`` (or of a weights
    file) into ``out_dir``.

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
    context, attn_bias = (x.detach() for x in model.encode_rig(feats, code, mask))
    config = cfg.to_json()
    enc = _export(_RigGraph(model), (feats, code, mask), out, ENCODER, opset, config)
    den = _export(_DenoiserGraph(model), (x_t, t, context, attn_bias, mask), out, DENOISER, opset, config)
    return enc, den


def _export(module, args, out: Path, graph: Graph, opset: int, config: str) -> Path:  # noqa: ANN001
    import onnx

    from vips.io.atomic import atomic_path

    path = out / graph.file
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(module, args, str(tmp), input_names=graph.input_names, output_names=graph.output_names,
                              dynamic_axes=graph.dynamic_axes, opset_version=opset, dynamo=False,
                              do_constant_folding=True)
        proto = onnx.load(str(tmp))
        for key, value in ((CONFIG_KEY, config), (ROLE_KEY, graph.role)):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def check_onnx(model: PoseModel, out_dir: str | Path, seed: int = 0, joint_counts=(1, 3, 24, 67),
               batch: int = 4) -> float:
    """Max absolute difference between ONNX Runtime (CPU) and torch over random rigs and poses.

    For each joint count: a random tree, random features and noisy poses, rig inputs with R = 1 and R = B.
    """
    import onnxruntime as ort

    from vips.features import graph_codes
    from vips.skeleton import hop_distances

    out = Path(out_dir)
    enc = ort.InferenceSession(str(out / ENCODER.file), providers=["CPUExecutionProvider"])
    den = ort.InferenceSession(str(out / DENOISER.file), providers=["CPUExecutionProvider"])
    cfg = model.config
    rng = np.random.default_rng(seed)
    worst = 0.0
    model = model.to("cpu").eval()
    for J in joint_counts:
        parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)])
        code = graph_codes(parents, hop_distances(parents))[None]
        feats = rng.normal(size=(1, J, cfg.feature_dim)).astype(np.float32)
        mask = np.ones((1, J), np.float32)
        x_t = rng.normal(size=(batch, J, cfg.pose_dim)).astype(np.float32)
        t = rng.random(batch).astype(np.float32)
        context, attn_bias = enc.run(ENCODER.output_names, dict(zip(ENCODER.input_names, [feats, code, mask])))
        with torch.no_grad():
            tokens = model.encoder(torch.from_numpy(feats), torch.from_numpy(code), torch.from_numpy(mask))
            ref_context, ref_bias = model.denoiser.rig_context(tokens, torch.from_numpy(code), torch.from_numpy(mask))
        worst = max(worst, float(np.abs(context - ref_context.numpy()).max()),
                    float(np.abs(attn_bias - ref_bias.numpy()).max()))
        for R in (1, batch):
            rig = [np.repeat(x, R, 0) for x in (context, attn_bias, mask)]
            (pred,) = den.run(None, dict(zip(DENOISER.input_names, [x_t, t, *rig])))
            with torch.no_grad():  # the training-time path: tokens and graph codes in every call
                ref = model.denoiser(torch.from_numpy(x_t), torch.from_numpy(t), tokens.repeat(R, 1, 1),
                                     torch.from_numpy(np.repeat(code, R, 0)), torch.from_numpy(np.repeat(mask, R, 0)))
            worst = max(worst, float(np.abs(pred - ref.numpy()).max()))
    return worst
