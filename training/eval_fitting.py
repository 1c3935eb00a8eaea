"""Evaluate the pose-fitting pipeline against ground truth under simulated reconstruction.

For each sequence: a procedural creature (vips.data.creatures) runs one of its motion programs (or a real
asset plays its own animation clip), is re-rigged so the first frame is the rest pose (the pipeline takes
the skeleton from the rigged first frame), and every frame becomes a simulated single-view reconstruction
(noise, outliers, per-frame similarity misalignment). We fit the poses with vips.fitting.fit_poses, run the
frame-to-frame tracking baseline on the same frames, and compare both with the ground truth.

    python training/eval_fitting.py --sequences 50 --frames 60 --out results/fitting

Real assets: by default every asset under ``../shared/assets`` with a skinned mesh and an animation clip
(:func:`discover_assets`); the others (a BVH motion without a mesh, static RigNet characters) are listed
under ``assets_skipped`` with the reason. A clip is looped to ``--frames``; clips of a few keyframes are
first slerped to a smooth pass, and clips that do not end where they start play forwards then backwards.

Writes ``fitting_eval.json`` (per sequence and pooled medians; targets: median joint position error <= 2%
of the rig height, median joint rotation error <= 8 degrees, end-of-sequence error <= half the tracking
baseline's) and ``fitting_eval.png`` (per-frame error of fitting and tracking).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
END_FRAMES = 10  # "end of the sequence": the last this many frames


def _creature_sequence(index: int, frames: int):  # noqa: ANN202
    from vips.data.creatures import list_species, make_creature, motion, programs_for

    species = list_species()
    spec = species[(index * 7) % len(species)]  # spread over body plans
    creature = make_creature(spec, individual=index % 2)
    programs = programs_for(creature)
    program = programs[index % len(programs)]
    return f"{creature.name}:{program}", creature.rig, motion(creature, program, frames, seed=index)


ASSET_SUFFIXES = {".glb", ".gltf", ".usd", ".usda", ".usdc", ".bvh", ".obj"}
MIN_CLIP_FRAMES = 15  # shorter clips (a few keyframes) are resampled to RESAMPLED_FRAMES frames per pass
RESAMPLED_FRAMES = 30


def discover_assets(root: Path = ASSETS) -> tuple[list[Path], list[dict]]:
    """The real assets under ``root`` that can be evaluated (a skinned mesh and an animation clip), and the
    others with the reason they are skipped (no mesh, no clip, unreadable)."""
    import vips

    usable, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in ASSET_SUFFIXES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rig = vips.load(path)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            skipped.append({"asset": str(path.relative_to(root)),
                            "reason": f"unreadable: {type(exc).__name__}: {exc}"})
            continue
        reason = None
        if not rig.has_mesh or rig.faces is None or len(rig.faces) == 0 or rig.skin_indices is None:
            reason = "no skinned mesh (a skeleton-only motion: nothing to reconstruct)"
        elif not rig.clips:
            reason = "no animation clip (a static rigged mesh: no motion to fit)"
        if reason:
            skipped.append({"asset": str(path.relative_to(root)), "reason": reason})
        else:
            usable.append(path)
    return usable, skipped


def _asset_sequence(path: Path, frames: int):  # noqa: ANN202
    import vips
    from vips.poses import Poses
    from vips.rotations import quat_normalize, quat_slerp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(path)
    name, clip = next(iter(rig.clips.items()))
    rot = clip.rotations.astype(np.float64)
    root = clip.root_translation.astype(np.float64)
    if len(clip) < MIN_CLIP_FRAMES:
        # A few keyframes: interpolate (slerp, linear root) to a smooth pass, as the asset would play.
        t = np.linspace(0, len(clip) - 1, RESAMPLED_FRAMES)
        i0 = np.minimum(np.floor(t).astype(int), len(clip) - 2) if len(clip) > 1 else np.zeros(len(t), int)
        i1 = np.minimum(i0 + 1, len(clip) - 1)
        a = (t - i0)[:, None]
        rot = quat_normalize(quat_slerp(rot[i0], rot[i1], np.broadcast_to(a, rot[i0].shape[:2])))
        root = (1 - a) * root[i0] + a * root[i1]
    # Loop the clip to the requested length: a cyclic clip (last pose near the first) wraps, any other
    # plays forwards and backwards so no frame jumps.
    cyclic = np.abs(np.sum(rot[0] * rot[-1], axis=-1)).min() > np.cos(np.deg2rad(10) / 2)
    cycle = (rot, root) if cyclic or len(rot) < 3 else (np.concatenate([rot, rot[-2:0:-1]]),
                                                         np.concatenate([root, root[-2:0:-1]]))
    reps = int(np.ceil(frames / len(cycle[0])))
    rot = np.concatenate([cycle[0]] * reps)[:frames]
    root = np.concatenate([cycle[1]] * reps)[:frames]
    return f"{path.name}:{name}", rig, Poses(rot.astype(np.float32), root.astype(np.float32), clip.fps, name)


def evaluate_sequence(job: tuple[str, object, int, int]) -> dict:
    """Fit one sequence and compare fitting and tracking with the ground truth."""
    import torch

    torch.set_num_threads(1)
    from vips.fitting.fit import fit_poses
    from vips.fitting.accuracy import pose_errors, summarize, to_ground_truth_world
    from vips.fitting.reconstruction import rigged_first_frame, simulate_reconstruction
    from vips.fitting.tracking import track_poses

    kind, what, frames, seed = job
    started = time.time()
    try:
        label, rig, poses = _creature_sequence(int(what), frames) if kind == "creature" else _asset_sequence(
            Path(str(what)), frames)
        rig, truth = rigged_first_frame(rig, poses)
        sim = simulate_reconstruction(rig, truth, seed=seed)
        t0 = time.time()
        result = fit_poses(rig, sim.clouds)
        fit_time = time.time() - t0
        fit_err = pose_errors(rig, result.poses, truth, to_ground_truth_world(result.alignments, sim.misalignment))
        t0 = time.time()
        tracked, used = track_poses(rig, sim.clouds, result.alignments, result.poses[0])
        track_time = time.time() - t0
        trk_err = pose_errors(rig, tracked, truth, to_ground_truth_world(used, sim.misalignment))
    except Exception as exc:  # one bad sequence must not stop the evaluation; it is reported
        return {"kind": kind, "what": str(what), "error": f"{type(exc).__name__}: {exc}"}
    obs = fit_err["observable"]
    return {
        "kind": kind,
        "label": label,
        "joints": int(rig.num_joints),
        "height": float(rig.height()),
        "largest_extent": float(np.ptp(rig.vertices, axis=0).max()),
        "observable_joints": int(obs.sum()),
        "frames": frames,
        "visible_fraction": float(sim.visible_fraction.mean()),
        "fit": summarize(fit_err),
        "track": summarize(trk_err),
        "fit_end_position": float(np.median(fit_err["position"][-END_FRAMES:, obs])),
        "track_end_position": float(np.median(trk_err["position"][-END_FRAMES:, obs])),
        "fit_per_frame": np.median(fit_err["position"][:, obs], axis=1).tolist(),
        "track_per_frame": np.median(trk_err["position"][:, obs], axis=1).tolist(),
        "fit_errors_pos": fit_err["position"][:, obs].ravel().tolist(),
        "fit_errors_rot": fit_err["rotation"][:, obs].ravel().tolist(),
        "fit_seconds": fit_time,
        "track_seconds": track_time,
        "seconds": time.time() - started,
    }


def _pooled(records: list[dict]) -> dict:
    ok = [r for r in records if "error" not in r]
    if not ok:
        return {"sequences": 0}
    pos_parts = [np.asarray(r.pop("fit_errors_pos")) for r in ok]
    pos = np.concatenate(pos_parts)
    pos_ext = np.concatenate([p * r["height"] / r["largest_extent"] for p, r in zip(pos_parts, ok)])
    rot = np.concatenate([r.pop("fit_errors_rot") for r in ok])
    fit_end = np.array([r["fit_end_position"] for r in ok])
    trk_end = np.array([r["track_end_position"] for r in ok])
    out = {
        "sequences": len(ok),
        "median_position_error": float(np.median(pos)),
        "median_rotation_error_deg": float(np.median(rot)),
        "median_position_error_of_largest_extent": float(np.median(pos_ext)),
        "p90_position_error": float(np.quantile(pos, 0.9)),
        "p90_rotation_error_deg": float(np.quantile(rot, 0.9)),
        "median_end_position_fit": float(np.median(fit_end)),
        "median_end_position_tracking": float(np.median(trk_end)),
        "end_ratio_fit_over_tracking": float(np.median(fit_end) / max(np.median(trk_end), 1e-12)),
        "sequences_with_end_ratio_le_half": int((fit_end <= 0.5 * trk_end).sum()),
        "fit_seconds_per_frame": float(sum(r["fit_seconds"] for r in ok) / sum(r["frames"] for r in ok)),
    }
    out["targets_met"] = {
        "median_position_le_2pct": out["median_position_error"] <= 0.02,
        "median_rotation_le_8deg": out["median_rotation_error_deg"] <= 8.0,
        "end_error_le_half_tracking": out["end_ratio_fit_over_tracking"] <= 0.5,
    }
    return out


def _plot(records: list[dict], path: Path) -> None:
    """Per-frame median joint position error (% of height), fitting vs tracking, averaged over sequences."""
    from PIL import Image, ImageDraw

    ok = [r for r in records if "error" not in r]
    if not ok:
        return
    n = min(len(r["fit_per_frame"]) for r in ok)
    fit = np.median([r["fit_per_frame"][:n] for r in ok], axis=0) * 100
    trk = np.median([r["track_per_frame"][:n] for r in ok], axis=0) * 100
    W, H, m = 900, 480, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    top = max(float(trk.max()), float(fit.max()), 2.5) * 1.1

    def xy(i: int, v: float) -> tuple[float, float]:
        return m + i / max(n - 1, 1) * (W - 2 * m), H - m - v / top * (H - 2 * m)

    d.line([(m, H - m), (W - m, H - m)], fill="black")
    d.line([(m, m), (m, H - m)], fill="black")
    for k in range(0, int(top) + 1, max(1, int(top) // 8)):
        y = xy(0, k)[1]
        d.line([(m - 4, y), (m, y)], fill="black")
        d.text((8, y - 6), f"{k}%", fill="black")
    for k in range(0, n, max(1, n // 10)):
        x = xy(k, 0)[0]
        d.text((x - 6, H - m + 6), str(k), fill="black")
    d.line([xy(0, 2.0), xy(n - 1, 2.0)], fill=(180, 180, 180))
    d.line([xy(i, v) for i, v in enumerate(trk)], fill=(220, 60, 40), width=2)
    d.line([xy(i, v) for i, v in enumerate(fit)], fill=(30, 90, 200), width=2)
    d.text((m + 10, 10), f"median joint position error (% of rig height) per frame, {len(ok)} sequences", fill="black")
    d.text((m + 10, 26), "blue: Chamfer fitting (vips.fitting)   red: frame-to-frame tracking   grey: 2% target", fill="black")
    d.text((W // 2 - 20, H - 20), "frame", fill="black")
    img.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=50, help="procedural creature sequences")
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence")
    parser.add_argument("--assets", nargs="*", default=None,
                        help="real animated assets (their first clip, looped to --frames); default: every asset "
                             "under ../shared/assets with a skinned mesh and a clip (the others are listed as "
                             "skipped in the report)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/fitting"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.assets is None:
        assets, args.skipped_assets = discover_assets()
    else:
        assets = [Path(a) for a in args.assets if Path(a).exists()]
        args.skipped_assets = [{"asset": a, "reason": "not found"} for a in args.assets if not Path(a).exists()]
    jobs = [("asset", a, args.frames, args.seed + 1000 + k) for k, a in enumerate(assets)]
    jobs += [("creature", i, args.frames, args.seed + i) for i in range(args.sequences)]
    started = time.time()
    records: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool:
        for k, rec in enumerate(pool.map(evaluate_sequence, jobs)):
            records.append(rec)
            status = rec.get("error") or (f"{rec['label']}: pos {100 * rec['fit']['median_position']:.2f}% "
                                          f"rot {rec['fit']['median_rotation_deg']:.1f} deg, end fit/track "
                                          f"{100 * rec['fit_end_position']:.2f}%/{100 * rec['track_end_position']:.2f}%")
            print(f"[{k + 1}/{len(jobs)}] {status}", flush=True)
            _write_report(args, argv, [dict(r) for r in records], started, final=False)
    _write_report(args, argv, records, started, final=True)
    return 0


def _write_report(args: argparse.Namespace, argv: list[str] | None, records: list[dict], started: float,
                  final: bool) -> None:
    """JSON (and, at the end, the plot) of the records so far; partial runs leave usable results."""
    records = [dict(r) for r in records]
    creature_recs = [r for r in records if r["kind"] == "creature"]
    asset_recs = [r for r in records if r["kind"] == "asset"]
    _plot(creature_recs + asset_recs, args.out / "fitting_eval.png")
    report = {
        "complete": final,
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "settings": {"sequences": args.sequences, "frames": args.frames, "workers": args.workers,
                     "simulation": "single view, noise 0.5% of height, 3% outliers, per-frame similarity "
                                   "(scale +-15%, rotation <= 15 deg, shift <= 10% of height)",
                     "normalization": "position errors are fractions of the rig height (the rest mesh's extent "
                                      "along the up axis, Rig.height(), as the issue states; for a snake that is "
                                      "its thickness); *_of_largest_extent divides by the largest extent "
                                      "instead, for information only; targets are checked on height"},
        "creatures": _pooled(creature_recs),
        "assets": _pooled(asset_recs),
        "assets_skipped": args.skipped_assets,
        "failed": [r for r in records if "error" in r],
        "wall_seconds": time.time() - started,
        "sequences": records,
    }
    (args.out / "fitting_eval.json").write_text(json.dumps(report, indent=1))
    if final:
        print(json.dumps({k: report[k] for k in ("creatures", "assets", "wall_seconds")}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
