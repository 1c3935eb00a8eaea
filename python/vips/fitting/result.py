"""What the fitting pipeline returns (:func:`vips.fitting.fit.fit_poses`); numpy, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vips.fitting.alignment import Similarity
from vips.poses import Poses


@dataclass
class FitResult:
    """What :func:`vips.fitting.fit.fit_poses` returns; unpacks as ``poses, errors = fit_poses(...)``.

    Attributes:
        poses: F fitted poses (deltas from the rest pose, root offset in asset units).
        errors: (F,) float32 fit error per frame: RMS of the closest 90% of cloud-to-model distances, as a
            fraction of the rig height (NaN for frames that could not be fitted).
        alignments: F similarities taking each input frame into the rig's world space.
        failed: indices of frames that could not be fitted (too few points); their pose repeats a neighbour.
        coverage: (F,) the smaller of the fraction of the model surface the frame's camera sees that has frame
            points within ``coverage_radius`` (3% of the body's largest extent) and the fraction of the
            frame's points with model surface that close, capped by the first fitted frame's (near 1 for a
            good fit; low for a rig that does not match the frames; NaN for frames not fitted).
    """

    poses: Poses
    errors: np.ndarray
    alignments: list[Similarity]
    failed: list[int] = field(default_factory=list)
    coverage: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __iter__(self):  # noqa: ANN204 - tuple-style unpacking
        return iter((self.poses, self.errors))
