"""The proxy rasterizer kernel (CPU only)."""

from __future__ import annotations

import numpy as np

from vips.native._dispatch import call


def raster(screen: np.ndarray, faces: np.ndarray, colors: np.ndarray, depth: np.ndarray, image: np.ndarray) -> None:
    """Rasterize triangles with a depth test, in place.

    Args:
        screen: (V, 3) float32: x, y in pixels (pixel centres at +0.5), z depth (> 0, smaller is nearer).
        faces: (F, 3) int32 vertex indices.
        colors: (V, 3) float32 per-vertex colors, interpolated across each triangle.
        depth: (H, W) float32 depth buffer, updated (start from +inf).
        image: (H, W, 3) float32 color buffer, updated where a triangle is nearest.
    """
    call("raster", screen, faces, colors, depth, image)
