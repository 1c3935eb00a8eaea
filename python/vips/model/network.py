"""The pose model's two networks (torch): a rig encoder and a denoiser over joint tokens.

Both are transformers over one token per joint, for any topology (1..256 joints, padded batches). Attention
knows the skeleton: every layer adds a learned per-head bias picked by the graph code of each joint pair
(self, parent, child, mirror partner, ancestor/descendant/other by distance; :func:`vips.features.graph_codes`).
Padded joints are masked out of the keys, so they never change the outputs of real joints.

- :class:`RigEncoder` maps the rig's node features (R, J, F) to rig tokens (R, J, W), once per rig.
- :class:`PoseDenoiser` maps noisy pose vectors x_t (B, J, D), times t (B,) and the rig tokens to the
  prediction (B, J, D) (noise or velocity); its rig-only part (projected tokens, attention biases) is computed
  once per rig at run time (:meth:`PoseModel.encode_rig`). Rig inputs may have a leading size R of 1 (broadcast over the
  batch, the runtime case) or B (training, one rig per pose). The timestep enters by adaptive layer norm
  (scale, shift and gate from the time embedding, zero-initialized as in DiT, Peebles & Xie 2023).

Exported to ONNX as two graphs (see :mod:`vips.model.onnx_export`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from vips.features import FEATURE_DIM, NUM_GRAPH_CODES
from vips.pose_encoding import POSE_DIM

# Added to the attention scores of padded keys; exp() of it underflows to exactly zero in float32.
_MASKED = -1e9


@dataclass
class ModelConfig:
    """Hyper-parameters of the pose model (stored as JSON with every weights file)."""

    feature_dim: int = FEATURE_DIM
    pose_dim: int = POSE_DIM
    num_graph_codes: int = NUM_GRAPH_CODES
    width: int = 128
    layers: int = 4
    encoder_layers: int = 2
    heads: int = 4
    mlp_ratio: int = 4
    prediction: str = "v"
    #: The noise schedule's shift (:func:`vips.diffusion.alpha_bar`): part of what the weights learned.
    schedule_shift: float = 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls(**json.loads(text))


class GraphAttention(nn.Module):
    """Multi-head self-attention over joint tokens with an additive per-pair bias (R, H, J, J)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, J, W = h.shape
        q, k, v = self.qkv(h).reshape(B, J, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(W // self.heads)) + bias
        attn = torch.softmax(scores, dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(B, J, W))


class GraphBias(nn.Module):
    """Per-layer, per-head attention bias (R, L, H, J, J) from graph codes (R, J, J) int64 and the key padding
    mask (R, J)."""

    def __init__(self, num_codes: int, layers: int, heads: int) -> None:
        super().__init__()
        self.layers, self.heads = layers, heads
        self.table = nn.Embedding(num_codes, layers * heads)
        nn.init.zeros_(self.table.weight)

    def forward(self, graph_code: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        R, J = mask.shape
        bias = self.table(graph_code).permute(0, 3, 1, 2)  # (R, L*H, J, J)
        bias = bias + ((1.0 - mask) * _MASKED)[:, None, None, :]
        return bias.reshape(R, self.layers, self.heads, J, J)


def _mlp(width: int, ratio: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, ratio * width), nn.GELU(), nn.Linear(ratio * width, width))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block with graph-biased attention."""

    def __init__(self, width: int, heads: int, ratio: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = GraphAttention(width, heads)
        self.mlp = _mlp(width, ratio)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm1(h), bias)
        return h + self.mlp(self.norm2(h))


class DenoiserBlock(nn.Module):
    """Transformer block whose layer norms are modulated by the time embedding (adaLN-Zero)."""

    def __init__(self, width: int, heads: int, ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = GraphAttention(width, heads)
        self.mlp = _mlp(width, ratio)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        s1, b1, g1, s2, b2, g2 = self.modulation(c)[:, None, :].chunk(6, dim=-1)
        h = h + g1 * self.attn(self.norm1(h) * (1 + s1) + b1, bias)
        return h + g2 * self.mlp(self.norm2(h) * (1 + s2) + b2)


def timestep_embedding(t: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, width) sinusoidal features of 1000 t (Vaswani et al. 2017 frequencies)."""
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class RigEncoder(nn.Module):
    """Node features (R, J, F), graph codes (R, J, J) and mask (R, J) -> rig tokens (R, J, W)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        w = config.width
        self.input = nn.Sequential(nn.Linear(config.feature_dim, w), nn.GELU(), nn.Linear(w, w))
        self.bias = GraphBias(config.num_graph_codes, config.encoder_layers, config.heads)
        self.blocks = nn.ModuleList(
            EncoderBlock(w, config.heads, config.mlp_ratio) for _ in range(config.encoder_layers)
        )
        self.norm = nn.LayerNorm(w)

    def forward(self, node_features: torch.Tensor, graph_code: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.input(node_features)
        bias = self.bias(graph_code, mask)
        for i, block in enumerate(self.blocks):
            h = block(h, bias[:, i])
        return self.norm(h) * mask[..., None]


class PoseDenoiser(nn.Module):
    """x_t (B, J, D), t (B,), rig tokens (R, J, W), graph codes (R, J, J), mask (R, J) -> prediction (B, J, D).

    R is 1 (one rig for the whole batch) or B. Outputs on padded joints are zero. The work that depends on the rig
    only (:meth:`rig_context`) is split from the per-call work (:meth:`denoise`) so a runtime does it once per rig.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        w = config.width
        self.width = w
        self.input = nn.Linear(config.pose_dim, w)
        self.rig = nn.Linear(w, w)
        self.time = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.bias = GraphBias(config.num_graph_codes, config.layers, config.heads)
        self.blocks = nn.ModuleList(DenoiserBlock(w, config.heads, config.mlp_ratio) for _ in range(config.layers))
        self.norm = nn.LayerNorm(w, elementwise_affine=False)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.output = nn.Linear(w, config.pose_dim)
        for layer in (self.final_modulation[1], self.output):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def rig_context(self, rig_tokens: torch.Tensor, graph_code: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What every denoising call of a rig reuses: projected rig tokens (R, J, W) and the attention bias of
        every layer (R, L, H, J, J), padded keys masked."""
        return self.rig(rig_tokens), self.bias(graph_code, mask)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, attn_bias: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """x_t (B, J, D), t (B,) and a rig's :meth:`rig_context` with its mask (R, J) -> prediction (B, J, D)."""
        c = self.time(timestep_embedding(t, self.width))
        h = self.input(x_t) + context
        for i, block in enumerate(self.blocks):
            h = block(h, c, attn_bias[:, i])
        scale, shift = self.final_modulation(c)[:, None, :].chunk(2, dim=-1)
        return self.output(self.norm(h) * (1 + scale) + shift) * mask[..., None]

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        rig_tokens: torch.Tensor,
        graph_code: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        context, attn_bias = self.rig_context(rig_tokens, graph_code, mask)
        return self.denoise(x_t, t, context, attn_bias, mask)


class PoseModel(nn.Module):
    """The two networks together (what training optimizes and a weights file holds)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = RigEncoder(config)
        self.denoiser = PoseDenoiser(config)

    def forward(self, x_t, t, node_features, graph_code, mask, poses_per_rig: int = 1):  # noqa: ANN001
        """Encode R rigs once and denoise their poses: x_t (B, J, D) with B = R * poses_per_rig (rig r's poses
        in rows r*P .. r*P+P-1), t (B,), node_features (R, J, F), graph_code (R, J, J), mask (R, J) -> (B, J, D).
        """
        tokens = self.encoder(node_features, graph_code, mask)
        if poses_per_rig > 1:
            tokens = tokens.repeat_interleave(poses_per_rig, dim=0)
            graph_code = graph_code.repeat_interleave(poses_per_rig, dim=0)
            mask = mask.repeat_interleave(poses_per_rig, dim=0)
        return self.denoiser(x_t, t, tokens, graph_code, mask)

    def encode_rig(self, node_features: torch.Tensor, graph_code: torch.Tensor,
                   mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Everything the denoiser needs of R rigs, once per rig: (context (R, J, W), attn_bias (R, L, H, J, J))
        for :meth:`PoseDenoiser.denoise`."""
        return self.denoiser.rig_context(self.encoder(node_features, graph_code, mask), graph_code, mask)
