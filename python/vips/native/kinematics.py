"""Forward kinematics and linear blend skinning kernels."""

from __future__ import annotations

from typing import Any

from vips.native._dispatch import call, empty_like_lib


def fk(local_rotations: Any, local_translations: Any, parents: Any) -> Any:
    """Forward kinematics over a batch of poses.

    Args:
        local_rotations: (B, J, 4) float32 unit quaternions (w, x, y, z), each joint relative to its parent.
        local_translations: (B, J, 3) or (J, 3) float32 joint offsets in the parent's frame.
        parents: (J,) int32, topologically ordered (``parents[j] < j``), -1 for a root.

    Returns:
        (B, J, 4, 4) float32 world matrices (column-vector convention, translation in ``[:3, 3]``).
    """
    B, J = local_rotations.shape[0], local_rotations.shape[1]
    out = empty_like_lib(local_rotations, (B, J, 4, 4))
    call("fk", local_rotations, local_translations, parents, out)
    return out


def lbs(vertices: Any, skin_indices: Any, skin_weights: Any, joint_matrices: Any, out: Any = None) -> Any:
    """Linear blend skinning, batched over poses.

    Args:
        vertices: (V, 3) float32 bind-pose vertices.
        skin_indices: (V, K) int32 joint indices, K <= 8.
        skin_weights: (V, K) float32 weights (rows should sum to one; zero weights are skipped).
        joint_matrices: (P, J, 4, 4) float32 skinning transforms (posed world @ inverse bind).
        out: optional (P, V, 3) float32 C-contiguous array to write into (same library and device). Reusing
            one across calls saves the page faults of a fresh large array, often a large share of the time.

    Returns:
        (P, V, 3) float32 skinned vertices (``out`` when given).
    """
    if out is None:
        out = empty_like_lib(vertices, (joint_matrices.shape[0], vertices.shape[0], 3))
    call("lbs", vertices, skin_indices, skin_weights, joint_matrices, out)
    return out
