"""Building the pose dataset: procedural creatures and artist clips in motion, near-duplicates removed, split
by species (creatures by archetype, clips by rig family).

One job per individual of a motion source (:mod:`vips.data.sources`): a procedural creature (species,
individual) runs each of its motion programs; an animated asset (:mod:`vips.data.clips`) gives its clips.
Every job goes through :func:`run_job`: drop near-duplicate poses, write a shard (see
:mod:`vips.io.shards`). Jobs run in a local process pool or as Ray tasks; both give the same files, because
every job is seeded from its own identity. Finished shards whose settings match are skipped, so a killed
build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vips.data.sources import Motion, MotionJob
from vips.errors import VipsError
from vips.io.atomic import write_bytes_atomic
from vips.parallel import describe_failure, run_local, run_ray

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BuildSettings:
    """What a dataset build makes. Changing any field invalidates finished shards (they are rebuilt)."""

    species: int = 162
    individuals: int = 2
    sequences: int = 12
    frames: int = 90
    fps: float = 30.0
    dedupe_eps: float = 0.01
    generic_name_fraction: float = 0.3
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Job:
    species: str
    plan: str
    individual: int
    split: str
    settings: BuildSettings

    @property
    def shard_name(self) -> str:
        return f"{self.species}__{self.individual:03d}"

    @property
    def seed(self) -> int:
        key = f"{self.settings.seed}/{self.species}/{self.individual}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")

    @property
    def dedupe_eps(self) -> float:
        return self.settings.dedupe_eps

    def digest(self) -> str:
        return self.settings.digest()

    def motion(self) -> Motion:
        """The individual and its motion programs: every program at least once, then random ones, so each
        individual covers its whole repertoire."""
        from vips.data.creatures import make_creature, motion, programs_for

        rng = np.random.default_rng(self.seed)
        generic = bool(rng.random() < self.settings.generic_name_fraction)
        creature = make_creature(self.species, self.individual, generic_names=generic)
        programs = list(programs_for(creature))
        extra = rng.integers(0, len(programs), max(0, self.settings.sequences - len(programs)))
        chosen = programs + [programs[i] for i in extra]
        sequences, clips = [], []
        for program in chosen:
            seq = motion(creature, program, self.settings.frames, fps=self.settings.fps,
                         seed=int(rng.integers(2**31)))
            sequences.append(seq)
            clips.append({"program": program, "frames": len(seq)})
        meta = {
            "source": "procedural",
            "species": self.species,
            "plan": self.plan,
            "individual": self.individual,
            "split": self.split,
            "generic_names": generic,
            "joints": creature.rig.num_joints,
            "clips": clips,
        }
        return Motion(creature.rig, sequences, meta)


def split_archetypes(species: list, settings: BuildSettings) -> dict[str, str]:
    """Archetype -> split. Held-out animals: every species of an archetype (horse_01, horse_02) shares a split,
    so test animals are never seen in training, not even as a proportion variant. Stratified by body plan:
    each plan with 3+ archetypes gives at least one to test (and, with 5+, one to val), chosen by a seeded
    hash, so every plan is both trained on and tested.
    """
    by_plan: dict[str, list[str]] = {}
    for s in species:
        by_plan.setdefault(s.plan, [])
        if s.archetype not in by_plan[s.plan]:
            by_plan[s.plan].append(s.archetype)
    split: dict[str, str] = {}
    for plan, archetypes in by_plan.items():
        ranked = sorted(archetypes, key=lambda a: hashlib.sha256(f"{settings.seed}/{a}".encode()).hexdigest())
        n_test = max(1, round(settings.test_fraction * len(ranked))) if len(ranked) >= 3 else 0
        n_val = max(1, round(settings.val_fraction * len(ranked))) if len(ranked) >= 5 else 0
        for i, a in enumerate(ranked):
            split[a] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return split


def plan_jobs(settings: BuildSettings) -> list[Job]:
    """The jobs of a build: the first ``settings.species`` species, ``settings.individuals`` each."""
    from vips.data.creatures import list_species

    species = list_species()
    if len(species) < settings.species:
        raise VipsError(f"only {len(species)} species are available; asked for {settings.species}")
    split = split_archetypes(species, settings)
    # Spread a partial build over every plan instead of taking the first plans' species only.
    species = sorted(species, key=lambda s: hashlib.sha256(f"{settings.seed}/{s.name}".encode()).hexdigest())
    species = species[: settings.species]
    return [
        Job(s.name, s.plan, i, split[s.archetype], settings)
        for s in species
        for i in range(settings.individuals)
    ]


def run_job(job: MotionJob, out_dir: str) -> dict[str, Any]:
    """Make one job's shard, whatever its source: its motion, near-duplicates dropped, written with its sidecar.

    A skipped job (an asset without animation) writes only its sidecar, holding the reason, so a resumed
    build does not load it again. Returns the sidecar's content.
    """
    from vips.data.dedupe import near_duplicate_mask
    from vips.io.shards import Shard, write_shard
    from vips.kinematics import joint_positions
    from vips.poses import Poses

    started = time.perf_counter()
    motion = job.motion()
    sidecar = Path(out_dir) / "shards" / f"{job.shard_name}.json"
    if motion.skipped is not None:
        meta = {**motion.meta, "skipped": motion.skipped, "settings": job.digest()}
        sidecar.with_suffix(".npz").unlink(missing_ok=True)  # a shard made under another digest
        write_bytes_atomic(sidecar, json.dumps(meta, indent=1).encode())
        return meta
    rig = motion.rig
    poses = Poses.concatenate(motion.sequences)
    clip = np.concatenate([np.full(len(s), c, np.int32) for c, s in enumerate(motion.sequences)])
    frame = np.concatenate([np.arange(len(s), dtype=np.int32) for s in motion.sequences])
    height = rig.height()
    positions = joint_positions(rig, poses)
    positions = (positions - positions[:, :1]) / height
    keep = near_duplicate_mask(positions, job.dedupe_eps)
    meta = {
        **motion.meta,
        "poses_generated": int(len(poses)),
        "poses": int(keep.sum()),
        "near_duplicates_removed": int((~keep).sum()),
        "fit_error": None,
        "settings": job.digest(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    kept = Poses(poses.rotations[keep], poses.root_translation[keep], poses.fps, job.shard_name)
    write_shard(sidecar.with_suffix(".npz"), Shard(rig, kept, clip[keep], frame[keep], meta))
    return meta


def _finished(out_dir: Path, job: MotionJob) -> bool:
    """Whether ``job``'s work is on disk, made with the same digest: its sidecar plus shard, or a skip record."""
    sidecar = out_dir / "shards" / f"{job.shard_name}.json"
    if not sidecar.is_file():
        return False
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("settings") != job.digest():
        return False
    return "skipped" in meta or sidecar.with_suffix(".npz").is_file()


def build_dataset(
    out_dir: str | os.PathLike[str],
    settings: BuildSettings = BuildSettings(),
    engine: str = "local",
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    clips: Sequence[str | os.PathLike[str]] = (),
    clips_split: str = "auto",
    clips_sources: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Build (or resume) a dataset in ``out_dir``: ``shards/*.npz`` + ``manifest.json``. Returns the manifest.

    Args:
        settings: what to build; shards built with other settings are rebuilt.
        engine: "local" (process pool of ``workers``, default the machine's cores) or "ray".
        progress: called as ``progress(done, total, shard_name)`` after each job.
        clips: animated asset files or folders, each ``PATH`` or ``PATH=SPLIT`` (see :mod:`vips.data.clips`):
            each asset with animation is one more species (source "clip"), deduplicated like the creatures;
            assets without animation are listed under the manifest's "skipped", unreadable ones under its
            "failures", other files under "ignored". The manifest lists the jobs of this call, so pass the same
            ``clips`` to resume a build that has them.
        clips_split: the split of the rig families that no ``PATH=SPLIT`` names: "auto" (a seeded hash of the
            family, with the settings' val/test fractions), or "train", "val", "test" for all of them.
        clips_sources: a sources file naming the collection, licence and credit of the assets by path
            (:class:`vips.data.sources.SourcesFile`); without one (or where it has no entry) the licence comes
            from a licence file beside the asset or above it.
    """
    from vips.data.clips import ClipsPath, plan_clip_jobs

    out = Path(out_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run = _runner(engine, workers)
    jobs: list[MotionJob] = list(plan_jobs(settings))
    clip_plan = None
    if clips:
        clip_plan = plan_clip_jobs(clips, clips_split, settings.seed, settings.val_fraction, settings.test_fraction,
                                   settings.dedupe_eps, exclude=out, sources=clips_sources, run=run)
        jobs += clip_plan.jobs
    todo = [j for j in jobs if not _finished(out, j)]
    failures: dict[str, str] = {}
    done = len(jobs) - len(todo)
    if progress:
        progress(done, len(jobs), "")
    for job, result in run(run_job, todo, (str(out),)):
        done += 1
        if isinstance(result, Exception):
            failures[job.shard_name] = describe_failure(result)
        if progress:
            progress(done, len(jobs), job.shard_name)
    clip_info = None
    if clip_plan is not None:
        given = [ClipsPath.parse(c) for c in clips]
        clip_info = {"paths": [str(ClipsPath(c.path.resolve(), c.split)) for c in given], "split": clips_split,
                     "sources": str(Path(clips_sources).resolve()) if clips_sources else None, "plan": clip_plan}
    manifest = write_manifest(out, jobs, failures, settings, clip_info)
    manifest["seconds_this_run"] = round(time.perf_counter() - started, 1)
    return manifest


def _runner(engine: str, workers: int | None) -> Callable[..., Any]:
    """``run(fn, jobs, args=())`` on ``engine``, yielding ``(job, result or exception)`` as jobs finish."""
    if engine == "ray":
        # Ray's default retries: a lost node is worth retrying for a build's long jobs.
        return lambda fn, jobs, args=(): run_ray(fn, jobs, args, retries=None)
    if engine == "local":
        return lambda fn, jobs, args=(): run_local(fn, jobs, args, workers=workers)
    raise VipsError(f"unknown engine '{engine}': use 'local' or 'ray'")


def write_manifest(out: Path, jobs: list[MotionJob], failures: dict[str, str], settings: BuildSettings,
                   clip_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gather the shard sidecars into ``manifest.json`` (provenance, counts, splits, failures).

    ``clip_info`` (builds with clip assets): ``paths``, ``split``, ``sources`` and the
    :class:`~vips.data.clips.ClipPlan`; the manifest then also has "clips" (a summary), "families" and
    "collections" (per rig family and per collection: split, licences, assets, clips, poses), "skipped"
    (assets with no shard, and why) and "ignored" (files under the paths that are no animated asset).
    """
    shards, skipped, totals = [], [], {s: 0 for s in SPLITS}
    sidecars: dict[str, dict[str, Any]] = {}
    for job in jobs:
        sidecar = out / "shards" / f"{job.shard_name}.json"
        if job.shard_name in failures or not sidecar.is_file():
            continue
        meta = sidecars[job.shard_name] = json.loads(sidecar.read_text())
        if "skipped" in meta:
            skipped.append({"asset": meta.get("asset", job.shard_name), "reason": meta["skipped"]})
            continue
        meta["file"] = f"shards/{job.shard_name}.npz"
        shards.append(meta)
        totals[meta["split"]] += meta["poses"]
    species = {s["species"]: s["split"] for s in shards}
    plan = clip_info["plan"] if clip_info else None
    assets = {j.shard_name: j.asset for j in jobs if hasattr(j, "asset")}
    failed = [{"shard": k, "reason": v, **({"asset": assets[k]} if k in assets else {})} for k, v in failures.items()]
    failed += plan.failures if plan else []
    manifest = {
        "format": "vips-pose-dataset/1",
        "settings": asdict(settings),
        "settings_digest": settings.digest(),
        "poses": sum(totals.values()),
        "poses_per_split": totals,
        "species": len(species),
        "species_per_split": {s: sorted(n for n, sp in species.items() if sp == s) for s in SPLITS},
        "individuals": len(shards),
        "near_duplicates_removed": sum(s["near_duplicates_removed"] for s in shards),
        "shards": shards,
        "failures": sorted(failed, key=lambda f: f["shard"]),
    }
    if plan is not None:
        from vips.data.clips import clip_summary

        skipped = plan.skipped + skipped
        clip_shards = [s for s in shards if s["source"] == "clip"]
        manifest["clips"] = {
            "paths": clip_info["paths"],
            "split": clip_info["split"],
            "sources": clip_info["sources"],
            "assets": len(assets) + len(plan.skipped) + len(plan.failures),
            "families": len(plan.families),
            "shards": len(clip_shards),
            "poses": sum(s["poses"] for s in clip_shards),
            "skipped": len(skipped),
            "failed": sum(k in assets for k in failures) + len(plan.failures),
        }
        manifest.update(clip_summary(plan.jobs, sidecars, plan.families))
        manifest["skipped"] = skipped
        manifest["ignored"] = plan.ignored
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    return manifest
