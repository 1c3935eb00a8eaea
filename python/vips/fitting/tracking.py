"""A frame-to-frame tracking baseline, to show where tracking drifts and per-frame fitting does not.

Tracking-based pipelines (Puppeteer and others) propagate correspondences: each tracked surface point
moves to its nearest neighbour in the next frame, and the pose follows the tracked points. Errors add up:
a point that snaps to a slightly wrong place never comes back, and points hidden for a while stay behind.
:func:`track_poses` implements that scheme with the same skinning model and Gauss-Newton machinery as
:func:`vips.fitting.fit_poses`, so a comparison isolates the correspondence strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vips.fitting.alignment import Similarity, similarity_icp
from vips.fitting.articulated import gauss_newton_update, subtree_weights
from vips.fitting.body import Body
from vips.fitting.nn import nearest_single
from vips.fitting.params import params_from_poses, poses_from_params
from vips.fitting.settings import ProgressFn
from vips.fitting.threads import single_thread
from vips.poses import Poses

if TYPE_CHECKING:
    from vips.rig import Rig


def _solve_tracks(body: Body, sub: torch.Tensor, rot6d: torch.Tensor, root: torch.Tensor, targets: torch.Tensor,
                  valid: torch.Tensor, iterations: int, sample_ids: torch.Tensor,
                  prior: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Newton on point-to-point residuals ``x_i(pose) - target_i`` over the valid tracks
    (track ``i`` follows model sample ``sample_ids[i]``)."""
    J = body.num_joints
    track_idx = torch.nonzero(valid)[:, 0]
    idx = sample_ids[track_idx]
    targets = targets[track_idx]
    if len(idx) < 10:
        return rot6d, root
    for _ in range(iterations):
        wr, wt = body.forward_kinematics(rot6d[None], root[None])
        x = body.surface_and_edges(body.skin(wr, wt))[0][0][idx]
        r = (x - targets).reshape(-1)  # (3R,)
        arm = x[:, None, :] - wt[0][None]  # (R, J, 3)
        s = sub[idx]
        # d(w x a)/dw = -[a]x : rows for the x, y, z residual components.
        zeros = torch.zeros_like(arm[..., 0])
        skew = torch.stack([
            torch.stack([zeros, arm[..., 2], -arm[..., 1]], -1),
            torch.stack([-arm[..., 2], zeros, arm[..., 0]], -1),
            torch.stack([arm[..., 1], -arm[..., 0], zeros], -1),
        ], -2)  # (R, J, 3, 3): row = residual component, col = omega component
        jac_rot = (s[..., None, None] * skew).permute(0, 2, 1, 3).reshape(len(idx) * 3, J * 3)
        jac_t = torch.eye(3).repeat(len(idx), 1)
        jm = torch.cat([jac_rot, jac_t], 1).double()
        A = jm.T @ jm / len(idx)
        g = jm.T @ r.double() / len(idx)
        A = A + torch.eye(A.shape[0], dtype=A.dtype) * (1e-3 * A.diagonal().mean() + prior)
        fixed = torch.zeros(A.shape[0], dtype=torch.bool)
        fixed[: 3 * J] = (~body.observable).repeat_interleave(3)
        rot6d, step = gauss_newton_update(A, g, fixed, rot6d, wr[0])
        root = root + step[3 * J :].float()
    return rot6d, root


def track_poses(
    rig: "Rig",
    frames: list[np.ndarray],
    alignments: list[Similarity],
    first_pose: Poses,
    max_jump: float = 0.04,
    iterations: int = 8,
    num_samples: int = 1500,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[Poses, list[Similarity]]:
    """Track a pose through the frames by propagating nearest-neighbour correspondences.

    Args:
        rig: the rigged first frame.
        frames: F clouds (N_f, 3), each in its own frame.
        alignments: F similarities from each frame to world space (e.g. those :func:`fit_poses` found, so a
            comparison with it differs only in the correspondences).
        first_pose: the pose of frame 0 (one pose), where tracking starts.
        max_jump: a track moves to its nearest neighbour in the next frame only when that is closer than
            this fraction of the rig height; otherwise it stays put and is left out of the fit (occluded).
        iterations: Gauss-Newton iterations per frame.

    Returns:
        F poses (frame 0 is ``first_pose``) and the F alignments tracking used (``alignments`` refined by a
        rigid ICP of each frame against the current tracks).
    """
    with single_thread():
        body = Body(rig, num_samples, seed)
        sub = subtree_weights(body)
        rot, root = params_from_poses(body, first_pose)
        rot, root = rot[0], root[0]
        with torch.no_grad():
            wr, wt = body.forward_kinematics(rot[None], root[None])
            tracks = body.surface_and_edges(body.skin(wr, wt))[0][0].clone()
        # Only points the first frame saw are tracked (a tracker follows what it can see).
        cloud0 = body.to_normalized(alignments[0].apply(np.asarray(frames[0], np.float64)))
        d0, _ = nearest_single(tracks.numpy(), cloud0)
        seen = d0 < (0.5 * max_jump) ** 2
        if seen.sum() >= 10:
            tracks = tracks[torch.from_numpy(seen)]
            sample_ids = torch.nonzero(torch.from_numpy(seen))[:, 0]
        else:
            sample_ids = torch.arange(len(tracks))
        rots, roots = [rot], [root]
        used = [alignments[0]]
        for f in range(1, len(frames)):
            cloud = body.to_normalized(alignments[f].apply(np.asarray(frames[f], np.float64)))
            # Undo what is left of the frame's rigid misalignment against the current tracks first.
            rigid, _ = similarity_icp(cloud, tracks.numpy(), iterations=15, trim=0.7, with_scale=False)
            cloud = rigid.apply(cloud).astype(np.float32)
            # The same step in asset units, composed into the frame's alignment.
            h, c = body.height, body.center_np
            asset_step = Similarity(1.0, rigid.rotation, h * rigid.translation + c - rigid.rotation @ c)
            used.append(asset_step.compose(alignments[f]))
            d2, i = nearest_single(tracks.numpy(), cloud)
            valid = torch.from_numpy(d2 < max_jump**2)
            moved = torch.from_numpy(cloud[np.maximum(i, 0)])
            tracks = torch.where(valid[:, None], moved, tracks)
            with torch.no_grad():
                rot, root = _solve_tracks(body, sub, rot, root, tracks, valid, iterations, sample_ids)
            rots.append(rot)
            roots.append(root)
            if progress is not None:
                progress("track", f + 1, len(frames))
        poses = poses_from_params(body, torch.stack(rots), torch.stack(roots), first_pose.fps, "tracked")
        return poses, used
