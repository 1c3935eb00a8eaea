"""Prior-free inverse kinematics baselines: CCD and FABRIK, on the same handles as manifold IK.

Both only move joints to reach targets; neither knows what a plausible pose is, which is what the benchmarks
compare manifold IK against. The root translation is kept (as animators' IK does); pinned joints are handles
whose targets are their starting positions.

- :func:`ccd`: Cyclic Coordinate Descent (Wang & Chen 1991): for each handle, walk its ancestors from the
  effector up and turn each one so the effector points at the target.
- :func:`fabrik`: Forward And Backward Reaching IK (Aristidou & Lasenby 2011) on the path from the root to each
  effector, solved on positions and turned back into joint rotations (swing only) from the root down.

Both take optional joint limits (:class:`vips.limits.SwingTwistLimits`, e.g. from
:meth:`vips.posespace.PoseSpace.joint_limits`): each joint a solver turns is clamped into its limits (twist to
the nearer end of its range, swing into its ranges and cone) right after the turn, so every joint the solver moves
ends inside its limits; joints it never moves keep their starting rotation. A clamp can leave a sweep farther from
the targets than the sweep before it, so with limits the solvers return the sweep that came closest (or the start
pose, when no sweep came closer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from vips.kinematics import joint_positions, world_matrices
from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_multiply, quat_normalize

if TYPE_CHECKING:
    from vips.limits import SwingTwistLimits
    from vips.rig import Rig


def _targets(rig: "Rig", handles: Mapping[str, Sequence[float]], pins: Sequence[str], start: Poses):
    joints = [rig.joint_index(n) for n in handles] + [rig.joint_index(n) for n in pins]
    pos = joint_positions(rig, start)[0].astype(np.float64)
    targets = [np.asarray(handles[n], np.float64) for n in handles] + [pos[rig.joint_index(n)] for n in pins]
    return joints, targets


def _rotate_towards(rig: "Rig", pose: Poses, j: int, frm: np.ndarray, to: np.ndarray, world: np.ndarray,
                    limits: "SwingTwistLimits | None" = None) -> None:
    """Turn joint j (in place) by the smallest rotation taking world direction ``frm`` to ``to``, then clamp it
    into ``limits`` when given."""
    a, b = np.linalg.norm(frm), np.linalg.norm(to)
    if a < 1e-12 or b < 1e-12:
        return
    u, v = frm / a, to / b
    axis = np.cross(u, v)
    s, c = np.linalg.norm(axis), float(np.clip(u @ v, -1, 1))
    if s < 1e-9:
        return
    angle = np.arctan2(s, c)
    local_axis = world[j, :3, :3].T @ (axis / s)  # the world rotation expressed in joint j's frame
    dq = axis_angle_to_quat(local_axis * angle)
    q = quat_normalize(quat_multiply(pose.rotations[0, j].astype(np.float64), dq))
    pose.rotations[0, j] = q if limits is None else limits.clamp_joint(j, q)


def _check_limits(rig: "Rig", limits: "SwingTwistLimits | None") -> None:
    if limits is not None:
        limits.check_rig(rig)


def _error(rig: "Rig", pose: Poses, joints: list[int], targets: list[np.ndarray]) -> float:
    """The largest distance of a handle (or pin) joint to its target."""
    pos = joint_positions(rig, pose)[0]
    return max(np.linalg.norm(pos[e] - t) for e, t in zip(joints, targets))


def _keep_best(best: tuple[float, Poses], pose: Poses, error: float, limits: "SwingTwistLimits | None",
               ) -> tuple[float, Poses]:
    """(error, a copy of the pose) of the closest sweep so far. Only with limits: a clamped joint can leave a sweep
    farther from the targets than the one before, so the limited solvers return their best sweep."""
    if limits is None or error >= best[0]:
        return best
    return error, Poses(pose.rotations.copy(), pose.root_translation.copy(), pose.fps, pose.name)


def _ancestors(rig: "Rig", j: int) -> list[int]:
    out = []
    p = int(rig.parents[j])
    while p >= 0:
        out.append(p)
        p = int(rig.parents[p])
    return out


def ccd(rig: "Rig", handles: Mapping[str, Sequence[float]], init: Poses | None = None, pins: Sequence[str] = (),
        iterations: int = 20, tolerance: float = 1e-4, limits: "SwingTwistLimits | None" = None) -> Poses:
    """Cyclic Coordinate Descent IK for one pose (the first of ``init``, else the rest pose).

    Args:
        handles: joint name -> target position (asset space and units); pins: joints held where they start.
        iterations: sweeps over every handle; tolerance: stop when every handle is closer (fraction of height).
        limits: joint limits of ``rig``: every joint the solver turns is clamped into them after each turn.
    Returns one pose (``Poses`` of length 1, named "ccd").
    """
    pose = (init[0] if init is not None else Poses.identity(1, rig.num_joints))
    pose = Poses(pose.rotations.copy(), pose.root_translation.copy(), pose.fps, "ccd")
    _check_limits(rig, limits)
    joints, targets = _targets(rig, handles, pins, pose)
    tol = tolerance * rig.height()
    best = _keep_best((np.inf, pose), pose, _error(rig, pose, joints, targets), limits)
    for _ in range(iterations):
        for e, t in zip(joints, targets):
            for j in _ancestors(rig, e):
                world = world_matrices(rig, pose)[0].astype(np.float64)
                pj, pe = world[j, :3, 3], world[e, :3, 3]
                _rotate_towards(rig, pose, j, pe - pj, t - pj, world, limits)
        error = _error(rig, pose, joints, targets)
        best = _keep_best(best, pose, error, limits)
        if error < tol:
            break
    return pose if limits is None else best[1]


def fabrik(rig: "Rig", handles: Mapping[str, Sequence[float]], init: Poses | None = None, pins: Sequence[str] = (),
           iterations: int = 20, tolerance: float = 1e-4, limits: "SwingTwistLimits | None" = None) -> Poses:
    """FABRIK for one pose (the first of ``init``, else the rest pose): each handle's root-to-effector path is
    solved on positions, then its joints are turned (swing only) to the new bone directions, root first.

    Args and returns as :func:`ccd` (the pose is named "fabrik").
    """
    pose = (init[0] if init is not None else Poses.identity(1, rig.num_joints))
    pose = Poses(pose.rotations.copy(), pose.root_translation.copy(), pose.fps, "fabrik")
    _check_limits(rig, limits)
    joints, targets = _targets(rig, handles, pins, pose)
    tol = tolerance * rig.height()
    best = _keep_best((np.inf, pose), pose, _error(rig, pose, joints, targets), limits)
    for _ in range(iterations):
        for e, t in zip(joints, targets):
            chain = _ancestors(rig, e)[::-1] + [e]
            if len(chain) < 2:
                continue
            pos = joint_positions(rig, pose)[0].astype(np.float64)[chain]
            new = _fabrik_chain(pos, t, tol)
            for k in range(len(chain) - 1):  # swing each joint to its new bone direction, root first
                world = world_matrices(rig, pose)[0].astype(np.float64)
                j, child = chain[k], chain[k + 1]
                _rotate_towards(rig, pose, j, world[child, :3, 3] - world[j, :3, 3], new[k + 1] - new[k], world,
                                limits)
        error = _error(rig, pose, joints, targets)
        best = _keep_best(best, pose, error, limits)
        if error < tol:
            break
    return pose if limits is None else best[1]


def _fabrik_chain(p: np.ndarray, target: np.ndarray, tol: float, sweeps: int = 10) -> np.ndarray:
    """FABRIK on one chain of positions (n, 3) with a fixed base p[0]; returns the new positions."""
    p = p.copy()
    d = np.linalg.norm(np.diff(p, axis=0), axis=1)
    base = p[0].copy()
    if np.linalg.norm(target - base) >= d.sum():  # unreachable: stretch straight towards the target
        u = (target - base) / max(np.linalg.norm(target - base), 1e-12)
        return base + np.concatenate([[0.0], np.cumsum(d)])[:, None] * u
    for _ in range(sweeps):
        p[-1] = target
        for i in range(len(p) - 2, -1, -1):
            p[i] = p[i + 1] + d[i] * _unit(p[i] - p[i + 1])
        p[0] = base
        for i in range(len(p) - 1):
            p[i + 1] = p[i] + d[i] * _unit(p[i + 1] - p[i])
        if np.linalg.norm(p[-1] - target) < tol:
            break
    return p


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else np.array([0.0, 1.0, 0.0])
