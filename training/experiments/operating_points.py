"""Which operating point would a different threshold rule pick, and how well does each score rank within a family?

    python training/experiments/operating_points.py --data data/poses_v3 --model SCRATCH_COPY --cache errors.npz

For every score candidate of ``training/ship_default_model.py`` (noise levels x reduction x joints x the scales
of :data:`SCALES`: no baseline, divided by the model's samples' median or not, the rest baseline, and a joint's
error divided by its near-rest error), on the validation split:

- the shipped rule's threshold (mean over sources of balanced accuracy) and a **minimax** rule's (the threshold
  that maximizes the lowest of the four rates: procedural and real valid poses passing, procedural and real
  corrupted poses caught: every issue-13 target asks for all four at once);
- the AUROC of real frames against their corruptions **within each real family** (the issue's per-family
  target), beside the AUROC pooled over families.

``--rest-jitter`` and ``--rest-poses`` change how :meth:`PoseSpace.rest_errors` finds a joint's error near the
rest pose. The per-joint errors are cached in ``--cache`` (a .npz; delete it when the model or those settings
change). Rewrites the score levels of ``--model``'s model.json: give it a copy. A diagnostic: it chooses nothing.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ship_default_model import LEVEL_CHOICES, errors_of, procedural_pairs, scores_for, set_score  # noqa: E402

from vips.evaluation.metrics import auroc  # noqa: E402
from vips.evaluation.real_motion import dataset_families  # noqa: E402
from vips.poses import Poses  # noqa: E402
from vips import posespace  # noqa: E402
from vips.posespace import balanced_threshold, reduce_errors  # noqa: E402
from vips.runtime.model_dir import SCORE_JOINTS, SCORE_REDUCTIONS  # noqa: E402


#: The arrays of one rig's row of :func:`ship_default_model.errors_of`.
PARTS = ("valid", "bad", "ref", "body", "rest", "visible")


#: Scales of a pose's per-joint errors: the shipping script's (nothing; divided by the median over the model's
#: own samples; each joint's error above its near-rest error) and one more (each joint's error divided by its
#: near-rest error).
SCALES = ("absolute", "samples", "rest-excess", "rest-ratio")


def _scores(rows: list, reduce: str, joints: str, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """(valid, corrupted) scores of :func:`errors_of` rows under one of :data:`SCALES`."""
    if scale != "rest-ratio":
        return scores_for(rows, reduce, scale == "samples", joints, "rest" if scale == "rest-excess" else "none")
    valid, bad = [], []
    for v, b, _, body, rest, visible in rows:
        cols = {"body": body, "visible": visible}.get(joints, slice(None))
        s = np.maximum(rest, 1e-9)
        valid.append(-reduce_errors((v / s)[:, cols], reduce))
        bad.append(-reduce_errors((b / s)[:, cols], reduce))
    return np.concatenate(valid), np.concatenate(bad)


def minimax_threshold(valid: dict[str, np.ndarray], corrupted: dict[str, np.ndarray]) -> tuple[float, float]:
    """(threshold, lowest rate) maximizing the lowest of every group's passing and caught shares."""
    candidates = np.unique(np.concatenate(list(valid.values())))
    worst = np.ones(len(candidates))
    for g in valid:
        v, c = np.sort(valid[g]), np.sort(corrupted[g])
        worst = np.minimum(worst, 1.0 - np.searchsorted(v, candidates, side="left") / len(v))
        worst = np.minimum(worst, np.searchsorted(c, candidates, side="left") / len(c))
    i = int(np.argmax(worst))
    return float(candidates[i]), float(worst[i])


def _cached_errors(model: Path, data: Path, cache: Path) -> tuple[dict, list[str]]:
    """{levels index: {source: errors_of output}} and the real rigs' family names, from ``cache`` if present."""
    families = dataset_families(data, "val", 40)
    real = [(rr.rig, Poses.concatenate([c.poses for c in rr.clips])) for f in families for rr in f.rigs]
    names = [f.name for f in families for _ in f.rigs]
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        out: dict = {}
        for key in z.files:
            li, source, k, part = key.split("|")
            out.setdefault(int(li), {}).setdefault(source, {}).setdefault(int(k), {})[part] = z[key]
        return {li: {s: [tuple(r[p] for p in PARTS) for _, r in sorted(per.items())]
                     for s, per in by.items()} for li, by in out.items()}, names
    pairs = {"procedural": procedural_pairs(data, 22, 64), "real": real}
    out = {}
    flat = {}
    for li, levels in enumerate(LEVEL_CHOICES):
        set_score(model, levels, "min", False)
        out[li] = {s: errors_of(model, p, 0) for s, p in pairs.items()}
        for s, rows in out[li].items():
            for k, row in enumerate(rows):
                for part, arr in zip(PARTS, row):
                    flat[f"{li}|{s}|{k}|{part}"] = arr
    np.savez(cache, **flat)
    return out, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="a copy of a model folder (its model.json changes)")
    parser.add_argument("--cache", type=Path, required=True, help=".npz of the per-joint errors (made if missing)")
    parser.add_argument("--rest-jitter", type=float, default=posespace.REST_JITTER_DEGREES,
                        help="degrees of the near-rest poses' random turns (PoseSpace.rest_errors)")
    parser.add_argument("--rest-poses", type=int, default=posespace.REST_POSES, help="near-rest poses per rig")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    posespace.REST_JITTER_DEGREES, posespace.REST_POSES = args.rest_jitter, args.rest_poses
    errors, names = _cached_errors(args.model, args.data, args.cache)
    for li, levels in enumerate(LEVEL_CHOICES):
        for reduce in SCORE_REDUCTIONS:
            for joints in SCORE_JOINTS:
                for scale in SCALES:
                    scored = {source: _scores(rows, reduce, joints, scale) for source, rows in errors[li].items()}
                    per_family = {name: auroc(*_scores([r for r, n in zip(errors[li]["real"], names) if n == name],
                                                       reduce, joints, scale)) for name in dict.fromkeys(names)}
                    valid = {s: v for s, (v, _) in scored.items()}
                    bad = {s: b for s, (_, b) in scored.items()}
                    _, table = balanced_threshold(valid, bad)
                    balanced = np.mean([0.5 * (r["passed"] + r["caught"]) for r in table.values()])
                    _, lowest = minimax_threshold(valid, bad)
                    print(f"{levels} {reduce:4s} {joints:4s} {scale:11s} balanced {balanced:.3f} "
                          f"(proc {table['procedural']['passed']:.2f}/{table['procedural']['caught']:.2f} real "
                          f"{table['real']['passed']:.2f}/{table['real']['caught']:.2f}) minimax {lowest:.3f} "
                          f"AUROC proc {auroc(*scored['procedural']):.3f} real {auroc(*scored['real']):.3f}, per "
                          "family " + " ".join(f"{n[:8]} {a:.2f}" for n, a in per_family.items()), flush=True)


if __name__ == "__main__":
    main()
