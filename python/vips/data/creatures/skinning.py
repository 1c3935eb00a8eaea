"""Skin weights from the body primitives: each vertex is bound to the joints whose primitives it lies on.

A vertex's normalized distance to a primitive (|offset from the bone axis| / local radius, in the
primitive's flattened metric) is about 1 on that primitive's surface and grows away from it. Weights fall
off as a high inverse power of it, so the blend is smooth where two segments meet at a joint and negligible
elsewhere; the four strongest influences are kept and normalized.
"""

from __future__ import annotations

import numpy as np

from vips.data.creatures.mesh_builder import primitive_field
from vips.data.creatures.skeleton import Primitive

INFLUENCES = 4
FALLOFF_POWER = 8.0


def skin_weights(vertices: np.ndarray, prims: list[Primitive], num_joints: int,
                 influences: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) -> skin indices (V, K) int32 and weights (V, K) float32 (rows sum to one, K = influences,
    sorted by descending weight; unused slots have weight 0)."""
    V = len(vertices)
    nearest = np.full((V, num_joints), np.inf)
    for p in prims:
        # Vertices beyond a few radii get a negligible weight: skip them.
        reach = 4 * max(p.r0, p.r1)
        inside_box = (vertices > np.minimum(p.a, p.b) - reach) & (vertices < np.maximum(p.a, p.b) + reach)
        near = np.flatnonzero(inside_box.all(1))
        _, g = primitive_field(p, vertices[near])
        nearest[near, p.joint] = np.minimum(nearest[near, p.joint], g)
    lost = np.flatnonzero(~np.isfinite(nearest).any(1))
    for p in prims if lost.size else []:
        nearest[lost, p.joint] = np.minimum(nearest[lost, p.joint], primitive_field(p, vertices[lost])[1])
    g = np.maximum(nearest, 1e-3)
    # Scale by each vertex's best distance so every vertex keeps a well-conditioned leading weight.
    w = (g.min(1, keepdims=True) / g) ** FALLOFF_POWER
    k = min(influences, num_joints)
    idx = np.argpartition(-w, k - 1, axis=1)[:, :k] if k < num_joints else np.tile(np.arange(k), (V, 1))
    top = np.take_along_axis(w, idx, 1)
    order = np.argsort(-top, axis=1, kind="stable")
    idx, top = np.take_along_axis(idx, order, 1), np.take_along_axis(top, order, 1)
    top[top < 1e-4 * top[:, :1]] = 0
    top /= top.sum(1, keepdims=True)
    if k < influences:
        idx = np.pad(idx, ((0, 0), (0, influences - k)))
        top = np.pad(top, ((0, 0), (0, influences - k)))
    return idx.astype(np.int32), top.astype(np.float32)
