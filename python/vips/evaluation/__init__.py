"""Evaluation of a pose space, model-agnostic: corruptions, metrics, baselines, plots and the report.

The model enters only as two callables, ``sampler(rig, n, seed) -> Poses`` and
``scorer(rig, poses) -> (N,)`` (higher = more plausible):

    >>> from vips.evaluation import evaluate
    >>> result = evaluate(rig, train, heldout, sampler, scorer, out_dir="eval")   # report.json + PNGs
"""

from vips.evaluation.baselines import GaussianPrior, NearestNeighbour, UniformLimits, fit_baselines
from vips.evaluation.corruptions import CORRUPTIONS, Corrupted
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
from vips.evaluation.report import EvalCase, check_targets, evaluate, evaluate_many

__all__ = [
    "CORRUPTIONS",
    "Corrupted",
    "EvalCase",
    "GaussianPrior",
    "NearestNeighbour",
    "UniformLimits",
    "apd",
    "auroc",
    "check_targets",
    "coverage",
    "evaluate",
    "evaluate_many",
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
