"""`vips eval`: a pose-space model on held-out species of a built dataset and on real animated assets.

Held-out species were never seen in training (the dataset splits whole archetypes). For each one:

* the **reference** is a random subset of *all* its true poses: every clip of every individual whose skeleton
  matches the evaluated one (poses carry over as local rotations relative to rest; root offsets are scaled by
  the height ratio), so it stands for the species' pose distribution, not one individual's few clips;
* the **baselines** are fitted to *training* poses, as the model is: those of the training species whose
  skeleton has the same topology (same plan, same joints), carried over the same way. They see exactly what
  the model saw. Where no training species shares the skeleton, they fall back to the species' other
  individual, which gives them a sight of the species the model never had; the case's
  ``settings.baselines_fitted_on`` says which;
* ``heldout_data`` in the report is a second, disjoint subset of the same true poses measured as if it were
  samples: the floor of each metric at this sample count (1-NNA near 0.5, coverage well under 1).

Species whose individuals differ in skeleton and have no training match fall back to a split by clip.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vips.errors import AssetError
from vips.poses import Poses
from vips.rig import Rig


def split_by_clip(poses: Poses, clip: np.ndarray) -> tuple[Poses, Poses]:
    """(train, heldout): even-numbered clips train the baselines, odd-numbered ones are the reference.

    Whole clips, not alternate frames: neighbouring frames of one clip would leak into the reference.
    """
    ids = np.unique(clip)
    if len(ids) < 2:  # one clip: first half / second half in time
        half = len(poses) // 2
        return poses[:half], poses[half:]
    train = np.isin(clip, ids[::2])
    return (Poses(poses.rotations[train], poses.root_translation[train], poses.fps, "train"),
            Poses(poses.rotations[~train], poses.root_translation[~train], poses.fps, "heldout"))


#: Training poses the baselines of one held-out rig are fitted to (a seeded random subset beyond this).
BASELINE_TRAIN_POSES = 4096


def same_skeleton(a: Rig, b: Rig) -> bool:
    """Whether poses of ``a`` carry over to ``b`` (:func:`carry_poses`): same hierarchy, same up axis."""
    return np.array_equal(a.parents, b.parents) and a.up_axis == b.up_axis


def carry_poses(poses: Poses, source: Rig, target: Rig) -> Poses:
    """``poses`` of ``source`` on ``target``, a rig of the same topology: local rotations are relative to rest,
    so they carry over; the root offset is scaled by the ratio of the rigs' heights."""
    if not same_skeleton(source, target):
        raise ValueError(f"carry_poses: {source.label} and {target.label} differ in topology or up axis")
    scale = target.height() / source.height()
    return Poses(poses.rotations, poses.root_translation * scale, poses.fps, poses.name)


def dataset_cases(data_dir: Path, split: str, max_rigs: int, seed: int = 0, procedural_only: bool = False) -> list:
    """EvalCases for ``max_rigs`` species of ``split``, spread over body plans (module docstring).

    ``procedural_only`` leaves out real clip shards (``source == "clip"``): `vips eval` reports those in its
    "real motion" section (:mod:`vips.evaluation.real_motion`), not in the procedural-species table.
    """
    from vips.data.creatures import make_creature
    from vips.io.shards import read_shard
    from vips.evaluation.evaluate import TARGET_GROUP, EvalCase

    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise AssetError(f"{data_dir}: no manifest.json (build it with `vips dataset build --out {data_dir}`)")
    rows_all = json.loads(manifest_path.read_text())["shards"]
    species: dict[str, list[dict]] = {}
    for s in rows_all:
        if s["split"] == split and not (procedural_only and s.get("source") == "clip"):
            species.setdefault(s["species"], []).append(s)
    by_plan: dict[str, list[list[dict]]] = {}
    for rows in species.values():
        by_plan.setdefault(rows[0]["plan"], []).append(sorted(rows, key=lambda r: r["individual"]))
    # Round-robin over plans so a small max_rigs still covers every body plan.
    chosen: list[list[dict]] = []
    while len(chosen) < max_rigs and any(by_plan.values()):
        for plan in sorted(by_plan):
            if by_plan[plan] and len(chosen) < max_rigs:
                chosen.append(by_plan[plan].pop(0))
    cases = []
    for rows in chosen:
        meta = rows[-1]
        shard = read_shard(data_dir / meta["file"])
        rig = shard.rig
        mates = [shard.poses]
        for row in rows[:-1]:
            other = read_shard(data_dir / row["file"])
            if same_skeleton(other.rig, rig):
                mates.insert(0, carry_poses(other.poses, other.rig, rig))
        train = _training_poses(data_dir, rows_all, meta, rig, np.random.default_rng([seed, len(cases)]))
        if train is not None:
            source, heldout = "training species with this skeleton", Poses.concatenate(mates)
        elif len(mates) > 1:
            source, train, heldout = "the species' other individual", mates[0], mates[-1]
        else:
            source = "the other clips of this individual"
            train, heldout = split_by_clip(shard.poses, shard.clip)
        procedural = meta.get("source", "procedural") == "procedural"
        limits = make_creature(meta["species"], meta["individual"]).limits if procedural else None
        rig.name = f"{meta['species']}_{meta['individual']}"
        cases.append(EvalCase(rig, train, heldout, limits, group=TARGET_GROUP, train_source=source))
    return cases


def _training_poses(data_dir: Path, rows: list[dict], held: dict, rig: Rig,
                    rng: np.random.Generator) -> Poses | None:
    """Up to :data:`BASELINE_TRAIN_POSES` poses of *other* training species whose skeleton matches ``rig``, on
    ``rig`` (the held species itself is left out, so a case of the train split is not its own baseline)."""
    from vips.io.shards import read_shard

    found = []
    for row in rows:
        if (row["split"] != "train" or row["species"] == held["species"] or row.get("plan") != held.get("plan")
                or row.get("joints") != held.get("joints")):
            continue
        shard = read_shard(data_dir / row["file"])
        if same_skeleton(shard.rig, rig):
            found.append(carry_poses(shard.poses, shard.rig, rig))
    if not found:
        return None
    poses = Poses.concatenate(found)
    if len(poses) > BASELINE_TRAIN_POSES:
        poses = poses[np.sort(rng.choice(len(poses), BASELINE_TRAIN_POSES, replace=False))]
    poses.name = "training poses"
    return poses


def asset_cases(paths: list[Path]) -> list:
    """EvalCases for real assets with animation (clips split in time); assets without clips are skipped."""
    from vips.evaluation.evaluate import EvalCase
    from vips.io import load

    cases = []
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rig = load(path)
        if not rig.clips:
            continue
        poses = Poses.concatenate(list(rig.clips.values()))
        if len(poses) < 8:
            continue
        train, heldout = split_by_clip(poses, np.zeros(len(poses), np.int32))
        cases.append(EvalCase(rig, train, heldout, None, group="assets"))
    return cases


def evaluate_model(model: str | Path | None, data_dir: Path | None, assets: list[Path], out: Path,
                   split: str = "test", max_rigs: int = 12, n_samples: int = 128, steps: int = 30, seed: int = 0,
                   progress: Callable[[str], None] | None = None, frames_per_clip: int = 40,
                   cover_samples: int = 256, sheets: list[Path] = ()) -> dict[str, Any]:
    """Run the evaluation and write ``out/report.json`` plus plots. Returns the report.

    Procedural species of ``data_dir``'s ``split`` and the ``assets`` (split in time) make the per-rig table
    (:func:`~vips.evaluation.evaluate.evaluate_many`); the real clip families of the split and the ``assets`` make
    the report's "real motion" section (:func:`~vips.evaluation.real_motion.evaluate_real_motion`, at most
    ``frames_per_clip`` frames per clip, ``cover_samples`` samples per rig); each of ``sheets`` gets a contact
    sheet of 16 samples (the report's "sheets").
    """
    from vips.evaluation.real_motion import asset_families, dataset_families, evaluate_real_motion, write_sheets
    from vips.evaluation.evaluate import evaluate_many
    from vips.io.atomic import write_bytes_atomic
    from vips.posespace import PoseSpace

    spaces: dict[int, PoseSpace] = {}

    def space(rig: Rig) -> PoseSpace:
        if id(rig) not in spaces:
            spaces[id(rig)] = PoseSpace(rig, model=model)
        return spaces[id(rig)]

    def sampler(rig: Rig, n: int, s: int) -> Poses:
        if progress:
            progress(f"sampling {rig.name}")
        return space(rig).sample(n, seed=s, steps=steps)

    def scorer(rig: Rig, poses: Poses) -> np.ndarray:
        return space(rig).score(poses)[0]

    def flag_scorer(rig: Rig, poses: Poses) -> tuple[np.ndarray, np.ndarray]:
        return space(rig).score(poses)

    cases = ((dataset_cases(data_dir, split, max_rigs, seed, procedural_only=True) if data_dir is not None else [])
             + asset_cases(assets))
    families = dataset_families(data_dir, split, frames_per_clip) if data_dir is not None else []
    more, skipped = asset_families(assets, frames_per_clip)
    families += more
    if not cases and not families and not sheets:
        raise AssetError("nothing to evaluate: give --data (a built dataset) and/or --assets with animation clips, "
                         "or --sheet assets")
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"settings": {}}
    if cases:
        report = evaluate_many(cases, sampler, scorer, n_samples=n_samples, seed=seed, out_dir=out)
    if families:
        report["real motion"] = evaluate_real_motion(families, sampler, flag_scorer, cover_samples, seed,
                                                     out_dir=out, progress=progress)
        report["real motion"]["settings"].update({"frames_per_clip": frames_per_clip, "steps": steps,
                                                  "split": split if data_dir is not None else None,
                                                  "skipped_assets": skipped})
    if sheets:
        report["sheets"] = write_sheets(sheets, sampler, flag_scorer, out, seed=seed)
    report["settings"].update({"model": str(model or "default"), "split": split, "steps": steps,
                               "data": str(data_dir) if data_dir else None, "assets": [str(a) for a in assets]})
    write_bytes_atomic(out / "report.json", json.dumps(report, indent=1, default=_json_default).encode())
    return report


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x).__name__)
