"""Pictures of a pose space: a contact sheet of poses and a 2D map with implausible poses in red."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vips.io.atomic import atomic_path

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

REFERENCE_COLOR = (170, 170, 170)
PLAUSIBLE_COLOR = (40, 110, 220)
IMPLAUSIBLE_COLOR = (220, 30, 30)


def write_contact_sheet(rig: "Rig", poses: "Poses", path: str | os.PathLike[str], scores=None, plausible=None,
                        columns: int = 8, cell: int = 192) -> Path:  # noqa: ANN001
    """A PNG grid of every pose (one camera), labelled with its index and score; implausible poses tinted red."""
    from vips.render import contact_sheet

    labels = [f"{i}" + ("" if scores is None else f"  {float(scores[i]):.3g}") for i in range(len(poses))]
    invalid = None if plausible is None else ~np.asarray(plausible, bool)
    sheet = contact_sheet(rig, poses, columns=min(columns, max(1, len(poses))), cell=cell, labels=labels,
                          invalid=invalid)
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def write_pose_map(rig: "Rig", poses: "Poses", plausible, path: str | os.PathLike[str],
                   reference: "Poses | None" = None, title: str = "pose space") -> Path:  # noqa: ANN001
    """A 2D map of the pose space (PCA of root-relative joint positions, heading removed): reference poses in
    grey, plausible poses in blue, implausible ones in red. The axes are fitted on ``reference`` when given."""
    from vips.evaluation.metrics import pose_features
    from vips.evaluation.plots import pca_2d, scatter_map

    feats = pose_features(rig, poses).reshape(len(poses), -1)
    ref = None if reference is None else pose_features(rig, reference).reshape(len(reference), -1)
    ok = np.asarray(plausible, bool)
    if ref is not None:
        ref2, pts = pca_2d(ref, feats)
    else:
        pts = pca_2d(feats)[0]
        ref2 = np.zeros((0, 2))
    layers = []
    if ref is not None:
        layers.append(("reference poses", ref2, REFERENCE_COLOR))
    layers += [("plausible", pts[ok], PLAUSIBLE_COLOR), ("implausible", pts[~ok], IMPLAUSIBLE_COLOR)]
    path = Path(path)
    with atomic_path(path) as tmp:
        scatter_map(tmp, layers, title)
    return path
