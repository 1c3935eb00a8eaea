"""The pose-space runtime: manifold IK latency and quality against CCD / FABRIK, batch sampling on ONNX Runtime
against torch eager, and latent against joint-space traversals (CesiumMan and held-out creature species).

    vips bench --only runtime

The model is ``--model``, else the shipped default, else the small test model of a source checkout
(tests/data/toy_pose_space, trained on toy rigs of 5-14 joints: its latencies are those of a small model, its
plausibility numbers on other rigs say little). IK runs on one CPU thread with ONNX Runtime's default settings.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from vips.bench.timing import best_of

IK_RIG_JOINTS = 50


def _model(model: str | None) -> Path:
    if model:
        return Path(model)
    from vips.errors import VipsError
    from vips.posespace import default_model_dir

    try:
        return default_model_dir()
    except VipsError:
        toy = Path(__file__).resolve().parents[3] / "tests" / "data" / "toy_pose_space"
        if (toy / "denoiser.onnx").is_file():
            return toy
        raise


def _leaves(rig) -> list[int]:  # noqa: ANN001
    kids, depth = rig.children(), rig.depths()
    return sorted((j for j in range(rig.num_joints) if not kids[j]), key=lambda j: -depth[j])


def bench_ik(model: Path, trials: int, repeat: int) -> dict:
    """One pose of a 50-joint rig: a deep leaf moved by 5% of the height, the root pinned."""
    from vips.ik_baselines import ccd, fabrik
    from vips.kinematics import joint_positions
    from vips.model.toy import toy_poses, toy_rig
    from vips.posespace import PoseSpace

    rng = np.random.default_rng(0)
    rig = toy_rig(rng, IK_RIG_JOINTS, "toy50")
    data = toy_poses(rng, IK_RIG_JOINTS, trials)
    space = PoseSpace(rig, model, threads=1)
    h = rig.height()
    leaves = _leaves(rig)
    x1 = np.zeros((1, rig.num_joints, 9), np.float32)
    call_s = best_of(lambda: space.denoiser(x1, np.array([0.5], np.float32), space.encoded), repeat=repeat,
                     number=20)
    rows = {name: {"error": [], "seconds": [], "scores": []} for name in ("manifold", "ccd", "fabrik")}
    for i in range(trials):
        init = data[i]
        p0 = joint_positions(rig, init)[0]
        leaf = leaves[i % min(3, len(leaves))]
        direction = rng.normal(size=3)
        target = p0[leaf] + 0.05 * h * direction / np.linalg.norm(direction)
        handles, pins = {rig.joint_names[leaf]: target}, [rig.joint_names[0]]
        solvers = {
            "manifold": lambda: space.solve_ik(handles, init=init, pins=pins),
            "ccd": lambda: ccd(rig, handles, init=init, pins=pins),
            "fabrik": lambda: fabrik(rig, handles, init=init, pins=pins),
        }
        for name, solve in solvers.items():
            pose = solve()
            rows[name]["seconds"].append(best_of(solve, repeat=repeat) if i < 3 else np.nan)
            pos = joint_positions(rig, pose)[0]
            rows[name]["error"].append(max(np.linalg.norm(pos[leaf] - target), np.linalg.norm(pos[0] - p0[0])) / h)
            rows[name]["scores"].append(float(space.score(pose)[0][0]))
    out = {"joints": rig.num_joints, "model": str(model), "denoiser_call_ms": call_s * 1e3,
           "threshold": space.threshold}
    for name, r in rows.items():
        scores = np.asarray(r["scores"])
        out[name] = {"latency_ms": float(np.nanmedian(r["seconds"]) * 1e3),
                     "max_error_fraction_of_height": float(np.max(r["error"])),
                     "mean_score": float(scores.mean()),
                     "plausible_fraction": None if space.threshold is None else
                     float(np.mean(scores >= space.threshold))}
    return out


def bench_sampling(model: Path, n: int, steps: int, repeat: int) -> dict:
    """Poses per second of PoseSpace.sample on the shipped CesiumMan: ONNX Runtime against torch eager, both on
    one thread and on every core (``rows``: one entry per thread count)."""
    import vips
    from vips.examples import resolve
    from vips.posespace import PoseSpace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(resolve("example:CesiumMan"))
    out: dict = {"poses": n, "steps": steps, "joints": rig.num_joints, "rows": []}
    for threads in sorted({1, os.cpu_count() or 1}):
        row: dict = {"threads": threads}
        # torch first: ONNX Runtime's idle intra-op threads spin for a while after each run and would slow torch.
        try:
            import torch

            torch.set_num_threads(threads)
            torch_space = PoseSpace(rig, model, backend="torch")
            row["torch_poses_per_s"] = n / best_of(lambda: torch_space.sample(n, seed=0, steps=steps), repeat=repeat)
            torch_space = None  # freed before ONNX Runtime runs
        except Exception as exc:  # noqa: BLE001 - torch missing or no weights: report, do not fail the suite
            row["torch_poses_per_s"] = None
            row["torch_error"] = str(exc)
        onnx = PoseSpace(rig, model, threads=threads)
        row["onnx_poses_per_s"] = n / best_of(lambda: onnx.sample(n, seed=0, steps=steps), repeat=repeat)
        row["onnx_over_torch"] = (row["onnx_poses_per_s"] / row["torch_poses_per_s"]
                                  if row["torch_poses_per_s"] else None)
        out["rows"].append(row)
    return out


def traversal_cases(species: int) -> list[tuple[str, "object", list]]:
    """(name, rig, clips) to traverse: the shipped CesiumMan and the first ``species`` held-out (test-split)
    creature species of the default dataset build, one per body plan, with their motion programs as clips."""
    import vips
    from vips.data.creatures import list_species, make_creature, motion, programs_for
    from vips.data.dataset import BuildSettings, split_archetypes
    from vips.examples import resolve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cesium = vips.load(resolve("example:CesiumMan"))
    cases = [("CesiumMan", cesium, list(cesium.clips.values()))]
    all_species = list_species()
    split = split_archetypes(all_species, BuildSettings())
    plans_seen: set[str] = set()
    for s in all_species:
        if len(cases) > species:
            break
        if split[s.archetype] != "test" or s.plan in plans_seen:
            continue
        plans_seen.add(s.plan)
        c = make_creature(s.name, 0)
        clips = [motion(c, program, frames=60, seed=k) for k, program in enumerate(programs_for(c))]
        cases.append((s.name, c.rig, clips))
    return cases


def bench_traversal(model: Path, species: int, pairs: int, n: int, steps: int) -> dict:
    """Fraction of plausible interior steps between two plausible held-out poses: latent slerp (inverted,
    decoded) against joint-space slerp, on CesiumMan and held-out creature species the model never saw.

    Endpoints are poses of the rig's own clips that the model scores plausible (a traversal between
    implausible poses says nothing about the path), taken from different clips.
    """
    from vips.kinematics import joint_positions
    from vips.posespace import PoseSpace
    from vips.poses import Poses
    from vips.rotations import quat_slerp

    rng = np.random.default_rng(0)
    alphas = np.linspace(0, 1, n)
    per_rig: dict[str, dict] = {}
    latent_ok, joint_ok, jerk = [], [], {"latent": [], "joint": []}
    for name, rig, clips in traversal_cases(species):
        space = PoseSpace(rig, model)
        data = Poses.concatenate(clips)
        clip_of = np.concatenate([np.full(len(c), k) for k, c in enumerate(clips)])
        if len(clips) == 1:  # one clip: its two halves stand for two clips
            clip_of = (np.arange(len(data)) >= len(data) // 2).astype(int)
        ok = np.flatnonzero(space.score(data)[1])
        if len(np.unique(clip_of[ok])) < 2:
            per_rig[name] = {"skipped": "fewer than two clips with plausible poses"}
            continue
        rig_latent, rig_joint, rig_jerk = [], [], {"latent": [], "joint": []}
        for _ in range(pairs):
            i = int(rng.choice(ok))
            j = int(rng.choice(ok[clip_of[ok] != clip_of[i]]))
            a, b = data[i], data[j]
            path = space.interpolate(a, b, n, steps=steps)
            q = np.stack([quat_slerp(a.rotations[0], b.rotations[0], t) for t in alphas])
            root = (1 - alphas)[:, None] * a.root_translation + alphas[:, None] * b.root_translation
            straight = Poses(q.astype(np.float32), root.astype(np.float32), name="joint-space")
            for kind, p, rows in (("latent", path, rig_latent), ("joint", straight, rig_joint)):
                rows.extend(space.score(p[np.arange(1, n - 1)])[1].tolist())
                pos = joint_positions(rig, p)
                rig_jerk[kind].append(float(np.abs(np.diff(pos, 3, axis=0)).max() / rig.height()))
        per_rig[name] = {"joints": rig.num_joints, "latent_plausible_fraction": float(np.mean(rig_latent)),
                         "joint_space_plausible_fraction": float(np.mean(rig_joint)),
                         "latent_max_jerk": max(rig_jerk["latent"]), "joint_space_max_jerk": max(rig_jerk["joint"])}
        for kind in jerk:
            jerk[kind] += rig_jerk[kind]
        latent_ok += rig_latent
        joint_ok += rig_joint
    return {"pairs_per_rig": pairs, "steps_per_path": n, "rigs": per_rig,
            "latent_plausible_fraction": float(np.mean(latent_ok)),
            "joint_space_plausible_fraction": float(np.mean(joint_ok)),
            "latent_max_jerk": float(np.max(jerk["latent"])), "joint_space_max_jerk": float(np.max(jerk["joint"])),
            "latent_median_jerk": float(np.median(jerk["latent"])),
            "joint_space_median_jerk": float(np.median(jerk["joint"]))}


def run(quick: bool = False, model: str | None = None) -> dict:
    """Run the runtime benchmarks; returns {"ik": ..., "sampling": ..., "traversal": ...}."""
    folder = _model(model)
    repeat = 3 if quick else 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = {"model": str(folder),
               "ik": bench_ik(folder, trials=4 if quick else 12, repeat=repeat),
               "sampling": bench_sampling(folder, n=16 if quick else 64, steps=20 if quick else 50, repeat=repeat),
               "traversal": bench_traversal(folder, species=2 if quick else 6, pairs=3 if quick else 8, n=9,
                                             steps=20 if quick else 50)}
    res["load_average"] = os.getloadavg()[0]
    res["seconds"] = time.perf_counter() - t0
    ik = res["ik"]
    print(f"load average {res['load_average']:.1f} on {os.cpu_count()} cores; model {folder}")
    print(f"IK, one pose of a {ik['joints']}-joint rig, 1 thread (denoiser call {ik['denoiser_call_ms']:.2f} ms):")
    print(f"  {'solver':<10}{'latency ms':>12}{'max err/height':>16}{'mean score':>12}{'plausible':>11}")
    for name in ("manifold", "ccd", "fabrik"):
        r = ik[name]
        pf = "n/a" if r["plausible_fraction"] is None else f"{r['plausible_fraction']:.0%}"
        print(f"  {name:<10}{r['latency_ms']:12.2f}{r['max_error_fraction_of_height']:16.2e}"
              f"{r['mean_score']:12.4f}{pf:>11}")
    s = res["sampling"]
    for row in s["rows"]:
        ratio = "n/a" if row["onnx_over_torch"] is None else f"{row['onnx_over_torch']:.2f}x"
        torch_rate = "n/a" if row["torch_poses_per_s"] is None else f"{row['torch_poses_per_s']:.1f}"
        print(f"sampling {s['poses']} poses x {s['steps']} steps ({s['joints']} joints), {row['threads']} thread(s): "
              f"ONNX {row['onnx_poses_per_s']:.1f} poses/s, torch eager {torch_rate} poses/s, ONNX/torch {ratio}")
    t = res["traversal"]
    print(f"traversal plausible steps: latent {t['latent_plausible_fraction']:.0%}, joint-space "
          f"{t['joint_space_plausible_fraction']:.0%}; jerk/height median {t['latent_median_jerk']:.3g} vs "
          f"{t['joint_space_median_jerk']:.3g}, max {t['latent_max_jerk']:.3g} vs {t['joint_space_max_jerk']:.3g}")
    for name, r in t["rigs"].items():
        if "skipped" in r:
            print(f"  {name}: skipped ({r['skipped']})")
        else:
            print(f"  {name} ({r['joints']} joints): latent {r['latent_plausible_fraction']:.0%}, joint-space "
                  f"{r['joint_space_plausible_fraction']:.0%}, max jerk {r['latent_max_jerk']:.3g} vs "
                  f"{r['joint_space_max_jerk']:.3g}")
    return res
