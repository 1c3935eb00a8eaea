"""A contact sheet of a rig's real frames (top row) above the model's samples (bottom row), each scored.

Makes the model card's `training/reports/default/frames_vs_samples_*.png`:

    python training/experiments/frames_vs_samples.py ../shared/motion/quaternius/single_knight_pack/KnightCharacter.glb \
        --clip "HumanArmature|Idle" --clip "HumanArmature|Run" --out training/reports/default/frames_vs_samples_knight.png
    python training/experiments/frames_vs_samples.py ../shared/motion/cmu_iclone/002_08.bvh --rest first-frame \
        --out training/reports/default/frames_vs_samples_iclone_002_08.png

``--rest first-frame`` re-rests the rig at its clip's first frame, as the dataset build does for the iClone clips
(`training/real_motion_sources.json`).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

import vips
from vips.render import write_contact_sheet
from vips.kinematics import rerest_poses, rerested
from vips.poses import Poses
from vips.posespace import PoseSpace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("asset", help="an animated asset")
    parser.add_argument("--clip", action="append", default=[], help="clip names (default: the first); repeatable")
    parser.add_argument("--frames", type=int, default=8, help="real frames, spread evenly over the clips")
    parser.add_argument("--rest", choices=("asset", "first-frame"), default="asset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="PNG")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rig = vips.load(args.asset)
    names = args.clip or [next(iter(rig.clips))]
    clips = [rig.clips[name] for name in names]
    if args.rest == "first-frame":
        first = clips[0][np.array([0])]
        rig, clips = rerested(rig, first), [rerest_poses(c, first) for c in clips]
    frames = Poses.concatenate(clips)
    frames = frames[np.linspace(0, len(frames) - 1, args.frames).astype(int)]
    space = PoseSpace(rig)
    samples = space.sample(args.frames, seed=args.seed, steps=30)
    both = Poses(np.concatenate([frames.rotations, samples.rotations]),
                 np.concatenate([frames.root_translation, samples.root_translation]))
    scores, plausible = space.score(both)
    write_contact_sheet(rig, both, args.out, scores, plausible, columns=args.frames)
    print(f"{args.out}: real frames {plausible[:args.frames].mean():.0%} plausible, samples "
          f"{plausible[args.frames:].mean():.0%}")


if __name__ == "__main__":
    main()
