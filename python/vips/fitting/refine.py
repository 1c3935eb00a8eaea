"""The batched Chamfer objective over many frames (torch): the optional whole-sequence refinement (Adam on 6D
rotations) and the per-frame fit error every fit reports.

The objective, per frame (normalized units): robust Chamfer both ways (Geman-McClure, mostly point-to-plane;
model -> cloud over the samples the frame's camera sees), mesh edge-length strain, joint-acceleration
smoothness over the sequence and a pull towards the starting rotations.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from vips.fitting.body import Body
from vips.fitting.nn import nearest
from vips.fitting.visibility import estimate_visibility

if TYPE_CHECKING:
    from vips.fitting.settings import FitSettings


def geman_mcclure(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    """Robust penalty on squared distances: ~d2 for d << sigma, saturating at sigma^2."""
    s2 = sigma * sigma
    return s2 * d2 / (d2 + s2)

class Frames:
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

class Adam:
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

class BatchProblem:
    """One batched optimization over B frames of the same rig: (B, J, 6) rotations, (B, 3) root offsets and (B,)
    log scales of the clouds about their centroids."""

    def __init__(
        self,
        body: Body,
        frames: Frames,
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
        opt = Adam(params, [s.lr_rotation, s.lr_translation, s.lr_scale])
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
