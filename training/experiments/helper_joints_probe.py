"""What helper joints (`vips.helper_joints`) do on the real families of a dataset split, per family with helpers:

- how many joints are helpers, and how far real frames turn them (the largest turn and the share of frames that
  turn one past 90 degrees and past :data:`vips.helper_joints.HELPER_TURN_LIMIT_DEGREES`);
- the worst joints of the failing frames (the score's worst joint, among the joints it reduces over);
- coverage by the model's samples on every joint (the evaluation's) and on the trunk and limbs alone (no finger,
  toe or face joint, no helper: joints named so on the iClone skeleton), with the share of the distance to the
  nearest sample that the fingers hold;
- per corruption kind, how often the first joint it changes is a helper, or a joint the model sees whose turn shows
  nothing (:func:`vips.body.visible_joints`): measured at 20 / 7 / 40 / 24 / 0 % helpers on the iClone skeleton
  before the corruptions were kept to :func:`vips.evaluation.corruptions.corruptible_joints`, 0 since.

    python training/experiments/helper_joints_probe.py --data data/poses_v3 --split test

Measured for the model card's iClone paragraph (a diagnostic run after every choice; it chooses nothing).
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from vips.body import body_root, visible_joints
from vips.evaluation.corruptions import CORRUPTIONS
from vips.evaluation.metrics import pose_features, position_distances
from vips.evaluation.real_motion import COVER_RADIUS, REAL_MOTION_CORRUPTIONS, dataset_families
from vips.helper_joints import HELPER_TURN_LIMIT_DEGREES
from vips.poses import Poses
from vips.posespace import PoseSpace
from vips.rotations import quat_angle

#: Joint-name words left out of the "trunk and limbs" coverage (the iClone skeleton's fingers, toes and face).
SMALL_PARTS = re.compile(r"Index|Mid|Ring|Pinky|Thumb|Toe|Tongue|Teeth|Jaw|Eye|Facial|Breast|Ribs")
FINGERS = re.compile(r"Index|Mid|Ring|Pinky|Thumb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the built dataset")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--samples", type=int, default=256, help="samples per rig for coverage")
    parser.add_argument("--coverage-rigs", type=int, default=3, help="rigs per family whose coverage is measured")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for family in dataset_families(args.data, args.split):
        first = PoseSpace(family.rigs[0].rig, args.model)
        if not first.helpers.any():
            print(f"{family.name}: no helper joints")
            continue
        turns, failing, worst, cover, cover_core, finger_share = [], 0, Counter(), [], [], []
        first_joint = {kind: Counter() for kind in REAL_MOTION_CORRUPTIONS}
        for i, rr in enumerate(family.rigs):
            rig = rr.rig
            space = PoseSpace(rig, args.model)
            seen = space.cond.joint_mask > 0
            shows = seen & visible_joints(rig, seen)
            frames = Poses.concatenate([c.poses for c in rr.clips])
            q = frames.rotations[:, space.helpers].astype(np.float64)
            turns.append(np.degrees(quat_angle(q * np.where(q[..., :1] < 0, -1.0, 1.0))))  # the shorter turn
            plausible = space.score(frames)[1]
            failing += int((~plausible).sum())
            names = [n for n, k in zip(rig.joint_names, space.scored_joints) if k]
            errs = space.joint_scores(frames[~plausible])[:, space.scored_joints]
            worst.update(names[j] for j in errs.argmin(axis=1))
            for k, kind in enumerate(REAL_MOTION_CORRUPTIONS):
                j = np.asarray(CORRUPTIONS[kind](rig, frames, seed=1000 * (k + 1), reference=frames).joints)
                first_joint[kind].update({"helper": int(space.helpers[j].sum()),
                                          "shows nothing": int((seen[j] & ~shows[j]).sum()), "all": len(j)})
            if i < args.coverage_rigs:
                body = body_root(rig)
                sf = pose_features(rig, space.sample(args.samples, seed=0, steps=30), root=body)
                ff = pose_features(rig, frames, root=body)
                dist = position_distances(ff, sf)
                cover.append(dist.min(axis=1) <= COVER_RADIUS)
                per_joint = np.linalg.norm(ff - sf[dist.argmin(axis=1)], axis=-1).mean(axis=0)
                fingers = np.array([bool(FINGERS.search(n)) for n in rig.joint_names])
                finger_share.append(per_joint[fingers].sum() / per_joint.sum())
                core = np.array([not SMALL_PARTS.search(n) for n in rig.joint_names]) & ~space.helpers
                cover_core.append(position_distances(ff[:, core], sf[:, core]).min(axis=1) <= COVER_RADIUS)
        most = np.concatenate(turns).max(axis=1)  # each frame's most turned helper
        print(f"{family.name}: {int(first.helpers.sum())} helper joints of {first.num_joints}; {len(most)} frames")
        past_limit = np.mean(most > HELPER_TURN_LIMIT_DEGREES)
        print(f"  helper turns: largest {most.max():.1f} deg; frames turning one past 90 deg {np.mean(most > 90):.3f}, "
              f"past {HELPER_TURN_LIMIT_DEGREES:g} {past_limit:.3f}")
        print(f"  failing frames {failing}; their worst joints: {worst.most_common(10)}")
        print(f"  coverage ({len(cover)} rigs): every joint {np.mean(np.concatenate(cover)):.2f}, trunk and limbs "
              f"{np.mean(np.concatenate(cover_core)):.2f}; fingers' share of the distance to the nearest sample "
              f"{np.mean(finger_share):.2f}")
        for kind, c in first_joint.items():
            print(f"  {kind:16s} first joint changed: a helper {c['helper'] / c['all']:.2f}, a seen joint whose "
                  f"turn shows nothing {c['shows nothing'] / c['all']:.2f}")


if __name__ == "__main__":
    main()
