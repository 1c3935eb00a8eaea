"""Why the default model's samples miss the 1-NNA target: a diagnosis on training and held-out species.

For one species per body plan of each split, the reference is 64 true poses of the species (every clip of
both individuals, as `vips eval` draws it) and the rows are:

- ``model``: 64 samples (30 DDIM steps, the eval's setting);
- ``model_100_steps``: the same latents with 100 steps;
- ``model_best_half``: the better-scored half (by `PoseSpace.score`) of 128 samples;
- ``heldout_data``: a second draw of 64 true poses, disjoint from the reference (the metrics' floor).

``nn_ratio`` is the median distance from a row's pose to its nearest reference pose, divided by the same for
the second draw of true poses: how far off the data the poses lie (1 for true poses). ``nn_ratio_by_depth``
splits the per-joint part of it by hierarchy depth (deeper = farther down the chains).

    python training/experiments/sample_fidelity.py --data data/poses --out training/reports/sample_fidelity.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np


def diagnose(data: Path, split: str, rigs: int, model: str | None) -> dict:
    from vips.evaluation.metrics import fidelity, pose_features, position_distances
    from vips.evaluation.run_model import dataset_cases
    from vips.posespace import PoseSpace

    rows: dict[str, list[dict]] = {}
    for k, case in enumerate(dataset_cases(data, split, rigs)):
        rig = case.rig
        order = np.random.default_rng(k).permutation(len(case.heldout))
        ref = pose_features(rig, case.heldout[np.sort(order[:64])])
        second = pose_features(rig, case.heldout[np.sort(order[64:128])])
        space = PoseSpace(rig, model, threads=1)
        samples = space.sample(128, seed=k, steps=30)
        scores = space.score(samples)[0]
        sets = {
            "model": pose_features(rig, samples[np.arange(64)]),
            "model_100_steps": pose_features(rig, space.sample(64, seed=k, steps=100)),
            "model_best_half": pose_features(rig, samples[np.sort(np.argsort(-scores)[:64])]),
            "heldout_data": second,
        }
        nearest_true = position_distances(second, ref).argmin(1)
        true_joint = np.linalg.norm(second - ref[nearest_true], axis=-1).mean(0)
        true_median = np.median(position_distances(second, ref).min(1))
        depth = rig.depths()
        for name, feat in sets.items():
            d = position_distances(feat, ref)
            joint = np.linalg.norm(feat - ref[d.argmin(1)], axis=-1).mean(0)
            by_depth = {int(t): float(joint[depth == t].mean() / max(true_joint[depth == t].mean(), 1e-9))
                        for t in np.unique(depth) if t > 0}
            row = {k2: float(v) for k2, v in fidelity(feat, ref).items()}
            row.update(rig=rig.name, nn_ratio=float(np.median(d.min(1)) / true_median), nn_ratio_by_depth=by_depth)
            rows.setdefault(name, []).append(row)
        print(split, rig.name, " ".join(f"{n}={r[-1]['1nna']:.2f}/{r[-1]['cov']:.2f}/x{r[-1]['nn_ratio']:.1f}"
                                        for n, r in rows.items()), flush=True)
    mean = {name: {key: float(np.mean([r[key] for r in rs])) for key in ("1nna", "cov", "mmd", "nn_ratio")}
            for name, rs in rows.items()}
    return {"mean": mean, "rigs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the dataset the model was trained on")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--rigs", type=int, default=11, help="species per split (one per body plan first)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    report = {"command": "sample_fidelity.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v),
              "splits": {split: diagnose(args.data, split, args.rigs, args.model) for split in ("train", "test")}}
    report["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for split, r in report["splits"].items():
        for name, m in r["mean"].items():
            print(f"{split:5s} {name:16s} 1-NNA {m['1nna']:.3f}  COV {m['cov']:.3f}  MMD {m['mmd']:.3f}  "
                  f"nearest-reference distance x{m['nn_ratio']:.2f} of true poses'")


if __name__ == "__main__":
    main()
