"""Articulated ICP: Gauss-Newton steps on one frame's pose, with the skinning Jacobian in closed form.

Per iteration: skin the model, match cloud -> model and (visible) model -> cloud nearest neighbours (native
kernel), weight residuals with Geman-McClure IRLS weights, and solve one damped Gauss-Newton step for
per-joint world-space rotation increments, the root translation and the frame's scale.

Linearization: turning joint ``j`` by a small world rotation ``w`` about its position ``p_j`` moves every
surface point ``x`` by ``W_xj * (w x (x - p_j))``, where ``W_xj`` is the skin weight ``x`` carries on ``j``'s
subtree (exact for rigid parts, first order for blended vertices). Point-to-plane residuals
``n . (x - y)`` then have the Jacobian row ``W_xj * ((x - p_j) x n)`` for ``w``, ``n`` for the root
translation and ``-n . (y - c)`` for the log-scale of the cloud about its centre ``c``. The point part of
the distance (``x - y``, weight ``1 - plane_weight``) adds rows ``-W_xj [x - p_j]_x``, the identity and
``-(y - c)``: it is all that sees motion along a flat surface (a sheet in its plane, a box sliding along
a face) and what pins the cloud's scale there. A rotation increment
``w`` of joint ``j`` is the local update ``delta_j <- delta_j * exp(R_j^T w)`` (``R_j`` its world rotation).
Gradient descent on the same energy moves weakly observed directions (twist) far too slowly to keep up
with motion; Gauss-Newton solves them in a few steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vips.fitting.body import Body, rot6d_to_matrix_torch
from vips.fitting.nn import nearest
from vips.fitting.visibility import estimate_visibility


def subtree_weights(body: Body) -> torch.Tensor:
    """(M, J) weight each surface sample carries on each joint's subtree (the joint and its descendants)."""
    J = body.num_joints
    anc = np.zeros((J, J), np.float32)  # anc[k, j] = 1 when j is k or an ancestor of k
    for k in range(J):
        j = k
        while j >= 0:
            anc[k, j] = 1
            j = body.parents[j]
    per_vertex = body.weights @ torch.tensor(anc)  # (Va, J)
    tri = body.sample_tri
    return (per_vertex[tri] * body.sample_bary[..., None]).sum(1)


def _axis_angle_to_matrix(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) (Rodrigues)."""
    angle = w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = w / angle
    K = torch.zeros(w.shape[:-1] + (3, 3), dtype=w.dtype)
    K[..., 0, 1], K[..., 0, 2] = -k[..., 2], k[..., 1]
    K[..., 1, 0], K[..., 1, 2] = k[..., 2], -k[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -k[..., 1], k[..., 0]
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return torch.eye(3, dtype=w.dtype) + s * K + (1 - c) * (K @ K)


def gauss_newton_update(A: torch.Tensor, g: torch.Tensor, fixed: torch.Tensor, rot6d: torch.Tensor,
                        world_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One Gauss-Newton step of an articulated fit: solve ``A step = -g`` (float64, n unknowns: 3 per joint
    for the rotation in world axes, then the rest) with the ``fixed`` (n,) unknowns held at zero, and turn
    each joint of ``rot6d`` (J, 6) by its rotation step, mapped into its local frame with ``world_rot``
    (J, 3, 3) and limited to 0.3 rad (the linearization is only good locally). ``A`` and ``g`` are changed.

    Returns:
        (updated rot6d (J, 6) float32, the whole step (n,) float64).
    """
    J = rot6d.shape[0]
    A[fixed] = 0
    A[:, fixed] = 0
    A[fixed, fixed] = 1
    g[fixed] = 0
    step = -torch.linalg.solve(A, g)
    omega = step[: 3 * J].reshape(J, 3).float()
    omega = omega * torch.clamp(0.3 / omega.norm(dim=-1, keepdim=True).clamp_min(1e-12), max=1.0)
    phi = (world_rot.transpose(-1, -2) @ omega[..., None])[..., 0]
    dm = rot6d_to_matrix_torch(rot6d) @ _axis_angle_to_matrix(phi)
    return torch.cat([dm[..., :, 0], dm[..., :, 1]], -1), step


def _matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) rotation vectors (angles below pi; the prior only needs small ones)."""
    cos = ((m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
    angle = torch.acos(cos)
    axis = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    return axis * (angle / (2 * torch.sin(angle)).clamp_min(1e-6))[..., None]


def _point_normal_equations(
    sub: torch.Tensor, x: torch.Tensor, joints: torch.Tensor, y: torch.Tensor, centre: torch.Tensor,
    w: torch.Tensor, fit_scale: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Newton normal equations of weighted point-to-point residuals ``x - y`` (R pairs).

    Args:
        sub: (R, J) subtree skin weights of the model samples ``x`` (R, 3); ``joints`` (J, 3) world joint
            positions; ``y`` (R, 3) the paired cloud points, scaled about ``centre`` (3,); ``w`` (R,) weights.
        fit_scale: add the cloud's log-scale as the last unknown.

    Returns:
        ``A`` (n, n) and ``g`` (n,) float64, unknowns ordered as in :meth:`ArticulatedICP.run` (3 per joint
        for the world rotation increment, the root translation, then the log-scale when ``fit_scale``).
    """
    R, J = sub.shape
    a = x[:, None, :] - joints[None]  # (R, J, 3): lever arm of each joint
    res = x - y
    zero = torch.zeros_like(a[..., 0])
    # d(w x a)/dw = -[a]x, rows: residual component, columns: rotation component.
    skew = torch.stack([torch.stack([zero, a[..., 2], -a[..., 1]], -1),
                        torch.stack([-a[..., 2], zero, a[..., 0]], -1),
                        torch.stack([a[..., 1], -a[..., 0], zero], -1)], -2)  # (R, J, 3, 3)
    rot = (sub[..., None, None] * skew).permute(0, 2, 1, 3).reshape(R, 3, 3 * J)
    cols = [rot, torch.eye(3, dtype=x.dtype).expand(R, 3, 3)]
    if fit_scale:
        cols.append(-(y - centre)[..., None])  # d(x - y)/d log s
    jac = torch.cat(cols, -1).reshape(3 * R, -1)
    jw = jac * w.repeat_interleave(3)[:, None]
    return (jac.T @ jw).double(), (jw.T @ res.reshape(-1)).double()


class ArticulatedICP:
    """Gauss-Newton pose fitting of one frame (see the module notes).

    Args:
        body: the rig's :class:`Body`.
        cloud: (N, 3) float32 frame points in normalized coordinates (already aligned).
        damping: Levenberg-Marquardt damping relative to the mean diagonal of the normal equations.
        prior: weight pulling rotation increments towards zero relative to the start (for joints the view
            does not constrain).
        plane_weight: share of the point-to-plane part in the squared distances.
        rest_prior: weight pulling every non-root joint towards its rest rotation (about the bone axis
            for joints with one child, in every direction for the others).
        swing_prior: the same pull across the bone axis of joints with one child (None: ``rest_prior``).
        visibility: (depth tolerance, resolution) of the visibility test (see
            :func:`vips.fitting.visibility.estimate_visibility`).
        model_weight: weight of the model -> cloud term against the cloud -> model term (1). The cloud ->
            model term alone is smallest for a cloud shrunk onto a patch of the body; this term is what fixes
            the scale.

    Attributes:
        max_log_scale: bound on the absolute log-scale the solver may give the cloud (default log 1.5).
        log_scale_bounds: (low, high) further bounds on the log-scale (default unbounded): the caller's
            limits on the frame's total scale, relative to what the cloud arrived with.
        point_step: whether the point part of the distances enters the Gauss-Newton step (True) or only
            the robust weights (False: the plane residuals alone steer, which is better on curved bodies,
            where nearest-neighbour pairs along the surface are biased, and blind on flat ones).
    """

    def __init__(self, body: Body, cloud: np.ndarray, damping: float = 1e-3, prior: float = 1e-4,
                 plane_weight: float = 0.95, rest_prior: float = 0.0, model_weight: float = 2.0,
                 visibility: tuple[float, int] = (0.04, 48), swing_prior: float | None = None) -> None:
        self.body = body
        self.cloud = torch.tensor(np.asarray(cloud, np.float32))
        self.centre = self.cloud.median(0).values
        self.damping, self.prior, self.plane_weight = damping, prior, plane_weight
        self.rest_prior = rest_prior
        self.sigma_model = 0.08
        self.model_weight = model_weight
        self.vis_tolerance, self.vis_resolution = visibility
        self.swing_prior = rest_prior if swing_prior is None else swing_prior
        self.max_log_scale = math.log(1.5)
        self.log_scale_bounds = (-math.inf, math.inf)
        self.point_step = True
        # Joints with one child have a bone axis: twist about it is what a view cannot see on round
        # parts, swing is seen; the prior is split accordingly.
        children = [np.nonzero(body.parents == j)[0] for j in range(body.num_joints)]
        self.one_child = torch.tensor([c[0] if len(c) == 1 else -1 for c in children])
        self.sub = subtree_weights(body)
        self.obs = body.observable
        self.visible = torch.ones(body.sample_tri.shape[0], dtype=torch.bool)
        self.log_scale = 0.0

    def _model(self, rot6d: torch.Tensor, root: torch.Tensor):  # noqa: ANN202
        wr, wt = self.body.forward_kinematics(rot6d[None], root[None])
        pts, normals, _ = self.body.surface_and_edges(self.body.skin(wr, wt))
        return wr[0], wt[0], pts[0], normals[0]

    def _cloud(self) -> torch.Tensor:
        return self.centre + math.exp(self.log_scale) * (self.cloud - self.centre)

    def error(self, rot6d: torch.Tensor, root: torch.Tensor) -> float:
        """RMS of the closest 90% of cloud -> model distances (normalized units) at the given pose."""
        _, _, x, n = self._model(rot6d, root)
        y = self._cloud()
        d2, i = nearest(y[None], x[None])
        diff = y - x[torch.from_numpy(np.maximum(i[0], 0))]
        plane = (diff * n[torch.from_numpy(np.maximum(i[0], 0))]).sum(-1) ** 2
        d = ((1 - self.plane_weight) * (diff**2).sum(-1) + self.plane_weight * plane).sqrt().numpy()
        d = np.sort(d)[: max(1, int(0.9 * len(d)))]
        return float(np.sqrt((d**2).mean()))

    def coverage(self, rot6d: torch.Tensor, root: torch.Tensor, radius: float = 0.05) -> float:
        """Fraction of the model samples the camera sees that have a cloud point within ``radius``
        (normalized units). Low coverage means the frame explains only part of the body: a wrong rig, a
        collapsed scale or a frame of something else."""
        _, _, x, _ = self._model(rot6d, root)
        d2, _ = nearest(x[self.visible][None], self._cloud()[None])
        return float((d2[0] < radius * radius).mean()) if d2.size else 0.0

    def cloud_coverage(self, rot6d: torch.Tensor, root: torch.Tensor, radius: float = 0.05) -> float:
        """Fraction of the cloud's points with a model sample within ``radius`` (normalized units): low when
        the frame has parts the model cannot explain (a rig of something else contorted onto the frame)."""
        _, _, x, _ = self._model(rot6d, root)
        d2, _ = nearest(self._cloud()[None], x[None])
        return float((d2[0] < radius * radius).mean()) if d2.size else 0.0

    def run(self, rot6d: torch.Tensor, root: torch.Tensor, iterations: int, sigma_start: float, sigma_end: float,
            fit_scale: bool = True, root_only: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Iterate from ``rot6d`` (J, 6) and ``root`` (3,); returns the new pair and the scale of the cloud."""
        rot6d, root = rot6d.clone(), root.clone()
        J = self.body.num_joints
        for it in range(iterations):
            frac = it / max(iterations - 1, 1)
            sigma = math.exp(math.log(sigma_start) + min(frac / 0.7, 1.0) * (math.log(sigma_end) - math.log(sigma_start)))
            wr, wt, x, n = self._model(rot6d, root)
            y = self._cloud()
            _, i_cm = nearest(y[None], x[None])
            i_cm = torch.from_numpy(np.maximum(i_cm[0], 0))
            if it % 5 == 0:
                self.visible = estimate_visibility(x.numpy(), n.numpy(), y.numpy(), i_cm.numpy(), sigma,
                                                   self.vis_tolerance, self.vis_resolution)
            vis_idx = torch.nonzero(self.visible)[:, 0]
            _, i_mc = nearest(x[vis_idx][None], y[None])
            i_mc = torch.from_numpy(np.maximum(i_mc[0], 0))
            # Residual pairs: (model sample index, cloud point) for both directions.
            m_idx = torch.cat([i_cm, vis_idx])
            c_pts = torch.cat([y, y[i_mc]])
            xm, nm = x[m_idx], n[m_idx]
            diff = xm - c_pts
            plane = (diff * nm).sum(-1)
            d2 = (1 - self.plane_weight) * (diff**2).sum(-1) + self.plane_weight * plane**2
            # IRLS weights of Geman-McClure. Model -> cloud pairs use a wider kernel: they only come from
            # samples the camera sees, so they are rarely outliers, and they are what keeps the cloud's
            # scale from collapsing onto a small patch of the model.
            n_cm = len(i_cm)
            s2 = torch.full_like(d2, sigma * sigma)
            s2[n_cm:] = max(sigma, self.sigma_model) ** 2
            w = (s2 / (d2 + s2)) ** 2
            w_dir = torch.cat([torch.full((len(i_cm),), 1.0 / len(i_cm)), torch.full((len(vis_idx),), self.model_weight / max(len(vis_idx), 1))])
            w = w * w_dir
            sub = self.sub[m_idx]  # (R, J)
            # (x - p_j) x n = x x n - p_j x n, the second term by broadcasting (R, 1, 3) against (1, J, 3).
            xn = torch.cross(xm, nm, dim=-1)
            p, q = wt[None], nm[:, None, :]
            pn = torch.stack([p[..., 1] * q[..., 2] - p[..., 2] * q[..., 1],
                              p[..., 2] * q[..., 0] - p[..., 0] * q[..., 2],
                              p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]], -1)
            rows_rot = sub[..., None] * (xn[:, None, :] - pn)  # (R, J, 3)
            cols = [rows_rot.reshape(len(m_idx), -1), nm]
            # Plane residual: d(plane)/d log s = -n . (y - c) (the cloud is scaled about its centre c).
            if fit_scale:
                cols.append((-(nm * (c_pts - self.centre)).sum(-1))[:, None])
            Jm = torch.cat(cols, 1)
            Jw = Jm * w[:, None]
            A = (Jm.T @ Jw).double()
            g = (Jw.T @ plane).double()
            if self.point_step and self.plane_weight < 1:
                # The point part of the energy enters the step too (relative weight (1 - p) / p): a plane
                # residual cannot see motion along the surface, so without it a flat part (a sheet, a box's
                # faces) or a tube left in-plane motion, sliding and the cloud's scale to noise, and the
                # outliers' pull shrank such clouds onto a patch frame after frame (skinnedArm, SimpleSkin,
                # RiggedSimple: joint errors of 0.7 to 300 heights).
                Ap, gp = _point_normal_equations(sub, xm, wt, c_pts, self.centre, w, fit_scale)
                ratio = (1 - self.plane_weight) / self.plane_weight
                A = A + ratio * Ap
                g = g + ratio * gp
            # Joints that move nothing and (early) all but the root stay fixed.
            fixed = torch.zeros(A.shape[0], dtype=torch.bool)
            mask = ~self.obs if it >= root_only else torch.arange(J) > 0
            fixed[: 3 * J] = mask.repeat_interleave(3)
            diag = A.diagonal().mean().clamp_min(1e-12)
            A = A + torch.eye(A.shape[0], dtype=A.dtype) * (self.damping * diag + self.prior)
            if self.rest_prior > 0:
                # Weak pull of every non-root joint towards its rest rotation, in world axes: keeps
                # directions the view does not constrain (hidden limbs, twist) from drifting frame to frame.
                theta = _matrix_to_axis_angle(rot6d_to_matrix_torch(rot6d))  # (J, 3) local
                world_theta = (wr @ theta[..., None])[..., 0].double()
                # Per joint: rest_prior on twist about the bone axis, swing_prior across it (a strong
                # pull on swing holds small, weakly sampled limbs back from following the motion). Joints
                # without a single bone axis (leaves, branch points) get rest_prior in every direction.
                eye = torch.eye(3, dtype=torch.float64).expand(J, 3, 3)
                P = self.rest_prior * eye
                has = self.one_child >= 0
                if bool(has.any()) and self.swing_prior != self.rest_prior:
                    axis = (wt[self.one_child.clamp_min(0)] - wt).double()
                    length = axis.norm(dim=-1, keepdim=True)
                    has = has & (length[:, 0] > 1e-6)  # a child at the joint itself gives no axis
                    axis = axis / length.clamp_min(1e-12)
                    aa = axis[:, :, None] * axis[:, None, :]
                    split = self.rest_prior * aa + self.swing_prior * (eye - aa)
                    P = torch.where(has[:, None, None], split, P)
                blk = torch.arange(3, 3 * J).view(J - 1, 3)
                A[blk[:, :, None], blk[:, None, :]] += P[1:]
                g[3 : 3 * J] += (P[1:] @ world_theta[1:, :, None]).reshape(-1)
            rot6d, step = gauss_newton_update(A, g, fixed, rot6d, wr)
            root = root + step[3 * J : 3 * J + 3].float()
            if fit_scale:
                # Frames arrive roughly scaled (ICP, previous frame): a larger correction is a collapse
                # onto part of the model, not a scale.
                lo, hi = self.log_scale_bounds
                self.log_scale = float(np.clip(self.log_scale + float(step[-1].clamp(-0.05, 0.05)),
                                               max(-self.max_log_scale, lo), min(self.max_log_scale, hi)))
        return rot6d, root, math.exp(self.log_scale)
