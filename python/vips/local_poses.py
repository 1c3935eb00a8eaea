"""Poses from the full local transforms that files store: the readers' side of :mod:`vips.kinematics`.

A pose is stored as deltas from the rest pose (see :class:`vips.Poses`) with only the root translating; files
(USD, glTF, BVH) store each joint's full local rotation and translation. Where the body stands is kept: the
translation of the joints above and at the body root (:mod:`vips.body`) moves into the root's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips import native
from vips.body import above_body, body_root
from vips.poses import Poses
from vips.rotations import quat_conjugate, quat_multiply, quat_normalize

if TYPE_CHECKING:
    from vips.rig import Rig

# Non-root translations that move further than this fraction of the rig's height from the rest pose
# cannot be represented (bone lengths are fixed by the rig) and are reported when a clip is read.
TRANSLATION_TOLERANCE = 1e-4


def poses_from_local(
    rig: "Rig", rotations: np.ndarray, translations: np.ndarray | None, fps: float = 30.0, name: str = "clip"
) -> tuple[Poses, list[str]]:
    """Poses from full local rotations (F, J, 4) and translations (F, J, 3) (None keeps the rest translations).

    Bone lengths are fixed by the rig, so only the root translates; but where the body stands is kept: when
    joints between the root and the body root (:func:`vips.body.body_root`: the pelvis below a ground or control
    bone) translate, as the hips of most game rigs do, the root's translation takes up their motion so the body
    root lands where the clip puts it.

    Returns the poses and a list of notes on what the poses could not represent: other translated joints (the
    readers keep those in the clip's full channels, :mod:`vips.io.channels`, so conversion does not lose them).
    """
    rotations = np.asarray(rotations, np.float64)
    delta = quat_normalize(quat_multiply(quat_conjugate(rig.rest_rotations.astype(np.float64))[None], rotations))
    notes: list[str] = []
    F = rotations.shape[0]
    root = np.zeros((F, 3))
    if translations is not None:
        translations = np.asarray(translations, np.float64)
        root = translations[:, 0] - rig.rest_translations[0]
        drift = np.linalg.norm(translations[:, 1:] - rig.rest_translations[None, 1:], axis=-1)
        tolerance = TRANSLATION_TOLERANCE * rig.height()
        if drift.size and drift.max() > tolerance:
            root, kept = _body_translation(rig, rotations, translations)
            drift[:, kept[1:]] = 0.0
        if drift.size and drift.max() > tolerance:
            j = int(np.argmax(drift.max(axis=0))) + 1
            notes.append(
                f"clip '{name}' translates non-root joints (up to {drift.max():.4g} units at joint "
                f"'{rig.joint_names[j]}'); the pose model keeps bone lengths fixed, so its poses leave those "
                "translations out (file conversion keeps them)"
            )
    return Poses(delta.astype(np.float32), root.astype(np.float32), fps, name), notes


def _body_translation(rig: "Rig", rotations: np.ndarray, translations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The root translation (F, 3) that puts the body root where full local transforms put it, and (J,) bool
    the joints whose translations it accounts for (the root, the joints above the body root and the body root)."""
    b = body_root(rig)
    kept = above_body(rig.parents, b)
    kept[[0, b]] = True
    rot32 = np.ascontiguousarray(rotations, np.float32)
    full = native.fk(rot32, np.ascontiguousarray(translations, np.float32), rig.parents)[:, b, :3, 3]
    fixed_trans = np.repeat(rig.rest_translations[None], len(rotations), axis=0)
    fixed = native.fk(rot32, np.ascontiguousarray(fixed_trans), rig.parents)[:, b, :3, 3]
    return full.astype(np.float64) - fixed, kept
