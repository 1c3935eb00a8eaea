"""Motion between keyframes: a clip at a frame rate that passes through K key poses, stays on the pose model's
manifold and is smooth (:meth:`vips.posespace.PoseSpace.animate`).

Three stages, each smooth in time, so the clip is:

1. **Backbone.** The C2 joint-space spline through the keys (:func:`spline_poses`: a natural cubic spline of
   each joint's local rotation quaternion, on the hemisphere of the key before, renormalized, and of the root
   translation). Key k sits at frame ``round((times[k] - times[0]) * fps)`` and the spline's knots at those
   frames' times, so the keys are frames. (A spline of the model's 6D tokens was tried first and rejected: a
   token's columns can swing through near-opposite directions between two keys, and Gram-Schmidt then makes
   the path jerk; quaternions on one hemisphere stay well away from that.)
2. **Projection onto the manifold.** The backbone's frames, in the model's pose encoding
   (:mod:`vips.pose_encoding`), are noised to a small level ``strength`` with *one* noise draw shared by all
   frames and denoised by deterministic DDIM (SDEdit with a fixed draw): one smooth map applied to a smooth path,
   so no per-frame jitter (a draw per frame would add it). The move it makes is then made zero at the keys (its
   values at the key frames, splined over the clip with the same natural cubic spline, are taken off: the
   projection moves even a plausible key a little) and low-passed by a Gaussian over ``smoothing`` seconds (the
   model's map bends faster than the backbone does, and only the slow part of its pull is wanted); where the clip
   would still be more than :data:`JERK_BUDGET` times as jerky as the spline, the smoothing is doubled until it is
   not (:func:`_smooth_enough`). The keys stay exact; the placement (heading, ground position) stays the
   backbone's.
3. **Contacts (optional).** A ``contacts`` joint whose world positions at two neighbouring keys lie within
   ``contact_tolerance`` of the rig's height is planted on that segment: each of its frames is edited by manifold
   IK (:meth:`~vips.posespace.PoseSpace.solve_ik` from the frame at a low noise level) so the joint follows a
   smoothstep from its first key's position to its second's (see :func:`_hold_contacts`), in
   :data:`CONTACT_PASSES` passes, faded in with a C2 ramp where the set of planted joints changes.

Jerk, the smoothness measure reported here and by ``vips bench --only runtime``: per frame, the largest
absolute component over joints and axes of the third finite difference of the world joint positions,
``|p[f+3] - 3 p[f+2] + 3 p[f+1] - p[f]|``, divided by the rig's height (:func:`frame_jerk`); a clip's jerk
is its maximum over frames. It is per frame, not per second cubed, so compare clips at one frame rate.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vips import diffusion
from vips.errors import VipsError
from vips.pose_encoding import POSE_DIM, Placement, decode_poses, encode
from vips.poses import Poses
from vips.rotations import (axis_angle_to_quat, quat_conjugate, quat_multiply, quat_normalize, quat_slerp,
                            quat_to_axis_angle)

if TYPE_CHECKING:
    from vips.posespace import PoseSpace
    from vips.rig import Rig

#: Defaults of :func:`animate`: noise level (time in [0, 1]) and DDIM steps of the projection, the time scale
#: (seconds, a Gaussian's sigma) below which its move is filtered out, the segment fraction over which a contact edit
#: fades in where the planted joints change, and the contact test (fraction of the rig's height).
STRENGTH, STEPS, SMOOTHING, RAMP, CONTACT_TOLERANCE = 0.3, 8, 0.3, 0.25, 0.02
#: Default of :func:`animate`: the clip's maximum jerk may be at most this times the C2 spline's through the keys
#: (the issue's target is 2x; the margin covers the contact edits that come after), and how often the smoothing is
#: doubled to get there before the projection is dropped.
JERK_BUDGET, SMOOTHING_DOUBLINGS = 1.5, 4
#: Manifold IK settings of a contact edit: noise level the frame is inverted to, and guided DDIM steps.
CONTACT_NOISE, CONTACT_STEPS = 0.2, 5
#: Contact passes: each edits the clip the last one left (the edit is linearized, so a second pass takes the
#: contact joints most of the rest of the way).
CONTACT_PASSES = 2
#: Longest clip :func:`frame_times` makes (frames), so a typo in --at or --fps fails instead of filling the disk.
MAX_FRAMES = 100_000
_CHUNK = 512  # frames per denoiser batch of the projection (bounds memory on long clips)


@dataclass
class AnimationReport:
    """What :func:`animate` made and how it measures.

    Attributes:
        key_frames: (K,) frame index of each key.
        jerk: (F - 3,) :func:`frame_jerk` of the clip.
        scores, plausible: (F,) the model's plausibility score and flag of every frame (empty when not scored).
        contacts: planted joint name -> list of (first key, second key) segments it is planted on.
        contact_error: planted joint name -> largest distance (fraction of the rig's height) from its planted
            path over the frames of its segments.
        smoothing: the projection's smoothing (seconds) that met the jerk budget; inf where the projection was
            dropped (the clip is the spline).
        seconds: wall-clock time of :func:`animate`.
    """

    key_frames: np.ndarray
    jerk: np.ndarray
    scores: np.ndarray
    plausible: np.ndarray
    contacts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    contact_error: dict[str, float] = field(default_factory=dict)
    smoothing: float = 0.0
    seconds: float = 0.0

    @property
    def max_jerk(self) -> float:
        return float(self.jerk.max(initial=0.0))

    @property
    def plausible_fraction(self) -> float:
        return float(np.mean(self.plausible)) if len(self.plausible) else float("nan")


# ----- time ----------------------------------------------------------------------------------------------------
def frame_times(times: Sequence[float], fps: float, num_keys: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(frame times (F,), key frames (K,))`` of a clip at ``fps`` from ``times[0]`` to ``times[-1]`` seconds.

    Key k lands on frame ``round((times[k] - times[0]) * fps)``; frame f is at ``times[0] + f / fps``. Raises
    :class:`VipsError` for fewer than two keys, times that are not finite and increasing, two keys on one frame,
    or a clip longer than :data:`MAX_FRAMES` frames.
    """
    t = np.asarray(times, np.float64).reshape(-1)
    if not (np.isfinite(fps) and fps > 0):
        raise VipsError(f"animate: fps must be a finite number above 0, got {fps}")
    if num_keys is not None and len(t) != num_keys:
        raise VipsError(f"animate: {num_keys} keys but {len(t)} times; give one time (seconds) per key")
    if len(t) < 2 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
        raise VipsError(f"animate: key times must be at least two finite, increasing seconds, got {t.tolist()}")
    frames = np.rint((t - t[0]) * fps)
    if frames[-1] + 1 > MAX_FRAMES:
        raise VipsError(f"animate: {t[-1] - t[0]:g} s at {fps:g} fps is {frames[-1] + 1:g} frames, more than "
                        f"{MAX_FRAMES}")
    keys = frames.astype(np.int64)
    same = np.flatnonzero(np.diff(keys) == 0)
    if len(same):
        k = int(same[0])
        raise VipsError(f"animate: keys {k} and {k + 1} (at {t[k]:g} s and {t[k + 1]:g} s) fall on the same frame at "
                        f"{fps:g} fps; space keys at least 1/fps apart or raise fps")
    return t[0] + np.arange(keys[-1] + 1) / fps, keys


def segment_phase(num_frames: int, key_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(segment (F,), phase (F,))``: the key segment k (from key k to k + 1) each frame lies in and how far
    along it, 0 at key k and 1 at key k + 1 (the last frame: the last segment, phase 1)."""
    f = np.arange(num_frames)
    seg = np.clip(np.searchsorted(key_frames, f, side="right") - 1, 0, len(key_frames) - 2)
    phase = (f - key_frames[seg]) / (key_frames[seg + 1] - key_frames[seg])
    return seg, phase


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Quintic smoothstep ``6x^5 - 15x^4 + 10x^3`` of x clipped to [0, 1]: 0 to 1 with zero first and second
    derivatives at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x ** 3 * (x * (6 * x - 15) + 10)


def natural_cubic_spline(knots: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The natural cubic spline through ``values`` (K, ...) at increasing ``knots`` (K,), evaluated at ``at`` (F,)
    -> (F, ...) float64. Two knots give the straight line; second derivatives vanish at both ends."""
    x = np.asarray(knots, np.float64)
    y = np.asarray(values, np.float64).reshape(len(x), -1)
    at = np.asarray(at, np.float64)
    K = len(x)
    h = np.diff(x)
    m = np.zeros_like(y)  # second derivatives at the knots
    if K > 2:
        a = np.zeros((K - 2, K - 2))
        i = np.arange(K - 2)
        a[i, i] = 2 * (h[:-1] + h[1:])
        a[i[1:], i[:-1]] = h[1:-1]
        a[i[:-1], i[1:]] = h[1:-1]
        slope = np.diff(y, axis=0) / h[:, None]
        m[1:-1] = np.linalg.solve(a, 6 * np.diff(slope, axis=0))
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, K - 2)
    hk = h[k][:, None]
    u, v = (x[k + 1][:, None] - at[:, None]) / hk, (at[:, None] - x[k][:, None]) / hk
    out = u * y[k] + v * y[k + 1] + hk ** 2 / 6 * ((u ** 3 - u) * m[k] + (v ** 3 - v) * m[k + 1])
    return out.reshape((len(at),) + np.shape(values)[1:])


# ----- smoothness ----------------------------------------------------------------------------------------------
def frame_jerk(positions: np.ndarray, height: float) -> np.ndarray:
    """(F - 3,) jerk of a path of joint positions (F, J, 3): per frame, the largest absolute component of the
    third finite difference over joints and axes, divided by ``height`` (see the module docstring)."""
    p = np.asarray(positions, np.float64)
    if len(p) < 4:
        return np.zeros(0)
    return np.abs(np.diff(p, 3, axis=0)).reshape(len(p) - 3, -1).max(axis=1) / float(height)


def clip_jerk(rig: "Rig", poses: Poses) -> np.ndarray:
    """(F - 3,) :func:`frame_jerk` of ``poses`` of ``rig`` (world joint positions by forward kinematics)."""
    from vips.kinematics import joint_positions

    return frame_jerk(joint_positions(rig, poses), rig.height())


# ----- baselines -----------------------------------------------------------------------------------------------
def spline_poses(keys: Poses, times: Sequence[float], fps: float, name: str = "spline") -> Poses:
    """The C2 joint-space spline through ``keys``: a natural cubic spline of each joint's local rotation
    (quaternion components, each key on the hemisphere of the one before it, renormalized) and of the root
    translation, at ``fps`` (keys on frames as :func:`frame_times` puts them)."""
    ft, kf = frame_times(times, fps, len(keys))
    return _joint_spline(keys, ft, kf, fps, name)


def _joint_spline(keys: Poses, ft: np.ndarray, kf: np.ndarray, fps: float, name: str) -> Poses:
    q = _hemisphere(keys.rotations.astype(np.float64))
    knots = ft[kf]
    rot = quat_normalize(natural_cubic_spline(knots, q, ft))
    root = natural_cubic_spline(knots, keys.root_translation, ft)
    return _with_keys(Poses(rot.astype(np.float32), root.astype(np.float32), fps, name), keys, kf)


def slerp_poses(keys: Poses, times: Sequence[float], fps: float, name: str = "slerp") -> Poses:
    """Piecewise joint-space interpolation through ``keys``: each joint's local rotation slerped and the root
    translation lerped from key to key, at ``fps`` (C0 at the keys)."""
    ft, kf = frame_times(times, fps, len(keys))
    seg, phase = segment_phase(len(ft), kf)
    rot = quat_slerp(keys.rotations[seg].astype(np.float64), keys.rotations[seg + 1].astype(np.float64),
                     np.repeat(phase[:, None], keys.num_joints, axis=1))
    ph = phase[:, None]
    root = (1 - ph) * keys.root_translation[seg] + ph * keys.root_translation[seg + 1]
    return _with_keys(Poses(rot.astype(np.float32), root.astype(np.float32), fps, name), keys, kf)


def _hemisphere(q: np.ndarray) -> np.ndarray:
    """(K, J, 4) quaternions, each flipped onto the hemisphere of the previous key's (the shorter turn)."""
    q = q.copy()
    for k in range(1, len(q)):
        flip = (q[k] * q[k - 1]).sum(-1) < 0
        q[k, flip] *= -1
    return q


def _with_keys(poses: Poses, keys: Poses, key_frames: np.ndarray) -> Poses:
    """``poses`` with frame ``key_frames[k]`` set to key k bit for bit."""
    poses.rotations[key_frames] = keys.rotations
    poses.root_translation[key_frames] = keys.root_translation
    return poses


# ----- the animation -------------------------------------------------------------------------------------------
def animate(
    space: "PoseSpace",
    keys: Poses,
    times: Sequence[float],
    fps: float = 30.0,
    contacts: Sequence[str] = (),
    strength: float = STRENGTH,
    steps: int = STEPS,
    smoothing: float = SMOOTHING,
    jerk_budget: float | None = JERK_BUDGET,
    ramp: float = RAMP,
    contact_tolerance: float = CONTACT_TOLERANCE,
    seed: int = 0,
    score: bool = True,
) -> tuple[Poses, AnimationReport]:
    """A clip at ``fps`` through ``keys`` (K poses) at ``times`` (K,) seconds; see the module docstring.

    Args:
        space: the pose space of the keys' rig.
        keys: (K) poses, K >= 2.
        times: (K,) increasing seconds; key k is frame ``round((times[k] - times[0]) * fps)``.
        fps: frames per second of the clip (its ``fps``).
        contacts: joints (names) that stay put on the segments where both keys plant them.
        strength: noise level in [0, 1] the backbone is projected from (0: the spline itself).
        steps: DDIM steps of the projection.
        smoothing: seconds (a Gaussian's sigma) below which the projection's move is filtered out (0: not).
        jerk_budget: the clip's maximum jerk may be at most this times the spline's; the smoothing is doubled until
            it is (see :func:`_smooth_enough`; None: no limit). Contact edits come after and are not counted.
        ramp: fraction of a segment (in (0, 0.5]) over which a contact edit fades in or out at a key where the
            set of planted joints changes.
        contact_tolerance: a contact joint is planted on a segment when its positions at the two keys lie within
            this fraction of the rig's height.
        seed: the projection's shared noise draw.
        score: score every frame for the report (else its ``scores`` and ``plausible`` are empty).
    Returns ``(clip (F poses, F = key_frames[-1] + 1), report)``.
    """
    start = time.perf_counter()
    rig = space.rig
    keys.check_rig(space.num_joints, f"rig {rig.label}")
    if not (0.0 <= strength <= 1.0 and steps >= 1 and 0.0 <= smoothing < np.inf and 0.0 < ramp <= 0.5
            and 0.0 <= contact_tolerance < np.inf):
        raise VipsError(f"animate: needs 0 <= strength <= 1, steps >= 1, smoothing >= 0, 0 < ramp <= 0.5 and "
                        f"contact_tolerance >= 0; got strength={strength}, steps={steps}, smoothing={smoothing}, "
                        f"ramp={ramp}, contact_tolerance={contact_tolerance}")
    contacts = list(contacts)
    for name in contacts:
        rig.joint_index(name)  # raises with the rig's joint names
    ft, kf = frame_times(times, fps, len(keys))
    spline = _joint_spline(keys, ft, kf, fps, "animation")
    x, place = encode(spline, space.cond)
    place = Placement(np.unwrap(place.heading), place.offset)  # turns continuously
    move = _projection_move(space, x, ft, kf, strength, steps, seed)
    clip, used = _smooth_enough(space, spline, keys, x, place, move, ft, kf, smoothing, jerk_budget)
    planted = _planted(rig, keys, contacts, contact_tolerance)
    for _ in range(CONTACT_PASSES if planted else 0):
        clip = _hold_contacts(space, clip, keys, planted, kf, ramp)
    report = _report(space, clip, kf, planted, score)
    report.smoothing, report.seconds = used, time.perf_counter() - start
    return clip, report


def _projection_move(space: "PoseSpace", x: np.ndarray, ft: np.ndarray, kf: np.ndarray, strength: float,
                     steps: int, seed: int) -> np.ndarray:
    """(F, J, 9) float64 how the projection moves the pose vectors ``x`` (F, J, 9): each frame noised to
    ``strength`` with one draw shared by all frames and denoised by DDIM; made zero at the keys (its values there,
    splined over the clip, are taken off)."""
    if strength <= 0:
        return np.zeros(x.shape)
    info = space.info
    eps = diffusion.sample_noise((1, space.num_joints, POSE_DIM), seed, space.mask)
    ab = float(diffusion.alpha_bar(strength, info.shift))
    x_t = diffusion.add_noise(x, eps, ab).astype(np.float32)
    x0 = np.concatenate([diffusion.sample(space.denoiser, space.encoded, x_t[lo:lo + _CHUNK], steps,
                                          channel_mask=space.mask, t_max=strength, spacing=info.spacing,
                                          shift=info.shift) for lo in range(0, len(x_t), _CHUNK)])
    return _zero_at_keys((x0.astype(np.float64) - x) * space.mask, ft, kf)


def _smooth_enough(space: "PoseSpace", spline: Poses, keys: Poses, x: np.ndarray, place: Placement,
                   move: np.ndarray, ft: np.ndarray, kf: np.ndarray, smoothing: float,
                   budget: float | None) -> tuple[Poses, float]:
    """``(clip, smoothing used)``: the spline with the projection's ``move`` low-passed over ``smoothing`` seconds,
    the smoothing doubled (up to :data:`SMOOTHING_DOUBLINGS` times, then the move dropped) until the clip's maximum
    jerk is within ``budget`` times the spline's (None: no check). The projection's change is decoded and applied
    to the spline, not decoded as the pose itself, so what the encoding does not hold (joints above the body root,
    helper joints) stays as the spline has it."""
    from vips.kinematics import joint_positions

    rig = space.rig
    before = decode_poses(x, space.cond, place)
    limit = None if budget is None else budget * frame_jerk(joint_positions(rig, spline), rig.height()).max(initial=0)
    tries = [smoothing * 2 ** k if smoothing > 0 else (2 ** k - 1) * SMOOTHING for k in range(SMOOTHING_DOUBLINGS + 1)]
    for sigma in tries if move.any() else []:
        m = _zero_at_keys(gaussian_filter(move, sigma / (ft[1] - ft[0])), ft, kf) if sigma > 0 else move
        after = decode_poses((x + m).astype(np.float32), space.cond, place)
        clip = _with_keys(_apply_change(spline, _local_change(before, after)), keys, kf)
        if limit is None or frame_jerk(joint_positions(rig, clip), rig.height()).max(initial=0) <= limit:
            return clip, sigma
    return spline, float("inf")


def _zero_at_keys(values: np.ndarray, ft: np.ndarray, kf: np.ndarray) -> np.ndarray:
    """``values`` (F, ...) minus the natural cubic spline through their values at the key frames: zero there."""
    return values - natural_cubic_spline(ft[kf], values[kf], ft)


def gaussian_filter(values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (F, ...) low-passed along the frames by a Gaussian of ``sigma`` frames (cut at 4 sigma); the
    ends are extended by odd reflection about the end frames, so end values and straight lines are kept."""
    v = np.asarray(values, np.float64)
    F = len(v)
    r = min(int(np.ceil(4 * sigma)), F - 1)
    if sigma <= 0 or r < 1:
        return v.copy()
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    w /= w.sum()
    padded = np.concatenate([2 * v[:1] - v[r:0:-1], v, 2 * v[-1:] - v[-2:-r - 2:-1]])
    return sum(wk * padded[k:k + F] for k, wk in enumerate(w))


def _local_change(before: Poses, after: Poses) -> np.ndarray:
    """(F, J + 1, 3) float64 what takes ``before`` to ``after``: per joint the rotation vector of the change of its
    local rotation (``before^-1 after``, in the joint's frame), then the root translation's shift."""
    turn = quat_multiply(quat_conjugate(before.rotations.astype(np.float64)), after.rotations.astype(np.float64))
    return np.concatenate([quat_to_axis_angle(turn), (after.root_translation.astype(np.float64)
                                                      - before.root_translation)[:, None]], axis=1)


def _apply_change(poses: Poses, change: np.ndarray) -> Poses:
    """``poses`` with a :func:`_local_change` (F, J + 1, 3) applied."""
    J = poses.num_joints
    rot = quat_multiply(poses.rotations.astype(np.float64), axis_angle_to_quat(change[:, :J]))
    root = poses.root_translation + change[:, J]
    return Poses(rot.astype(np.float32), root.astype(np.float32), poses.fps, poses.name)


def _planted(rig: "Rig", keys: Poses, contacts: list[str], tolerance: float) -> dict[str, list[tuple[int, int]]]:
    """Contact joint name -> the key segments (k, k + 1) on which both keys plant it (positions within
    ``tolerance`` of the height)."""
    from vips.kinematics import joint_positions

    if not contacts:
        return {}
    pos = joint_positions(rig, keys).astype(np.float64)
    out: dict[str, list[tuple[int, int]]] = {}
    for name in contacts:
        j = rig.joint_index(name)
        moved = np.linalg.norm(np.diff(pos[:, j], axis=0), axis=-1) / rig.height()
        spans = [(k, k + 1) for k in np.flatnonzero(moved <= tolerance).tolist()]
        if spans:
            out[name] = spans
    return out


def _contact_targets(rig: "Rig", keys: Poses, planted: dict[str, list[tuple[int, int]]], kf: np.ndarray,
                     ) -> dict[int, dict[str, np.ndarray]]:
    """Frame -> {planted joint name: (3,) target}, over each planted segment's frames, its keys included: a
    smoothstep from the joint's position at the first key to its position at the second."""
    from vips.kinematics import joint_positions

    pos = joint_positions(rig, keys).astype(np.float64)
    out: dict[int, dict[str, np.ndarray]] = {}
    for name, spans in planted.items():
        j = rig.joint_index(name)
        for k, _ in spans:
            s = smoothstep(np.linspace(0.0, 1.0, kf[k + 1] - kf[k] + 1))
            for i, f in enumerate(range(kf[k], kf[k + 1] + 1)):
                out.setdefault(f, {})[name] = (1 - s[i]) * pos[k, j] + s[i] * pos[k + 1, j]
    return out


def _contact_weight(planted: dict[str, list[tuple[int, int]]], kf: np.ndarray, ramp: float) -> np.ndarray:
    """(F,) how much of the contact edit each frame takes: 1 on planted segments, fading (C2) to 0 over a fraction
    ``ramp`` of the segment at a key where the set of planted joints changes; 0 elsewhere."""
    K = len(kf)
    sets = [frozenset(n for n, spans in planted.items() if (k, k + 1) in spans) for k in range(K - 1)]
    w = np.zeros(kf[-1] + 1)
    for k, joints in enumerate(sets):
        if not joints:
            continue
        phase = np.linspace(0.0, 1.0, kf[k + 1] - kf[k] + 1)
        wk = np.ones_like(phase)
        if k > 0 and sets[k - 1] != joints:
            wk *= smoothstep(phase / ramp)
        if k < K - 2 and sets[k + 1] != joints:
            wk *= smoothstep((1.0 - phase) / ramp)
        w[kf[k]:kf[k + 1] + 1] = np.maximum(w[kf[k]:kf[k + 1] + 1], wk)
    return w


def _hold_contacts(space: "PoseSpace", clip: Poses, keys: Poses, planted: dict[str, list[tuple[int, int]]],
                   kf: np.ndarray, ramp: float) -> Poses:
    """The clip with the frames of planted segments edited by manifold IK towards their contact targets.

    IK from a low noise level does not return its start pose exactly even when every handle is met, so a frame's
    edit is the difference of two solves from that frame: towards the contact targets, and with the contact joints
    pinned where they are (one batch per set of joints). The difference (per joint a rotation vector of the local
    change, plus the root's shift) moves the joints by what the targets ask, is zero at the keys (where the two
    solves ask the same) and as smooth as the frames; it is weighted by :func:`_contact_weight`, so the clip stays
    smooth where a contact starts or ends.
    """
    from vips.errors import IKWarning

    rig = space.rig
    move = np.zeros((len(clip), space.num_joints + 1, 3))
    targets = _contact_targets(rig, keys, planted, kf)
    groups: dict[tuple[str, ...], list[int]] = {}
    for f, handles in targets.items():
        groups.setdefault(tuple(sorted(handles)), []).append(f)
    options = {"steps": CONTACT_STEPS, "noise_level": CONTACT_NOISE, "tolerance": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IKWarning)
        for names, frames in groups.items():
            idx = np.asarray(frames)
            still = space.solve_ik({}, init=clip[idx], pins=names, **options)  # pins: where the joints are
            edit = Poses.concatenate([space.solve_ik(targets[f], init=clip[f], **options) for f in frames])
            move[idx] = _local_change(still, edit)
    move *= _contact_weight(planted, kf, ramp)[:, None, None]
    return _with_keys(_apply_change(clip, move), keys, kf)


def _report(space: "PoseSpace", clip: Poses, kf: np.ndarray, planted: dict[str, list[tuple[int, int]]],
            score: bool) -> AnimationReport:
    from vips.kinematics import joint_positions

    rig = space.rig
    pos = joint_positions(rig, clip).astype(np.float64)
    scores, plausible = np.zeros(0, np.float32), np.zeros(0, bool)
    if score:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, plausible = space.score(clip)
    errors = {}
    for name, spans in planted.items():
        j = rig.joint_index(name)
        worst = 0.0
        for k, k1 in spans:
            path = pos[kf[k]:kf[k1] + 1, j]
            key_path = pos[[kf[k], kf[k1]], j]
            s = smoothstep(np.linspace(0.0, 1.0, len(path)))[:, None]
            want = (1 - s) * key_path[0] + s * key_path[1]
            worst = max(worst, float(np.linalg.norm(path - want, axis=-1).max()))
        errors[name] = worst / rig.height()
    return AnimationReport(kf, frame_jerk(pos, rig.height()), scores, plausible, planted, errors)

