"""The evaluation report: plausibility AUROC, sample fidelity/coverage/diversity and self-intersection, for a
model and the baselines, on one rig or many; written as ``report.json`` plus PNG plots.

The model is seen only through two callables, so any scorer or sampler plugs in:

- ``sampler(rig, n, seed) -> Poses``;
- ``scorer(rig, poses) -> (N,)`` scores, higher meaning more plausible.

Either may be None (that part of the report is skipped for the model).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from vips.evaluation import plots
from vips.evaluation.baselines import fit_baselines
from vips.evaluation.corruptions import CORRUPTIONS, PROCEDURAL_CORRUPTIONS
from vips.evaluation.metrics import auroc, fidelity, pose_features, self_intersection_rate
from vips.poses import Poses

if TYPE_CHECKING:
    from vips.data.creatures.limits import JointLimits
    from vips.rig import Rig

Sampler = Callable[["Rig", int, int], Poses]
Scorer = Callable[["Rig", Poses], np.ndarray]

# Targets from the model issue, for held-out species.
TARGET_AUROC = 0.95
TARGET_1NNA = 0.65
TARGET_COV = 0.6


#: Poses per set whose self-intersection is measured (the sets are already random subsets).
INTERSECTION_POSES = 8


#: The group of cases the model issue's targets are checked on, when a report has it.
TARGET_GROUP = "held-out species"


@dataclass(eq=False)
class EvalCase:
    """One rig to evaluate on: its training poses (for baselines and corruption statistics) and held-out poses.

    ``group`` names the kind of case ("held-out species", "assets"...): a report averages each group on its
    own as well as all cases together. ``train_source`` says where ``train`` comes from (reported with it).
    """

    rig: "Rig"
    train: Poses
    heldout: Poses
    limits: "JointLimits | None" = None
    group: str = "rigs"
    train_source: str = "training poses"


#: Fidelity rows that are true poses measured as if they were samples, not methods.
YARDSTICKS = ("training_data", "heldout_data")


@dataclass(eq=False)
class _MapData:
    data: np.ndarray  # (n, J, 3) features of held-out poses
    samples: np.ndarray  # model samples, or empty
    corrupted: np.ndarray  # all corruption types together


def _subset(poses: Poses, n: int, rng: np.random.Generator) -> Poses:
    if len(poses) <= n:
        return poses
    return poses[np.sort(rng.choice(len(poses), size=n, replace=False))]


def _scores(scorer: Scorer, rig: "Rig", poses: Poses, who: str) -> np.ndarray:
    s = np.asarray(scorer(rig, poses), np.float64).reshape(-1)
    if s.shape != (len(poses),):
        raise ValueError(f"scorer of '{who}' returned {s.shape[0]} scores for {len(poses)} poses")
    return s


def _samples(sampler: Sampler, rig: "Rig", n: int, seed: int, who: str) -> Poses:
    out = sampler(rig, n, seed)
    if not isinstance(out, Poses):
        raise TypeError(f"sampler of '{who}' returned {type(out).__name__}, expected vips.Poses")
    out.check_rig(rig.num_joints, f"rig {rig.label} (sampler of '{who}')")
    return out


def _evaluate(case: EvalCase, sampler: Sampler | None, scorer: Scorer | None, baselines: bool, n_samples: int,
              seed: int, corruptions: Iterable[str] | None, detector: Callable | bool | None,
              model_name: str) -> tuple[dict[str, Any], _MapData]:
    rig = case.rig
    rng = np.random.default_rng(seed)
    # The reference and, when there are enough held-out poses, a disjoint second draw of the same poses.
    order = rng.permutation(len(case.heldout))
    reference = case.heldout[np.sort(order[:n_samples])]
    m = len(reference)
    second = case.heldout[np.sort(order[m : 2 * m])] if len(case.heldout) >= 2 * m else None
    methods: dict[str, tuple[Sampler | None, Scorer | None]] = {model_name: (sampler, scorer)}
    if baselines:
        for name, b in fit_baselines(rig, case.train, case.limits).items():
            methods[name] = (b.sample, b.score)

    # Plausibility: valid held-out poses against each corruption of the same poses.
    corrupted: dict[str, Poses] = {}
    corruption_info: dict[str, Any] = {}
    for k, name in enumerate(corruptions or PROCEDURAL_CORRUPTIONS):
        try:
            c = CORRUPTIONS[name](rig, reference, seed=seed + 1000 * (k + 1), reference=case.train)
        except ValueError as e:  # a corruption that does not apply to this rig (no limbs...)
            corruption_info[name] = {"error": str(e)}
            continue
        corrupted[name] = c.poses
        corruption_info[name] = {"n": len(c.poses), "examples": c.descriptions[:3]}
    plausibility: dict[str, Any] = {}
    for who, (_, score) in methods.items():
        if score is None:
            continue
        t = time.perf_counter()
        valid = _scores(score, rig, reference, who)
        plausibility[who] = {name: auroc(valid, _scores(score, rig, bad, who)) for name, bad in corrupted.items()}
        plausibility[who]["mean"] = float(np.mean(list(plausibility[who].values()))) if corrupted else None
        plausibility[who]["seconds"] = time.perf_counter() - t

    # Fidelity, coverage, diversity: samples against the held-out poses, with the training data as yardstick.
    ref_feat = pose_features(rig, reference)
    train_sub = _subset(case.train, m, rng)
    fid: dict[str, Any] = {"training_data": fidelity(pose_features(rig, train_sub), ref_feat)}
    if second is not None:
        fid["heldout_data"] = fidelity(pose_features(rig, second), ref_feat)
    notes: list[str] = []

    def intersections(poses: Poses, who: str) -> float | None:
        # A detector that fails on one rig must not cost the rest of the report; the failure is noted.
        # Triangle-triangle tests are the slow part of a report: a fixed-size subset keeps it bounded.
        try:
            return self_intersection_rate(rig, poses[: min(len(poses), INTERSECTION_POSES)], detector)
        except Exception as e:  # noqa: BLE001 - any detector error becomes a note
            notes.append(f"self-intersection of '{who}' not measured: {type(e).__name__}: {e}")
            return None

    intersect: dict[str, Any] = {"training_data": intersections(train_sub, "training_data"),
                                 "heldout_data": intersections(reference, "heldout_data")}
    model_feat = np.zeros((0,) + ref_feat.shape[1:])
    for who, (sample, _) in methods.items():
        if sample is None:
            continue
        t = time.perf_counter()
        s = _samples(sample, rig, m, seed, who)
        feat = pose_features(rig, s)
        fid[who] = fidelity(feat, ref_feat)
        fid[who]["seconds"] = time.perf_counter() - t
        intersect[who] = intersections(s, who)
        if who == model_name:
            model_feat = feat
    # As many corrupted poses on the map as valid ones, drawn evenly from every corruption type.
    per_type = max(1, m // max(1, len(corrupted)))
    bad_feat = (np.concatenate([pose_features(rig, _subset(p, per_type, rng)) for p in corrupted.values()])
                if corrupted else np.zeros((0,) + ref_feat.shape[1:]))
    result = {
        "rig": {"name": rig.name or rig.label, "joints": rig.num_joints, "height": rig.height()},
        "settings": {"n_reference": m, "n_train": len(case.train), "n_heldout": len(case.heldout), "seed": seed,
                     "model": model_name, "limits": "given" if case.limits is not None else "estimated",
                     "baselines_fitted_on": case.train_source},
        "corruptions": corruption_info,
        "plausibility_auroc": plausibility,
        "fidelity": fid,
        "self_intersection_rate": intersect,
        "notes": notes,
    }
    result["targets"] = check_targets(result, model_name)
    return result, _MapData(ref_feat, model_feat, bad_feat)


def check_targets(result: dict[str, Any], model_name: str = "model") -> dict[str, Any]:
    """The model issue's targets on one result: AUROC >= 0.95 on every corruption, 1-NNA <= 0.65, COV >= 0.6,
    and 1-NNA closer to 0.5 than every baseline's. Entries are None where not measured."""
    out: dict[str, Any] = {}
    auc = result["plausibility_auroc"].get(model_name)
    names = [k for k in (auc or {}) if k not in ("mean", "seconds")]
    out["auroc_every_corruption"] = None if not names else all(auc[k] >= TARGET_AUROC for k in names)
    fid = result["fidelity"].get(model_name)
    out["1nna"] = None if fid is None else fid["1nna"] <= TARGET_1NNA
    out["cov"] = None if fid is None else fid["cov"] >= TARGET_COV
    others = [v for k, v in result["fidelity"].items() if k != model_name and k not in YARDSTICKS]
    out["1nna_beats_baselines"] = (None if fid is None or not others else
                                   all(abs(fid["1nna"] - 0.5) < abs(o["1nna"] - 0.5) for o in others))
    return out


def evaluate(rig: "Rig", train_poses: Poses, heldout_poses: Poses, sampler: Sampler | None, scorer: Scorer | None,
             baselines: bool = True, n_samples: int = 256, seed: int = 0, limits: "JointLimits | None" = None,
             corruptions: Iterable[str] | None = None, detector: Callable | bool | None = None,
             model_name: str = "model", out_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a pose model on one rig.

    Args:
        rig: the rig.
        train_poses: poses the baselines are fitted to (and whose statistics the hyper-extension uses).
        heldout_poses: true poses never seen in training; up to ``n_samples`` of them are the reference.
        sampler, scorer: the model's callables (module docstring); None skips that part for the model.
        baselines: also measure the Gaussian, nearest-neighbour and uniform-limits baselines.
        n_samples: reference poses and samples per method (the same count, so 1-NNA is balanced).
        seed: seeds the subsets, the corruptions and every sampler.
        limits: the rig's joint limits for the uniform baseline (else estimated from ``train_poses``).
        corruptions: names from :data:`CORRUPTIONS` (default :data:`PROCEDURAL_CORRUPTIONS`).
        detector: ``self_intersections(rig, poses)``; default the data pipeline's validator when available,
            ``False`` to skip the self-intersection rates (they are None then).
        out_dir: when given, writes ``report.json``, ``auroc.png``, ``fidelity.png`` and ``pose_map.png`` there.
    Returns:
        JSON-ready dict: ``plausibility_auroc[method][corruption]``, ``fidelity[method]`` (1nna, cov, mmd, apd,
        ...; ``training_data`` is the training poses measured as if they were samples, ``heldout_data`` a second
        draw of held-out poses disjoint from the reference, when there are 2 x ``n_samples`` of them: the
        metrics' floor), ``self_intersection_rate``,
        ``targets``, ``corruptions`` (examples), ``settings``, ``notes`` (what could not be measured).
    """
    case = EvalCase(rig, train_poses, heldout_poses, limits)
    result, map_data = _evaluate(case, sampler, scorer, baselines, n_samples, seed, corruptions, detector,
                                 model_name)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result["files"] = write_plots(result, out, {result["rig"]["name"]: map_data}, model_name)
        _write_json(out / "report.json", result)
    return result


def evaluate_many(cases: Iterable[EvalCase | tuple], sampler: Sampler | None, scorer: Scorer | None,
                  baselines: bool = True, n_samples: int = 256, seed: int = 0,
                  corruptions: Iterable[str] | None = None, detector: Callable | bool | None = None,
                  model_name: str = "model", out_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate on several rigs and average every metric over them.

    Args:
        cases: :class:`EvalCase` or ``(rig, train, heldout[, limits])`` tuples.
        Other arguments as :func:`evaluate`.
    Returns:
        ``{"rigs": {name: result}, "aggregate": means over rigs (same layout as one result), "groups": {group:
        means over that group's rigs}, "targets": ...}`` with the targets checked on the group
        :data:`TARGET_GROUP` when there is one, else on all rigs;
        with ``out_dir``, also ``report.json``, ``auroc.png``, ``fidelity.png`` and ``pose_map_<rig>.png``.
    """
    per_rig: dict[str, Any] = {}
    maps: dict[str, _MapData] = {}
    members: dict[str, list[str]] = {}
    for k, case in enumerate(cases):
        case = case if isinstance(case, EvalCase) else EvalCase(*case)
        result, map_data = _evaluate(case, sampler, scorer, baselines, n_samples, seed + k, corruptions,
                                     detector, model_name)
        name = result["rig"]["name"]
        while name in per_rig:
            name += "_"
        result["group"] = case.group
        per_rig[name] = result
        maps[name] = map_data
        members.setdefault(case.group, []).append(name)

    def mean_of(names: list[str]) -> dict[str, Any]:
        return {key: mean_tree([per_rig[n][key] for n in names])
                for key in ("plausibility_auroc", "fidelity", "self_intersection_rate")}

    aggregate = mean_of(list(per_rig))
    groups = {g: {"rigs": names, **mean_of(names)} for g, names in members.items()}
    target_group = TARGET_GROUP if TARGET_GROUP in groups else None
    report: dict[str, Any] = {"rigs": per_rig, "aggregate": aggregate, "groups": groups, "settings": {
        "n_rigs": len(per_rig), "n_samples": n_samples, "seed": seed, "model": model_name,
        "targets_checked_on": target_group or "all rigs"}}
    report["targets"] = check_targets(groups[target_group] if target_group else aggregate, model_name)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        shown = groups[target_group] if target_group else aggregate
        title = f"{target_group} ({len(shown['rigs'])} rigs)" if target_group else f"{len(per_rig)} rigs"
        report["files"] = write_plots(shown, out, maps, model_name, title=title)
        _write_json(out / "report.json", report)
    return report


def mean_tree(items: list[Any]) -> Any:
    """Mean of numbers at matching places of nested dicts (None and missing entries skipped)."""
    items = [x for x in items if x is not None]
    if not items:
        return None
    if all(isinstance(x, dict) for x in items):
        keys = list(dict.fromkeys(k for x in items for k in x))
        return {k: mean_tree([x.get(k) for x in items]) for k in keys}
    nums = [float(x) for x in items if isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool)]
    return float(np.mean(nums)) if nums else None


def write_plots(result: dict[str, Any], out: Path, maps: dict[str, _MapData], model_name: str = "model",
                title: str = "") -> list[str]:
    """AUROC and fidelity bar charts of ``result`` (one rig or the aggregate) and one pose map per rig."""
    files = []
    auc = result["plausibility_auroc"]
    methods = list(auc)
    groups = sorted({k for v in auc.values() for k in v if k not in ("seconds",)},
                    key=lambda k: (k == "mean", list(CORRUPTIONS).index(k) if k in CORRUPTIONS else 99))
    if methods and groups:
        series = {m: [auc[m].get(g) for g in groups] for m in methods}
        files.append(plots.bar_chart(out / "auroc.png", groups, series,
                                     f"Plausibility AUROC: valid vs corrupted poses {title}".strip(), "AUROC",
                                     lines=[(TARGET_AUROC, f"target {TARGET_AUROC}"), (0.5, "chance")]))
    fid = result["fidelity"]
    if fid:
        names = list(fid)
        series = {"1-NNA": [fid[n].get("1nna") for n in names], "COV": [fid[n].get("cov") for n in names]}
        files.append(plots.bar_chart(out / "fidelity.png", names, series,
                                     f"Samples vs held-out poses: 1-NNA (ideal 0.5) and coverage {title}".strip(),
                                     "fraction", lines=[(0.5, "1-NNA ideal"), (TARGET_1NNA, "1-NNA target"),
                                                        (TARGET_COV, "COV target")]))
    for rig_name, md in maps.items():
        path = out / ("pose_map.png" if len(maps) == 1 else f"pose_map_{_safe(rig_name)}.png")
        data, samples, bad = plots.pca_2d(md.data, md.samples, md.corrupted)
        files.append(plots.scatter_map(path, [("corrupted (invalid)", bad, plots.INVALID),
                                              ("held-out poses", data, (60, 60, 60)),
                                              (f"{model_name} samples", samples, plots.PALETTE[0])],
                                       f"Pose space of {rig_name}"))
    return [str(f) for f in files]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_json_default))


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")
