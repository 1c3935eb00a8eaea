"""What a backend caches per rig: the rig encoder's outputs, the denoiser's per-rig inputs (numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.features import RigConditioning
from vips.model_contract import ATTN_BIAS, GRAPH_CODE, MASK, NODE_FEATURES, RIG_CONTEXT
from vips.pose_encoding import channel_mask


@dataclass(eq=False)
class EncodedRig:
    """A rig ready for the denoiser (batch size 1 on the rig axis, broadcast over poses).

    Attributes:
        context: (1, J, W) float32 projected rig encoder tokens.
        attn_bias: (1, L, H, J, J) float32 graph attention bias of every denoiser layer and head.
        mask: (1, J) float32 the joints the model sees (:attr:`vips.features.RigConditioning.joint_mask`: 0 for
            the ground and control bones above the body root and for helper joints, :mod:`vips.helper_joints`).
        channel_mask: (J, D) float32 live pose channels (:func:`vips.pose_encoding.channel_mask`).
    """

    context: np.ndarray
    attn_bias: np.ndarray
    mask: np.ndarray
    channel_mask: np.ndarray

    @property
    def num_joints(self) -> int:
        return int(self.mask.shape[1])

    def denoiser_inputs(self) -> dict[str, np.ndarray]:
        """The denoiser's rig inputs (:data:`vips.model_contract.DENOISER`) by name."""
        return {RIG_CONTEXT: self.context, ATTN_BIAS: self.attn_bias, MASK: self.mask}


def rig_inputs(cond: RigConditioning) -> dict[str, np.ndarray]:
    """The rig encoder's inputs (:data:`vips.model_contract.ENCODER`) for one rig by name: node_features
    (1, J, F) float32, graph_code (1, J, J) int64, mask (1, J) float32."""
    J = cond.num_joints
    return {
        NODE_FEATURES: np.ascontiguousarray(cond.node_features[None], np.float32),
        GRAPH_CODE: np.ascontiguousarray(cond.graph_code[None], np.int64),
        MASK: np.ascontiguousarray(cond.joint_mask.reshape(1, J), np.float32),
    }


def encoded_rig(cond: RigConditioning, context: np.ndarray, attn_bias: np.ndarray) -> EncodedRig:
    """An :class:`EncodedRig` from a rig encoder's two outputs for ``cond``."""
    return EncodedRig(np.ascontiguousarray(context, np.float32), np.ascontiguousarray(attn_bias, np.float32),
                      np.ascontiguousarray(cond.joint_mask[None], np.float32), channel_mask(cond))
