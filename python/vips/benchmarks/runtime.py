"""The pose-space runtime: manifold IK latency and quality against CCD / FABRIK, batch sampling on ONNX Runtime
against torch eager, latent against joint-space traversals, and motion between keyframes against joint-space slerp
and spline (CesiumMan and held-out creature species).

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

from vips.benchmarks.timing import best_of
from vips.model_contract import DENOISER_FILE
from vips.poses import Poses

IK_RIG_JOINTS = 50
#: A stance of the animation bench's contact case: some joint moves at least this fraction of the height.
STANCE_MOTION = 0.1
#: Samples the animation bench draws keys from on a rig whose own clips have too few plausible frames.
SAMPLE_KEYS = 32


def _model(model: str | None) -> Path:
    if model:
        return Path(model)
    from vips.errors import VipsError
    from vips.posespace import default_model_dir

    try:
        return default_model_dir()
    except VipsError:
        toy = Path(__file__).resolve().parents[3] / "tests" / "data" / "toy_pose_space"
        if (toy / DENOISER_FILE).is_file():
            return toy
        raise


def leaf_joints(rig) -> list[int]:  # noqa: ANN001
    """The rig's leaf joints, deepest first (the IK benchmarks' handles)."""
    kids, depth = rig.children(), rig.depths()
    return sorted((j for j in range(rig.num_joints) if not kids[j]), key=lambda j: -depth[j])


def bench_ik(model: Path, trials: int, repeat: int) -> dict:
    """One pose of a 50-joint toy rig (random toy start poses): a deep leaf moved by 5% of the height, the root
    pinned. The latency case: the same rig and starts for every model."""
    from vips.model.toy_manifold import toy_poses, toy_rig
    from vips.posespace import PoseSpace

    rng = np.random.default_rng(0)
    rig = toy_rig(rng, IK_RIG_JOINTS, "toy50")
    space = PoseSpace(rig, model, threads=1)
    x1 = np.zeros((1, rig.num_joints, 9), np.float32)
    call_s = best_of(lambda: space.denoiser(x1, np.array([0.5], np.float32), space.encoded), repeat=repeat,
                     number=20)
    rows = _ik_trials(space, toy_poses(rng, IK_RIG_JOINTS, trials), rng, repeat, timed=3)
    return {"joints": rig.num_joints, "model": str(model), "denoiser_call_ms": call_s * 1e3,
            "threshold": space.threshold, **_ik_summary(rows, space.threshold)}


def bench_ik_species(model: Path, species: int, trials: int) -> dict:
    """The same IK task on the traversal rigs (CesiumMan and held-out creature species), started from frames of
    their own clips that the model scores plausible: does each solver keep a plausible pose plausible?"""
    from vips.posespace import PoseSpace

    rng = np.random.default_rng(1)
    rows: dict[str, dict[str, list]] = {}
    rigs: dict[str, dict] = {}
    for name, rig, clips in traversal_cases(species):
        space = PoseSpace(rig, model, threads=1)
        frames = Poses.concatenate(clips)
        ok = np.flatnonzero(space.score(frames)[1])
        if len(ok) == 0:
            rigs[name] = {"skipped": "no frame of its clips is plausible"}
            continue
        starts = frames[np.sort(rng.choice(ok, size=min(trials, len(ok)), replace=False))]
        rig_rows = _ik_trials(space, starts, rng, repeat=1, timed=0)
        rigs[name] = {"joints": rig.num_joints,
                      **{k: v["plausible_fraction"] for k, v in _ik_summary(rig_rows, space.threshold).items()}}
        for solver, r in rig_rows.items():
            for key, values in r.items():
                rows.setdefault(solver, {}).setdefault(key, []).extend(values)
    return {"rigs": rigs, **_ik_summary(rows, None, thresholded=True)}


def _ik_trials(space, starts: Poses, rng: np.random.Generator, repeat: int, timed: int) -> dict:  # noqa: ANN001
    """Per solver: handle errors (fraction of the height), seconds (the first ``timed`` trials) and whether the
    result is plausible, for one trial per start pose."""
    from vips.ik_baselines import ccd, fabrik
    from vips.kinematics import joint_positions

    rig = space.rig
    h = rig.height()
    leaves = leaf_joints(rig)
    rows = {name: {"error": [], "seconds": [], "scores": [], "plausible": []} for name in ("manifold", "ccd", "fabrik")}
    for i in range(len(starts)):
        init = starts[i]
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
            rows[name]["seconds"].append(best_of(solve, repeat=repeat) if i < timed else np.nan)
            pos = joint_positions(rig, pose)[0]
            rows[name]["error"].append(max(np.linalg.norm(pos[leaf] - target), np.linalg.norm(pos[0] - p0[0])) / h)
            score, ok = space.score(pose)
            rows[name]["scores"].append(float(score[0]))
            rows[name]["plausible"].append(bool(ok[0]) if space.threshold is not None else np.nan)
    return rows


def _ik_summary(rows: dict, threshold: float | None, thresholded: bool = False) -> dict:
    out = {}
    for name, r in rows.items():
        seconds = np.asarray(r["seconds"], np.float64)
        out[name] = {"latency_ms": float(np.nanmedian(seconds) * 1e3) if np.isfinite(seconds).any() else None,
                     "max_error_fraction_of_height": float(np.max(r["error"])),
                     "median_error_fraction_of_height": float(np.median(r["error"])),
                     "mean_score": float(np.mean(r["scores"])),
                     "plausible_fraction": float(np.mean(r["plausible"])) if thresholded or threshold is not None
                     else None,
                     "trials": len(r["error"])}
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
    from vips.animation import clip_jerk
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
                rig_jerk[kind].append(float(clip_jerk(rig, p).max()))
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


def _lowest_leaf(rig) -> str:  # noqa: ANN001
    """The leaf joint nearest the ground at rest (a foot on most bodies): the bench's contact joint."""
    kids, rest = rig.children(), rig.rest_joint_positions()
    up = 1 if rig.up_axis == "Y" else 2
    return rig.joint_names[min((j for j in range(rig.num_joints) if not kids[j]), key=lambda j: rest[j, up])]


def _clip_row(space, clip, rig, seconds: float, duration: float, key_frames: np.ndarray) -> dict:  # noqa: ANN001
    from vips.animation import clip_jerk

    scores, plausible = space.score(clip)
    return {"max_jerk": float(clip_jerk(rig, clip).max()), "plausible": plausible.tolist(),
            "min_score": float(np.delete(scores, key_frames).min()), "seconds_per_second": seconds / duration}


def bench_animation(model: Path, species: int, clips: int, keys: int, fps: float) -> dict:
    """Motion between keyframes (:meth:`PoseSpace.animate`) against piecewise joint-space slerp and the C2
    joint-space spline through the same keys, on CesiumMan and held-out creature species.

    Per rig, ``clips`` clips through ``keys`` plausible poses of the rig's own clips (drawn from different clips;
    from :data:`SAMPLE_KEYS` of the model's samples where fewer than ``keys`` frames are plausible), 0.5 to 1 s
    apart, at ``fps``: each method's maximum jerk (:func:`vips.animation.frame_jerk`, per frame, a fraction of the
    height), share of plausible frames, lowest score of a frame between the keys and time per second of animation.
    A contact case per rig (:func:`_contact_case`): two frames of a real stance, animated with and without that
    contact.
    """
    from vips.animation import frame_times, slerp_poses, spline_poses
    from vips.posespace import PoseSpace
    from vips.poses import Poses

    rng = np.random.default_rng(0)
    methods = ("animate", "spline", "slerp")
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    per_rig: dict[str, dict] = {}
    contact_rows = []
    for name, rig, rig_clips in traversal_cases(species):
        space = PoseSpace(rig, model)
        data = Poses.concatenate(rig_clips)
        clip_of = np.concatenate([np.full(len(c), k) for k, c in enumerate(rig_clips)])
        ok = np.flatnonzero(space.score(data)[1])
        source = "clips"
        if len(ok) < keys:  # the model finds too few of the rig's own frames plausible: key on its samples
            data, source = space.sample(SAMPLE_KEYS, seed=1, steps=20), "samples"
            clip_of = np.arange(len(data))
            ok = np.flatnonzero(space.score(data)[1])
        if len(ok) < keys:
            per_rig[name] = {"skipped": f"fewer than {keys} plausible poses in its clips and samples"}
            continue
        rig_rows: dict[str, list[dict]] = {m: [] for m in methods}
        for _ in range(clips):
            idx = _spread_keys(rng, ok, clip_of, keys)
            key_poses = data[idx]
            times = np.concatenate([[0.0], np.cumsum(rng.uniform(0.5, 1.0, keys - 1))])
            duration = float(times[-1])
            t0 = time.perf_counter()
            clip = space.animate(key_poses, times, fps)
            made = {"animate": (clip, time.perf_counter() - t0)}
            for method, make in (("spline", spline_poses), ("slerp", slerp_poses)):
                t0 = time.perf_counter()
                made[method] = (make(key_poses, times, fps), time.perf_counter() - t0)
            key_frames = frame_times(times, fps)[1]
            for method, (c, sec) in made.items():
                rig_rows[method].append(_clip_row(space, c, rig, sec, duration, key_frames))
        per_rig[name] = {"joints": rig.num_joints, "keys_from": source,
                         **{m: _summary(r) for m, r in rig_rows.items()},
                         "jerk_over_spline": [a["max_jerk"] / s["max_jerk"] for a, s in
                                              zip(rig_rows["animate"], rig_rows["spline"])]}
        for m in methods:
            rows[m] += rig_rows[m]
        contact_rows.append({"rig": name, **_contact_case(space, rig_clips, rng, fps)})
    ratios = [r for v in per_rig.values() for r in v.get("jerk_over_spline", [])]
    return {"clips_per_rig": clips, "keys": keys, "fps": fps, "rigs": per_rig,
            **{m: _summary(r) for m, r in rows.items()},
            "jerk_over_spline_max": float(np.max(ratios)) if ratios else None,
            "jerk_over_spline_median": float(np.median(ratios)) if ratios else None,
            "contacts": contact_rows}


def _spread_keys(rng, ok: np.ndarray, clip_of: np.ndarray, keys: int) -> np.ndarray:  # noqa: ANN001
    """``keys`` plausible pose indices, consecutive ones from different clips where the rig has several."""
    out = [int(rng.choice(ok))]
    for _ in range(keys - 1):
        other = ok[clip_of[ok] != clip_of[out[-1]]]
        out.append(int(rng.choice(other if len(other) else ok[ok != out[-1]])))
    return np.asarray(out)


def _summary(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    plausible = [p for r in rows for p in r["plausible"]]
    return {"median_max_jerk": float(np.median([r["max_jerk"] for r in rows])),
            "max_jerk": float(np.max([r["max_jerk"] for r in rows])),
            "plausible_fraction": float(np.mean(plausible)),
            "median_min_score": float(np.median([r["min_score"] for r in rows])),
            "seconds_per_second": float(np.median([r["seconds_per_second"] for r in rows]))}


def _contact_case(space, clips, rng, fps: float) -> dict:  # noqa: ANN001
    """A real stance: two frames 0.3-0.8 s apart of one of the rig's clips, both plausible, between which the
    lowest leaf joint moved less than :data:`vips.animation.CONTACT_TOLERANCE` of the height and another joint at
    least :data:`STANCE_MOTION` of it (the body moves over the planted foot). Animated between them without and
    with that contact: the leaf's largest distance from its planted path (a smoothstep between its two key
    positions), and jerk, plausibility and time with the contact. ``{"skipped": why}`` when no clip has a stance."""
    from vips.animation import CONTACT_TOLERANCE, clip_jerk, smoothstep
    from vips.kinematics import joint_positions
    from vips.poses import Poses

    rig = space.rig
    foot = _lowest_leaf(rig)
    j = rig.joint_index(foot)
    h = rig.height()
    stances = []
    for c, clip in enumerate(clips):
        pos = joint_positions(rig, clip)
        ok = space.score(clip)[1]
        for lag in range(max(1, round(0.3 * clip.fps)), round(0.8 * clip.fps) + 1):
            still = np.linalg.norm(pos[lag:, j] - pos[:-lag, j], axis=-1) <= CONTACT_TOLERANCE * h
            moves = np.linalg.norm(pos[lag:] - pos[:-lag], axis=-1).max(axis=1) >= STANCE_MOTION * h
            stances += [(c, f, lag) for f in np.flatnonzero(still & moves & ok[lag:] & ok[:-lag])]
    if not stances:
        return {"joint": foot, "skipped": "no plausible stance of the lowest leaf in the rig's clips"}
    c, f, lag = stances[int(rng.integers(len(stances)))]
    clip = clips[c]
    keys = Poses.concatenate([clip[int(f)], clip[int(f + lag)]])
    ends = joint_positions(rig, keys)[:, j]
    out = {"joint": foot, "stance_seconds": lag / clip.fps}
    for label, contacts in (("free", ()), ("planted", (foot,))):
        t0 = time.perf_counter()
        made = space.animate(keys, [0.0, lag / clip.fps], fps, contacts=contacts)
        seconds = time.perf_counter() - t0
        s = smoothstep(np.linspace(0.0, 1.0, len(made)))[:, None]  # the planted path PoseSpace.animate holds
        path = joint_positions(rig, made)[:, j]
        drift = np.linalg.norm(path - ((1 - s) * ends[0] + s * ends[1]), axis=-1).max() / h
        out[label] = {"max_drift": float(drift),
                      "max_jerk": float(clip_jerk(rig, made).max()),
                      "plausible_fraction": float(space.score(made)[1].mean()),
                      "seconds_per_second": seconds / (lag / clip.fps)}
    return out


def run(quick: bool = False, model: str | None = None) -> dict:
    """Run the runtime benchmarks; returns {"ik": ..., "sampling": ..., "traversal": ..., "animation": ...}."""
    folder = _model(model)
    repeat = 3 if quick else 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = {"model": str(folder),
               "ik": bench_ik(folder, trials=4 if quick else 12, repeat=repeat),
               "ik_species": bench_ik_species(folder, species=2 if quick else 6, trials=3 if quick else 6),
               "sampling": bench_sampling(folder, n=16 if quick else 64, steps=20 if quick else 50, repeat=repeat),
               "traversal": bench_traversal(folder, species=2 if quick else 6, pairs=3 if quick else 8, n=9,
                                             steps=20 if quick else 50),
               "animation": bench_animation(folder, species=2 if quick else 6, clips=2 if quick else 4, keys=4,
                                            fps=30.0)}
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
    iks = res["ik_species"]
    solved = [(name, iks[name]) for name in ("manifold", "ccd", "fabrik") if name in iks]
    print("IK from plausible frames of CesiumMan and held-out species (same task), plausible results: " + ", ".join(
        f"{name} {r['plausible_fraction']:.0%} (median err/height {r['median_error_fraction_of_height']:.1e})"
        for name, r in solved))
    _print_rigs(iks["rigs"], lambda r: ", ".join(f"{k} {v:.0%}" for k, v in r.items() if k != "joints"))
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
    _print_rigs(t["rigs"], lambda r: f"latent {r['latent_plausible_fraction']:.0%}, joint-space "
                f"{r['joint_space_plausible_fraction']:.0%}, max jerk {r['latent_max_jerk']:.3g} vs "
                f"{r['joint_space_max_jerk']:.3g}")
    _print_animation(res["animation"])
    return res


def _print_rigs(rigs: dict[str, dict], line) -> None:  # noqa: ANN001 - line: (row) -> str
    """One line per rig: ``line(row)`` after its name and joint count, or why it was skipped."""
    for name, r in rigs.items():
        print(f"  {name}: skipped ({r['skipped']})" if "skipped" in r else
              f"  {name} ({r['joints']} joints): {line(r)}")


def _print_animation(a: dict) -> None:
    print(f"animation, {a['clips_per_rig']} clips per rig through {a['keys']} plausible keys 0.5-1 s apart, "
          f"{a['fps']:g} fps (jerk: max |third difference| of joint positions per frame / height; min score: median "
          "over clips of the lowest score between the keys):")
    print(f"  {'method':<10}{'median max jerk':>17}{'max jerk':>11}{'plausible':>11}{'min score':>11}"
          f"{'s per s':>10}")
    for m in ("animate", "spline", "slerp"):
        r = a[m]
        if r is None:
            print(f"  {m:<10}no rig had {a['keys']} plausible poses")
            continue
        print(f"  {m:<10}{r['median_max_jerk']:17.3g}{r['max_jerk']:11.3g}{r['plausible_fraction']:11.1%}"
              f"{r['median_min_score']:11.4f}{r['seconds_per_second']:10.3g}")
    if a["jerk_over_spline_max"] is not None:
        print(f"  animate jerk / spline jerk per clip: median {a['jerk_over_spline_median']:.2f}, max "
              f"{a['jerk_over_spline_max']:.2f}")
    _print_rigs(a["rigs"], lambda r: f"keys from {r['keys_from']}; plausible animate "
                f"{r['animate']['plausible_fraction']:.0%}, spline {r['spline']['plausible_fraction']:.0%}, slerp "
                f"{r['slerp']['plausible_fraction']:.0%}; max jerk {r['animate']['max_jerk']:.3g} / "
                f"{r['spline']['max_jerk']:.3g} / {r['slerp']['max_jerk']:.3g}")
    for c in a["contacts"]:
        if "skipped" in c:
            print(f"  contact {c['rig']} '{c['joint']}': skipped ({c['skipped']})")
            continue
        f, p = c["free"], c["planted"]
        print(f"  contact {c['rig']} '{c['joint']}', a {c['stance_seconds']:.2f} s stance: drift "
              f"{f['max_drift']:.2%} free, {p['max_drift']:.2%} planted of the height; jerk {f['max_jerk']:.3g} / "
              f"{p['max_jerk']:.3g}; plausible {f['plausible_fraction']:.0%} / {p['plausible_fraction']:.0%}; "
              f"{p['seconds_per_second']:.2f} s per s")
