"""The pose dataset build: shards, provenance, near-duplicate removal, held-out split, resume, Ray = local."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vips.data.dataset import BuildSettings, build_dataset, plan_jobs
from vips.data.dedupe import near_duplicate_mask
from vips.io.shards import read_shard

SMALL = BuildSettings(species=14, individuals=1, sequences=1, frames=12, seed=3)


def test_near_duplicate_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 5, 3))
    poses = np.concatenate([base, base + rng.normal(scale=0.001, size=base.shape), base[:5] + 0.5])
    keep = near_duplicate_mask(poses, eps=0.01)
    kept: list[int] = []
    for i in range(len(poses)):  # brute force: greedy, pose distance = max joint distance
        if all(np.linalg.norm(poses[i] - poses[k], axis=-1).max() >= 0.01 for k in kept):
            kept.append(i)
    assert np.flatnonzero(keep).tolist() == kept
    assert keep[:20].all() and not keep[20:40].any() and keep[40:].all()


def test_split_holds_out_whole_archetypes_in_every_plan() -> None:
    from vips.data.creatures import list_species

    jobs = plan_jobs(BuildSettings())
    archetype = {s.name: s.archetype for s in list_species()}
    split_of: dict[str, set[str]] = {}
    for job in jobs:
        split_of.setdefault(archetype[job.species], set()).add(job.split)
    assert all(len(s) == 1 for s in split_of.values()), "an archetype straddles splits"
    plans_in_test = {j.plan for j in jobs if j.split == "test"}
    assert plans_in_test == {j.plan for j in jobs}, "every body plan must have held-out test animals"
    assert len({j.species for j in jobs}) >= 100 and len(jobs) >= 200


def _arrays(root: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for f in sorted((root / "shards").glob("*.npz")):
        with np.load(f, allow_pickle=False) as d:
            out[f.name] = {k: d[k] for k in d.files}
    return out


def test_build_resume_and_ray_give_the_same_dataset(tmp_path: Path) -> None:
    local = tmp_path / "local"
    manifest = build_dataset(local, SMALL, workers=2)
    assert manifest["failures"] == [] and manifest["individuals"] == 14
    assert manifest["poses"] == sum(manifest["poses_per_split"].values()) > 0
    on_disk = json.loads((local / "manifest.json").read_text())
    assert on_disk["poses"] == manifest["poses"]
    shard_meta = on_disk["shards"][0]
    for key in ("source", "species", "plan", "individual", "split", "clips", "poses", "near_duplicates_removed"):
        assert key in shard_meta
    shard = read_shard(local / shard_meta["file"])
    assert len(shard.poses) == shard_meta["poses"] == len(shard.clip) == len(shard.frame)
    assert shard.rig.num_joints == shard_meta["joints"]

    mtimes = {f: f.stat().st_mtime_ns for f in (local / "shards").iterdir()}
    again = build_dataset(local, SMALL, workers=2)
    assert again["poses"] == manifest["poses"]
    assert {f: f.stat().st_mtime_ns for f in (local / "shards").iterdir()} == mtimes, "resume redid finished work"

    (local / "shards" / shard_meta["file"].split("/")[1]).unlink()  # a lost shard is rebuilt, identically
    build_dataset(local, SMALL, workers=1)

    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        build_dataset(tmp_path / "ray", SMALL, engine="ray")
    finally:
        ray.shutdown()
    a, b = _arrays(local), _arrays(tmp_path / "ray")
    assert a.keys() == b.keys()
    for name in a:
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")
