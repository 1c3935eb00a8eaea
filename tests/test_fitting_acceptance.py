"""The acceptance policy of a fit (vips.fitting.acceptance) and the numpy-only parts of vips.fitting."""

from __future__ import annotations

import numpy as np
from optional_deps import run_without

from vips.fitting.acceptance import FRAME_ERROR, MIN_COVERAGE, MISMATCH_ERROR, judge_fit
from vips.fitting.result import FitResult
from vips.poses import Poses


def _result(errors, coverage, failed=()):  # noqa: ANN001, ANN202
    n = len(errors)
    poses = Poses(np.tile(np.array([1, 0, 0, 0], np.float32), (n, 2, 1)), np.zeros((n, 3), np.float32))
    return FitResult(poses, np.asarray(errors, np.float32), [], list(failed), np.asarray(coverage, np.float64))


def test_frames_that_fit_badly_are_left_out_with_a_reason():
    # frames 0..4 of the sequence; frame 2 could not be read, so the fit has 4 frames (0, 1, 3, 4).
    unread = [{"frame": 2, "file": "f2.obj", "reason": "unreadable"}]
    names = [f"f{i}.obj" for i in range(5)]
    result = _result([0.01, 0.5, np.nan, 0.012], [0.9, 0.9, np.nan, 0.2], failed=[2])
    report = judge_fit(result, [0, 1, 3, 4], names, unread)
    assert report.mismatch is None and report.accepted
    assert report.keep == [0] and [(k["frame"], k["file"]) for k in report.kept] == [(0, "f0.obj")]
    assert np.isclose(report.kept[0]["fit_error"], 0.01)
    assert [f["frame"] for f in report.failed] == [1, 2, 3, 4]
    reasons = {f["frame"]: f["reason"] for f in report.failed}
    assert reasons[1].startswith("fit error 50.0% of the rig height (limit")
    assert reasons[3] == "too few points to fit"
    assert reasons[4] == "only 20% of the rig's surface matches the frame"
    assert report.frames == 5 and np.isclose(report.median_error, 0.012)


def test_a_rig_that_does_not_match_is_refused():
    low_coverage = judge_fit(_result([0.01, 0.01], [0.2, 0.3]), [0, 1], ["a", "b"])
    assert low_coverage.mismatch == "the frames explain only 25% of the rig's surface (a matching rig: ~100%)"
    assert not low_coverage.accepted and low_coverage.keep == []
    bad_error = judge_fit(_result([0.2, 0.3], [0.9, 0.9]), [0, 1], ["a", "b"])
    assert bad_error.mismatch.startswith("the median frame fits to within 25.0% of the rig height")
    assert MISMATCH_ERROR > FRAME_ERROR and 0 < MIN_COVERAGE < 1


def test_the_numpy_parts_import_without_torch():
    """validators, metrics, acceptance, alignment, reconstruction and frames are numpy only: they import where
    torch is not installed (``import torch`` fails), and the evaluation finds the self-intersection test."""
    result = run_without(["torch"], (
        "import vips.fitting.validators\n"
        "import vips.fitting.accuracy, vips.fitting.acceptance, vips.fitting.alignment\n"
        "import vips.fitting.reconstruction, vips.fitting.frames, vips.fitting.result, vips.fitting.settings\n"
        "from vips.fitting import JointRanges, judge_fit, self_intersections\n"
        "from vips.evaluation.metrics import default_intersection_detector\n"
        "assert default_intersection_detector() is self_intersections\n"
        "print('ok')\n"))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
