"""Building the pose dataset: procedural creatures in motion, near-duplicates removed, split by species.

One job per individual (species, individual): make the creature, run each of its motion programs, drop
near-duplicate poses, write a shard (see :mod:`vips.data.shards`). Jobs run in a local process pool or as
Ray tasks; both give the same files, because every job is seeded from its own identity. Finished shards
whose settings match are skipped, so a killed build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def run_job(job: Job, out_dir: str) -> dict[str, Any]:
    """Make one individual's shard. Returns its summary (also written as the shard's sidecar)."""
    from vips.data.creatures import make_creature, motion, programs_for
    from vips.data.dedupe import near_duplicate_mask
    from vips.data.shards import Shard, write_shard
    from vips.kinematics import joint_positions
    from vips.poses import Poses

    started = time.perf_counter()
    rng = np.random.default_rng(job.seed)
    generic = bool(rng.random() < job.settings.generic_name_fraction)
    creature = make_creature(job.species, job.individual, generic_names=generic)
    rig = creature.rig
    programs = list(programs_for(creature))
    # Every program at least once, then random ones, so each individual covers its whole repertoire.
    chosen = programs + [programs[i] for i in rng.integers(0, len(programs), max(0, job.settings.sequences - len(programs)))]
    clips, clip_ids, frames, sequences = [], [], [], []
    for c, program in enumerate(chosen):
        seq = motion(creature, program, job.settings.frames, fps=job.settings.fps, seed=int(rng.integers(2**31)))
        sequences.append(seq)
        clips.append({"program": program, "frames": len(seq)})
        clip_ids.append(np.full(len(seq), c, np.int32))
        frames.append(np.arange(len(seq), dtype=np.int32))
    poses = Poses.concatenate(sequences)
    clip = np.concatenate(clip_ids)
    frame = np.concatenate(frames)
    height = rig.height()
    positions = joint_positions(rig, poses)
    positions = (positions - positions[:, :1]) / height
    keep = near_duplicate_mask(positions, job.settings.dedupe_eps)
    meta = {
        "source": "procedural",
        "species": job.species,
        "plan": job.plan,
        "individual": job.individual,
        "split": job.split,
        "generic_names": generic,
        "joints": rig.num_joints,
        "clips": clips,
        "poses_generated": int(len(poses)),
        "poses": int(keep.sum()),
        "near_duplicates_removed": int((~keep).sum()),
        "fit_error": None,
        "settings": job.settings.digest(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    kept = Poses(poses.rotations[keep], poses.root_translation[keep], job.settings.fps, job.shard_name)
    write_shard(Path(out_dir) / "shards" / f"{job.shard_name}.npz", Shard(rig, kept, clip[keep], frame[keep], meta))
    return meta



def _finished(out_dir: Path, job: Job) -> bool:
    sidecar = out_dir / "shards" / f"{job.shard_name}.json"
    if not sidecar.is_file() or not sidecar.with_suffix(".npz").is_file():
        return False
    try:
        return json.loads(sidecar.read_text()).get("settings") == job.settings.digest()
    except (OSError, ValueError):
        return False


def build_dataset(
    out_dir: str | os.PathLike[str],
    settings: BuildSettings = BuildSettings(),
    engine: str = "local",
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume) a dataset in ``out_dir``: ``shards/*.npz`` + ``manifest.json``. Returns the manifest.

    Args:
        settings: what to build; shards built with other settings are rebuilt.
        engine: "local" (process pool of ``workers``, default the machine's cores) or "ray".
        progress: called as ``progress(done, total, shard_name)`` after each job.
    """
    out = Path(out_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs = plan_jobs(settings)
    todo = [j for j in jobs if not _finished(out, j)]
    failures: dict[str, str] = {}
    done = len(jobs) - len(todo)
    if progress:
        progress(done, len(jobs), "")
    if engine == "ray":
        # Ray's default retries: a lost node is worth retrying for a build's long jobs.
        results = run_ray(run_job, todo, (str(out),), retries=None)
    elif engine == "local":
        results = run_local(run_job, todo, (str(out),), workers=workers)
    else:
        raise VipsError(f"unknown engine '{engine}': use 'local' or 'ray'")
    for job, result in results:
        done += 1
        if isinstance(result, Exception):
            failures[job.shard_name] = describe_failure(result)
        if progress:
            progress(done, len(jobs), job.shard_name)
    manifest = write_manifest(out, jobs, failures, settings)
    manifest["seconds_this_run"] = round(time.perf_counter() - started, 1)
    return manifest


def write_manifest(out: Path, jobs: list[Job], failures: dict[str, str], settings: BuildSettings) -> dict[str, Any]:
    """Gather the shard sidecars into ``manifest.json`` (provenance, counts, splits, failures)."""
    shards, totals = [], {s: 0 for s in SPLITS}
    for job in jobs:
        sidecar = out / "shards" / f"{job.shard_name}.json"
        if job.shard_name in failures or not sidecar.is_file():
            continue
        meta = json.loads(sidecar.read_text())
        meta["file"] = f"shards/{job.shard_name}.npz"
        shards.append(meta)
        totals[meta["split"]] += meta["poses"]
    species = {s["species"]: s["split"] for s in shards}
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
        "failures": [{"shard": k, "reason": v} for k, v in sorted(failures.items())],
    }
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    return manifest
