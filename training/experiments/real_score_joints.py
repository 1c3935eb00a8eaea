"""Which joints decide the shipped score on real test families, and what leaving some out of it would change.

The shipped score is the worst joint's denoising error (``model.json`` ``score.reduce = "min"``). On the real
test families the worst joints of real frames are IK foot and pole bones parented to a ground bone beside the
body (their animated translations are not part of a pose) and helper bones (twist, face and finger-end bones).
For every rig of each test family this measures, per family, the AUROC of real frames against the same frames
corrupted (all kinds of :mod:`vips.evaluation.corruptions` pooled) for the worst-joint score over:

- ``all``: every joint the model sees (the shipped score);
- ``body``: only the joints that shape the body (:func:`vips.body.judged_joints`, the score's ``"joints": "body"``
  setting: no joints above the body root, no small branches beside it, nothing that moves no skin);

and the joints most often worst on real frames. A diagnostic on test data: its result must not choose the
shipped score (that is chosen on validation, `training/ship_default_model.py`, which tries both).

    python training/experiments/real_score_joints.py --data data/poses_v3 --out training/reports/real_score_joints.json
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ship_default_model import errors_of  # noqa: E402 - the shipping script's own error collection

from vips.body import judged_joints as body_joints  # noqa: E402
from vips.evaluation.metrics import auroc  # noqa: E402
from vips.evaluation.real_motion import dataset_families  # noqa: E402
from vips.features import rig_conditioning  # noqa: E402
from vips.poses import Poses  # noqa: E402


def judged_joints(rig) -> np.ndarray:  # noqa: ANN001 - Rig
    """(J_live,) bool over the joints the model sees: :func:`vips.body.judged_joints` (the score's ``"body"``
    joints)."""
    cond = rig_conditioning(rig)
    return body_joints(rig, cond.body_root, cond.joint_mask > 0)[cond.joint_mask > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the built dataset (its test split)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--frames-per-clip", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True, help="JSON report")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from vips.posespace import default_model_dir

    model = args.model or default_model_dir()
    report = {}
    for k, family in enumerate(dataset_families(args.data, "test", args.frames_per_clip)):
        sums = {"all": ([], []), "body": ([], [])}
        worst = Counter()
        for i, rr in enumerate(family.rigs):
            frames = Poses.concatenate([c.poses for c in rr.clips])
            valid, bad, *_ = errors_of(model, [(rr.rig, frames)], seed=1000 * k + i)[0]
            keep = judged_joints(rr.rig)
            names = [n for n, live in zip(rr.rig.joint_names, rig_conditioning(rr.rig).joint_mask > 0) if live]
            worst.update(names[j] for j in valid.argmax(axis=1))
            for key, cols in (("all", slice(None)), ("body", keep)):
                sums[key][0].append(-valid[:, cols].max(axis=1))
                sums[key][1].append(-bad[:, cols].max(axis=1))
        report[family.name] = {
            "rigs": len(family.rigs),
            **{f"auroc_{key}": auroc(np.concatenate(v), np.concatenate(b)) for key, (v, b) in sums.items()},
            "worst_joints_of_real_frames": worst.most_common(8),
        }
        print(family.name, {key: round(val, 3) for key, val in report[family.name].items() if key.startswith("auroc")},
              flush=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
