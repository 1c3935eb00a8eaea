"""Evaluation of a pose space, model-agnostic: corruptions, metrics, baselines, plots and the report.

The model enters only as two callables, ``sampler(rig, n, seed) -> Poses`` and
``scorer(rig, poses) -> (N,)`` (higher = more plausible):

    >>> from vips.evaluation import evaluate
    >>> result = evaluate(rig, train, heldout, sampler, scorer, out_dir="eval")   # report.json + PNGs

Real motion (:mod:`vips.evaluation.real_motion`) takes ``scorer(rig, poses) -> (scores, plausible)`` instead:

    >>> families, _ = asset_families(["walk.bvh"])
    >>> section = evaluate_real_motion(families, sampler, flag_scorer, out_dir="eval")
"""

from vips.evaluation.baselines import GaussianPrior, NearestNeighbour, UniformLimits, fit_baselines
from vips.evaluation.corruptions import CORRUPTIONS, PROCEDURAL_CORRUPTIONS, Corrupted
from vips.evaluation.metrics import (
    apd,
    auroc,
    coverage,
    fidelity,
    mmd,
    one_nna,
    pose_distance,
    pose_features,
    position_distances,
    rotation_distances,
    self_intersection_rate,
)
from vips.evaluation.real_motion import asset_families, dataset_families, evaluate_real_motion
from vips.evaluation.evaluate import EvalCase, check_targets, evaluate, evaluate_many

__all__ = [
    "CORRUPTIONS",
    "Corrupted",
    "EvalCase",
    "GaussianPrior",
    "NearestNeighbour",
    "PROCEDURAL_CORRUPTIONS",
    "UniformLimits",
    "apd",
    "asset_families",
    "auroc",
    "check_targets",
    "coverage",
    "dataset_families",
    "evaluate",
    "evaluate_many",
    "evaluate_real_motion",
    "fidelity",
    "fit_baselines",
    "mmd",
    "one_nna",
    "pose_distance",
    "pose_features",
    "position_distances",
    "rotation_distances",
    "self_intersection_rate",
]
