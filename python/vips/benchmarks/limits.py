"""Joint limits read off the pose space (:meth:`vips.posespace.PoseSpace.joint_limits`) checked against truth, and
CCD / FABRIK with and without them.

    python -m vips.benchmarks.limits [--quick] [--model FOLDER] [--motion ../shared/motion] [--json OUT]

- **Procedural species** (held-out, one per body plan): the intersection over union of the estimated limits and
  the generator's true limits (:class:`vips.data.creatures.JointLimits`, Euler boxes), per joint type (the
  generator's role: hip, knee, spine...). Both sets are widened by :data:`IOU_SLACK` radians on every bound (so a
  true hinge, a set of zero volume, has an overlap to measure) and measured with the Haar measure of SO(3)
  (:func:`limits_iou`). For reference, the same IoU of limits estimated (same coverage) from the creature's own
  motion programs, and from 4000 draws uniform inside the true box: the ceiling of a swing-twist description of an
  Euler box.
- **Real clips** (an asset with its own animation): the share of its frames inside limits estimated with its clips
  (``clips=True``: the frames' limits widened toward the model's by a margin) and from the model alone, and whether
  the limits are "as tight" as the clip's own range widened by 20 % (:func:`tightness`).
- **IK**: the share of CCD and FABRIK results the model scores plausible, without and with the limits, on the
  runtime benchmark's case (50-joint toy rig, a deep leaf moved 5 % of the height, root pinned) and on real rigs
  from plausible samples with a leaf moved 15 % of the height.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: Radians every bound of both sets is widened by before their IoU is measured (a hinge has no volume otherwise).
IOU_SLACK = 0.05
#: "As tight as the clip's own range widened by 20 %": each width at most WIDEN times the clip's, plus FLOOR radians.
WIDEN, FLOOR = 1.2, np.radians(2.0)
#: Real clips: the asset's frames widened toward the model's limits by these margins (None: the model alone; 0.2 is
#: PoseSpace.joint_limits' default; 0: the frames alone; inf: as far as the model's limits).
CLIP_MARGINS = {"model_only": None, "margin_0.2": 0.2, "margin_0.5": 0.5, "clips_only": 0.0, "hull": np.inf}


# ----- IoU against Euler-box truth ---------------------------------------------------------------------------
def _haar_weight(v: np.ndarray) -> np.ndarray:
    """Density of the Haar measure in rotation-vector coordinates, 1 at the identity."""
    theta = np.linalg.norm(v, axis=-1)
    half = 0.5 * theta
    return np.where(theta > 1e-8, (np.sin(half) / np.where(theta > 1e-8, half, 1)) ** 2, 1.0)


def _in_box(q: np.ndarray, lower: np.ndarray, upper: np.ndarray, order: str, slack: float) -> np.ndarray:
    from vips.data.creatures.limits import quat_to_euler, wrap_angle

    e = quat_to_euler(q, order)
    mid = 0.5 * (lower + upper)
    return np.all(np.abs(wrap_angle(e - mid)) <= 0.5 * (upper - lower) + slack, axis=-1)


def _in_limits(limits: Any, j: int, q: np.ndarray, slack: float) -> np.ndarray:
    from vips.limits import SwingTwistLimits

    one = SwingTwistLimits([limits.joint_names[j]], limits.frames[j:j + 1], limits.twist[j:j + 1],
                           limits.swing[j:j + 1], limits.cone[j:j + 1])
    return one.violation(q[:, None])[:, 0] <= slack


def limits_iou(limits: Any, j: int, lower: np.ndarray, upper: np.ndarray, order: str, slack: float = IOU_SLACK,
               draws: int = 100_000, seed: int = 0) -> float:
    """IoU (Haar measure) of joint ``j``'s estimated limits and the Euler box ``[lower, upper]`` (3,) of ``order``,
    each widened by ``slack`` radians on every bound. Monte Carlo: uniform draws in a rotation-vector box around
    both sets (from points spread over each set's parameters), weighted by the Haar density."""
    from vips.data.creatures.limits import euler_to_quat
    from vips.limits import from_swing_twist
    from vips.rotations import quat_to_axis_angle

    rng = np.random.default_rng(seed)
    n = 20_000
    e = rng.uniform(lower - slack, upper + slack, size=(n, 3))
    t = rng.uniform(limits.twist[j, 0] - slack, limits.twist[j, 1] + slack, size=n)
    s = rng.uniform(limits.swing[j, :, 0] - slack, limits.swing[j, :, 1] + slack, size=(n, 2))
    s = s[np.linalg.norm(s, axis=1) <= limits.cone[j] + slack]
    pts = [quat_to_axis_angle(euler_to_quat(e, order)),
           quat_to_axis_angle(from_swing_twist(s[:, None], t[:len(s), None], limits.frames[j:j + 1])[:, 0])]
    pts = np.concatenate(pts)
    lo, hi = pts.min(axis=0) - 2 * slack, pts.max(axis=0) + 2 * slack
    v = rng.uniform(lo, hi, size=(draws, 3))
    v = v[np.linalg.norm(v, axis=1) < np.pi]
    from vips.rotations import axis_angle_to_quat

    q = axis_angle_to_quat(v)
    w = _haar_weight(v)
    a = _in_box(q, lower, upper, order, slack)
    b = _in_limits(limits, j, q, slack)
    union = float(w @ (a | b))
    return float(w @ (a & b)) / union if union > 0 else 0.0


def joint_roles(creature: Any) -> list[str]:
    """The generator's role of each joint (a key of :data:`vips.data.creatures.skeleton.LIMITS` whose box, mirrored
    for the right side and cut at the middle axis' limit, is the joint's), else its kind ("hinge", "ball"...)."""
    from vips.data.creatures.limits import MIDDLE_LIMIT
    from vips.data.creatures.skeleton import LIMITS

    lim = creature.limits
    roles = []
    for j in range(lim.num_joints):
        found = lim.kinds[j] if j else "root"
        m = "XYZ".index(lim.orders[j][1])
        for role, (lo, hi) in LIMITS.items():
            if role in ("root", "fixed") or j == 0:
                continue
            for mirror in ((1, 1, 1), (1, -1, -1)):
                a, b = np.array(lo) * mirror, np.array(hi) * mirror
                a, b = np.minimum(a, b), np.maximum(a, b)
                a[m], b[m] = max(a[m], -MIDDLE_LIMIT), min(b[m], MIDDLE_LIMIT)
                if np.allclose(a, lim.lower[j]) and np.allclose(b, lim.upper[j]):
                    found = role
        roles.append(found)
    return roles


def procedural_iou(model: str | None, species: int, samples: int, steps: int, coverage: float) -> dict:
    """IoU per joint type on ``species`` held-out species (one per body plan), model limits and motion limits."""
    from vips.benchmarks.runtime import traversal_cases
    from vips.data.creatures import make_creature
    from vips.limits import estimate_limits
    from vips.posespace import PoseSpace
    from vips.poses import Poses

    per_role: dict[str, dict[str, list[float]]] = {}
    rigs = []
    for name, rig, clips in traversal_cases(species)[1:]:  # the first case is CesiumMan: no true limits
        creature = make_creature(name, 0)
        space = PoseSpace(rig, model)
        t0 = time.perf_counter()
        model_limits = space.joint_limits(n_samples=samples, coverage=coverage, clips=False, steps=steps)
        seconds = time.perf_counter() - t0
        motion_limits = estimate_limits(rig, Poses.concatenate(clips), coverage)
        truth = creature.limits
        uniform = np.random.default_rng(0).uniform(truth.lower, truth.upper, size=(4000,) + truth.lower.shape)
        ceiling_limits = estimate_limits(rig, Poses(truth.to_quats(uniform).astype(np.float32),
                                                    np.zeros((4000, 3), np.float32)), coverage)
        roles = joint_roles(creature)
        rows = []
        for j, role in enumerate(roles):
            if truth.kinds[j] in ("fixed", "free"):
                continue  # leaves (nothing to limit) and the root (heading is free)
            args = (truth.lower[j], truth.upper[j], truth.orders[j])
            ious = {k: limits_iou(lim, j, *args) for k, lim in
                    (("model", model_limits), ("motion", motion_limits), ("ceiling", ceiling_limits))}
            for k, v in ious.items():
                per_role.setdefault(role, {"model": [], "motion": [], "ceiling": []})[k].append(v)
            rows.append(ious["model"])
        rigs.append({"species": name, "joints": rig.num_joints, "limited_joints": len(rows),
                     "mean_iou_model": float(np.mean(rows)), "seconds": seconds})
    table = {role: {"joints": len(v["model"]), "iou_model": float(np.mean(v["model"])),
                    "iou_motion_programs": float(np.mean(v["motion"])), "iou_ceiling": float(np.mean(v["ceiling"]))}
             for role, v in sorted(per_role.items())}

    def mean(k: str) -> float:
        return float(np.mean([x for v in per_role.values() for x in v[k]]))

    return {"slack_rad": IOU_SLACK, "coverage": coverage, "samples": samples, "rigs": rigs, "per_role": table,
            "mean_iou_model": mean("model"), "mean_iou_motion_programs": mean("motion"),
            "mean_iou_ceiling": mean("ceiling")}


# ----- real clips ---------------------------------------------------------------------------------------------
def tightness(limits: Any, clip_range: Any, widen: float = WIDEN, floor: float = FLOOR) -> np.ndarray:
    """(J,) bool: the limits are "as tight" as the clip's own range widened by ``widen``: per joint the twist width,
    both swing range widths and the cone half-angle are each at most ``widen`` times the clip's own (its limits at
    coverage 1, the same frames) plus ``floor`` radians (for joints the clip hardly moves)."""
    ours, theirs = limits.widths(), clip_range.widths()
    return np.all([ours[k] <= widen * theirs[k] + floor for k in ours], axis=0)


def _width_ratios(limits: Any, clip_range: Any, moving: np.ndarray) -> dict[str, float | None]:
    """Median over the ``moving`` joints of each width of ``limits`` over the clip's own plus :data:`FLOOR`."""
    ours, theirs = limits.widths(), clip_range.widths()
    return {k: float(np.median(ours[k][moving] / (theirs[k][moving] + FLOOR))) if moving.any() else None
            for k in ours}


def real_clips(model: str | None, assets: list[str], samples: int, steps: int, coverage: float) -> dict:
    """Per asset with clips: frames inside limits with and without its clips, and the tightness check."""
    from vips.io import load
    from vips.limits import clip_frames, estimate_limits, widened_toward
    from vips.posespace import PoseSpace

    rows = []
    for asset in assets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from vips.examples import resolve

            rig = load(resolve(asset))
        frames = clip_frames(rig)
        if frames is None:
            continue
        space = PoseSpace(rig, model)
        own = estimate_limits(rig, frames, 1.0)
        row: dict[str, Any] = {"asset": asset, "joints": rig.num_joints, "frames": len(frames), "clips": len(rig.clips)}
        moving = own.widths()["cone"] + own.widths()["twist"] > np.radians(5)
        drawn = space.sample(samples, seed=0, steps=steps)  # what joint_limits(seed=0) draws
        model_limits = estimate_limits(rig, drawn, coverage)
        clip_limits = estimate_limits(rig, frames, coverage)
        for label, margin in CLIP_MARGINS.items():
            # = space.joint_limits(samples, coverage, clips=margin is not None, seed=0, steps=steps, clip_margin=margin)
            limits = model_limits if margin is None else widened_toward(clip_limits, model_limits, margin, frames)
            inside = limits.contains(frames)
            tight = tightness(limits, own)
            row[label] = {"joint_frames_inside": float(inside.mean()),
                          "frames_all_joints_inside": float(inside.all(axis=1).mean()),
                          "joints_with_95pct_inside": float(np.mean(inside.mean(axis=0) >= 0.95)),
                          "joints_as_tight": float(tight.mean()),
                          "moving_joints_as_tight": float(tight[moving].mean()) if moving.any() else None,
                          "median_width_ratio": _width_ratios(limits, own, moving)}
        rows.append(row)
    return {"coverage": coverage, "samples": samples, "widen": WIDEN, "floor_deg": float(np.degrees(FLOOR)),
            "assets": rows}


# ----- IK ------------------------------------------------------------------------------------------------
def _solve_all(space: Any, rig: Any, cases: list, limits: Any) -> dict:
    from vips.ik_baselines import ccd, fabrik
    from vips.kinematics import joint_positions

    h = rig.height()
    out = {}
    for name, solver in (("ccd", ccd), ("fabrik", fabrik)):
        for label, lim in (("", None), ("+limits", limits), ("+limits, start clamped", limits)):
            scores, errors, seconds = [], [], []
            for init, handles, pins, leaf, target in cases:
                if label.endswith("clamped"):  # the whole start pose projected into the limits first
                    init = limits.clamp_poses(init)
                t0 = time.perf_counter()
                pose = solver(rig, handles, init=init, pins=pins, limits=lim)
                seconds.append(time.perf_counter() - t0)
                errors.append(float(np.linalg.norm(joint_positions(rig, pose)[0, leaf] - target) / h))
                scores.append(float(space.score(pose)[0][0]))
            s = np.asarray(scores)
            out[name + label] = {"plausible_fraction": None if space.threshold is None else
                                 float(np.mean(s >= space.threshold)), "mean_score": float(s.mean()),
                                 "median_error_fraction_of_height": float(np.median(errors)),
                                 "max_error_fraction_of_height": float(np.max(errors)),
                                 "median_ms": float(np.median(seconds) * 1e3)}
    return out


def ik_runtime_case(model: str | None, trials: int, samples: int, steps: int, coverage: float) -> dict:
    """The runtime benchmark's IK case (vips.benchmarks.runtime.bench_ik): 50-joint toy rig, toy start poses, a deep
    leaf moved 5 % of the height, root pinned; limits estimated from the model on that rig."""
    from vips.benchmarks.runtime import IK_RIG_JOINTS, leaf_joints
    from vips.kinematics import joint_positions
    from vips.model.toy_manifold import toy_poses, toy_rig
    from vips.posespace import PoseSpace

    rng = np.random.default_rng(0)
    rig = toy_rig(rng, IK_RIG_JOINTS, "toy50")
    data = toy_poses(rng, IK_RIG_JOINTS, trials)
    space = PoseSpace(rig, model, threads=1)
    limits = space.joint_limits(n_samples=samples, coverage=coverage, clips=False, steps=steps)
    leaves, h = leaf_joints(rig), rig.height()
    cases = []
    for i in range(trials):
        init = data[i]
        leaf = leaves[i % min(3, len(leaves))]
        direction = rng.normal(size=3)
        target = joint_positions(rig, init)[0, leaf] + 0.05 * h * direction / np.linalg.norm(direction)
        cases.append((init, {rig.joint_names[leaf]: target}, [rig.joint_names[0]], leaf, target))
    return {"rig": "toy50", "trials": trials, **_start_stats(space, limits, data),
            **_solve_all(space, rig, cases, limits)}


def _start_stats(space: Any, limits: Any, starts: Any) -> dict:
    return {"start_plausible_fraction": float(np.mean(space.score(starts)[1])),
            "start_clamped_plausible_fraction": float(np.mean(space.score(limits.clamp_poses(starts))[1])),
            "start_inside_limits": float(np.mean(limits.contains(starts).all(axis=1)))}


def ik_real_case(model: str | None, assets: list[str], trials: int, samples: int, steps: int, coverage: float,
                 reaches: tuple[float, ...] = (0.15, 0.3)) -> dict:
    """Per rig and reach: from plausible model samples, a leaf moved ``reach`` of the height, root pinned; an animated
    rig also with the limits of its pose space alone."""
    from vips.benchmarks.runtime import leaf_joints
    from vips.examples import resolve
    from vips.io import load
    from vips.kinematics import joint_positions
    from vips.posespace import PoseSpace

    rows = {}
    for asset in assets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rig = load(resolve(asset)) if not asset.startswith("creature:") else _creature(asset)
        space = PoseSpace(rig, model, threads=1)
        # The default limits (an animated rig's own range, widened by at most 20 %) and, for an animated rig, the
        # pose space's limits alone (clips=False), which let a solver reach beyond the animation.
        variants = {"": space.joint_limits(n_samples=samples, coverage=coverage, steps=steps)}
        if rig.clips:
            variants[", clips=False"] = space.joint_limits(n_samples=samples, coverage=coverage, steps=steps,
                                                           clips=False)
        pool = space.sample(4 * trials, seed=11, steps=steps)
        ok = np.flatnonzero(space.score(pool)[1])
        if len(ok) == 0:
            rows[asset] = {"skipped": "no plausible sample to start from"}
            continue
        starts = pool[ok[np.arange(trials) % len(ok)]]
        leaves, h = leaf_joints(rig), rig.height()
        for reach in reaches:
            rng = np.random.default_rng(1)
            cases = []
            for i in range(trials):
                init = starts[i]
                leaf = leaves[i % min(4, len(leaves))]
                direction = rng.normal(size=3)
                target = joint_positions(rig, init)[0, leaf] + reach * h * direction / np.linalg.norm(direction)
                cases.append((init, {rig.joint_names[leaf]: target}, [rig.joint_names[0]], leaf, target))
            for variant, limits in variants.items():
                rows[f"{asset} reach {reach:g}{variant}"] = {"joints": rig.num_joints, "trials": trials, "reach": reach,
                                                             **_start_stats(space, limits, starts),
                                                             **_solve_all(space, rig, cases, limits)}
    return rows


def _creature(asset: str):  # noqa: ANN202 - creature:NAME -> its rig
    from vips.data.creatures import make_creature

    return make_creature(asset.split(":", 1)[1], 0).rig


# ----- driver --------------------------------------------------------------------------------------------
def run(quick: bool = False, model: str | None = None, motion: str | None = None,
        parts: tuple[str, ...] = ("procedural", "real_clips", "ik")) -> dict:
    samples, steps, coverage = (128, 15, 0.99) if quick else (512, 25, 0.99)
    motion_dir = Path(motion) if motion else Path(__file__).resolve().parents[3].parent / "shared" / "motion"
    real = ["example:CesiumMan"]
    if motion_dir.is_dir():
        real += [str(motion_dir / p) for p in ("quaternius/animals_pack/Horse.glb", "cmu_daz/07_12.bvh",
                                               "kaykit/Character_Animations_1.1/Rig_Medium/Rig_Medium_General.glb")]
    out: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    t0 = time.perf_counter()
    if "procedural" in parts:
        out["procedural"] = procedural_iou(model, 2 if quick else 4, samples, steps, coverage)
    if "real_clips" in parts:
        out["real_clips"] = real_clips(model, real[:2] if quick else real, samples, steps, coverage)
    if "ik" in parts:
        out["ik_runtime_case"] = ik_runtime_case(model, 6 if quick else 12, samples, steps, coverage)
        rigs = ["example:CesiumMan"] + ([] if quick else ["creature:horse_01", "creature:child_01",
                                                          "creature:crocodile_01"])
        out["ik_real"] = ik_real_case(model, rigs, 6 if quick else 24, samples, steps, coverage)
    out["seconds"] = time.perf_counter() - t0
    _print(out)
    return out


def _print(out: dict) -> None:
    p = out.get("procedural")
    if p:
        _print_procedural(p)
    for row in out.get("real_clips", {}).get("assets", []):
        for label in CLIP_MARGINS:
            r = row[label]
            print(f"  {Path(row['asset']).name:28s} {label:10s} joint-frames inside {r['joint_frames_inside']:.3f}, "
                  f"whole frames {r['frames_all_joints_inside']:.3f}, "
                  f"joints >=95% {r['joints_with_95pct_inside']:.2f}, "
                  f"as tight {r['joints_as_tight']:.2f} (moving {r['moving_joints_as_tight']}), width / clip's "
                  + ", ".join(f"{k} {v:.2f}" for k, v in r["median_width_ratio"].items() if v is not None))
    ik = [("toy50", out["ik_runtime_case"])] + list(out["ik_real"].items()) if "ik_real" in out else []
    for case, rows in ik:
        if "skipped" in rows:
            continue
        cells = ", ".join(f"{k} {v['plausible_fraction']:.0%} (err {v['median_error_fraction_of_height']:.3g})"
                          for k, v in rows.items() if isinstance(v, dict))
        print(f"  IK {Path(case).name}: start {rows['start_plausible_fraction']:.0%} plausible; {cells}")


def _print_procedural(p: dict) -> None:
    print(f"procedural IoU (slack {p['slack_rad']} rad): model {p['mean_iou_model']:.2f}, motion programs "
          f"{p['mean_iou_motion_programs']:.2f}, uniform in the truth (ceiling) {p['mean_iou_ceiling']:.2f}")
    for role, r in p["per_role"].items():
        print(f"  {role:14s} {r['joints']:3d} joints  IoU model {r['iou_model']:.2f}  "
              f"motion {r['iou_motion_programs']:.2f}  ceiling {r['iou_ceiling']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default=None)
    parser.add_argument("--motion", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--only", default="procedural,real_clips,ik",
                        help="comma-separated parts: procedural, real_clips, ik")
    args = parser.parse_args()
    out = run(args.quick, args.model, args.motion, tuple(args.only.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
