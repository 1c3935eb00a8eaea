"""The files a batch writes for one asset, into its (staging) output folder.

======================  ==========================================================================
``poses.usda``          UsdSkel pose set (pose k at time code k) with ``VipsPoseSetAPI`` filled in
``poses.glb``           the rig with the poses as one animation (one keyframe per pose), scores in extras
``keyframes/``          keyframe proxy renders (``frame_NNNN.png`` per pose) and ``keyframes.json``
``thumbnail.png``       the most plausible pose, for the report
======================  ==========================================================================

The writers themselves live in :mod:`vips.export` and :mod:`vips.io`; this module only decides names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vips.batch.jobs import BatchSettings
    from vips.poses import Poses
    from vips.rig import Rig

USD_FILE = "poses.usda"
GLB_FILE = "poses.glb"
KEYFRAMES_DIR = "keyframes"
THUMBNAIL = "thumbnail.png"


def write_outputs(rig: "Rig", poses: "Poses", scores: np.ndarray, plausible: np.ndarray, seed: int, folder: Path,
                  settings: "BatchSettings", space: Any) -> None:
    """Write every format of ``settings.formats`` and the thumbnail into ``folder``.

    Args:
        poses: F sampled poses; scores (F,) float; plausible (F,) bool; seed: the sampling seed (all F poses
            come from one seeded draw, so each pose records that seed).
        space: the :class:`vips.posespace.PoseSpace` that made them (its model id and threshold are recorded).
    """
    from vips.io.pose_set import write_pose_set

    meta = {"scores": scores, "plausible": plausible, "seeds": np.full(len(poses), seed, np.int64),
            "kind": "samples", "model_id": space.model_id or settings.model_id, "threshold": space.threshold}
    if "usd" in settings.formats:
        write_pose_set(rig, folder / USD_FILE, poses, **meta)
    if "glb" in settings.formats:
        # The same writer: the glb also carries the scores (in the animation's extras).
        write_pose_set(rig, folder / GLB_FILE, poses, **meta)
    if "keyframes" in settings.formats:
        from vips.export.keyframes import write_keyframes

        size = (settings.keyframe_size, settings.keyframe_size)
        write_keyframes(rig, poses, folder / KEYFRAMES_DIR, size=size, scores=scores, plausible=plausible)
    write_thumbnail(rig, poses, scores, folder / THUMBNAIL, settings.thumbnail)


def write_thumbnail(rig: "Rig", poses: "Poses", scores: np.ndarray, path: Path, size: int) -> None:
    """Render the highest-scoring pose to ``path`` (PNG, ``size`` x ``size``), atomically."""
    from vips.io.atomic import atomic_path
    from vips.render import render_pose

    best = int(np.argmax(scores)) if len(scores) else 0
    image = render_pose(rig, poses[best], size=(size, size))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
