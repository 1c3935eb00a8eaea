"""The guided DDIM loop of ``csrc/guided`` (manifold IK) with a Python denoiser callback, and its energy.

The loop is the C++ one an engine plugin links (``csrc/guided/guided.h``); here the callback is any Python
callable, so :meth:`vips.posespace.PoseSpace.solve_ik` runs the very same code on ONNX Runtime or torch.
CPU only (the callback is a host function); numpy arrays in, numpy arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vips.native._dispatch import call

POSE_DIM = 9


@dataclass
class GuidedRigArrays:
    """The rig as the pose encoding sees it (float32/int32, C-contiguous).

    Attributes:
        parents: (J,) int32, joint 0 the only root.
        rest_rotations: (J, 4) local rest rotations (w, x, y, z).
        rest_translations: (J, 3) local rest translations (asset units).
        frames: (J, 3, 3) rest world rotation of each joint in the canonical frame
            (:attr:`vips.features.RigConditioning.rest_world_rotations`).
        reference_frames: (J, 3, 3) rest reference frame of each joint in the canonical frame
            (:attr:`vips.features.RigConditioning.reference_frames`).
        channel_mask: (J, 9) live channels (:func:`vips.pose_encoding.channel_mask`).
        canonical_rotation: (3, 3) asset axes -> canonical axes.
        body_root: the body root's index; rest_body_height: its rest height above the ground (canonical units).
        height: the rig's height (asset units).
    """

    parents: np.ndarray
    rest_rotations: np.ndarray
    rest_translations: np.ndarray
    frames: np.ndarray
    reference_frames: np.ndarray
    channel_mask: np.ndarray
    canonical_rotation: np.ndarray
    body_root: int
    rest_body_height: float
    height: float

    @classmethod
    def from_rig(cls, rig, cond, mask) -> "GuidedRigArrays":  # noqa: ANN001 - vips.Rig, RigConditioning, array
        """The arrays of ``rig`` with its conditioning ``cond`` (:func:`vips.features.rig_conditioning`) and its
        channel mask ``mask`` (:func:`vips.pose_encoding.channel_mask` of ``cond``; passed in, as the native layer
        sits below the pose encoding)."""
        f32 = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
        return cls(np.ascontiguousarray(rig.parents, np.int32), f32(rig.rest_rotations), f32(rig.rest_translations),
                   f32(cond.rest_world_rotations), f32(cond.reference_frames), f32(mask),
                   f32(cond.canonical_rotation), int(cond.body_root),
                   float(cond.rest_positions[cond.body_root, 1]), float(cond.height))

    def args(self) -> tuple:
        return (self.parents, self.rest_rotations, self.rest_translations, self.frames, self.reference_frames,
                self.channel_mask, self.canonical_rotation, int(self.body_root), float(self.rest_body_height),
                float(self.height))


@dataclass
class GuidedHandleArrays:
    """Handles (asset space and units) and look-at aims.

    Attributes:
        joints: (H,) int32; targets: (H, 3) or (B, H, 3) float32; weights: (H,) float32.
        aim_base, aim_end: (A,) int32: the bone from aim_base to aim_end turns towards aim_targets (A, 3),
            with aim_weights (A,).
    """

    joints: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    aim_base: np.ndarray
    aim_end: np.ndarray
    aim_targets: np.ndarray
    aim_weights: np.ndarray

    def args(self) -> tuple:
        return (self.joints, self.targets, self.weights, self.aim_base, self.aim_end, self.aim_targets,
                self.aim_weights)


def guided_sample(
    x_T: np.ndarray,
    denoise: Callable[[np.ndarray, float], np.ndarray],
    rig: GuidedRigArrays,
    handles: GuidedHandleArrays,
    alpha_bars: np.ndarray,
    times: np.ndarray,
    v_prediction: bool,
    damping: float = 1e-2,
    iterations: int = 2,
    final_iterations: int = 6,
    clamp: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the guided DDIM loop from x_T (B, J, 9) float32.

    Args:
        denoise: ``denoise(x_t (B, J, 9) float32, t: float) -> (B, J, 9)`` the model's prediction (noise, or
            velocity when ``v_prediction``).
        alpha_bars, times: (steps + 1,) float64 noise levels from noisy to clean (the last usually 1) and the
            denoiser's time at each.
        damping: initial Levenberg-Marquardt damping; iterations: damped least-squares steps on the predicted
            x0 at each denoising step; final_iterations: extra steps at the last one; clamp: > 0 clips x0.

    Returns:
        ``(x0, energy, positions)``: (B, J, 9) pose vectors, (B,) height-normalized handle energy,
        (B, J, 3) world joint positions of the result.
    """
    B, J = x_T.shape[0], x_T.shape[1]
    x0 = np.empty((B, J, POSE_DIM), np.float32)
    energy = np.empty((B,), np.float32)
    positions = np.empty((B, J, 3), np.float32)
    call("guided_sample", x_T, denoise, *rig.args(), *handles.args(), alpha_bars, times, bool(v_prediction),
         float(damping), int(iterations), int(final_iterations), float(clamp), x0, energy, positions)
    return x0, energy, positions


def guided_energy_grad(x: np.ndarray, rig: GuidedRigArrays, handles: GuidedHandleArrays) -> dict[str, np.ndarray]:
    """The loop's energy of pose vectors x (B, J, 9) and what it computes along the way.

    Returns a dict: ``energy`` (B,) height-normalized, ``grad`` (B, J, 9) dE/dx, ``positions`` (B, J, 3),
    ``local_rotations`` (B, J, 4) and ``local_translations`` (B, J, 3) decoded from x.
    """
    B, J = x.shape[0], x.shape[1]
    out = {"energy": np.empty((B,), np.float32), "grad": np.empty((B, J, POSE_DIM), np.float32),
           "positions": np.empty((B, J, 3), np.float32), "local_rotations": np.empty((B, J, 4), np.float32),
           "local_translations": np.empty((B, J, 3), np.float32)}
    call("guided_energy_grad", x, *rig.args(), *handles.args(), out["energy"], out["grad"], out["positions"],
         out["local_rotations"], out["local_translations"])
    return out
