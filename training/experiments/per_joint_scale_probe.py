"""Would dividing each joint's error by its own typical error on the model's samples (per rig) help the flag?

    python training/experiments/per_joint_scale_probe.py --data data/poses_v3 --model SCRATCH_COPY_OF_A_MODEL

For two noise-level sets and three reductions, each joint's denoising error is divided by the 50th or 90th
percentile of that joint's error over the model's own reference samples on the rig (the joints the model always
predicts poorly on a rig, like a static hips bone, would then stop deciding the score), and the validation table of
``training/ship_default_model.py`` is printed (balanced accuracy, passing / caught per source, pooled AUROC).
It rewrites the score levels in ``--model``'s model.json: give it a copy.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ship_default_model import errors_of, procedural_pairs, real_pairs, set_score  # noqa: E402

from vips.evaluation.metrics import auroc  # noqa: E402
from vips.posespace import balanced_threshold, reduce_errors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="a copy of a model folder (its model.json changes)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pairs = {"procedural": procedural_pairs(args.data, 22, 64), "real": real_pairs(args.data, 40)}
    for levels in ([0.2, 0.35, 0.5], [0.4, 0.6, 0.8]):
        set_score(args.model, levels, "min", False)
        errors = {source: errors_of(args.model, p, 0) for source, p in pairs.items()}
        for reduce in ("min", "rms", "mean"):
            for q in (50, 90):
                scored = {}
                for source, per_rig in errors.items():
                    valid, bad = [], []
                    for v, b, ref, *_ in per_rig:
                        scale = np.maximum(np.percentile(ref, q, axis=0), 1e-9)
                        valid.append(-reduce_errors(v / scale, reduce))
                        bad.append(-reduce_errors(b / scale, reduce))
                    scored[source] = (np.concatenate(valid), np.concatenate(bad))
                _, table = balanced_threshold({s: v for s, (v, _) in scored.items()},
                                              {s: b for s, (_, b) in scored.items()})
                balanced = float(np.mean([0.5 * (r["passed"] + r["caught"]) for r in table.values()]))
                print(levels, reduce, f"q{q}", f"balanced accuracy {balanced:.3f}",
                      " ".join(f"{s} {r['passed']:.2f}/{r['caught']:.2f}" for s, r in table.items()),
                      "AUROC", " ".join(f"{s} {auroc(v, b):.3f}" for s, (v, b) in scored.items()), flush=True)


if __name__ == "__main__":
    main()
