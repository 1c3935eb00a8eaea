"""What a backend caches per rig: the rig encoder's output and the graph inputs of the denoiser (numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.features import RigConditioning
from vips.pose_encoding import channel_mask


@dataclass(eq=False)
class EncodedRig:
    """A rig ready for the denoiser (batch size 1 on the rig axis, broadcast over poses).

    Attributes:
        rig_tokens: (1, J, W) float32 rig encoder output.
        graph_code: (1, J, J) int64 graph codes.
        mask: (1, J) float32 ones (no padding for a single rig).
        channel_mask: (J, D) float32 live pose channels (:func:`vips.pose_encoding.channel_mask`).
    """

    rig_tokens: np.ndarray
    graph_code: np.ndarray
    mask: np.ndarray
    channel_mask: np.ndarray

    @property
    def num_joints(self) -> int:
        return int(self.mask.shape[1])


def rig_inputs(cond: RigConditioning) -> dict[str, np.ndarray]:
    """The rig encoder's inputs for one rig: node_features (1, J, F), graph_code (1, J, J), mask (1, J)."""
    J = cond.num_joints
    return {
        "node_features": np.ascontiguousarray(cond.node_features[None], np.float32),
        "graph_code": np.ascontiguousarray(cond.graph_code[None], np.int64),
        "mask": np.ones((1, J), np.float32),
    }


def encoded_rig(cond: RigConditioning, rig_tokens: np.ndarray) -> EncodedRig:
    inputs = rig_inputs(cond)
    return EncodedRig(np.ascontiguousarray(rig_tokens, np.float32), inputs["graph_code"], inputs["mask"],
                      channel_mask(cond.num_joints))
