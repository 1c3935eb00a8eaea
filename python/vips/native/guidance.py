"""Joint-position energy through forward kinematics, with its analytic gradient, for guided sampling.

Manifold IK nudges each denoising step along the gradient of a handle energy. The kernel evaluates FK, the
energy and its exact gradient in one O(J + H) pass per pose, so no autograd graph (and no torch) is needed.
"""

from __future__ import annotations

from typing import Any

from vips.native._dispatch import call, empty_like_lib


def fk_energy_grad(
    local_rotations: Any,
    local_translations: Any,
    parents: Any,
    handle_joints: Any,
    handle_targets: Any,
    handle_weights: Any,
    *,
    per_joint_translation: bool = False,
    return_positions: bool = False,
) -> tuple[Any, ...]:
    """Handle energy ``E_b = sum_h w_h |p_b[joint_h] - target_bh|^2`` through FK, and its gradient.

    ``p_b[j]`` is joint j's world position from :func:`vips.native.fk`. Pinned joints are ordinary handles
    whose targets are their current positions.

    Args:
        local_rotations: (B, J, 4) float32 quaternions (w, x, y, z), each joint relative to its parent
            (normalized by the kernel).
        local_translations: (B, J, 3) or (J, 3) float32 joint offsets in the parent's frame.
        parents: (J,) int32, topologically ordered (``parents[j] < j``), -1 for a root.
        handle_joints: (H,) int32 joint index of each handle, in [0, J).
        handle_targets: (B, H, 3) or (H, 3) float32 world-space targets.
        handle_weights: (H,) float32 weights ``w_h`` (may be zero).
        per_joint_translation: when True the third result is the (B, J, 3) gradient with respect to every
            joint's local translation instead of the (B, 3) root translation gradient.
        return_positions: when True a fourth result holds the (B, J, 3) world joint positions.

    Returns:
        ``(energy, grad_rotation, grad_root_translation)`` (plus ``positions`` if asked), float32, in the
        input's array library and device:

        - energy: (B,).
        - grad_rotation: (B, J, 3) ``dE/domega_j`` at ``omega = 0`` for the *right* (local-frame) perturbation
          ``R_j <- R_j @ exp([omega]_x)``; a gradient step is ``q_j <- q_j * exp_quat(-lr * grad[j])``.
        - grad_root_translation: (B, 3) gradient with respect to a world-space offset added to every root's
          translation (joints with parent -1); with one root that is simply ``dE/dt_root``. With several roots
          ask ``per_joint_translation=True`` to get each root's own gradient (rows of the roots).
        - positions: (B, J, 3) world joint positions, only with ``return_positions=True``.
    """
    B, J = local_rotations.shape[0], local_rotations.shape[1]
    energy = empty_like_lib(local_rotations, (B,))
    positions = empty_like_lib(local_rotations, (B, J, 3))
    grad_rotation = empty_like_lib(local_rotations, (B, J, 3))
    grad_translation = empty_like_lib(local_rotations, (B, J, 3))
    call(
        "fk_energy",
        local_rotations,
        local_translations,
        parents,
        handle_joints,
        handle_targets,
        handle_weights,
        energy,
        positions,
        grad_rotation,
        grad_translation,
    )
    if per_joint_translation:
        grad_t = grad_translation
    else:
        grad_t = grad_translation[:, parents < 0].sum(axis=1)
    return (energy, grad_rotation, grad_t, positions) if return_positions else (energy, grad_rotation, grad_t)
