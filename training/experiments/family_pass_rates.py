"""Per real rig family of a dataset split: the share of its frames the model flags plausible, and the joints that
most often decide the score (the worst joint of each frame, among the joints the score reduces over).

    python training/experiments/family_pass_rates.py --data data/poses_v3 --split val [--model FOLDER]

A diagnostic: it shows whether the real-frame pass rate of ``training/ship_default_model.py`` (one number per
source) is spread over every family or decided by a few.
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from vips.evaluation.real_motion import dataset_families
from vips.poses import Poses
from vips.posespace import PoseSpace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the built dataset")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--frames-per-clip", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for family in dataset_families(args.data, args.split, args.frames_per_clip):
        passed, total, worst = 0, 0, Counter()
        for rr in family.rigs:
            frames = Poses.concatenate([c.poses for c in rr.clips])
            space = PoseSpace(rr.rig, args.model)
            names = [n for n, k in zip(rr.rig.joint_names, space.scored_joints) if k]
            worst.update(names[j] for j in space.joint_scores(frames)[:, space.scored_joints].argmin(axis=1))
            plausible = space.score(frames)[1]
            passed, total = passed + int(plausible.sum()), total + len(plausible)
        print(f"{family.name}: {len(family.rigs)} rigs, {passed / max(total, 1):.2f} of {total} frames plausible; "
              f"worst joints {worst.most_common(4)}", flush=True)


if __name__ == "__main__":
    main()
