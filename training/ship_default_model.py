"""Turn a finished training run into the default model shipped in the package.

    python training/ship_default_model.py --run runs/default --data data/poses

Exports the EMA weights to ONNX (rig encoder + denoiser) with a check against torch, then calibrates the
plausibility threshold on the dataset's *validation* species (never trained on, never used for the test
metrics), and writes everything to python/vips/models/default/.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from vips.data.shards import read_shard
from vips.poses import Poses
from vips.posespace import calibrate_threshold
from vips.runtime.model_dir import export_model_dir

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "python" / "vips" / "models" / "default"


def validation_pairs(data: Path, rigs: int, poses_per_rig: int, seed: int = 0) -> list:
    manifest = json.loads((data / "manifest.json").read_text())
    shards = [s for s in manifest["shards"] if s["split"] == "val"][:rigs]
    rng = np.random.default_rng(seed)
    pairs = []
    for meta in shards:
        shard = read_shard(data / meta["file"])
        pick = np.sort(rng.choice(len(shard.poses), size=min(poses_per_rig, len(shard.poses)), replace=False))
        pairs.append((shard.rig, Poses(shard.poses.rotations[pick], shard.poses.root_translation[pick])))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="training run folder (holds model.safetensors)")
    parser.add_argument("--data", type=Path, required=True, help="the dataset the run was trained on")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--model-id", default="vips-default-v2")
    parser.add_argument("--rigs", type=int, default=22, help="validation individuals used for calibration")
    parser.add_argument("--poses", type=int, default=64, help="poses per validation individual")
    parser.add_argument("--quantile", type=float, default=0.05, help="valid poses allowed below the threshold")
    args = parser.parse_args()
    export_model_dir(args.run / "model.safetensors", args.out, model_id=args.model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threshold = calibrate_threshold(args.out, validation_pairs(args.data, args.rigs, args.poses), args.quantile)
    print(f"{args.out}: threshold {threshold:.4f} (quantile {args.quantile} of validation scores)")


if __name__ == "__main__":
    main()
