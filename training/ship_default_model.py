"""Turn a finished training run into the default model shipped in the package.

    python training/ship_default_model.py --run runs/default_v3 --data data/poses_v3 --model-id vips-default-v3

Exports the EMA weights to ONNX (rig encoder + denoiser) with a check against torch, then calibrates the
plausibility threshold on the dataset's *validation* split, never trained on and never used for the test
metrics: procedural species and real motion (the val rig families), each against the same poses corrupted
by every kind of :mod:`vips.evaluation.corruptions`. The threshold maximizes the mean over the two sources of
(share of valid poses passing + share of corrupted poses caught) / 2 (:func:`vips.posespace.balanced_threshold`),
so it means the same on real clips as on creatures. Writes everything to python/vips/models/default/ (or --out)
and prints the calibration table.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from vips.data.shards import read_shard
from vips.evaluation.corruptions import CORRUPTIONS
from vips.evaluation.real_motion import dataset_families
from vips.poses import Poses
from vips.posespace import PoseSpace, balanced_threshold, write_threshold
from vips.runtime.model_dir import export_model_dir

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "python" / "vips" / "models" / "default"


def procedural_pairs(data: Path, rigs: int, poses_per_rig: int, seed: int = 0) -> list:
    """(rig, poses) of up to ``rigs`` procedural validation individuals, ``poses_per_rig`` random poses each."""
    manifest = json.loads((data / "manifest.json").read_text())
    shards = [s for s in manifest["shards"] if s["split"] == "val" and s.get("source", "procedural") != "clip"]
    rng = np.random.default_rng(seed)
    pairs = []
    for meta in shards[:rigs]:
        shard = read_shard(data / meta["file"])
        pick = np.sort(rng.choice(len(shard.poses), size=min(poses_per_rig, len(shard.poses)), replace=False))
        pairs.append((shard.rig, Poses(shard.poses.rotations[pick], shard.poses.root_translation[pick])))
    return pairs


def real_pairs(data: Path, frames_per_clip: int) -> list:
    """(rig, frames) of every real validation rig, at most ``frames_per_clip`` evenly spaced frames per clip."""
    pairs = []
    for family in dataset_families(data, "val", frames_per_clip):
        for rr in family.rigs:
            pairs.append((rr.rig, Poses.concatenate([c.poses for c in rr.clips])))
    return pairs


def scores_of(model: Path, pairs: list, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid scores, corrupted scores) of ``pairs`` under ``model``, every corruption kind of each pose set."""
    valid, bad = [], []
    for k, (rig, poses) in enumerate(pairs):
        space = PoseSpace(rig, model)
        valid.append(space.score(poses)[0])
        for i, corrupt in enumerate(CORRUPTIONS.values()):
            try:
                corrupted = corrupt(rig, poses, seed=seed + 100 * k + i, reference=poses).poses
            except ValueError:  # a kind that does not apply to this rig (no limb to swing...)
                continue
            bad.append(space.score(corrupted)[0])
    return np.concatenate(valid), np.concatenate(bad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="training run folder (holds model.safetensors)")
    parser.add_argument("--data", type=Path, required=True, help="the dataset the run was trained on")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--model-id", default="vips-default-v3")
    parser.add_argument("--rigs", type=int, default=22, help="procedural validation individuals")
    parser.add_argument("--poses", type=int, default=64, help="poses per procedural validation individual")
    parser.add_argument("--frames-per-clip", type=int, default=40, help="frames per real validation clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    export_model_dir(args.run / "model.safetensors", args.out, model_id=args.model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        procedural = scores_of(args.out, procedural_pairs(args.data, args.rigs, args.poses, args.seed), args.seed)
        real = scores_of(args.out, real_pairs(args.data, args.frames_per_clip), args.seed)
    threshold, table = balanced_threshold({"procedural": procedural[0], "real": real[0]},
                                          {"procedural": procedural[1], "real": real[1]})
    write_threshold(args.out, threshold, {"rule": "balanced accuracy, mean over sources", "split": "val",
                                          "kinds": list(CORRUPTIONS), "sources": table})
    print(f"{args.out}: threshold {threshold:.4f}")
    for group, row in table.items():
        print(f"  {group:11s} valid passing {row['passed']:.3f} ({row['valid_poses']} poses), corrupted caught "
              f"{row['caught']:.3f} ({row['corrupted_poses']} poses)")


if __name__ == "__main__":
    main()
