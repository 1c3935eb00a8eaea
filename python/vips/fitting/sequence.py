"""The frame-by-frame schedule of :func:`vips.fitting.fit.fit_poses` (torch): set-up, the first frame, every
later frame's alignment and starts, retries, then the fit error of every frame.

The first fitted frame is fitted from the rest pose, coarse to fine (root only first, then every joint; wide
to narrow kernel). Every later frame starts from the previous fit (constant-velocity extrapolation) moved by
a similarity ICP step against the part of the previous fitted surface its camera saw; a frame that fits
clearly worse than its predecessors, or leaves part of the visible body unexplained, is retried from other
starts and the best is kept. Lengths are in normalized units (fractions of :attr:`Body.height`) unless named
asset units.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from vips.errors import PoseError
from vips.fitting.alignment import Similarity, initial_alignment, similarity_icp, spread, trimmed_rms
from vips.fitting.articulated import ArticulatedICP
from vips.fitting.body import Body
from vips.fitting.nn import nearest, nearest_single
from vips.fitting.params import model_points, move_root, poses_from_params, rest_params
from vips.fitting.refine import BatchProblem, Frames
from vips.fitting.result import FitResult
from vips.fitting.settings import FitSettings, ProgressFn
from vips.fitting.visibility import estimate_visibility, part_radius

if TYPE_CHECKING:
    from vips.rig import Rig

#: A start is (J, 6) rotations, a (3,) root offset and optionally a log scale of the frame's alignment.
Start = tuple


def _subsample(cloud: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if len(cloud) <= count:
        return cloud
    return cloud[rng.choice(len(cloud), count, replace=False)]


class SequenceFit:
    """One sequence being fitted: the frames' clouds, and per frame its alignment (frame -> asset space), its
    pose parameters and coverage as they are found."""

    def __init__(self, rig: "Rig", frames: list[np.ndarray], settings: FitSettings,
                 alignments: list[Similarity] | None) -> None:
        s = self.s = settings
        F = len(frames)
        if F == 0:
            raise PoseError("fit_poses: no frames to fit")
        self.alignments = alignments
        body = self.body = Body(rig, s.num_samples, s.seed)
        rng = np.random.default_rng(s.seed)
        # Thin bodies (snakes, stick legs, flat fish) need tolerances of their parts' size, not the body's.
        detail = part_radius(body) if s.thin_adapt else 0.05
        self.sigma_end = min(s.sigma_end, max(detail, 0.3 * s.sigma_end))
        self.vis_tol, self.vis_res = min(0.04, max(detail, 0.005)), int(np.clip(1.0 / detail, 48, 128))
        # A sheet (a mesh of zero thickness) moves mostly within its own plane, where point-to-plane residuals
        # see nothing, so its point part is weighed up (at the default plane weight the fit lagged behind a
        # sheet bending within its plane and turned the whole sheet instead).
        extent = np.ptp(rig.vertices, axis=0)
        flat = extent.min() <= 1e-6 * extent.max()
        self.plane_weight = min(s.plane_weight, s.flat_plane_weight) if flat else s.plane_weight
        self.raw = [_subsample(np.asarray(c, np.float64).reshape(-1, 3), s.max_points, rng) for c in frames]
        self.failed = [f for f, c in enumerate(self.raw) if len(c) < s.min_points or not np.isfinite(c).all()]
        self.good = [f for f in range(F) if f not in self.failed]
        if not self.good:
            raise PoseError(f"fit_poses: none of the {F} frames has {s.min_points} or more finite points")
        self.sims: list[Similarity | None] = [None] * F
        self.rots = torch.zeros(F, body.num_joints, 6)
        self.roots = torch.zeros(F, 3)
        self.rest_rot, self.rest_root = rest_params(body)
        self.recent: list[float] = []  # fit errors of the frames fitted so far
        self.coverage = np.full(F, np.nan)
        self.gauge: float | None = None  # the first fitted frame's alignment scale, once it is known
        self.point_mode = flat  # whether the point part steers every attempt (see fit_frame)

    def run(self, progress: ProgressFn | None, fps: float) -> FitResult:
        """Fit every frame in order; failed frames repeat the nearest fitted neighbour."""
        s, good = self.s, self.good
        report = progress or (lambda stage, done, total: None)
        f0 = good[0]
        fit_scale = self.align_first(f0)
        self.fit_frame(f0, [(self.rest_rot, self.rest_root)], s.first_iterations, s.sigma_first,
                       s.first_iterations // 5, fit_scale)
        self.gauge = self.sims[f0].scale
        report("fit", 1, len(good))
        for k, f in enumerate(good[1:], start=1):
            rigid = self.align_next(f, good[k - 1])
            self.fit_frame(f, self.starts(k, f, rigid), s.frame_iterations, s.sigma_start, s.rigid_iterations)
            report("fit", k + 1, len(good))
        errors = self.measure(report)
        # The rig is the rigged first frame: if it does not explain the first frame, later frames that a
        # contorted rig happens to cover are no evidence that it matches (a rig of another body can be bent
        # to cover later frames well), so no frame reports more than the first.
        coverage = np.minimum(self.coverage, self.coverage[f0])
        # Failed frames repeat the nearest fitted neighbour so the sequence stays complete; callers drop them.
        for f in self.failed:
            src = min(good, key=lambda g: abs(g - f))
            self.rots[f], self.roots[f], self.sims[f] = self.rots[src], self.roots[src], Similarity()
        poses = poses_from_params(self.body, self.rots, self.roots, fps, "fitted")
        return FitResult(poses, errors.astype(np.float32), self.sims, self.failed, coverage)  # type: ignore[arg-type]

    def cloud(self, f: int) -> np.ndarray:
        """(N, 3) frame ``f``'s points, aligned, in normalized units."""
        return self.body.to_normalized(self.sims[f].apply(self.raw[f]))

    def align_first(self, f0: int) -> bool:
        """Align the first fitted frame to the rest surface; whether its scale may be fitted."""
        s, body = self.s, self.body
        if self.alignments is not None:
            self.sims[f0] = self.alignments[f0]
            return True
        rest_pts = model_points(body, self.rest_rot, self.rest_root)
        raw = self.raw[f0]
        if s.first_frame_search_deg > 0:
            self.sims[f0] = initial_alignment(raw, rest_pts, s.first_frame_search_deg, trim=s.icp_trim)[0]
            return True
        self.sims[f0] = similarity_icp(raw, rest_pts, Similarity(), trim=s.icp_trim)[0]

        # The rig is the rigged first frame, so its frame is usually already in place. ICP of one view
        # against the whole surface is biased (a half cylinder shrinks into the full one, turns about its
        # axis), so the identity is kept unless ICP clearly improves the match (compared in the frame's own
        # units: shrinking a cloud shortens every distance).
        def one_way(sim: Similarity) -> float:
            d, _ = nearest_single(body.to_normalized(sim.apply(raw)), body.to_normalized(rest_pts))
            return float(np.sqrt(d[d <= np.quantile(d, s.icp_trim)].mean())) / sim.scale

        if one_way(self.sims[f0]) > s.icp_min_gain * one_way(Similarity()):
            self.sims[f0] = Similarity()
            # ... and so is its scale: bone lengths fix it, but on a single view of a round part (a
            # cylinder) the solver can trade scale for a turn about the axis and run off.
            return False
        return True

    def visible_model(self, f: int) -> np.ndarray:
        """(m, 3) asset-space model samples of fitted frame ``f`` that its camera saw."""
        body = self.body
        with torch.no_grad():
            wr, wt = body.forward_kinematics(self.rots[f][None], self.roots[f][None])
            pts, normals, _ = body.surface_and_edges(body.skin(wr, wt))
        cloud = self.cloud(f)
        _, i_cm = nearest(cloud[None], pts)
        vis = estimate_visibility(pts[0].numpy(), normals[0].numpy(), cloud, np.maximum(i_cm[0], 0),
                                  self.sigma_end, self.vis_tol, self.vis_res)
        return body.to_asset(pts[0][vis].numpy())

    def align_next(self, f: int, last: int) -> Similarity | None:
        """Align frame ``f`` like the previous fitted frame ``last``, with its scale corrected by ICP against
        the part of ``last``'s fit its camera saw; the rigid part of that ICP step (normalized units) for the
        root, or None when it is no better start than the previous pose."""
        s, body = self.s, self.body
        if self.alignments is not None:
            self.sims[f] = self.alignments[f]
            return None
        # Frames keep the previous frame's similarity (for frames already in one world space that is the
        # identity, so global motion survives); what is left of a frame's own misalignment is taken up by
        # the root. A rigid ICP against the previous fitted surface gives the root a start when that residual
        # is large.
        self.sims[f] = self.sims[last]
        if s.align != "rigid":
            return None
        # The target is the part of the previous fit its camera saw, matched both ways: a partial view
        # against the whole surface is pulled into the body (by about a part's radius, which for a snake is
        # its whole thickness) and slides along tubes.
        if s.icp_target == "visible":
            target = body.to_normalized(self.visible_model(last))
        else:
            target = body.to_normalized(model_points(body, self.rots[last], self.roots[last]))
        raw = self.raw[f]
        src = body.to_normalized(self.sims[f].apply(raw[:: max(1, len(raw) // 600)]))
        shift = np.median(target, axis=0) - np.median(src, axis=0)
        rigid, rms = similarity_icp(src, target, Similarity(1.0, np.eye(3), shift), iterations=15,
                                    trim=s.icp_trim, with_scale=s.icp_scale, symmetric=s.icp_target == "visible")
        # A step that barely improves the match is ICP sliding along a direction the surface does not pin
        # down (along a tube, about a coil's axis): the previous pose is the better start. A scale beyond
        # what consecutive reconstructions differ by is ICP collapsing or blowing the cloud up onto a part
        # of the surface, not a scale.
        unmoved = trimmed_rms(src, target, s.icp_trim)
        total = abs(math.log(rigid.scale * self.sims[f].scale / self.gauge))
        if (rms > s.icp_min_gain * unmoved or abs(math.log(rigid.scale)) > math.log(1.35)
                or total > math.log(s.scale_bound)):
            return None
        if s.icp_scale and abs(math.log(rigid.scale)) > 1e-3:
            # Scale goes into the frame's alignment (about the cloud's centre), the rigid part into the root.
            cen = np.median(self.sims[f].apply(raw), axis=0)
            self.sims[f] = Similarity.scaling(rigid.scale, cen).compose(self.sims[f])
            rigid = Similarity(1.0, rigid.rotation, rigid.translation - (1 - rigid.scale) * (
                rigid.rotation @ body.to_normalized(cen).astype(np.float64)))
        return rigid

    def starts(self, k: int, f: int, rigid: Similarity | None) -> list[Start]:
        """The starts of the ``k``-th fitted frame ``f``, best guess first: the previous fits extrapolated at
        constant velocity, moved by ICP's ``rigid`` step when there is one; the unmoved previous pose; the
        rest pose at the first start's root; the first start at a spread-ratio scale."""
        s, good = self.s, self.good
        last = good[k - 1]
        rots, roots = self.rots, self.roots
        starts: list[Start] = [(rots[last], roots[last])]
        if k >= 2:
            prev = good[k - 2]
            starts.insert(0, (rots[last] + s.extrapolate * (rots[last] - rots[prev]),
                              roots[last] + s.extrapolate * (roots[last] - roots[prev])))
        if rigid is not None and rigid.rotation_angle() < np.deg2rad(45):
            # ICP's rigid step first; the unmoved previous pose stays a fallback in case ICP slid off.
            starts = [move_root(self.body, r, t, rigid.inverse()) for r, t in starts] + [starts[-1]]
        starts.append((self.rest_rot, starts[0][1]))
        # Last resort for a frame whose scale jumped: the ratio of robust spreads of consecutive frames
        # (views of nearly the same shape) as the starting scale.
        ratio = spread(self.sims[last].apply(self.raw[last])) / max(spread(self.sims[f].apply(self.raw[f])), 1e-12)
        if 0.6 < ratio < 1.6:
            starts.append((starts[0][0], starts[0][1], math.log(ratio)))
        return starts

    def fit_frame(self, f: int, starts: list[Start], iters: int, s0: float, root_only: int,
                  fit_scale: bool = True) -> None:
        """Fit frame ``f`` from the first start; when the result fits clearly worse than recent frames (a limb
        caught on the wrong part of the cloud), retry from the other starts with a wider kernel and keep the
        best."""
        s, body = self.s, self.body
        cloud = self.cloud(f)
        # The frame's total scale stays within ``scale_bound`` of the first fitted frame's (the gauge): each
        # frame starts from its predecessor's scale, so without an absolute bound a small bias per frame
        # compounds over the sequence.
        bounds = (-math.inf, math.inf)
        if self.gauge is not None:
            offset = math.log(self.sims[f].scale / self.gauge)
            bounds = (-math.log(s.scale_bound) - offset, math.log(s.scale_bound) - offset)
        best = None
        # Plane residuals alone steer the step: on curved bodies they pin every direction, and nearest-
        # neighbour pairs along the surface are biased. When no start fits well, one more attempt lets the
        # point part steer too: plane residuals are blind to a box sliding along its faces, to a turn about
        # a cylinder and to the scale of a cloud of flat faces. Once such an attempt wins, the body has
        # shown it needs it, and it steers every later frame; a sheet needs it from the start.
        point_attempt = s.point_retry and not self.point_mode
        attempts = list(starts) + ([starts[0]] if point_attempt else [])
        for attempt, (init_rot, init_root, *log_scale) in enumerate(attempts):
            wide = attempt > 0
            solver = ArticulatedICP(body, cloud, plane_weight=self.plane_weight, rest_prior=s.rest_prior,
                                    visibility=(self.vis_tol, self.vis_res), swing_prior=s.swing_prior)
            solver.point_step = self.point_mode or (point_attempt and attempt == len(attempts) - 1)
            solver.log_scale = float(np.clip(log_scale[0] if log_scale else 0.0, *bounds))
            solver.max_log_scale = math.log(s.max_frame_scale)
            solver.log_scale_bounds = bounds
            r6, rt, scale = solver.run(init_rot, init_root, iters * (2 if wide else 1), s0 * (2 if wide else 1),
                                       self.sigma_end, s.refine_scale and fit_scale, root_only)
            # Errors shrink with the cloud, so attempts are compared in the frame's own scale, and a fit that
            # leaves part of the visible body unexplained is penalized.
            err = solver.error(r6, rt)
            cov = solver.coverage(r6, rt)
            score = err / scale + 0.05 * (1.0 - cov)
            if best is None or score < best[0]:
                best = (score, r6, rt, scale, solver, err, cov)
            limit = max(s.retry_factor * float(np.median(self.recent[-10:])) if self.recent else 0.0, s.retry_floor)
            if err <= limit and cov > 0.95:
                break
        _, r6, rt, scale, solver, err, _ = best
        self.point_mode = self.point_mode or solver.point_step
        # Reported both ways (a rig of something else can be contorted to cover the frame's points, or to be
        # covered by them, more easily than both).
        self.coverage[f] = min(solver.coverage(r6, rt, s.coverage_radius),
                               solver.cloud_coverage(r6, rt, s.coverage_radius))
        self.recent.append(err)
        self.rots[f], self.roots[f] = r6, rt
        cen = body.to_asset(solver.centre.numpy()).astype(np.float64)
        self.sims[f] = Similarity.scaling(scale, cen).compose(self.sims[f])

    def measure(self, report: ProgressFn) -> np.ndarray:
        """(F,) fit errors (NaN for failed frames), after the optional batched refinement of all frames."""
        s, body, order = self.s, self.body, self.good
        errors = np.full(len(self.raw), np.nan)
        prob = BatchProblem(body, Frames([self.cloud(f) for f in order]), self.rots[order], self.roots[order], s)
        if s.refine_iterations <= 0 or len(order) <= 1:
            errors[order] = prob.result()[3]
            return errors
        ticks = [0]

        def tick() -> None:
            ticks[0] += 1
            report("refine", ticks[0], s.refine_iterations)

        prob.optimize(s.refine_iterations, 0, s.sigma_end * 1.5, tick)
        r6, rt, scale, err = prob.result()
        for k, f in enumerate(order):
            self.rots[f], self.roots[f] = r6[k], rt[k]
            cen = body.to_asset(prob.frames.centroid[k].numpy()).astype(np.float64)
            self.sims[f] = Similarity.scaling(float(scale[k]), cen).compose(self.sims[f])
            errors[f] = err[k]
        return errors
