"""Evaluation on real motion: real clips of rig families the model never trained on, the model issue's item 4.

A **family** is one rig and the rigs that share its skeleton: the clip shards of a built dataset's split grouped
by their manifest row's ``family`` (else ``species``), or one animated asset file. For each family, on at most
``frames_per_clip`` evenly spaced frames of every clip:

- **plausible**: the share of real frames the model flags plausible (its calibrated threshold);
- per corruption kind (:data:`REAL_MOTION_CORRUPTIONS`): **caught**, the share of the same frames, corrupted,
  that the model flags implausible, and the **AUROC** of real against corrupted scores; corruptions turn only
  joints whose turn changes the body (:func:`~vips.evaluation.corruptions.corruptible_joints`: no helper, end,
  ground or IK-target bone);
- **coverage**: a frame is covered when one of ``n_samples`` model samples lies within a mean per-joint
  distance of :data:`COVER_RADIUS` (a fraction of the rig's height) of it, both as
  :func:`~vips.evaluation.metrics.pose_features` (joint positions relative to the body joint, turned so that
  joint faces as at rest); the share of covered frames per clip and per family;
- **rest bias**: the median distance (same features) of the samples from the rest pose over the median
  distance of the real frames from it; near 0 the samples hug the rest pose, near 1 they stray as far as
  real motion does.

The **body joint** is the pose model's own body root (:func:`vips.body.body_root`): the pelvis below a static
ground or control bone, else the root joint. Humans and others are told apart by one documented rule:

- **humans** (:func:`body_group`): a family whose collection (manifest ``collection``, or a folder on the
  asset's path) names one of :data:`HUMAN_COLLECTIONS`, or whose joint names hold an arm word and a leg word
  and no word of :data:`NOT_HUMAN_WORDS` (a tail, wings, fins, front legs); every other family is "others".

The model enters as two callables: ``sampler(rig, n, seed) -> Poses`` and ``scorer(rig, poses) -> (scores (N,),
plausible (N,) bool)``.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from vips.body import body_root
from vips.errors import AssetError
from vips.evaluation import plots
from vips.evaluation.corruptions import CORRUPTIONS
from vips.evaluation.metrics import auroc, pose_features, position_distances
from vips.poses import Poses

if TYPE_CHECKING:
    from vips.rig import Rig

Sampler = Callable[["Rig", int, int], Poses]
FlagScorer = Callable[["Rig", Poses], tuple[np.ndarray, np.ndarray]]

#: Corruption kinds of the real-motion section: the issue's "a few joints turned 90-120 degrees" first.
REAL_MOTION_CORRUPTIONS: tuple[str, ...] = ("turned_joints", "twist", "random_rotation", "hyperextension",
                                            "through_body")
#: A frame is covered by a sample within this mean per-joint distance, as a fraction of the rig's height.
COVER_RADIUS = 0.08
FRAMES_PER_CLIP = 40
COVER_SAMPLES = 256
SHEET_SAMPLES = 16

# The model issue's targets on validation families.
TARGET_PLAUSIBLE = 0.90
TARGET_CAUGHT = 0.90
TARGET_AUROC = 0.95
TARGET_COVERAGE = 0.80
TARGET_REST_BIAS = 0.70

#: Collections (folders of ../shared/motion, or the manifest's ``collection``) that hold human rigs only.
HUMAN_COLLECTIONS = ("cmu_daz", "cmu_iclone", "kaykit")
ARM_WORDS = frozenset({"arm", "upperarm", "lowerarm", "forearm", "humerus", "elbow", "hand", "wrist", "fist",
                       "shldr", "shoulder", "clavicle"})
LEG_WORDS = frozenset({"leg", "upperleg", "lowerleg", "upleg", "thigh", "femur", "tibia", "shin", "calf", "knee",
                       "foot"})
NOT_HUMAN_WORDS = frozenset({"tail", "wing", "fin", "front", "antenna", "tentacle"})
GROUPS_RULE = (f"humans: collection in {list(HUMAN_COLLECTIONS)}, or joint names with an arm word and a leg word and "
               f"none of {sorted(NOT_HUMAN_WORDS)}; others: the rest")


# ----- families of real clips ------------------------------------------------------------------------------------
@dataclass(eq=False)
class RealClip:
    """The evaluated frames of one clip: ``poses`` (F,), their frame numbers in the clip and its length."""

    name: str
    poses: Poses
    frames: np.ndarray
    total_frames: int


@dataclass(eq=False)
class RealRig:
    """One rig of a family (one shard or asset file) and its clips."""

    rig: "Rig"
    clips: list[RealClip]


@dataclass(eq=False)
class RealFamily:
    """Rigs that share a skeleton (or one asset file), with provenance."""

    name: str
    rigs: list[RealRig]
    collection: str | None = None
    licence: str | None = None
    source: str = "dataset"
    group: str = "others"


def even_frames(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` evenly spaced frames of ``n`` (first and last included), ascending, distinct."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def name_words(name: str) -> set[str]:
    """Lower-case words of a joint name (split at camelCase and non-letters; a side prefix l/r dropped where
    the rest is a known limb word: ``lHumerus`` -> humerus)."""
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)
    words = {p.lower() for p in parts}
    known = ARM_WORDS | LEG_WORDS
    return words | {w[1:] for w in words if w[:1] in ("l", "r") and w[1:] in known}


def body_group(rig: "Rig", collection: str | None = None) -> str:
    """'humans' or 'others' by the module's documented rule: ``collection`` (a name or a folder path) naming one
    of :data:`HUMAN_COLLECTIONS`, else the joint names' arm, leg and non-human words."""
    if collection and any(c in collection.lower() for c in HUMAN_COLLECTIONS):
        return "humans"
    words = set().union(*(name_words(n) for n in rig.joint_names))
    return "humans" if words & ARM_WORDS and words & LEG_WORDS and not words & NOT_HUMAN_WORDS else "others"


def _clips_of(poses_by_clip: list[tuple[str, Poses]], frames_per_clip: int) -> list[RealClip]:
    out = []
    for name, poses in poses_by_clip:
        if len(poses) == 0:
            continue
        pick = even_frames(len(poses), frames_per_clip)
        out.append(RealClip(name, poses[pick], pick, len(poses)))
    return out


def dataset_families(data_dir: str | Path, split: str, frames_per_clip: int = FRAMES_PER_CLIP) -> list[RealFamily]:
    """The real clip families of a built dataset's ``split``: manifest rows with ``source == "clip"``, grouped by
    ``family`` (else ``species``); each shard is one rig, its clips the shard's ``clip`` ids in frame order."""
    from vips.io.shards import read_shard

    data_dir = Path(data_dir)
    manifest = data_dir / "manifest.json"
    if not manifest.is_file():
        raise AssetError(f"{data_dir}: no manifest.json (build it with `vips dataset build --out {data_dir}`)")
    rows = [r for r in json.loads(manifest.read_text())["shards"]
            if r.get("source") == "clip" and r.get("split") == split]
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(str(row.get("family", row["species"])), []).append(row)
    families = []
    for name, members in grouped.items():
        rigs = []
        for row in members:
            shard = read_shard(data_dir / row["file"])
            shard.rig.name = Path(row.get("asset", row["species"])).stem
            listed = shard.meta.get("clips") or []
            per_clip = []
            for c in np.unique(shard.clip):
                idx = np.flatnonzero(shard.clip == c)
                idx = idx[np.argsort(shard.frame[idx], kind="stable")]
                label = listed[c]["clip"] if c < len(listed) else f"clip_{c}"
                per_clip.append((f"{shard.rig.name}:{label}" if len(members) > 1 else str(label), shard.poses[idx]))
            rigs.append(RealRig(shard.rig, _clips_of(per_clip, frames_per_clip)))
        collection, licence = members[0].get("collection"), members[0].get("licence")
        families.append(RealFamily(name, rigs, collection, licence, "dataset", body_group(rigs[0].rig, collection)))
    return families


def asset_families(paths: list[str | Path], frames_per_clip: int = FRAMES_PER_CLIP,
                   ) -> tuple[list[RealFamily], list[dict]]:
    """One family per animated asset file, named after the file (its folder is its collection; every folder on
    its path counts for :func:`body_group`).

    Returns (families, skipped): assets without animation are listed in ``skipped`` with the reason.
    """
    from vips.io import load

    families, skipped, seen = [], [], set()
    for path in map(Path, paths):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rig = load(path)
        clips = _clips_of(list(rig.clips.items()), frames_per_clip)
        if not clips:
            skipped.append({"asset": str(path), "reason": "no animation clip with frames"})
            continue
        name = path.stem
        while name in seen:
            name += "_"
        seen.add(name)
        rig.name = name
        families.append(RealFamily(name, [RealRig(rig, clips)], path.parent.name or None, None, "asset",
                                   body_group(rig, str(path.resolve().parent))))
    return families, skipped


# ----- metrics -----------------------------------------------------------------------------------------------
def covered_frames(sample_features: np.ndarray, frame_features: np.ndarray, radius: float = COVER_RADIUS,
                   ) -> np.ndarray:
    """(F,) bool: frames with a sample within mean per-joint distance ``radius``.

    Args:
        sample_features: (S, J, 3) features of samples (:func:`pose_features`, fractions of the rig height).
        frame_features: (F, J, 3) features of real frames.
    """
    if len(sample_features) == 0:
        return np.zeros(len(frame_features), bool)
    return position_distances(frame_features, sample_features).min(axis=1) <= radius


def rest_distances(features: np.ndarray, rest_features: np.ndarray) -> np.ndarray:
    """(N,) mean per-joint distance of features (N, J, 3) from the rest pose's features (J, 3)."""
    return position_distances(features, np.asarray(rest_features)[None])[:, 0]


def rest_bias(sample_features: np.ndarray, frame_features: np.ndarray, rest_features: np.ndarray) -> float | None:
    """Median distance of samples from rest over the median distance of real frames from rest (None when the
    real frames are the rest pose, so no ratio exists)."""
    return _median_ratio(rest_distances(sample_features, rest_features), rest_distances(frame_features, rest_features))


def _median_ratio(num: np.ndarray, den: np.ndarray) -> float | None:
    """median(num) / median(den); None when ``num`` is empty or the median of ``den`` is (nearly) zero."""
    den_m = float(np.median(den)) if len(den) else 0.0
    return None if den_m <= 1e-9 or len(num) == 0 else float(np.median(num)) / den_m


# ----- the section -------------------------------------------------------------------------------------------
@dataclass(eq=False)
class _RigRun:
    """What one rig of a family gave: scores and flags of real and corrupted frames, coverage, rest distances."""

    scores: np.ndarray
    plausible: np.ndarray
    corrupted: dict[str, tuple[np.ndarray, np.ndarray]]
    covered: np.ndarray
    sample_rest: np.ndarray
    frame_rest: np.ndarray
    errors: dict[str, str]
    examples: dict[str, list[str]]


def _run_rig(rr: RealRig, sampler: Sampler, scorer: FlagScorer, n_samples: int, seed: int,
             kinds: tuple[str, ...], radius: float) -> _RigRun:
    rig = rr.rig
    frames = Poses.concatenate([c.poses for c in rr.clips])
    scores, flags = _flag_scores(scorer, rig, frames)
    corrupted, errors, examples = {}, {}, {}
    for k, kind in enumerate(kinds):
        try:
            c = CORRUPTIONS[kind](rig, frames, seed=seed + 1000 * (k + 1), reference=frames)
        except ValueError as e:  # a corruption that does not apply to this rig (no limbs...)
            errors[kind] = str(e)
            continue
        corrupted[kind] = _flag_scores(scorer, rig, c.poses)
        examples[kind] = c.descriptions[:2]
    samples = sampler(rig, n_samples, seed)
    samples.check_rig(rig.num_joints, f"rig {rig.label} (samples)")
    body = body_root(rig)
    sample_f = pose_features(rig, samples, root=body)
    frame_f = pose_features(rig, frames, root=body)
    rest_f = pose_features(rig, Poses.identity(1, rig.num_joints), root=body)[0]
    return _RigRun(scores, flags, corrupted, covered_frames(sample_f, frame_f, radius),
                   rest_distances(sample_f, rest_f), rest_distances(frame_f, rest_f), errors, examples)


def _flag_scores(scorer: FlagScorer, rig: "Rig", poses: Poses) -> tuple[np.ndarray, np.ndarray]:
    scores, flags = scorer(rig, poses)
    scores = np.asarray(scores, np.float64).reshape(-1)
    flags = np.asarray(flags, bool).reshape(-1)
    if scores.shape != (len(poses),) or flags.shape != (len(poses),):
        raise ValueError(f"scorer returned {scores.shape} scores and {flags.shape} flags for {len(poses)} poses")
    return scores, flags


def _family_result(fam: RealFamily, pairs: list[tuple[RealRig, _RigRun]], kinds: tuple[str, ...]) -> dict[str, Any]:
    runs = [run for _, run in pairs]
    clips: dict[str, Any] = {}
    for rr, run in pairs:
        start = 0
        for c in rr.clips:
            sl = slice(start, start + len(c.poses))
            start = sl.stop
            clips[c.name] = {"frames": len(c.poses), "frames_in_clip": c.total_frames,
                             "plausible": float(run.plausible[sl].mean()),
                             "coverage": float(run.covered[sl].mean()),
                             "rest_bias": _median_ratio(run.sample_rest, run.frame_rest[sl])}
    real = np.concatenate([r.scores for r in runs])
    corruptions: dict[str, Any] = {}
    for kind in kinds:
        got = [r.corrupted[kind] for r in runs if kind in r.corrupted]
        if not got:
            corruptions[kind] = {"error": next(r.errors[kind] for r in runs if kind in r.errors)}
            continue
        bad_scores = np.concatenate([g[0] for g in got])
        own = np.concatenate([r.scores for r in runs if kind in r.corrupted])
        corruptions[kind] = {"caught": float(np.mean(~np.concatenate([g[1] for g in got]))),
                             "auroc": auroc(own, bad_scores), "n": int(len(bad_scores)),
                             "examples": next(r.examples[kind] for r in runs if kind in r.examples)}
    worst = lambda key: min((c[key] for c in clips.values() if c[key] is not None), default=None)  # noqa: E731
    return {
        "group": fam.group, "source": fam.source, "collection": fam.collection, "licence": fam.licence,
        "rigs": [{"name": rr.rig.name, "joints": rr.rig.num_joints, "mesh": rr.rig.has_mesh,
                  "body_joint": rr.rig.joint_names[body_root(rr.rig)]} for rr, _ in pairs],
        "frames": int(len(real)), "clips_evaluated": len(clips),
        "plausible": float(np.mean(np.concatenate([r.plausible for r in runs]))),
        "corruptions": corruptions,
        "coverage": float(np.mean(np.concatenate([r.covered for r in runs]))),
        "coverage_worst_clip": worst("coverage"),
        "rest_bias": _median_ratio(np.concatenate([r.sample_rest for r in runs]),
                                   np.concatenate([r.frame_rest for r in runs])),
        "rest_bias_worst_clip": worst("rest_bias"),
        "clips": clips,
    }


#: Keys of a family result that are averaged over families.
SUMMARY_KEYS = ("plausible", "corruptions", "coverage", "coverage_worst_clip", "rest_bias", "rest_bias_worst_clip")


def _mean_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    from vips.evaluation.evaluate import mean_tree

    mean = {k: mean_tree([r[k] for r in results]) for k in SUMMARY_KEYS}
    kinds = mean["corruptions"] or {}
    mean["corruptions"] = {kind: {k: kinds[kind][k] for k in ("caught", "auroc") if kinds[kind].get(k) is not None}
                           for kind in kinds if kinds[kind]}
    mean["frames"] = int(sum(r["frames"] for r in results))
    return mean


def check_real_targets(families: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets on every family (plausible, caught, AUROC per kind) and every clip (coverage, rest
    bias): ``{name: {"target", "met", "worst", "where", "failing", "checked"}}``, ``met`` None when nothing was
    measured; ``worst`` and ``where`` say by how much and where a target is missed."""
    values: dict[str, list[tuple[float, str]]] = {"plausible": [], "caught": [], "auroc": [], "coverage": [],
                                                  "rest_bias": []}
    for name, fam in families.items():
        values["plausible"].append((fam["plausible"], name))
        for kind, c in fam["corruptions"].items():
            if "error" not in c:
                values["caught"].append((c["caught"], f"{name} / {kind}"))
                values["auroc"].append((c["auroc"], f"{name} / {kind}"))
        for clip, c in fam["clips"].items():
            values["coverage"].append((c["coverage"], f"{name} / {clip}"))
            if c["rest_bias"] is not None:
                values["rest_bias"].append((c["rest_bias"], f"{name} / {clip}"))
    targets = {"plausible": TARGET_PLAUSIBLE, "caught": TARGET_CAUGHT, "auroc": TARGET_AUROC,
               "coverage": TARGET_COVERAGE, "rest_bias": TARGET_REST_BIAS}
    out: dict[str, Any] = {}
    for key, target in targets.items():
        vals = values[key]
        if not vals:
            out[key] = {"target": target, "met": None, "checked": 0}
            continue
        worst, where = min(vals)
        out[key] = {"target": target, "met": worst >= target, "worst": worst, "where": where,
                    "failing": sum(v < target for v, _ in vals), "checked": len(vals)}
    out["per"] = {"plausible": "family", "caught": "family and kind", "auroc": "family and kind",
                  "coverage": "clip", "rest_bias": "clip"}
    return out


def evaluate_real_motion(families: list[RealFamily], sampler: Sampler, scorer: FlagScorer,
                         n_samples: int = COVER_SAMPLES, seed: int = 0,
                         kinds: tuple[str, ...] = REAL_MOTION_CORRUPTIONS, radius: float = COVER_RADIUS,
                         out_dir: str | Path | None = None,
                         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The "real motion" section of the evaluation report (module docstring).

    Args:
        families: from :func:`dataset_families` and/or :func:`asset_families`.
        sampler: ``sampler(rig, n, seed) -> Poses``; ``n_samples`` per rig, for coverage and rest bias.
        scorer: ``scorer(rig, poses) -> (scores (N,), plausible (N,) bool)``.
        kinds: corruption names from :data:`~vips.evaluation.corruptions.CORRUPTIONS`.
        radius: coverage radius, a fraction of the rig's height.
        out_dir: when given, one bar chart PNG per metric is written there (their paths under "files").
    Returns:
        JSON-ready ``{"families": {name: {"group", "rigs", "frames", "plausible", "corruptions": {kind: {"caught",
        "auroc", "n", "examples"} or {"error"}}, "coverage", "coverage_worst_clip", "rest_bias",
        "rest_bias_worst_clip", "clips": {clip: {"frames", "frames_in_clip", "plausible", "coverage",
        "rest_bias"}}, ...}}, "mean": means over families, "groups": {"humans"|"others": {"families", ...means}},
        "targets": :func:`check_real_targets`, "settings"}``.
    """
    results: dict[str, Any] = {}
    for fam in families:
        if progress:
            progress(f"real motion: {fam.name}")
        pairs = [(rr, _run_rig(rr, sampler, scorer, n_samples, seed, tuple(kinds), radius))
                 for rr in fam.rigs if rr.clips]
        if not pairs:
            continue
        name = fam.name
        while name in results:
            name += "_"
        results[name] = _family_result(fam, pairs, tuple(kinds))
    members: dict[str, list[str]] = {}
    for name, r in results.items():
        members.setdefault(r["group"], []).append(name)
    section: dict[str, Any] = {
        "settings": {"samples_per_rig": n_samples, "cover_radius": radius, "seed": seed, "corruptions": list(kinds),
                     "features": "joint positions relative to the body joint, turned to its rest heading, "
                                 "divided by the rig's height",
                     "body_joint_rule": "vips.body.body_root (the pose model's body root)",
                     "groups_rule": GROUPS_RULE},
        "families": results,
        "mean": _mean_of(list(results.values())) if results else None,
        "groups": {g: {"families": names, **_mean_of([results[n] for n in names])} for g, names in members.items()},
        "targets": check_real_targets(results),
    }
    if out_dir is not None and results:
        section["files"] = write_real_plots(section, Path(out_dir))
    return section


# ----- pictures ----------------------------------------------------------------------------------------------
def _label(name: str, width: int = 16) -> str:
    return name if len(name) <= width else name[: width - 1] + "~"


def write_real_plots(section: dict[str, Any], out: Path) -> list[str]:
    """One bar chart per metric (families and their mean along x): real_plausible.png, real_caught.png,
    real_auroc.png, real_coverage.png, real_rest_bias.png. Returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    fams = section["families"]
    rows = [(_label(n), f) for n, f in fams.items()] + [("mean", section["mean"])]
    groups = [label for label, _ in rows]
    kinds = list(section["settings"]["corruptions"])

    def chart(name: str, series: dict[str, list], title: str, ylabel: str, lines: list, top: float = 1.0) -> str:
        width = max(1000, 200 + len(groups) * (24 + 18 * len(series)))
        return str(plots.bar_chart(out / name, groups, series, title, ylabel, (0.0, top), lines, (width, 520)))

    def kind_value(f: dict, kind: str, key: str) -> float | None:
        return ((f["corruptions"] or {}).get(kind) or {}).get(key)

    rest = [v for _, f in rows for v in (f["rest_bias"], f["rest_bias_worst_clip"]) if v is not None]
    top_rest = float(np.ceil(max([1.2, *rest]) * 5) / 5)
    return [
        chart("real_plausible.png", {"real frames flagged plausible": [f["plausible"] for _, f in rows]},
              "Real motion: share of real frames flagged plausible", "share",
              [(TARGET_PLAUSIBLE, f"target {TARGET_PLAUSIBLE}")]),
        chart("real_caught.png", {k: [kind_value(f, k, "caught") for _, f in rows] for k in kinds},
              "Real motion: share of corrupted frames caught (flagged implausible)", "share",
              [(TARGET_CAUGHT, f"target {TARGET_CAUGHT}")]),
        chart("real_auroc.png", {k: [kind_value(f, k, "auroc") for _, f in rows] for k in kinds},
              "Real motion: AUROC of real against corrupted frames", "AUROC",
              [(TARGET_AUROC, f"target {TARGET_AUROC}"), (0.5, "chance")]),
        chart("real_coverage.png", {"all frames": [f["coverage"] for _, f in rows],
                                    "worst clip": [f["coverage_worst_clip"] for _, f in rows]},
              f"Real motion: frames with a sample within {section['settings']['cover_radius']:.0%} of the height",
              "share", [(TARGET_COVERAGE, f"target {TARGET_COVERAGE}")]),
        chart("real_rest_bias.png", {"all frames": [f["rest_bias"] for _, f in rows],
                                     "worst clip": [f["rest_bias_worst_clip"] for _, f in rows]},
              "Real motion: rest bias (samples' / real frames' median distance from rest)", "ratio",
              [(TARGET_REST_BIAS, f"target {TARGET_REST_BIAS}"), (1.0, "as real")], top=top_rest),
    ]


def write_sheets(assets: list[str | Path], sampler: Sampler, scorer: FlagScorer, out_dir: str | Path,
                 n: int = SHEET_SAMPLES, seed: int = 0) -> list[dict[str, Any]]:
    """A contact sheet of ``n`` model samples (score on each tile, implausible ones tinted red) per asset, as
    ``out_dir/sheet_<asset stem>.png``; skeleton-only rigs draw their skeleton. Returns one record per sheet."""
    from vips.render import write_contact_sheet
    from vips.io import load

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records, used = [], set()
    for asset in map(Path, assets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rig = load(asset)
        samples = sampler(rig, n, seed)
        scores, flags = _flag_scores(scorer, rig, samples)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", asset.stem)
        while stem in used:
            stem += "_"
        used.add(stem)
        path = write_contact_sheet(rig, samples, out_dir / f"sheet_{stem}.png", scores, flags)
        records.append({"asset": str(asset), "file": str(path), "samples": n, "plausible": int(flags.sum()),
                        "scores": [float(s) for s in scores], "mesh": rig.has_mesh,
                        "body_joint": rig.joint_names[body_root(rig)],
                        "group": body_group(rig, str(asset.resolve().parent))})
    return records
