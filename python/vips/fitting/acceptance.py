"""Which fitted frames to keep, and whether the rig matches the frames at all (numpy only).

A fit always returns a pose per frame; this decides what they are worth. Errors are fractions of the rig
height (:attr:`vips.fitting.result.FitResult.errors`), coverages fractions of the surface
(:attr:`~vips.fitting.result.FitResult.coverage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vips.fitting.result import FitResult

#: A sequence whose median frame fits worse than this (fraction of the rig height) is not of this rig.
MISMATCH_ERROR = 0.05
#: A frame fitting worse than max(FRAME_ERROR, 3 x the median) is reported as failed and left out.
FRAME_ERROR = 0.04
#: Below this fraction of the (visible) model surface explained by frame points, a frame did not fit.
MIN_COVERAGE = 0.5


@dataclass
class FitReport:
    """The verdict on one fitted sequence.

    Attributes:
        frames: frames in the sequence (fitted or not).
        keep: indices into the fit's frames (its ``poses``, ``errors``) of the frames kept, in order.
        kept: one ``{"frame": i, "file": name, "fit_error": e}`` per kept frame (same order as ``keep``; the
            error a fraction of the rig height).
        failed: one ``{"frame": i, "file": name, "reason": ...}`` per frame left out (unreadable ones
            included), ordered by frame.
        median_error: median fit error of the fitted frames (fraction of the rig height; inf if none).
        median_coverage: median coverage of the fitted frames (0 if none).
        mismatch: why the rig does not match the frames (one clause, for a message); None when it does.
    """

    frames: int
    keep: list[int] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    median_error: float = float("inf")
    median_coverage: float = 0.0
    mismatch: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the rig matches the frames and at least one frame was kept."""
        return self.mismatch is None and bool(self.keep)


def judge_fit(result: "FitResult", fitted: Sequence[int], names: Sequence[str],
              unread: Sequence[dict] = ()) -> FitReport:
    """Judge a fit: the rig must match the frames (median coverage at least :data:`MIN_COVERAGE`, median error
    at most :data:`MISMATCH_ERROR`), and a frame is kept when it was fitted, its coverage is at least
    :data:`MIN_COVERAGE` and its error at most max(:data:`FRAME_ERROR`, 3 x the median).

    Args:
        result: the fit of the frames that could be read (``fit_poses(rig, clouds)``).
        fitted: the sequence index of each of ``result``'s frames.
        names: the file name of every frame of the sequence (for the report).
        unread: ``{"frame", "file", "reason"}`` of the frames that could not be read (reported as failed).
    """
    errors, coverage = result.errors, result.coverage
    finite = np.isfinite(errors)
    median = float(np.median(errors[finite])) if finite.any() else float("inf")
    median_cov = float(np.nanmedian(coverage)) if np.isfinite(coverage).any() else 0.0
    report = FitReport(frames=len(names), failed=list(unread), median_error=median, median_coverage=median_cov)
    if median_cov < MIN_COVERAGE:
        report.mismatch = (f"the frames explain only {100 * median_cov:.0f}% of the rig's surface (a matching "
                           "rig: ~100%)")
    elif median > MISMATCH_ERROR:
        report.mismatch = (f"the median frame fits to within {100 * median:.1f}% of the rig height (a matching "
                           "rig fits to ~1%)")
    if report.mismatch is not None:
        return report
    limit = max(FRAME_ERROR, 3 * median)
    for k, i in enumerate(fitted):
        reason = None
        if k in result.failed or not np.isfinite(errors[k]):
            reason = "too few points to fit"
        elif coverage[k] < MIN_COVERAGE:
            reason = f"only {100 * coverage[k]:.0f}% of the rig's surface matches the frame"
        elif errors[k] > limit:
            reason = f"fit error {100 * errors[k]:.1f}% of the rig height (limit {100 * limit:.1f}%)"
        if reason is None:
            report.keep.append(k)
            report.kept.append({"frame": int(i), "file": names[i], "fit_error": float(errors[k])})
        else:
            report.failed.append({"frame": int(i), "file": names[i], "reason": reason})
    report.failed.sort(key=lambda f: f["frame"])
    return report
