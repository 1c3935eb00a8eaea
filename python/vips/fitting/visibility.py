"""What the frame's camera sees, and the size of the body's parts that tolerances scale with.

A single-view reconstruction shows one side of the body. The model -> cloud distances count only the model
samples a camera placed where the frame's points face would see, so the unseen back is not pulled onto the
front. Normalized units throughout (fractions of :attr:`vips.fitting.body.Body.height`).
"""

from __future__ import annotations

import numpy as np
import torch

from vips.fitting.body import Body
from vips.fitting.params import rest_params


def part_radius(body: Body, quantile: float = 0.25) -> float:
    """Typical radius of the body's parts (normalized units): a low quantile of the distance from the rest
    surface samples to the nearest bone segment.

    Tolerances that must resolve one part from another (visibility depth, the narrow robust kernel) scale
    with it: for a snake or a stick insect it is a few times smaller than for a human of the same size.
    """
    with torch.no_grad():
        rot, root = rest_params(body)
        wr, wt = body.forward_kinematics(rot[None], root[None])
        pts = body.surface_and_edges(body.skin(wr, wt))[0][0].double().numpy()
    joints = wt[0].double().numpy()
    child = np.nonzero(body.parents >= 0)[0]
    if len(child) == 0:
        return 0.05
    a, b = joints[body.parents[child]], joints[child]
    ab = b - a
    t = ((pts[:, None] - a[None]) * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)[None]
    q = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]
    d = np.linalg.norm(pts[:, None] - q, axis=-1).min(1)
    return float(np.clip(np.quantile(d, quantile), 1e-3, 0.05))


def estimate_visibility(
    model: np.ndarray, normals: np.ndarray, cloud: np.ndarray, nearest_model: np.ndarray, sigma: float,
    tolerance: float = 0.04, resolution: int = 48,
) -> torch.Tensor:
    """(M,) bool: the model samples a camera sees, the camera being where the frame's points face.

    The view direction is the mean normal of the model samples nearest to well-matched cloud points; a
    cloud covering the whole body (mean normal near zero, as for complete reconstructed meshes) keeps every
    sample. ``tolerance`` (depth, normalized units) and ``resolution`` (pixels across the body) must
    resolve one part lying over another: about a part radius for thin bodies.
    """
    from vips.fitting.reconstruction import visible_mask

    M = len(model)
    d2 = ((cloud - model[nearest_model]) ** 2).sum(-1)
    good = d2 < (3 * sigma) ** 2
    if good.sum() < 10:
        return torch.ones(M, dtype=torch.bool)
    mean_n = normals[nearest_model[good]].mean(0)
    if np.linalg.norm(mean_n) < 0.25:
        return torch.ones(M, dtype=torch.bool)
    view = (mean_n / np.linalg.norm(mean_n)).astype(np.float64)
    pts = model.astype(np.float64)
    centre = 0.5 * (pts.min(0) + pts.max(0))
    vis = visible_mask(pts, normals.astype(np.float64), centre + 10 * view, centre, resolution=resolution,
                       tolerance=tolerance)
    return torch.from_numpy(vis) if vis.sum() >= 10 else torch.ones(M, dtype=torch.bool)
