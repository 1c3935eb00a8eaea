"""Points to fit from one frame mesh (reading frame files is :mod:`vips.io.frames`)."""

from __future__ import annotations

import numpy as np


def frame_points(vertices: np.ndarray, faces: np.ndarray, count: int = 3000, seed: int = 0) -> np.ndarray:
    """(count, 3) float32 points spread uniformly over a frame's surface (area-weighted), or its vertices
    (subsampled to ``count``) when it has no faces."""
    rng = np.random.default_rng(seed)
    if len(faces) == 0:
        if len(vertices) <= count:
            return vertices.astype(np.float32)
        return vertices[rng.choice(len(vertices), count, replace=False)].astype(np.float32)
    from vips.fitting.surface import sample_surface

    face, bary = sample_surface(vertices.astype(np.float64), faces, count, rng)
    return (vertices[faces[face]] * bary[:, :, None]).sum(1).astype(np.float32)
