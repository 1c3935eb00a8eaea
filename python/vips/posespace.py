"""The user-facing pose space of one rigged asset: sample, invert, traverse, edit (manifold IK) and score poses.

``PoseSpace(rig)`` loads the shipped default model (or ``model=FOLDER``, see :mod:`vips.runtime.model_dir`),
encodes the rig once, and runs the backend-free sampler of :mod:`vips.diffusion` on ONNX Runtime (default,
torch-free) or torch. Numpy in, numpy out; every random draw comes from an explicit seed.

Manifold IK runs the C++ guided DDIM loop (``csrc/guided``, :func:`vips.native.guided_sample`) with the
backend as its denoiser callback: the same loop an engine plugin links.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from vips import diffusion
from vips.body import judged_joints, visible_joints
from vips.errors import IKWarning, MissingExtra, PoseError, VipsError
from vips.features import rig_conditioning
from vips.helper_joints import carried_joints, helper_excess
from vips.kinematics import joint_positions
from vips.limits import DEFAULT_CLIP_MARGIN, DEFAULT_COVERAGE
from vips.pose_encoding import POSE_DIM, Placement, channel_mask, decode_poses, encode, encode_poses, \
    placement_transforms
from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_slerp
from vips.model_contract import DEFAULT_MODEL_DIR, default_model_dir  # noqa: F401 - re-exported here
from vips.runtime.model_dir import SCORE_REDUCTIONS, ModelInfo, read_model_dir, write_model_json

if TYPE_CHECKING:
    from vips.rig import Rig

BACKENDS = ("onnx", "torch")
#: Samples and DDIM steps of :meth:`PoseSpace.reference_error`, the rig's own scale of a relative score.
REFERENCE_SAMPLES, REFERENCE_STEPS = 32, 20
#: Near-rest poses of :meth:`PoseSpace.rest_errors`: how many, and the standard deviation (degrees) of the random
#: turn of every joint (the median over a few nearby poses is steadier than the rest pose's one value; 0 to 10
#: degrees and 16 to 64 poses chose the same operating point on the validation data, training/README.md).
REST_POSES, REST_JITTER_DEGREES = 16, 5.0
#: :meth:`PoseSpace.solve_ik` warns (:class:`vips.errors.IKWarning`) when a handle ends farther than this fraction
#: of the rig's height from its target.
IK_TOLERANCE = 0.05
_SCORE_CHUNK = 1024


@dataclass
class IKReport:
    """How well a :meth:`PoseSpace.solve_ik` result meets its handles.

    Attributes:
        joints: names of the position handles (pins included, in order).
        error: (B, H) distance of each handle joint to its target, asset units.
        relative_error: (B, H) the same divided by the rig's height.
        aim_error_degrees: (B, A) angle between each aimed bone and its look-at direction.
        energy: (B,) the loop's final height-normalized energy.
        kinds: "handle" or "pin" for each of ``joints``.
    """

    joints: list[str]
    error: np.ndarray
    relative_error: np.ndarray
    aim_error_degrees: np.ndarray
    energy: np.ndarray
    kinds: list[str] = field(default_factory=list)

    @property
    def max_relative_error(self) -> float:
        return float(self.relative_error.max(initial=0.0))

    def missed(self, tolerance: float = IK_TOLERANCE) -> list[int]:
        """Indices into :attr:`joints` of the handles and pins that end farther than ``tolerance`` (a fraction of
        the rig's height) from their target in at least one pose."""
        if self.relative_error.size == 0:
            return []
        return [int(h) for h in np.flatnonzero(self.relative_error.max(axis=0) > tolerance)]

    def miss_message(self, tolerance: float = IK_TOLERANCE) -> str | None:
        """One line naming each :meth:`missed` handle or pin with its distance in asset units and in % of the rig's
        height (in its worst pose), or None when all are within ``tolerance``."""
        missed = self.missed(tolerance)
        if not missed:
            return None
        B = self.error.shape[0]
        parts = []
        for h in missed:
            rel = self.relative_error[:, h]
            b = int(np.argmax(rel))
            kind = self.kinds[h] if h < len(self.kinds) else "handle"
            where = f" (pose {b}; {int(np.sum(rel > tolerance))} of {B} poses miss)" if B > 1 else ""
            parts.append(f"{kind} '{self.joints[h]}' ends {self.error[b, h]:.4g} units ({rel[b]:.1%} of the rig's "
                         f"height) from its target{where}")
        return (f"solve_ik: {'; '.join(parts)}; the tolerance is {tolerance:.1%} of the height: a target may be out "
                "of reach, conflict with another, or ask more than the pose model bends the rig")


class PoseSpace:
    """The learned pose space of ``rig``.

    Args:
        rig: the rigged asset.
        model: a model folder (ONNX graphs + ``model.safetensors`` + ``model.json``); None for the default.
        backend: "onnx" (ONNX Runtime; CPU, or CUDA where the provider exists) or "torch".
        threads: ONNX Runtime intra-op threads (0: its default).
        providers: ONNX Runtime execution providers (default: CUDA when available, then CPU).
        device: torch device for the torch backend.
    """

    def __init__(self, rig: "Rig", model: str | os.PathLike[str] | None = None, backend: str = "onnx",
                 threads: int = 0, providers: list[str] | None = None, device: str = "cpu") -> None:
        if backend not in BACKENDS:
            raise VipsError(f"unknown backend '{backend}' (use one of {', '.join(BACKENDS)})")
        self.rig = rig
        self.info: ModelInfo = read_model_dir(model if model is not None else default_model_dir())
        self.backend = backend
        self.denoiser = _make_denoiser(self.info, backend, threads, providers, device)
        if self.info.prediction is not None and self.info.prediction != self.denoiser.prediction:
            raise VipsError(f"{self.info.folder}: model.json says prediction '{self.info.prediction}' but the "
                            f"graphs predict '{self.denoiser.prediction}'")
        self.cond = rig_conditioning(rig)
        self.encoded = self.denoiser.encode(self.cond)
        self.mask = channel_mask(self.cond)
        self.last_ik_report: IKReport | None = None
        self._reference_error: float | None = None
        self._rest_errors: np.ndarray | None = None

    # ----- identity ------------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def threshold(self) -> float | None:
        """The calibrated plausibility threshold (None when the model was never calibrated)."""
        return self.info.threshold

    @property
    def num_joints(self) -> int:
        return self.rig.num_joints

    def __repr__(self) -> str:
        return f"PoseSpace({self.rig!r}, model={self.model_id!r}, backend={self.backend!r})"

    # ----- sampling, inversion, decoding ---------------------------------------------------------------------
    def sample(self, n: int, seed: int = 0, steps: int = 50) -> Poses:
        """``n`` poses drawn with deterministic DDIM (eta = 0) from the latent of ``seed``; same seed, same poses."""
        if n < 1:
            raise VipsError(f"sample: n must be >= 1, got {n}")
        x_T = diffusion.sample_noise((n, self.num_joints, POSE_DIM), seed, self.mask)
        return self.decode(x_T, steps, name="samples")

    def noise(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, J, 9) float32 standard normal latents of ``seed`` (what :meth:`sample` decodes)."""
        return diffusion.sample_noise((n, self.num_joints, POSE_DIM), seed, self.mask)

    def invert(self, poses: Poses, steps: int = 50) -> np.ndarray:
        """Deterministic DDIM inversion (eta = 0): poses (N) -> latents (N, J, 9) float32 at t = 1."""
        poses.check_rig(self.num_joints, f"rig {self.rig.label}")
        x0 = encode_poses(poses, self.cond)
        return diffusion.invert(self.denoiser, self.encoded, x0, steps, self.mask, spacing=self.info.spacing,
                                shift=self.info.shift)

    def decode(self, latents: np.ndarray, steps: int = 50, name: str = "poses") -> Poses:
        """Latents (N, J, 9) at t = 1 -> poses, by deterministic DDIM; ``decode(invert(p))`` is close to p."""
        return decode_poses(self._denoise_latents(latents, steps), self.cond, name=name)

    def _denoise_latents(self, latents: np.ndarray, steps: int) -> np.ndarray:
        """Latents (N, J, 9) at t = 1 -> pose vectors x0 (N, J, 9) by deterministic DDIM."""
        latents = np.asarray(latents, np.float32)
        if latents.ndim != 3 or latents.shape[1:] != (self.num_joints, POSE_DIM):
            raise PoseError(f"latents must have shape (N, {self.num_joints}, {POSE_DIM}), got {latents.shape}")
        return diffusion.sample(self.denoiser, self.encoded, latents, steps, channel_mask=self.mask,
                                spacing=self.info.spacing, shift=self.info.shift)

    # ----- traversal -----------------------------------------------------------------------------------------
    def interpolate(self, a: Poses, b: Poses, n: int, steps: int = 50, exact_endpoints: bool = True) -> Poses:
        """``n`` poses from ``a`` to ``b`` (their first poses): spherical interpolation of the two inverted
        latents, each step decoded with DDIM. ``exact_endpoints`` makes the path start at ``a`` and end at ``b``
        themselves (see :meth:`interpolate_path`); without it the ends are the decoded latents, which differ from
        ``a`` and ``b`` by the inversion's reconstruction error."""
        if n < 2:
            raise VipsError(f"interpolate: n must be >= 2, got {n}")
        return self.interpolate_path(Poses.concatenate([a[0], b[0]]), n - 1, steps, exact_endpoints)

    def interpolate_path(self, keyframes: Poses, n_per_segment: int, steps: int = 50,
                         exact_endpoints: bool = True) -> Poses:
        """A traversal through K keyframes: ``n_per_segment`` poses per segment, (K - 1) * n + 1 poses in all,
        keyframe k at index k * n.

        Where a creature stands and faces is not part of its pose (:class:`vips.pose_encoding.Placement`): the
        keyframes are inverted without it, and the path turns from one keyframe's heading to the next along the
        shorter way and moves from one ground position to the next, evenly (the latent path would otherwise swing
        the whole body round between two steps). With ``exact_endpoints`` each keyframe's reconstruction error
        (keyframe minus its decoded latent, in the model's pose encoding) is added to the decoded steps next to it
        with a weight falling from 1 at the keyframe as ``(1 - a)^3`` over the segment (a = fraction of the
        segment): the path passes through the keyframes themselves without a jump next to them, and mid-segment
        steps keep what the model decoded (a linear blend would carry half of each error, off the manifold, to
        the middle of the segment).
        """
        if len(keyframes) < 2 or n_per_segment < 1:
            raise VipsError("interpolate_path: needs at least 2 keyframes and n_per_segment >= 1")
        keyframes.check_rig(self.num_joints, f"rig {self.rig.label}")
        keys, placement = encode(keyframes, self.cond)
        heading = np.unwrap(placement.heading)  # consecutive turns of at most half a turn
        z = diffusion.invert(self.denoiser, self.encoded, keys, steps, self.mask, spacing=self.info.spacing,
                             shift=self.info.shift)
        alphas = np.arange(n_per_segment) / n_per_segment
        parts = [diffusion.slerp(z[k:k + 1], z[k + 1:k + 2], alphas)[:, 0] for k in range(len(z) - 1)]
        latents = np.concatenate(parts + [z[-1:]])
        x0 = self._denoise_latents(latents, steps)
        idx = np.arange(len(keyframes)) * n_per_segment
        if exact_endpoints:
            residual = keys - x0[idx]  # (K, J, 9)
            w = alphas[:, None, None]
            for k in range(len(keyframes) - 1):
                x0[idx[k]:idx[k + 1]] += (1 - w) ** 3 * residual[k] + w ** 3 * residual[k + 1]
            x0[idx[-1]] += residual[-1]

        def along(values: np.ndarray) -> np.ndarray:
            a = alphas.reshape((-1,) + (1,) * (values.ndim - 1))
            return np.concatenate([(1 - a) * values[k] + a * values[k + 1] for k in range(len(values) - 1)]
                                  + [values[-1:]])

        path = decode_poses(x0, self.cond, Placement(along(heading), along(placement.offset)), fps=keyframes.fps,
                            name="traversal")
        if self.helpers.any():  # the model leaves helpers at rest: they turn from one keyframe's to the next's
            h = keyframes.rotations[:, self.helpers].astype(np.float64)
            t = alphas[:, None]
            path.rotations[:, self.helpers] = np.concatenate(
                [quat_slerp(h[k], h[k + 1], t) for k in range(len(h) - 1)] + [h[-1:]]).astype(np.float32)
        if exact_endpoints:  # bit-exact keyframes (the blend already puts them within float rounding)
            path.rotations[idx] = keyframes.rotations
            path.root_translation[idx] = keyframes.root_translation
        return path

    # ----- manifold IK ---------------------------------------------------------------------------------------
    def solve_ik(
        self,
        handles: Mapping[str, Sequence[float]],
        init: Poses | None = None,
        steps: int = 5,
        pins: Sequence[str] = (),
        look_at: Mapping[str, Sequence[float]] | None = None,
        noise_level: float = 0.5,
        invert_steps: int | None = None,
        seed: int = 0,
        handle_weight: float = 1.0,
        pin_weight: float = 1.0,
        aim_weight: float = 0.5,
        iterations: int = 1,
        final_iterations: int = 4,
        return_report: bool = False,
        tolerance: float | None = IK_TOLERANCE,
    ) -> Poses | tuple[Poses, IKReport]:
        """Poses that meet sparse handles and stay on the manifold (one per pose of ``init``, else one).

        Args:
            handles: joint name -> target position (asset space and units).
            init: the current pose(s); inverted to ``noise_level`` so the edit stays close to them. None starts
                from the noise of ``seed`` at t = 1 (a fresh pose).
            steps: guided DDIM steps (from ``noise_level``, or 1 without init).
            pins: joints that keep their current world position (in ``init``, else the rest pose).
            look_at: joint name -> point its bone should aim at (the bone to its first child; a leaf aims the
                bone from its parent).
            noise_level: time t in (0, 1] the init is inverted to: lower keeps more of it.
            invert_steps: DDIM inversion steps for ``init`` (default ``max(2, steps // 3)``; the defaults make seven
                denoiser calls in all, within the budget of a 100 Hz edit on one CPU thread with the default model).
            handle_weight, pin_weight, aim_weight: energy weights.
            iterations, final_iterations: damped least-squares steps on x0 per denoising step / at the last.
            return_report: also return an :class:`IKReport` (always kept as ``self.last_ik_report``).
            tolerance: a fraction of the rig's height (default :data:`IK_TOLERANCE`, 5 %). A handle or pin that ends
                farther than this from its target, in any pose, issues one :class:`vips.errors.IKWarning` naming it
                and its distance (:meth:`IKReport.miss_message`); None never warns. The result is returned either way.
        """
        from vips.native.guided import guided_sample

        if tolerance is not None and not (np.isfinite(tolerance) and tolerance >= 0):
            raise VipsError(f"solve_ik: tolerance must be a finite fraction of the rig's height >= 0 (or None), "
                            f"got {tolerance}")
        start = init if init is not None else Poses.identity(1, self.num_joints)
        start.check_rig(self.num_joints, f"rig {self.rig.label}")
        B = len(start)
        # The loop works on unplaced poses (the body over its rest ground position, facing +Z): targets go
        # there by the inverse of each start pose's placement, and the result comes back by the placement.
        x0, placement = encode(start, self.cond)
        place = placement_transforms(self.cond, placement)
        names, arrays, aims = self._handle_arrays(handles, pins, look_at, start, handle_weight, pin_weight,
                                                   aim_weight, np.linalg.inv(place))
        if init is not None:
            t_max = float(np.clip(noise_level, 1e-3, 1.0))
            k = invert_steps if invert_steps is not None else max(2, steps // 3)
            x_T = diffusion.invert(self.denoiser, self.encoded, x0, k, self.mask, t_max=t_max,
                                   spacing=self.info.spacing, shift=self.info.shift)
        else:
            t_max = 1.0
            x_T = self.noise(B, seed)
        grid = diffusion.timesteps(steps, t_max, self.info.spacing, shift=self.info.shift)
        alpha_bars = diffusion.alpha_bar(grid, self.info.shift)

        def denoise(x_t: np.ndarray, t: float) -> np.ndarray:
            return self.denoiser(x_t, np.full((x_t.shape[0],), t, np.float32), self.encoded)

        x, energy, positions = [], [], []
        for b, sub in self._ik_batches(arrays, B):  # look-at targets are shared by a batch: one pose at a time
            out = guided_sample(np.ascontiguousarray(x_T[b], np.float32), denoise, self._rig_arrays(), sub,
                                alpha_bars, grid, self.denoiser.prediction == "v", iterations=iterations,
                                final_iterations=final_iterations)
            for acc, value in zip((x, energy, positions), out):
                acc.append(value)
        x, energy = np.concatenate(x), np.concatenate(energy)
        positions = _transform_points(place, np.concatenate(positions))
        poses = decode_poses(x, self.cond, placement, fps=start.fps, name="ik")
        if init is not None and self.helpers.any():
            # The model leaves helpers at rest; an edit keeps the init's (their joints move with the result).
            poses.rotations[:, self.helpers] = start.rotations[:, self.helpers]
            positions = joint_positions(self.rig, poses)
        kinds = ["handle"] * len(handles) + ["pin"] * (len(names) - len(handles))
        report = self._report(names, kinds, _world_targets(arrays, place), aims, positions, energy)
        self.last_ik_report = report
        message = report.miss_message(tolerance) if tolerance is not None else None
        if message is not None:
            import warnings

            warnings.warn(message, IKWarning, stacklevel=2)
        return (poses, report) if return_report else poses

    def _rig_arrays(self):  # noqa: ANN202 - GuidedRigArrays
        from vips.native.guided import GuidedRigArrays

        if not hasattr(self, "_rig_arrays_cache"):
            self._rig_arrays_cache = GuidedRigArrays.from_rig(self.rig, self.cond, channel_mask(self.cond))
        return self._rig_arrays_cache

    @staticmethod
    def _ik_batches(arrays, B: int):  # noqa: ANN001, ANN205 - GuidedHandleArrays
        """(pose indices, handle arrays) chunks: all poses at once, or one by one when look-at targets (shared
        by a batch in the loop) differ per pose."""
        from dataclasses import replace

        if len(arrays.aim_base) == 0 or B == 1:
            return [(slice(None), replace(arrays, aim_targets=np.ascontiguousarray(arrays.aim_targets[0])))]
        return [(slice(b, b + 1), replace(arrays, targets=arrays.targets[b:b + 1],
                                          aim_targets=arrays.aim_targets[b])) for b in range(B)]

    def _handle_arrays(self, handles, pins, look_at, start: Poses, hw: float, pw: float, aw: float,  # noqa: ANN001, ANN202
                       to_loop: np.ndarray):
        from vips.native.guided import GuidedHandleArrays

        rig = self.rig
        names = list(handles)
        joints = [rig.joint_index(n) for n in names]
        targets = [_point(handles[n], f"handle '{n}'") for n in names]
        weights = [hw] * len(names)
        B = len(start)
        tgt = np.repeat(np.asarray(targets, np.float32).reshape(1, -1, 3), B, axis=0)
        if pins:
            current = joint_positions(rig, start)
            pin_idx = [rig.joint_index(n) for n in pins]
            tgt = np.concatenate([tgt, current[:, pin_idx]], axis=1)
            names += list(pins)
            joints += pin_idx
            weights += [pw] * len(pins)
        aims = list((look_at or {}).items())
        base, end = [], []
        kids = rig.children()
        for name, _ in aims:
            j = rig.joint_index(name)
            if kids[j]:
                base.append(j)
                end.append(kids[j][0])
            elif rig.parents[j] >= 0:
                base.append(int(rig.parents[j]))
                end.append(j)
            else:
                raise VipsError(f"look-at joint '{name}' has neither a child nor a parent: it has no bone to aim")
        if not joints and not aims:
            raise VipsError("solve_ik: give at least one handle, pin or look-at target")
        aim_points = np.asarray([_point(p, f"look-at '{n}'") for n, p in aims], np.float64).reshape(1, -1, 3)
        arrays = GuidedHandleArrays(
            np.asarray(joints, np.int32),
            np.ascontiguousarray(_transform_points(to_loop, tgt.reshape(B, len(joints), 3)), np.float32),
            np.asarray(weights, np.float32), np.asarray(base, np.int32), np.asarray(end, np.int32),
            np.ascontiguousarray(_transform_points(to_loop, np.repeat(aim_points, B, axis=0)), np.float32),
            np.full(len(aims), aw, np.float32))
        return names, arrays, aims

    def _report(self, names, kinds, arrays, aims, positions: np.ndarray,  # noqa: ANN001
                energy: np.ndarray) -> IKReport:
        """The report of world ``positions`` (B, J, 3) against ``arrays`` with world targets (B, H, 3) and aim
        targets (B, A, 3); ``kinds`` says "handle" or "pin" for each of ``names``."""
        h = float(self.rig.height())
        err = np.linalg.norm(positions[:, arrays.joints] - arrays.targets, axis=-1) if len(names) else \
            np.zeros((len(positions), 0))
        ang = np.zeros((len(positions), len(aims)))
        for a in range(len(aims)):
            bone = positions[:, arrays.aim_end[a]] - positions[:, arrays.aim_base[a]]
            want = arrays.aim_targets[:, a] - positions[:, arrays.aim_base[a]]
            cos = (bone * want).sum(-1) / np.maximum(np.linalg.norm(bone, axis=-1) * np.linalg.norm(want, axis=-1),
                                                     1e-12)
            ang[:, a] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        return IKReport(names, err, err / h, ang, np.asarray(energy), list(kinds))

    # ----- plausibility --------------------------------------------------------------------------------------
    def score(self, poses: Poses) -> tuple[np.ndarray, np.ndarray]:
        """Plausibility of each pose: ``(scores (N,) float32, plausible (N,) bool)``; higher is more plausible.

        The pose's score reduces the denoising errors of its joints (minus :meth:`joint_scores`) over the joints
        the model sees, as the model's ``score`` settings say (chosen on validation data when it is shipped):

        - ``reduce`` (:data:`~vips.runtime.model_dir.SCORE_REDUCTIONS`): ``"mean"``, the mean error, a Monte
          Carlo estimate of the diffusion bound on the pose's likelihood (with orientations read in the body
          frame a bad joint also turns the tokens of every joint below it, so the mean is not diluted to one
          joint's share); ``"rms"``, the root mean square, which weighs the worst joints more; ``"min"``, the
          worst joint's alone;
        - ``relative``: divided by the same reduction's median over the model's own samples on this rig
          (:meth:`reference_error`), so one threshold means the same on rigs whose joints the model predicts more
          or less sharply;
        - ``joints`` (:data:`~vips.runtime.model_dir.SCORE_JOINTS`): ``"all"`` the joints the model sees, ``"body"``
          only those of them that shape the body (:attr:`scored_joints`);
        - ``baseline`` (:data:`~vips.runtime.model_dir.SCORE_BASELINES`): ``"rest"`` counts only each joint's error
          above its error near the rig's rest pose (:meth:`rest_errors`, :meth:`joint_scores`), ``"none"`` all of it.

        The score is minus that error. ``plausible`` is ``score >= threshold`` with the threshold calibrated on
        the model's validation data (all True, with a warning, for an uncalibrated model).

        Helper joints (:mod:`vips.helper_joints`) are not seen by the model; a pose that turns one more than
        :data:`~vips.helper_joints.HELPER_TURN_LIMIT_DEGREES` from its rest is implausible, and its score is
        lowered by the excess (radians).
        """
        errors = -self.joint_scores(poses)[:, self.scored_joints]
        scores = -reduce_errors(errors, self.info.score.get("reduce", "min"))
        if self.info.score.get("relative", False):
            scores = scores / self.reference_error()
        excess = helper_excess(poses.rotations, self.helpers)
        scores = (scores - excess).astype(np.float32)
        if self.threshold is None:
            import warnings

            warnings.warn(f"model '{self.model_id}' has no calibrated threshold: every pose counts as plausible",
                          stacklevel=2)
            return scores, np.ones(len(scores), bool)
        return scores, (scores >= self.threshold) & (excess <= 0)

    @cached_property
    def helpers(self) -> np.ndarray:
        """(J,) bool: the rig's helper joints (:mod:`vips.helper_joints`), which the model leaves at rest relative
        to their parent and does not see."""
        return carried_joints(self.cond.parents, self.cond.joint_mask > 0)

    @cached_property
    def scored_joints(self) -> np.ndarray:
        """(J,) bool: the joints :meth:`score` reduces over: those the model sees, and with the model's
        ``score.joints`` = ``"body"`` only those that shape the body (:func:`vips.body.judged_joints`), with
        ``"visible"`` only those whose turn shows (:func:`vips.body.visible_joints`: it moves skin, or in a
        skeleton-only rig a joint the model sees); all seen joints when none of them qualifies."""
        seen = self.cond.joint_mask > 0
        joints = self.info.score.get("joints", "all")
        if joints == "body":
            chosen = judged_joints(self.rig, self.cond.body_root, seen)
        elif joints == "visible":
            chosen = seen & visible_joints(self.rig, seen)
        else:
            return seen
        return chosen if chosen.any() else seen

    def reference_error(self) -> float:
        """The median over the model's own samples on this rig of the pose error that :meth:`score` reduces to
        (:data:`REFERENCE_SAMPLES` samples of a fixed seed, :data:`REFERENCE_STEPS` DDIM steps; computed once per
        rig, on first use)."""
        if self._reference_error is None:
            samples = self.sample(REFERENCE_SAMPLES, seed=int(self.info.score.get("seed", 0)), steps=REFERENCE_STEPS)
            errors = -self.joint_scores(samples)[:, self.scored_joints]
            self._reference_error = max(float(np.median(reduce_errors(errors, self.info.score.get("reduce", "min")))),
                                        1e-12)
        return self._reference_error

    def joint_scores(self, poses: Poses) -> np.ndarray:
        """(N, J) float32 per-joint plausibility, higher is more plausible: minus each joint's denoising error
        (:meth:`denoising_errors`), with the model's ``score.baseline`` = ``"rest"`` only the part of it above the
        joint's error near the rig's rest pose (:meth:`rest_errors`; 0 when below). The lowest entries point at
        the joints that make a pose implausible.
        """
        errors = self.denoising_errors(poses)
        if self.info.score.get("baseline", "none") == "rest":
            errors = errors_above(errors, self.rest_errors())
        return (-errors).astype(np.float32)

    def denoising_errors(self, poses: Poses) -> np.ndarray:
        """(N, J) float64 per-joint denoising errors of ``poses``, lower is more plausible.

        A joint's error is ``|eps_hat(x_t, t) - eps|^2`` over its live channels (mean per channel), averaged over
        the fixed noise levels and noise draws of the model's ``score`` settings: a Monte Carlo estimate of the
        joint's share of the diffusion ELBO with fixed draws, so it is deterministic and does not depend on which
        other poses are scored with it.
        """
        poses.check_rig(self.num_joints, f"rig {self.rig.label}")
        x0 = encode_poses(poses, self.cond)
        noises, levels = self._score_draws()
        N, K = len(x0), len(levels)
        errors = np.zeros((N, K, self.num_joints), np.float64)
        live = np.maximum(self.mask.sum(axis=-1), 1.0)  # (J,) live channels per joint (root also translates)
        flat = [(i, k) for i in range(N) for k in range(K)]
        for lo in range(0, len(flat), _SCORE_CHUNK):
            chunk = flat[lo:lo + _SCORE_CHUNK]
            ii = np.array([c[0] for c in chunk])
            kk = np.array([c[1] for c in chunk])
            ab = diffusion.alpha_bar(levels[kk], self.info.shift)
            eps = noises[kk]
            x_t = diffusion.add_noise(x0[ii], eps, ab).astype(np.float32)
            pred = self.denoiser(x_t, levels[kk].astype(np.float32), self.encoded)
            eps_hat = diffusion.prediction_to_eps(pred, x_t, ab, self.denoiser.prediction) * self.mask
            errors[ii, kk] = ((eps_hat - eps) ** 2).sum(axis=2) / live
        return errors.mean(axis=1)

    def rest_errors(self) -> np.ndarray:
        """(J,) float64: each joint's typical denoising error near the rig's rest pose: the median over
        :data:`REST_POSES` poses within a few degrees of it (:func:`near_rest_poses`, the score's seed); computed
        once per rig, on first use.

        The rest pose is the one pose known to be valid on any rig, with no animation at hand. A joint the model
        predicts poorly even there (an IK or control bone, a joint its animations never turn, a helper bone unlike
        any it learned) is one it cannot judge on this rig; the score's ``baseline`` = ``"rest"`` measures each
        joint against this, so such joints stop deciding whether a pose is plausible while a joint turned far
        from where it belongs still does.
        """
        if self._rest_errors is None:
            near = near_rest_poses(self.num_joints, REST_POSES, REST_JITTER_DEGREES,
                                   seed=int(self.info.score.get("seed", 0)))
            self._rest_errors = np.median(self.denoising_errors(near), axis=0)
        return self._rest_errors

    def _score_draws(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, J, 9) fixed noise draws and (K,) their times, K = levels x draws."""
        cfg = self.info.score
        levels = np.asarray(cfg["levels"], np.float64)
        draws = int(cfg["draws"])
        noise, times = [], []
        for li, t in enumerate(levels):
            for d in range(draws):
                rng = np.random.default_rng([int(cfg["seed"]), li, d])
                noise.append(diffusion.sample_noise((1, self.num_joints, POSE_DIM), rng, self.mask)[0])
                times.append(t)
        return np.stack(noise), np.asarray(times)

    # ----- joint limits --------------------------------------------------------------------------------------
    def joint_limits(self, n_samples: int = 512, coverage: float = DEFAULT_COVERAGE, clips: bool = True,
                     seed: int = 0, steps: int = 25, clip_margin: float = DEFAULT_CLIP_MARGIN) -> Any:
        """Per-joint swing-twist limits (swing cone, swing ranges, twist range in each joint's rest frame) that hold
        ``coverage`` of this pose space's poses, per joint (:mod:`vips.limits`).

        Args:
            n_samples: model samples to estimate from (seed ``seed``, ``steps`` DDIM steps).
            coverage: in (0, 1]: each joint's limits hold at least this (weighted) share of the poses; every bound
                is a quantile of the data, never a minimum or maximum unless ``coverage`` is 1.
            clips: when the rig has animation (``rig.clips``), its frames set the limits: their own limits at
                ``coverage``, each bound moved out toward the pose space's by at most ``clip_margin`` of its size
                (0: the animation's range alone; ``math.inf``: as far as the pose space's limits). False: the pose
                space's limits alone.
        Returns a :class:`vips.limits.SwingTwistLimits` (``.save(path, rig)`` writes JSON, USD or glTF).
        """
        from vips.limits import limits_from_space

        return limits_from_space(self, n_samples, coverage, clips, seed, steps, clip_margin)

    # ----- animation -----------------------------------------------------------------------------------------
    def animate(self, keys: Poses, times: Sequence[float], fps: float = 30.0, contacts: Sequence[str] = (),
                strength: float | None = None, steps: int | None = None, smoothing: float | None = None,
                seed: int = 0, return_report: bool = False) -> "Poses | tuple[Poses, Any]":
        """A clip at ``fps`` that passes through ``keys`` (K >= 2 poses) at ``times`` (K,) seconds, stays on the
        manifold and is smooth: a C2 joint-space spline through the keys, pulled onto the manifold by a light DDIM
        projection with one noise draw shared by all frames, made zero at the keys and low-passed until the clip's
        maximum jerk is within :data:`vips.animation.JERK_BUDGET` times the spline's (:mod:`vips.animation`).

        Args:
            keys: K poses; key k becomes frame ``round((times[k] - times[0]) * fps)`` bit for bit.
            times: (K,) increasing seconds.
            fps: frames per second; the clip has ``key_frames[-1] + 1`` frames from ``times[0]`` to ``times[-1]``.
            contacts: joint names (feet, hands) that stay put, by manifold IK, between two neighbouring keys that
                both plant them (positions within :data:`vips.animation.CONTACT_TOLERANCE` of the rig's height).
            strength, steps, smoothing: noise level in [0, 1] and DDIM steps of the projection, and the seconds
                below which its move is filtered out (defaults :data:`vips.animation.STRENGTH`, ``STEPS``,
                ``SMOOTHING``); strength 0 returns the spline.
            seed: the projection's shared noise draw.
            return_report: also return a :class:`vips.animation.AnimationReport` (key frames, per-frame jerk,
                every frame's score, contact errors, seconds; scoring costs about as much as the projection).
        """
        from vips import animation

        options = {k: v for k, v in (("strength", strength), ("steps", steps), ("smoothing", smoothing))
                   if v is not None}
        clip, report = animation.animate(self, keys, times, fps, contacts=contacts, seed=seed, score=return_report,
                                         **options)
        return (clip, report) if return_report else clip


def calibrate_threshold(model: str | os.PathLike[str], validation: Sequence[tuple["Rig", Poses]],
                        quantile: float = 0.05, backend: str = "onnx", write: bool = True) -> float:
    """The score threshold that ``1 - quantile`` of the validation poses pass, written into ``model.json``.

    Args:
        model: the model folder.
        validation: (rig, poses) pairs held out from training (valid poses).
        quantile: fraction of valid poses allowed below the threshold (false "implausible" rate).
    """
    scores = []
    for rig, poses in validation:
        space = PoseSpace(rig, model, backend=backend)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores.append(space.score(poses)[0])
    if not scores:
        raise VipsError("calibrate_threshold: no validation poses")
    allp = np.concatenate(scores)
    threshold = float(np.quantile(allp, quantile))
    if write:
        write_threshold(model, threshold, {"quantile": quantile, "poses": int(len(allp)), "rigs": len(scores)})
    return threshold


def near_rest_poses(num_joints: int, n: int = REST_POSES, degrees: float = REST_JITTER_DEGREES,
                    seed: int = 0) -> Poses:
    """``n`` poses near the rest pose: every joint turned about a random axis by a normal angle of standard
    deviation ``degrees`` (seeded; the root joint turns too), the root translation zero."""
    rng = np.random.default_rng([int(seed), 0x7e57])
    turns = rng.normal(size=(n, num_joints, 3)) * np.radians(degrees)
    return Poses(axis_angle_to_quat(turns), np.zeros((n, 3)), name="near rest")


def errors_above(errors: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """(N, J) errors minus a (J,) per-joint baseline, 0 where below it: the score's ``baseline`` = ``"rest"``."""
    return np.maximum(np.asarray(errors, np.float64) - np.asarray(baseline, np.float64), 0.0)


def reduce_errors(errors: np.ndarray, reduce: str) -> np.ndarray:
    """(N, J) per-joint denoising errors -> (N,) pose errors by ``reduce`` ("mean", "rms" or "max"/"min": the
    worst joint's; see :meth:`PoseSpace.score`)."""
    errors = np.asarray(errors, np.float64)
    if reduce == "mean":
        return errors.mean(axis=1)
    if reduce == "rms":
        return np.sqrt((errors ** 2).mean(axis=1))
    return errors.max(axis=1)


def write_threshold(model: str | os.PathLike[str], threshold: float, calibration: dict[str, Any]) -> None:
    """Record a calibrated ``threshold`` and how it was chosen (``calibration``, JSON) in ``model.json``."""
    info = read_model_dir(model)
    info.threshold = float(threshold)
    info.calibration = calibration
    write_model_json(info)


def balanced_threshold(valid: Mapping[str, np.ndarray], corrupted: Mapping[str, np.ndarray],
                       ) -> tuple[float, dict[str, dict[str, float]]]:
    """The score threshold that best tells valid poses from corrupted ones in every group at once.

    Args:
        valid: group name -> (N,) scores of valid held-out poses (say "procedural", "real").
        corrupted: group name -> (M,) scores of corrupted poses, same groups.

    It maximizes the mean over groups of the balanced accuracy, (share of valid poses passing + share of
    corrupted poses caught) / 2, so a small group counts as much as a large one and neither error is free.
    Returns the threshold (a pose passes when ``score >= threshold``) and, per group, ``passed`` and ``caught``
    at it with the pose counts.
    """
    groups = sorted(valid)
    if not groups or set(groups) != set(corrupted) or any(len(valid[g]) == 0 or len(corrupted[g]) == 0
                                                          for g in groups):
        raise VipsError("balanced_threshold: every group needs valid and corrupted scores")
    candidates = np.unique(np.concatenate([np.asarray(valid[g], np.float64) for g in groups]))
    objective = np.zeros(len(candidates))
    for g in groups:
        v = np.sort(np.asarray(valid[g], np.float64))
        c = np.sort(np.asarray(corrupted[g], np.float64))
        passed = 1.0 - np.searchsorted(v, candidates, side="left") / len(v)
        caught = np.searchsorted(c, candidates, side="left") / len(c)
        objective += 0.5 * (passed + caught) / len(groups)
    threshold = float(candidates[int(np.argmax(objective))])
    table = {g: {"passed": float(np.mean(np.asarray(valid[g]) >= threshold)),
                 "caught": float(np.mean(np.asarray(corrupted[g]) < threshold)),
                 "valid_poses": int(len(valid[g])), "corrupted_poses": int(len(corrupted[g]))} for g in groups}
    return threshold, table


#: Denoisers kept for reuse by later PoseSpaces of the same model files (most recent last). An ONNX Runtime
#: session keeps the memory arena of its largest batch; one session per rig of a library would hold one each.
_DENOISERS: "OrderedDict[tuple, Any]" = OrderedDict()
_DENOISERS_KEPT = 2


def _make_denoiser(info: ModelInfo, backend: str, threads: int, providers, device: str) -> Any:  # noqa: ANN001
    """The backend's denoiser for ``info``'s model files, shared with other PoseSpaces of the same files and
    settings (the files' sizes and modification times are part of the key, so a rewritten model is reloaded)."""
    paths = (info.encoder_path, info.denoiser_path) if backend == "onnx" else (info.weights_path,)
    stamps = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file())
    key = (backend, stamps, threads, tuple(providers or ()), device)
    if len(stamps) == len(paths) and key in _DENOISERS:
        _DENOISERS.move_to_end(key)
        return _DENOISERS[key]
    denoiser = _load_denoiser(info, backend, threads, providers, device)
    _DENOISERS[key] = denoiser
    while len(_DENOISERS) > _DENOISERS_KEPT:
        _DENOISERS.popitem(last=False)
    return denoiser


def _load_denoiser(info: ModelInfo, backend: str, threads: int, providers, device: str) -> Any:  # noqa: ANN001
    if backend == "onnx":
        from vips.runtime.onnx_backend import OnnxDenoiser

        for path in (info.encoder_path, info.denoiser_path):
            if not path.is_file():
                raise VipsError(f"{info.folder}: missing {path.name} (export the model with `vips export-onnx`)")
        return OnnxDenoiser(info.encoder_path, info.denoiser_path, providers=providers, threads=threads)
    if not info.weights_path.is_file():
        raise VipsError(f"{info.folder}: missing {info.weights_path.name}, which the torch backend needs")
    try:
        from vips.runtime.torch_backend import TorchDenoiser
    except ImportError:
        raise MissingExtra("the torch backend", "torch", "train") from None
    return TorchDenoiser.from_weights(info.weights_path, device)


def _transform_points(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(B, 4, 4) rigid transforms applied to (B, N, 3) points -> (B, N, 3) float64."""
    t = np.asarray(transforms, np.float64)
    return np.asarray(points, np.float64) @ np.swapaxes(t[:, :3, :3], -1, -2) + t[:, None, :3, 3]


def _world_targets(arrays, place: np.ndarray):  # noqa: ANN001, ANN202 - GuidedHandleArrays
    """The handle arrays with their (loop-frame) targets and aim targets taken back to world space."""
    from dataclasses import replace

    return replace(arrays, targets=_transform_points(place, arrays.targets),
                   aim_targets=_transform_points(place, arrays.aim_targets))


def _point(value: Sequence[float], what: str) -> np.ndarray:
    p = np.asarray(value, np.float64).reshape(-1)
    if p.shape != (3,) or not np.isfinite(p).all():
        raise VipsError(f"{what}: a target must be three finite numbers (x, y, z), got {value!r}")
    return p.astype(np.float32)
