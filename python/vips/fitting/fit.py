"""Chamfer pose fitting: each frame's pose so the skinned rig matches the frame's point cloud.

For every frame we fit each joint's local rotation (a delta from the rest rotation, twist included), the
root translation and a scale correction of the frame's alignment, minimizing (lengths in fractions of the
rest mesh's largest extent, see :class:`vips.fitting.body.Body`; tolerances that must resolve one part from
another shrink with the parts' radius, :func:`part_radius`, so snakes and stick legs are fitted as finely
as a human's limbs):

* Chamfer in both directions with robust Geman-McClure weights, annealed from a wide to a narrow kernel.
  Distances are mostly point-to-plane on the model's face normals (the model is sampled on its surface).
  Cloud -> model counts every frame point; model -> cloud counts only the model samples a camera placed
  where the frame's points face would see (:func:`estimate_visibility`), so the unseen back of the body
  is not pulled onto the front. Nearest neighbours come from the native kernel at every iteration.
* a weak pull of every joint towards its rest rotation (directions a single view does not constrain,
  such as hidden limbs or twist, do not drift): ``rest_prior`` on twist about a joint's bone axis and on
  joints without one, a ten times weaker ``swing_prior`` across it. One strong isotropic pull held small,
  weakly sampled limbs back from following the motion (CesiumMan's knees and shoulders reached about half
  their true swing: 14 degrees median rotation error, now about 5).

The solver is articulated ICP (:mod:`vips.fitting.articulated`): Gauss-Newton steps with the skinning
Jacobian in closed form, because gradient descent on the same energy (Adam on 6D rotations) is too slow on
weakly observed directions to keep up with motion and accumulated drift in our tests.

Schedule: the first frame is fitted from the rest pose, coarse to fine (root only first, then every joint;
wide to narrow kernel). Every later frame starts from the previous fit (constant-velocity extrapolation)
moved by a similarity ICP step against the part of the previous fitted surface its camera saw (matched
both ways; the scale goes into the frame's alignment, the rigid part into the root). The step is taken only
when it clearly improves the match (``icp_min_gain``): against the whole surface, or taken always, ICP of a
single view pulled the cloud into the body and slid tubes along themselves, which cost long thin bodies
(snakes, worms) about their whole thickness per frame. A frame that fits clearly worse than its
predecessors, or leaves part of the visible body unexplained, is retried from other starts (no
extrapolation, the unmoved previous pose, the rest pose, a spread-ratio scale) and the best is kept.
Each frame's scale is bounded relative to the first frame's (``scale_bound``): per-frame reconstructions
differ in scale by a bounded factor, and a frame starts from its predecessor's scale, so a small bias per
frame would otherwise compound over the sequence. Plane residuals steer the solver; bodies they cannot
pin (boxes, cylinders, sheets: motion along a flat face or about an axis of symmetry) are found by a
frame no start fits well, and from then on the point part of the distances steers too.

An optional batched refinement (``refine_iterations`` > 0) optimizes all frames at once in torch (Adam
on 6D rotations, Chamfer plus mesh edge-length regularization and joint-acceleration smoothness). It is off
by default: in our evaluation it made results worse (it lets the per-frame scale drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from vips.errors import PoseError
from vips.fitting.alignment import Similarity, initial_alignment, similarity_icp
from vips.fitting.body import Body, rot6d_to_matrix_torch
from vips.fitting.nn import nearest, nearest_single
from vips.poses import Poses
from vips.rotations import matrix_to_quat, quat_to_rot6d

if TYPE_CHECKING:
    from vips.rig import Rig

ProgressFn = Callable[[str, int, int], None]


@dataclass
class FitSettings:
    """Knobs of :func:`fit_poses` (defaults are what the evaluation uses).

    Lengths (``sigma_*``, ``retry_floor``) are fractions of the rest mesh's largest extent.
    ``first_iterations`` / ``frame_iterations`` are Gauss-Newton steps for the first and every later frame;
    ``align`` is "rigid" (an ICP step against the previous fitted surface starts each frame) or "none"
    (frames keep the previous frame's alignment); ``icp_target`` is "visible" (the part of the previous fit
    its camera saw, matched both ways) or "all" (the whole surface, the former behaviour), ``icp_scale``
    lets that step correct the frame's scale and ``icp_min_gain`` is the ratio of ICP's trimmed RMS to the
    unmoved one below which the step is taken. ``rest_prior`` / ``swing_prior`` weigh the pull towards the
    rest pose on twist / swing (see the module notes); ``thin_adapt`` narrows the final kernel and the
    visibility test to the body's part radius; ``max_frame_scale`` bounds the scale the solver may give a
    frame on top of the scale it starts from, ``scale_bound`` the frame's whole scale relative to the first
    fitted frame's (per-frame reconstructions differ in scale by a bounded factor: 1.15 in our simulation,
    so two frames by at most 1.15^2 = 1.32; raise it for frames each normalized to a unit box);
    ``plane_weight`` is the point-to-plane share of the squared distances (the rest is point-to-point;
    ``flat_plane_weight`` replaces it for a sheet, a mesh of zero thickness); ``point_retry`` lets a frame
    no start fits well try once more with the point part steering the solver (see ``fit_one``);
    ``coverage_radius`` is the distance :attr:`FitResult.coverage` counts within.
    ``refine_iterations``, ``lr_*``, ``w_*`` and ``refine_scale`` drive the optional batched torch
    refinement (see the module notes).
    """

    num_samples: int = 2000
    max_points: int = 1200
    first_iterations: int = 40
    frame_iterations: int = 10
    extrapolate: float = 1.0
    rigid_iterations: int = 3
    rest_prior: float = 1e-4
    swing_prior: float = 1e-5
    retry_factor: float = 1.5
    retry_floor: float = 0.006
    align: str = "rigid"
    refine_iterations: int = 0
    lr_rotation: float = 0.03
    lr_translation: float = 0.01
    lr_scale: float = 0.01
    sigma_first: float = 0.1
    sigma_start: float = 0.06
    sigma_end: float = 0.03
    plane_weight: float = 0.95
    flat_plane_weight: float = 0.5
    thin_adapt: bool = True
    icp_target: str = "visible"
    icp_min_gain: float = 0.8
    coverage_radius: float = 0.03
    max_frame_scale: float = 1.5
    scale_bound: float = 1.5
    point_retry: bool = True
    icp_scale: bool = True
    w_cloud_to_model: float = 1.0
    w_model_to_cloud: float = 0.5
    w_edge: float = 0.0005
    w_smooth: float = 0.2
    w_prior: float = 1e-5
    refine_scale: bool = True
    first_frame_search_deg: float = 0.0
    icp_trim: float = 0.7
    min_points: int = 20
    seed: int = 0


@dataclass
class FitResult:
    """What :func:`fit_poses` returns; unpacks as ``poses, errors = fit_poses(...)``.

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


def geman_mcclure(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    """Robust penalty on squared distances: ~d2 for d << sigma, saturating at sigma^2."""
    s2 = sigma * sigma
    return s2 * d2 / (d2 + s2)


class _Frames:
    """Clouds of a batch in normalized coordinates, padded: (B, N, 3) plus (B,) lengths and centroids."""

    def __init__(self, clouds: list[np.ndarray]) -> None:
        n = max(max(len(c) for c in clouds), 1)
        pad = np.zeros((len(clouds), n, 3), np.float32)
        mask = np.zeros((len(clouds), n), bool)
        for i, c in enumerate(clouds):
            pad[i, : len(c)] = c
            mask[i, : len(c)] = True
        self.points = torch.tensor(pad)
        self.mask = torch.tensor(mask)
        self.lengths = torch.tensor([len(c) for c in clouds], dtype=torch.long)
        cen = [np.median(c, axis=0) if len(c) else np.zeros(3) for c in clouds]
        self.centroid = torch.tensor(np.asarray(cen, np.float32))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    return (values * m).sum(-1) / m.sum(-1).clamp_min(1)


class _Adam:
    """Adam (Kingma & Ba) on a few tensors, one learning rate each.

    Ours rather than torch.optim's because importing torch.optim pulls in torch._dynamo (seconds at start-up,
    which every ``vips fit`` run and test would pay).
    """

    def __init__(self, params: list[torch.Tensor], lrs: list[float], betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params, self.lrs, self.betas = params, lrs, betas
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, lr_factor: float = 1.0) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, lr, m, v in zip(self.params, self.lrs, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p.sub_(lr * lr_factor * m_hat / (v_hat.sqrt() + 1e-8))


def part_radius(body: Body, quantile: float = 0.25) -> float:
    """Typical radius of the body's parts (normalized units): a low quantile of the distance from the rest
    surface samples to the nearest bone segment.

    Tolerances that must resolve one part from another (visibility depth, the narrow robust kernel) scale
    with it: for a snake or a stick insect it is a few times smaller than for a human of the same size.
    """
    with torch.no_grad():
        rot, root = _rest_params(body)
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


class _Problem:
    """One batched optimization over B frames of the same rig."""

    def __init__(
        self,
        body: Body,
        frames: _Frames,
        init6d: torch.Tensor,
        init_root: torch.Tensor,
        settings: FitSettings,
        context_joints: torch.Tensor | None = None,
    ) -> None:
        self.body, self.frames, self.s = body, frames, settings
        self.rot = init6d.clone().requires_grad_(True)
        self.root = init_root.clone().requires_grad_(True)
        self.log_scale = torch.zeros(init6d.shape[0], requires_grad=True)
        self.init6d = init6d.clone()
        self.context = context_joints  # (C, J, 3) fixed joints of the frames just before the batch
        self.obs = body.observable
        # Which model samples the frame's camera could see: the model -> cloud term only counts those.
        self.visible = torch.ones(init6d.shape[0], body.sample_tri.shape[0], dtype=torch.bool)
        self.view = torch.zeros(init6d.shape[0], 3)

    def cloud(self) -> torch.Tensor:
        c = self.frames.centroid[:, None]
        return c + torch.exp(self.log_scale)[:, None, None] * (self.frames.points - c)

    def _update_visibility(self, model: torch.Tensor, normals: torch.Tensor, i_cm: torch.Tensor, sigma: float) -> None:
        for b in range(model.shape[0]):
            L = int(self.frames.lengths[b])
            self.visible[b] = estimate_visibility(
                model[b].numpy(), normals[b].numpy(), self.cloud()[b, :L].detach().numpy(), i_cm[b, :L].numpy(), sigma
            )

    def evaluate(
        self, sigma: float, update_visibility: bool = False
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.s
        wr, wt = self.body.forward_kinematics(self.rot, self.root)
        verts = self.body.skin(wr, wt)
        model, normals, edge_len = self.body.surface_and_edges(verts)
        cloud = self.cloud()
        B, M = model.shape[0], model.shape[1]
        lengths_m = torch.full((B,), M, dtype=torch.long)
        _, i_cm = nearest(cloud, model, self.frames.lengths, lengths_m)
        _, i_mc = nearest(model, cloud, lengths_m, self.frames.lengths)
        i_cm = torch.from_numpy(np.maximum(i_cm, 0))
        i_mc = torch.from_numpy(np.maximum(i_mc, 0))
        near = torch.gather(model, 1, i_cm[..., None].expand(-1, -1, 3))
        n = torch.gather(normals, 1, i_cm[..., None].expand(-1, -1, 3))
        diff = cloud - near
        plane = (diff * n).sum(-1) ** 2
        d2_cm = (1 - s.plane_weight) * (diff * diff).sum(-1) + s.plane_weight * plane
        c2m = _masked_mean(geman_mcclure(d2_cm, sigma), self.frames.mask)
        if update_visibility:
            self._update_visibility(model.detach(), normals.detach(), i_cm, sigma)
        back = torch.gather(cloud, 1, i_mc[..., None].expand(-1, -1, 3))
        diff_mc = model - back
        d2_mc = (1 - s.plane_weight) * (diff_mc**2).sum(-1) + s.plane_weight * ((diff_mc * normals).sum(-1) ** 2)
        m2c = _masked_mean(geman_mcclure(d2_mc, sigma), self.visible)
        has = (self.frames.lengths > 0).to(c2m.dtype)
        data = (s.w_cloud_to_model * c2m + s.w_model_to_cloud * m2c) * has
        strain = edge_len / self.body.rest_edge_length - 1
        edge = (strain**2).mean(-1)
        joints = wt[:, self.obs]
        seq = joints if self.context is None else torch.cat([self.context[:, self.obs], joints], 0)
        smooth = torch.zeros(())
        if seq.shape[0] >= 3:
            acc = seq[2:] - 2 * seq[1:-1] + seq[:-2]
            smooth = (acc**2).sum(-1).mean()
        prior = ((self.rot - self.init6d) ** 2).sum((-1, -2))
        total = data.sum() + s.w_edge * edge.sum() + s.w_smooth * smooth * B + s.w_prior * prior.sum()
        return total, {"c2m": d2_cm.detach(), "mask": self.frames.mask}

    def optimize(
        self, iterations: int, root_only_until: int = 0, sigma_start: float | None = None, tick: Callable[[], None] | None = None
    ) -> None:
        s = self.s
        params = [self.rot, self.root] + ([self.log_scale] if s.refine_scale else [])
        opt = _Adam(params, [s.lr_rotation, s.lr_translation, s.lr_scale])
        s0 = sigma_start or s.sigma_start
        root_mask = torch.zeros(self.body.num_joints, 1)
        root_mask[0] = 1
        for it in range(iterations):
            frac = it / max(iterations - 1, 1)
            sigma = math.exp(math.log(s0) + min(frac / 0.7, 1.0) * (math.log(s.sigma_end) - math.log(s0)))
            for p in params:
                p.grad = None
            loss, _ = self.evaluate(sigma, update_visibility=it % 10 == 0)
            loss.backward()
            if it < root_only_until:
                self.rot.grad *= root_mask
            opt.step(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            if tick is not None:
                tick()

    def visible_points(self, b: int) -> np.ndarray:
        """(m, 3) normalized model samples of frame ``b`` that its camera sees (after :meth:`result`)."""
        with torch.no_grad():
            wr, wt = self.body.forward_kinematics(self.rot[b : b + 1], self.root[b : b + 1])
            pts = self.body.surface_and_edges(self.body.skin(wr, wt))[0][0]
        return pts[self.visible[b]].numpy()

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(B, J, 6) rotations, (B, 3) root offsets, (B,) scales, (B,) fit errors (fraction of height)."""
        with torch.no_grad():
            _, info = self.evaluate(self.s.sigma_end, update_visibility=True)
            d = info["c2m"].sqrt()
            errors = []
            for b in range(d.shape[0]):
                v = d[b][info["mask"][b]].numpy()
                if len(v) == 0:
                    errors.append(np.nan)
                    continue
                v = np.sort(v)[: max(1, int(0.9 * len(v)))]
                errors.append(float(np.sqrt((v**2).mean())))
        return (
            self.rot.detach().clone(),
            self.root.detach().clone(),
            torch.exp(self.log_scale).detach().numpy().astype(np.float64),
            np.asarray(errors),
        )


def _subsample(cloud: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if len(cloud) <= count:
        return cloud
    return cloud[rng.choice(len(cloud), count, replace=False)]


def _model_points(body: Body, rot: torch.Tensor, root: torch.Tensor) -> np.ndarray:
    """(M, 3) asset-space surface samples of one pose."""
    with torch.no_grad():
        wr, wt = body.forward_kinematics(rot[None], root[None])
        pts, _ = body.surface(body.skin(wr, wt))
    return body.to_asset(pts[0].numpy())


def _trimmed_rms(src: np.ndarray, target: np.ndarray, trim: float) -> float:
    """RMS of the closest ``trim`` fraction of nearest-neighbour distances, both ways (as ICP measures it)."""
    d1, _ = nearest_single(src, target)
    d2, _ = nearest_single(target, src)
    d = np.concatenate([d1, d2])
    return float(np.sqrt(d[d <= np.quantile(d, trim)].mean()))


def _spread(points: np.ndarray) -> float:
    """Robust size of a cloud: the median distance to its median point."""
    return float(np.median(np.linalg.norm(points - np.median(points, axis=0), axis=1)))


def _move_root(body: Body, rot6d: torch.Tensor, root: torch.Tensor, move: Similarity) -> tuple[torch.Tensor, torch.Tensor]:
    """The pose moved rigidly by ``move`` (normalized coordinates, scale ignored): only the root changes."""
    rest0 = body.rest_rot[0].double()
    delta = rot6d_to_matrix_torch(rot6d[0:1].double())[0]
    r = torch.tensor(move.rotation)
    new_delta = rest0.T @ r @ rest0 @ delta
    pos = body.rest_trans[0].double() + root.double()
    new_pos = r @ pos + torch.tensor(move.translation)
    rot6d = rot6d.clone()
    rot6d[0] = torch.cat([new_delta[:, 0], new_delta[:, 1]]).float()
    return rot6d, (new_pos - body.rest_trans[0].double()).float()


def _scale_about(centroid_asset: np.ndarray, scale: float) -> Similarity:
    return Similarity(scale, np.eye(3), centroid_asset * (1 - scale))


def _rest_params(body: Body) -> tuple[torch.Tensor, torch.Tensor]:
    rot = torch.zeros(body.num_joints, 6)
    rot[:, 0] = 1
    rot[:, 4] = 1
    return rot, torch.zeros(3)


def _poses_from_params(body: Body, rot: torch.Tensor, root: torch.Tensor, fps: float, name: str) -> Poses:
    quats = matrix_to_quat(rot6d_to_matrix_torch(rot).double().numpy())
    return Poses(quats.astype(np.float32), (root.double().numpy() * body.height).astype(np.float32), fps, name)


def params_from_poses(body: Body, poses: Poses) -> tuple[torch.Tensor, torch.Tensor]:
    """(F, J, 6) and (F, 3) optimizer parameters of ``poses`` (root offset in normalized units)."""
    rot = torch.tensor(quat_to_rot6d(poses.rotations.astype(np.float64)), dtype=torch.float32)
    return rot, torch.tensor(poses.root_translation / body.height, dtype=torch.float32)


class single_thread:
    """Run torch on one thread inside the block: the batches here are small, and on a busy machine torch's
    thread pool spends more time waiting than working (measured 10x slower with 2 threads under load)."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def fit_poses(
    rig: "Rig",
    frames: list[np.ndarray],
    settings: FitSettings | None = None,
    alignments: list[Similarity] | None = None,
    progress: ProgressFn | None = None,
    fps: float = 30.0,
) -> FitResult:
    """Fit one pose of ``rig`` to every frame.

    Args:
        rig: the rigged first frame (mesh, skeleton and skin weights).
        frames: F point clouds (N_f, 3) (or mesh vertices / surface samples), in file order, each in its
            own coordinate frame; no correspondence between frames is needed.
        settings: :class:`FitSettings` (defaults when None).
        alignments: F known similarities from frame to world (skips alignment), or None to estimate them.
        progress: called as ``progress(stage, done, total)`` with stage "fit" (frames) then "refine"
            (iterations).
        fps: frame rate stored in the returned poses.

    Returns:
        A :class:`FitResult` (unpacks as ``poses, errors``).
    """
    with single_thread():
        return _fit_poses(rig, frames, settings or FitSettings(), alignments, progress, fps)


def _fit_poses(
    rig: "Rig",
    frames: list[np.ndarray],
    s: FitSettings,
    alignments: list[Similarity] | None,
    progress: ProgressFn | None,
    fps: float,
) -> FitResult:
    F = len(frames)
    if F == 0:
        raise PoseError("fit_poses: no frames to fit")
    body = Body(rig, s.num_samples, s.seed)
    rng = np.random.default_rng(s.seed)
    # Thin bodies (snakes, stick legs, flat fish) need tolerances of their parts' size, not the body's.
    detail = part_radius(body) if s.thin_adapt else 0.05
    sigma_end = min(s.sigma_end, max(detail, 0.3 * s.sigma_end))
    vis_tol, vis_res = min(0.04, max(detail, 0.005)), int(np.clip(1.0 / detail, 48, 128))
    # A sheet (a mesh of zero thickness) moves mostly within its own plane, where point-to-plane residuals
    # see nothing, so its point part is weighed up: SimpleSkin bends 85 degrees within its plane, and at
    # the default plane weight the fit lagged and turned the whole sheet instead (24 degrees median
    # rotation error; 10 at 0.5).
    extent = np.ptp(rig.vertices, axis=0)
    flat = extent.min() <= 1e-6 * extent.max()
    plane_weight = min(s.plane_weight, s.flat_plane_weight) if flat else s.plane_weight
    raw = [_subsample(np.asarray(c, np.float64).reshape(-1, 3), s.max_points, rng) for c in frames]
    failed = [f for f, c in enumerate(raw) if len(c) < s.min_points or not np.isfinite(c).all()]
    good = [f for f in range(F) if f not in failed]
    if not good:
        raise PoseError(f"fit_poses: none of the {F} frames has {s.min_points} or more finite points")

    sims: list[Similarity | None] = [None] * F
    rots = torch.zeros(F, body.num_joints, 6)
    roots = torch.zeros(F, 3)
    rest_rot, rest_root = _rest_params(body)
    report = progress or (lambda stage, done, total: None)

    from vips.fitting.articulated import ArticulatedICP

    def visible_model(f: int) -> np.ndarray:
        """Asset-space model samples of fitted frame ``f`` that its camera saw (the next frame's ICP target)."""
        with torch.no_grad():
            wr, wt = body.forward_kinematics(rots[f][None], roots[f][None])
            pts, normals, _ = body.surface_and_edges(body.skin(wr, wt))
        cloud = body.to_normalized(sims[f].apply(raw[f]))
        _, i_cm = nearest(cloud[None], pts)
        vis = estimate_visibility(pts[0].numpy(), normals[0].numpy(), cloud, np.maximum(i_cm[0], 0),
                                  sigma_end, vis_tol, vis_res)
        return body.to_asset(pts[0][vis].numpy())

    recent: list[float] = []
    coverage = np.full(F, np.nan)
    gauge: list[float] = []  # the first fitted frame's alignment scale, once it is known
    point_mode = [flat]  # whether the point part steers every attempt (see fit_one)

    def fit_one(f: int, starts: list[tuple], iters: int, s0: float, root_only: int,
                fit_scale: bool = True) -> None:
        """Fit frame ``f`` from the first start; when the result fits clearly worse than recent frames (a
        limb caught on the wrong part of the cloud), retry from the other starts with a wider kernel and
        keep the best."""
        cloud = body.to_normalized(sims[f].apply(raw[f]))
        # The frame's total scale stays within ``scale_bound`` of the first fitted frame's (the gauge):
        # each frame starts from its predecessor's scale, so without an absolute bound a small bias per
        # frame compounds (skinnedArm's clouds shrank to 1/150 over 60 frames).
        bounds = (-math.inf, math.inf)
        if gauge:
            offset = math.log(sims[f].scale / gauge[0])
            bounds = (-math.log(s.scale_bound) - offset, math.log(s.scale_bound) - offset)
        best = None
        # Plane residuals alone steer the step: on curved bodies they pin every direction, and nearest-
        # neighbour pairs along the surface are biased (with the point part always steering, a crocodile's
        # error doubled). When no start fits well, one more attempt lets the point part steer too: plane
        # residuals are blind to a box sliding along its faces, to a turn about a cylinder and to the
        # scale of a cloud of flat faces, which drifted until it collapsed (skinnedArm, RiggedSimple).
        # Once such an attempt wins, the body has shown it needs it, and it steers every later frame;
        # a sheet needs it from the start.
        point_attempt = s.point_retry and not point_mode[0]
        attempts = list(starts) + ([starts[0]] if point_attempt else [])
        for attempt, (init_rot, init_root, *log_scale) in enumerate(attempts):
            wide = attempt > 0
            solver = ArticulatedICP(body, cloud, plane_weight=plane_weight, rest_prior=s.rest_prior,
                                    visibility=(vis_tol, vis_res), swing_prior=s.swing_prior)
            solver.point_step = point_mode[0] or (point_attempt and attempt == len(attempts) - 1)
            solver.log_scale = float(np.clip(log_scale[0] if log_scale else 0.0, *bounds))
            solver.max_log_scale = math.log(s.max_frame_scale)
            solver.log_scale_bounds = bounds
            r6, rt, scale = solver.run(init_rot, init_root, iters * (2 if wide else 1), s0 * (2 if wide else 1),
                                       sigma_end, s.refine_scale and fit_scale, root_only)
            # Errors shrink with the cloud, so attempts are compared in the frame's own scale, and a
            # fit that leaves part of the visible body unexplained is penalized.
            err = solver.error(r6, rt)
            cov = solver.coverage(r6, rt)
            score = err / scale + 0.05 * (1.0 - cov)
            if best is None or score < best[0]:
                best = (score, r6, rt, scale, solver, err, cov)
            limit = max(s.retry_factor * float(np.median(recent[-10:])) if recent else 0.0, s.retry_floor)
            if err <= limit and cov > 0.95:
                break
        _, r6, rt, scale, solver, err, _ = best
        point_mode[0] = point_mode[0] or solver.point_step
        # Reported both ways (a rig of something else can be contorted to cover the frame's points, or to
        # be covered by them, more easily than both).
        coverage[f] = min(solver.coverage(r6, rt, s.coverage_radius),
                          solver.cloud_coverage(r6, rt, s.coverage_radius))
        recent.append(err)
        rots[f], roots[f] = r6, rt
        cen = body.to_asset(solver.centre.numpy()).astype(np.float64)
        sims[f] = _scale_about(cen, scale).compose(sims[f])

    # First good frame: from the rest pose, coarse to fine (root only, then every joint; wide to narrow
    # robust kernel).
    f0 = good[0]
    first_scale = True
    if alignments is not None:
        sims[f0] = alignments[f0]
    else:
        rest_pts = _model_points(body, rest_rot, rest_root)
        if s.first_frame_search_deg > 0:
            sims[f0] = initial_alignment(raw[f0], rest_pts, s.first_frame_search_deg, trim=s.icp_trim)[0]
        else:
            sims[f0] = similarity_icp(raw[f0], rest_pts, Similarity(), trim=s.icp_trim)[0]
            # The rig is the rigged first frame, so its frame is usually already in place. ICP of one view
            # against the whole surface is biased (a half cylinder shrinks into the full one, turns about
            # its axis), so the identity is kept unless ICP clearly improves the match (compared in the
            # frame's own units: shrinking a cloud shortens every distance).
            def one_way(sim: Similarity) -> float:
                d, _ = nearest_single(body.to_normalized(sim.apply(raw[f0])), body.to_normalized(rest_pts))
                return float(np.sqrt(d[d <= np.quantile(d, s.icp_trim)].mean())) / sim.scale

            if one_way(sims[f0]) > s.icp_min_gain * one_way(Similarity()):
                sims[f0] = Similarity()
                # ... and so is its scale: bone lengths fix it, but on a single view of a round part
                # (a cylinder) the solver can trade scale for a turn about the axis and run off.
                first_scale = False
    fit_one(f0, [(rest_rot, rest_root)], s.first_iterations, s.sigma_first, s.first_iterations // 5,
            first_scale)
    gauge.append(sims[f0].scale)
    report("fit", 1, len(good))

    # Then frame by frame, each from the previous fit (constant-velocity start) and aligned to the part
    # of the previous fitted surface its camera saw: both cover the same region, so the symmetric match
    # cannot shrink or grow the frame.
    for k, f in enumerate(good[1:], start=1):
        last = good[k - 1]
        rigid = None
        if alignments is not None:
            sims[f] = alignments[f]
        else:
            # Frames keep the previous frame's similarity (for frames already in one world space that is
            # the identity, so global motion survives); what is left of a frame's own misalignment is
            # taken up by the root. A rigid ICP against the previous fitted surface gives the root a start
            # when that residual is large (scale is left to the solver, where fixed bone lengths make it
            # observable; ICP of a partial view against a whole body is biased).
            sims[f] = sims[last]
            if s.align == "rigid":

                # The target is the part of the previous fit its camera saw, matched both ways: a partial
                # view against the whole surface is pulled into the body (by about a part's radius, which
                # for a snake is its whole thickness) and slides along tubes.
                if s.icp_target == "visible":
                    target = body.to_normalized(visible_model(last))
                else:
                    target = body.to_normalized(_model_points(body, rots[last], roots[last]))
                src = body.to_normalized(sims[f].apply(raw[f][:: max(1, len(raw[f]) // 600)]))
                shift = np.median(target, axis=0) - np.median(src, axis=0)
                rigid, rms = similarity_icp(src, target, Similarity(1.0, np.eye(3), shift), iterations=15,
                                            trim=s.icp_trim, with_scale=s.icp_scale,
                                            symmetric=s.icp_target == "visible")
                # A step that barely improves the match is ICP sliding along a direction the surface does
                # not pin down (along a tube, about a coil's axis): the previous pose is the better start.
                # A scale beyond what consecutive reconstructions differ by is ICP collapsing or blowing
                # the cloud up onto a part of the surface, not a scale.
                unmoved = _trimmed_rms(src, target, s.icp_trim)
                total = abs(math.log(rigid.scale * sims[f].scale / gauge[0]))
                if (rms > s.icp_min_gain * unmoved or abs(math.log(rigid.scale)) > math.log(1.35)
                        or total > math.log(s.scale_bound)):
                    rigid = None
                elif s.icp_scale and abs(math.log(rigid.scale)) > 1e-3:
                    # Scale goes into the frame's alignment (about the cloud's centre), the rigid part
                    # into the root as before.
                    cen = np.median(sims[f].apply(raw[f]), axis=0)
                    sims[f] = _scale_about(cen, rigid.scale).compose(sims[f])
                    rigid = Similarity(1.0, rigid.rotation, rigid.translation - (1 - rigid.scale) * (
                        rigid.rotation @ body.to_normalized(cen).astype(np.float64)))
        starts = [(rots[last], roots[last])]
        if k >= 2:
            prev = good[k - 2]
            starts.insert(0, (rots[last] + s.extrapolate * (rots[last] - rots[prev]),
                              roots[last] + s.extrapolate * (roots[last] - roots[prev])))
        if rigid is not None and rigid.rotation_angle() < np.deg2rad(45):
            # ICP's rigid step first; the unmoved previous pose stays a fallback in case ICP slid off.
            starts = [_move_root(body, r, t, rigid.inverse()) for r, t in starts] + [starts[-1]]
        starts.append((rest_rot, starts[0][1]))
        # Last resort for a frame whose scale jumped: the ratio of robust spreads of consecutive frames
        # (views of nearly the same shape) as the starting scale.
        ratio = _spread(sims[last].apply(raw[last])) / max(_spread(sims[f].apply(raw[f])), 1e-12)
        if 0.6 < ratio < 1.6:
            starts.append((starts[0][0], starts[0][1], math.log(ratio)))
        fit_one(f, starts, s.frame_iterations, s.sigma_start, s.rigid_iterations)
        report("fit", k + 1, len(good))

    # Whole-sequence refinement, batched over all frames.
    order = good
    errors = np.full(F, np.nan)
    if s.refine_iterations > 0 and len(order) > 1:
        clouds = [body.to_normalized(sims[f].apply(raw[f])) for f in order]
        prob = _Problem(body, _Frames(clouds), rots[order], roots[order], s)
        ticks = [0]

        def tick() -> None:
            ticks[0] += 1
            report("refine", ticks[0], s.refine_iterations)

        prob.optimize(s.refine_iterations, 0, s.sigma_end * 1.5, tick)
        r6, rt, scale, err = prob.result()
        for k, f in enumerate(order):
            rots[f], roots[f] = r6[k], rt[k]
            cen = body.to_asset(prob.frames.centroid[k].numpy()).astype(np.float64)
            sims[f] = _scale_about(cen, float(scale[k])).compose(sims[f])
            errors[f] = err[k]
    else:
        clouds = [body.to_normalized(sims[f].apply(raw[f])) for f in order]
        prob = _Problem(body, _Frames(clouds), rots[order], roots[order], s)
        errors[order] = prob.result()[3]

    # The rig is the rigged first frame: if it does not explain the first frame, later frames that a
    # contorted rig happens to cover are no evidence that it matches (a cat's rig fitted to a human's
    # frames covers later frames well after many iterations), so no frame reports more than the first.
    coverage = np.minimum(coverage, coverage[f0])
    # Failed frames repeat the nearest fitted neighbour so the sequence stays complete; callers drop them.
    for f in failed:
        src = min(good, key=lambda g: abs(g - f))
        rots[f], roots[f], sims[f] = rots[src], roots[src], Similarity()
    poses = _poses_from_params(body, rots, roots, fps, "fitted")
    return FitResult(poses, errors.astype(np.float32), sims, failed, coverage)  # type: ignore[arg-type]
