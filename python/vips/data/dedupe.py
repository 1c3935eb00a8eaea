"""Near-duplicate pose removal: keep a pose only if some joint is at least ``eps`` away from every pose
already kept (joint positions normalized by the rig's height)."""

from __future__ import annotations

import numpy as np


def near_duplicate_mask(positions: np.ndarray, eps: float, block: int = 256) -> np.ndarray:
    """(N,) bool mask of poses to keep, greedy in order.

    Args:
        positions: (N, J, 3) joint positions, already normalized by the rig's height (root-relative is
            usual, so that a pose translated along the floor still counts as the same pose).
        eps: a pose is a near duplicate of a kept pose when *every* joint lies within ``eps`` of it.
    """
    n = positions.shape[0]
    flat = positions.reshape(n, -1, 3).astype(np.float32)
    keep = np.zeros(n, bool)
    kept: list[int] = []
    for start in range(0, n, block):
        chunk = range(start, min(n, start + block))
        for i in chunk:
            if kept:
                # Max over joints of the per-joint distance to each kept pose: a Chebyshev-like pose distance.
                d = np.linalg.norm(flat[kept] - flat[i][None], axis=-1).max(axis=1)
                if d.min() < eps:
                    continue
            kept.append(i)
            keep[i] = True
    return keep
