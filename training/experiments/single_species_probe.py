"""Is the default model's 1-NNA gap a matter of amortization? Train a model on ONE training species and measure.

The shipped model scores 1-NNA 0.79 on training species as on held-out ones. This probe trains a fresh model on
the poses of a single training species (both individuals, every clip, and its proportion variants), then
measures its samples against that species' poses with the protocol of ``sample_fidelity.py``. It also denoises
true poses from a few noise levels (SDEdit: noise a true pose to noise-to-signal ratio ``sigma``, run the
sampler from there), which shows at which noise levels the samples leave the data.

    python training/experiments/single_species_probe.py --data data/poses --species 7 --steps 12000 \
        --eval-at 3000,6000 --run runs/probe_rat --out training/reports/single_species/rat.json

Rows of the report: ``samples`` (64 samples, 30 DDIM steps; ``samples_at_<step>`` the same part-way through
training, see ``--eval-at``), ``sdedit_<sigma>`` (of the final model), and ``nn_ratio``: the median
distance from a row's pose to its nearest reference pose over the same for true poses (1 = as close as data).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

SDEDIT_SIGMAS = (0.01, 0.04, 0.1, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a dataset from `vips dataset build`")
    parser.add_argument("--species", type=int, default=7, help="index into the train split's evaluated species")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (the learning-rate schedule's length)")
    parser.add_argument("--eval-at", default="", help="comma-separated earlier steps to sample at too")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--schedule-shift", type=float, default=1.0)
    parser.add_argument("--run", type=Path, required=True, help="training run folder (resumed if present)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    from vips import diffusion
    from vips.evaluation.metrics import fidelity, pose_features, position_distances
    from vips.evaluation.run_model import dataset_cases
    from vips.model.training_groups import load_dataset
    from vips.model_contract import WEIGHTS_FILE
    from vips.model.network import ModelConfig
    from vips.model.train import TrainConfig, train
    from vips.pose_encoding import decode_poses, encode_poses
    from vips.posespace import PoseSpace
    from vips.runtime.model_dir import export_model_dir

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    case = dataset_cases(args.data, "train", 11)[args.species]
    rig = case.rig
    # Shard names are <archetype>_<variant>_<individual>: train on every variant of the archetype.
    archetype = rig.name.rsplit("_", 2)[0]
    groups = [g for g in load_dataset(args.data) if g.name.rsplit("_", 2)[0] == archetype]
    run = args.run
    config = TrainConfig(out=str(run), model=ModelConfig(width=args.width, layers=args.layers, encoder_layers=2,
                                                         heads=4, mlp_ratio=2, schedule_shift=args.schedule_shift),
                         steps=args.steps, warmup=200, lr=1.5e-3, rigs_per_batch=8, poses_per_rig=8,
                         progress=False, checkpoint_every=args.steps, threads=1, log_every=100)
    order = np.random.default_rng(args.species).permutation(len(case.heldout))
    reference, second = case.heldout[np.sort(order[:64])], case.heldout[np.sort(order[64:128])]
    ref, sec = pose_features(rig, reference), pose_features(rig, second)
    true_nn = np.median(position_distances(sec, ref).min(1))

    def row(poses) -> dict:  # noqa: ANN001
        feat = pose_features(rig, poses)
        out = {k: float(v) for k, v in fidelity(feat, ref).items()}
        out["nn_ratio"] = float(np.median(position_distances(feat, ref).min(1)) / true_nn)
        return out

    rows = {"heldout_data": row(second)}
    checkpoints = sorted({int(v) for v in args.eval_at.split(",") if v and 0 < int(v) < args.steps} | {args.steps})
    for stop in checkpoints:
        config.stop_at = stop
        train(config, groups)
        space = PoseSpace(rig, export_model_dir(run / WEIGHTS_FILE, run / "model").folder, threads=1)
        rows["samples" if stop == args.steps else f"samples_at_{stop}"] = row(space.sample(64, seed=args.species,
                                                                                           steps=30))
    x0 = encode_poses(second, space.cond)
    rng = np.random.default_rng(0)
    for sigma in SDEDIT_SIGMAS:
        ab = 1 / (1 + sigma**2)
        t = float(diffusion.t_from_alpha_bar(ab, space.info.shift))
        eps = rng.standard_normal(x0.shape).astype(np.float32) * space.mask
        x_t = diffusion.add_noise(x0, eps, ab).astype(np.float32)
        x = diffusion.sample(space.denoiser, space.encoded, x_t, 30, channel_mask=space.mask, t_max=t,
                             spacing=space.info.spacing, shift=space.info.shift)
        rows[f"sdedit_{sigma}"] = row(decode_poses(x, space.cond))
    report = {"command": "single_species_probe.py " + " ".join(f"--{k.replace('_', '-')} {v}"
                                                                for k, v in vars(args).items() if v not in (None, "")),
              "rig": rig.name, "groups": [g.name for g in groups], "poses": int(sum(len(g.poses) for g in groups)),
              "rows": rows, "seconds": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for name, r in rows.items():
        print(f"{name:14s} 1-NNA {r['1nna']:.3f}  COV {r['cov']:.3f}  nearest-reference distance x{r['nn_ratio']:.2f}")


if __name__ == "__main__":
    main()
