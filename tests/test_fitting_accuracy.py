"""Fitting accuracy where it used to fail (long thin bodies, a real walk's limbs) and the real-asset side of
the fitting evaluation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from vips.fitting.alignment import Similarity
from vips.fitting.alignment import trimmed_rms as _trimmed_rms
from vips.fitting.fit import FitSettings, fit_poses
from vips.fitting.visibility import part_radius
from vips.fitting.body import Body
from vips.fitting.accuracy import pose_errors, summarize, to_ground_truth_world
from vips.fitting.reconstruction import rigged_first_frame, simulate_reconstruction
from vips.rotations import quat_angle, quat_conjugate, quat_multiply

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def snake():
    """A garter snake (about 30 times longer than it is high) idling, first frame as the rest pose."""
    creatures = pytest.importorskip("vips.data.creatures")
    c = creatures.make_creature("garter_snake_02", individual=1)
    rig, poses = rigged_first_frame(c.rig, creatures.motion(c, "idle", 15, seed=15))
    return rig, poses


def _errors(rig, truth, sim, result):
    return summarize(pose_errors(rig, result.poses, truth, to_ground_truth_world(result.alignments, sim.misalignment)))


def test_thin_body_does_not_slide_along_itself(snake):
    """With frames already in one world space, the per-frame rigid ICP used to pull the single-view cloud
    into the whole previous surface and slide the coil along itself: errors of about the snake's whole
    thickness from frame 1 on. Against the part of the previous fit the camera saw, and only when it
    clearly improves the match, the fit stays within a fraction of the thickness (the rig height)."""
    rig, truth = snake
    ext = float(np.ptp(rig.vertices, axis=0).max())
    assert ext > 20 * rig.height()  # the error is in units of a tiny height: a demanding bound
    sim = simulate_reconstruction(rig, truth, seed=15, scale_range=0.0, max_angle_deg=0.0, max_shift=0.0)
    result = fit_poses(rig, sim.clouds, FitSettings(seed=0))
    err = _errors(rig, truth, sim, result)
    assert err["median_position"] < 0.3, err  # 30% of the thickness (was about 90%)
    assert err["median_rotation_deg"] < 3.0, err
    # The metric can fail: the old ICP target (the whole previous surface, no gain test) slides.
    old = fit_poses(rig, sim.clouds, FitSettings(seed=0, icp_target="all", icp_min_gain=10.0))
    assert _errors(rig, truth, sim, old)["median_position"] > err["median_position"]


def test_part_radius_tells_thin_bodies_from_thick_ones(snake):
    creatures = pytest.importorskip("vips.data.creatures")
    human = creatures.make_creature("human_01", individual=0).rig
    r_snake = part_radius(Body(snake[0], 800))
    r_human = part_radius(Body(human, 800))
    assert 0 < r_snake < 0.5 * r_human  # normalized by the largest extent: a snake's parts are thinner


def test_trimmed_rms_is_zero_on_identical_clouds_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 3)).astype(np.float32)
    assert _trimmed_rms(pts, pts, 0.7) < 1e-6
    moved = Similarity(1.0, np.eye(3), np.array([0.3, 0.0, 0.0])).apply(pts)
    assert _trimmed_rms(moved, pts, 0.7) > 0.05


def _eval_module():
    spec = importlib.util.spec_from_file_location("eval_fitting", ROOT / "training" / "eval_fitting.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("eval_fitting", mod)
    spec.loader.exec_module(mod)
    return mod


def test_evaluation_covers_every_animated_asset_and_says_why_others_are_skipped(assets_dir):
    ev = _eval_module()
    usable, skipped = ev.discover_assets(Path(assets_dir))
    names = {p.name for p in usable}
    assert {"CesiumMan.glb", "RiggedSimple.glb", "SimpleSkin.gltf"} <= names
    reasons = {Path(s["asset"]).name: s["reason"] for s in skipped}
    assert "walk.bvh" in reasons and "mesh" in reasons["walk.bvh"]
    assert not names & set(reasons)


def test_short_clips_are_resampled_without_jumps(assets_dir):
    """A clip of a few keyframes becomes a smooth sequence: slerped, played forwards then backwards."""
    ev = _eval_module()
    path = Path(assets_dir) / "usd" / "skinnedArm.usda"
    if not path.exists():
        pytest.skip("skinnedArm.usda not available")
    label, rig, poses = ev._asset_sequence(path, 60)
    assert poses.num_poses == 60 and label.startswith("skinnedArm.usda")
    q = poses.rotations.astype(np.float64)
    step = np.degrees(quat_angle(quat_multiply(quat_conjugate(q[:-1]), q[1:])))
    clip = next(iter(rig.clips.values()))
    total = np.degrees(quat_angle(quat_multiply(quat_conjugate(clip.rotations[0].astype(np.float64)),
                                                clip.rotations[-1].astype(np.float64))))
    assert total.max() > 5  # the clip moves
    assert step.max() <= total.max() / (ev.RESAMPLED_FRAMES - 1) * 1.5 + 1e-3  # and no frame jumps


def test_real_walk_limbs_follow_their_swing(assets_dir):
    """CesiumMan's walk: one strong isotropic pull towards the rest pose held its small, weakly sampled limbs
    back (knees and shoulders reached about half their swing: ~14 degrees median rotation error). With the
    pull split into twist (kept) and a ten times weaker swing, the limbs follow."""
    import warnings

    import vips
    from vips.poses import Poses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(Path(assets_dir) / "gltf" / "CesiumMan.glb")
    clip = next(iter(rig.clips.values()))
    rig, truth = rigged_first_frame(rig, Poses(clip.rotations[:24], clip.root_translation[:24], clip.fps))
    sim = simulate_reconstruction(rig, truth, seed=1000)
    err = _errors(rig, truth, sim, fit_poses(rig, sim.clouds, FitSettings(seed=0)))
    assert err["median_rotation_deg"] < 8.0, err
    assert err["median_position"] < 0.02, err
    # The metric can fail: the former isotropic pull (swing as strong as twist) lags behind.
    old = fit_poses(rig, sim.clouds, FitSettings(seed=0, swing_prior=1e-4))
    assert _errors(rig, truth, sim, old)["median_rotation_deg"] > err["median_rotation_deg"]


def test_point_part_normal_equations_match_finite_differences():
    """The point-to-point rows of the Gauss-Newton step against a float64 finite-difference Jacobian of
    ``x - y`` with ``x`` turned by every joint's subtree weight about the joint and shifted by the root
    translation, ``y`` scaled about ``centre``."""
    import torch

    from vips.fitting.articulated import _point_normal_equations

    rng = np.random.default_rng(3)
    for R, J in ((7, 1), (40, 3), (25, 6)):
        x, y = rng.normal(size=(R, 3)), rng.normal(size=(R, 3))
        joints, centre = rng.normal(size=(J, 3)), rng.normal(size=3)
        sub, w = rng.uniform(size=(R, J)), rng.uniform(0.1, 1.0, size=R)

        def residual(p: np.ndarray) -> np.ndarray:
            omega, t, log_s = p[: 3 * J].reshape(J, 3), p[3 * J : 3 * J + 3], p[-1]
            moved = x + sum(sub[:, [j]] * np.cross(omega[j], x - joints[j]) for j in range(J)) + t
            return (moved - (centre + np.exp(log_s) * (y - centre))).reshape(-1)

        n, eps = 3 * J + 4, 1e-6
        jac = np.stack([(residual(eps * e) - residual(-eps * e)) / (2 * eps) for e in np.eye(n)], 1)
        ww = np.repeat(w, 3)
        t32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        A, g = _point_normal_equations(t32(sub), t32(x), t32(joints), t32(y), t32(centre), t32(w), True)
        ref_A, ref_g = jac.T @ (ww[:, None] * jac), jac.T @ (ww * residual(np.zeros(n)))
        assert np.allclose(A.numpy(), ref_A, rtol=1e-4, atol=1e-4 * np.abs(ref_A).max())
        assert np.allclose(g.numpy(), ref_g, rtol=1e-4, atol=1e-4 * np.abs(ref_g).max())
        A3, _ = _point_normal_equations(t32(sub), t32(x), t32(joints), t32(y), t32(centre), t32(w), False)
        assert np.allclose(A3.numpy(), ref_A[:-1, :-1], rtol=1e-4, atol=1e-4 * np.abs(ref_A).max())


def _real_asset_fit(assets_dir, relative: str, frames: int, seed: int, settings: FitSettings):
    """(rig, truth, sim, result) of a real asset's clip (as the evaluation plays it) under the simulated
    reconstruction with the evaluation's seed for that asset."""
    path = Path(assets_dir) / relative
    if not path.exists():
        pytest.skip(f"{relative} not available")
    _, rig, poses = _eval_module()._asset_sequence(path, frames)
    rig, truth = rigged_first_frame(rig, poses)
    sim = simulate_reconstruction(rig, truth, seed=seed)
    return rig, truth, sim, fit_poses(rig, sim.clouds, settings)


def _alignment_scale_errors(result, sim) -> np.ndarray:
    """(F,) |log| of each frame's estimated-times-true scale: 0 when the frame's scale was recovered."""
    return np.abs(np.log([m.scale for m in to_ground_truth_world(result.alignments, sim.misalignment)]))


def test_symmetric_cylinder_fits_without_running_away(assets_dir):
    """RiggedSimple (a 2-joint cylinder, issue 4): the Gauss-Newton step saw only point-to-plane residuals,
    blind to sliding along the cylinder, turning about it and (with the outliers' pull) the cloud's scale:
    each frame's scale, started from the previous frame's, walked off (2.6 times too large after 20
    frames) and the fit with it (0.71 x height, 74 degrees over 60 frames). Now a frame no start fits well
    is tried with the point part of the distances steering too, which then steers the rest of the
    sequence: every frame keeps its scale and the fit meets the position target. Rotation is
    checked more loosely than the 8 degree target: the cylinder's turn about its own axis shows only
    through the bend, and not at all while it is straight."""
    rig, truth, sim, result = _real_asset_fit(assets_dir, "gltf/RiggedSimple.glb", 20, 1001, FitSettings())
    err = _errors(rig, truth, sim, result)
    assert err["median_position"] <= 0.02, err
    assert err["median_rotation_deg"] <= 12.0, err
    assert _alignment_scale_errors(result, sim).max() < np.log(1.1)
    # The metric can fail: the former solver (plane residuals steer, no bound on the scale) runs away.
    _, _, _, old = _real_asset_fit(assets_dir, "gltf/RiggedSimple.glb", 20, 1001,
                                   FitSettings(point_retry=False, scale_bound=1e9))
    assert _errors(rig, truth, sim, old)["median_rotation_deg"] > 30
    assert _alignment_scale_errors(old, sim).max() > np.log(1.5)


def test_box_arm_scale_stays_bounded_and_recovered(assets_dir):
    """skinnedArm (a 3-joint box four times longer than high, issue 4): its clouds shrank frame after frame
    (to 1/150 of their size by frame 60, joint errors of 150 x the height). Each frame's scale is now
    recovered with the point part of the distances steering the solver (after the first frame no start
    fitted well), and whatever the solver does, no frame's scale leaves
    ``scale_bound`` of the first frame's. Position errors are in heights, a quarter of the arm's length:
    0.2 is 5% of the arm."""
    rig, truth, sim, result = _real_asset_fit(assets_dir, "usd/skinnedArm.usda", 20, 1004, FitSettings())
    err = _errors(rig, truth, sim, result)
    assert err["median_position"] < 0.2, err
    assert err["median_rotation_deg"] < 8.0, err
    assert _alignment_scale_errors(result, sim).max() < np.log(1.25)
    # With plane residuals steering throughout, the bound is what holds the scale ...
    _, _, _, plane_only = _real_asset_fit(assets_dir, "usd/skinnedArm.usda", 20, 1004,
                                          FitSettings(point_retry=False))
    scales = np.array([a.scale for a in plane_only.alignments]) / plane_only.alignments[0].scale
    assert np.all(np.abs(np.log(scales)) <= np.log(FitSettings().scale_bound) + 1e-6)
    # ... and the fit is far worse: the metric can fail.
    assert _errors(rig, truth, sim, plane_only)["median_position"] > 3 * err["median_position"]


def test_sheet_bending_in_its_plane_is_followed(assets_dir):
    """SimpleSkin (a 2-joint sheet of zero thickness, issue 4) bends 85 degrees within its own plane, which
    point-to-plane residuals cannot see: at the default plane weight the fit lagged and turned the whole
    sheet instead (about 18 degrees median rotation error over these frames). A sheet weighs its point
    part up (``flat_plane_weight``). Its position error (0.03 of the height over these frames, 0.05 over
    60) is still above the 2% target: the sheet has ten vertices and the clouds resolve its outline only
    coarsely."""
    rig, truth, sim, result = _real_asset_fit(assets_dir, "gltf/SimpleSkin.gltf", 20, 1002, FitSettings())
    err = _errors(rig, truth, sim, result)
    assert err["median_rotation_deg"] <= 8.0, err
    assert err["median_position"] < 0.05, err
    assert _alignment_scale_errors(result, sim).max() < np.log(1.2)
    # The metric can fail: the sheet at the default plane weight.
    _, _, _, old = _real_asset_fit(assets_dir, "gltf/SimpleSkin.gltf", 20, 1002,
                                   FitSettings(flat_plane_weight=0.95))
    assert _errors(rig, truth, sim, old)["median_rotation_deg"] > 12.0
