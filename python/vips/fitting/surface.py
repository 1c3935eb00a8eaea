"""The rig's skinned surface in numpy (no torch): area-weighted surface samples and the joints that move skin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vips.rig import Rig


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted random surface samples: (count,) face indices and (count, 3) barycentric coordinates."""
    tri = vertices[faces].astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = area.sum()
    p = area / total if total > 0 else np.full(len(faces), 1.0 / len(faces))
    face = rng.choice(len(faces), size=count, p=p)
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    bary = np.stack([1 - u - v, u, v], axis=1)
    return face.astype(np.int64), bary.astype(np.float32)


def observable_joints(rig: "Rig") -> np.ndarray:
    """(J,) bool: joints whose rotation moves some skinned vertex (it or a descendant carries weight)."""
    J = rig.num_joints
    weighted = np.zeros(J, bool)
    idx = rig.skin_indices[rig.skin_weights > 0]
    weighted[np.unique(idx)] = True
    # A joint's rotation moves its own vertices only if they are off its origin; moving descendants suffices.
    moves = weighted.copy()
    for j in range(J - 1, 0, -1):
        if moves[j] and rig.parents[j] >= 0:
            moves[rig.parents[j]] = True
    return moves
