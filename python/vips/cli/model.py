"""Model commands: ``vips train`` (a pose diffusion model, torch), ``eval`` (a model against held-out species
and real motion) and ``export-onnx`` (a trained model to a folder the ONNX Runtime backend reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vips.cli.checks import MAX_POSES, MAX_STEPS, SEED_HELP, check_float, check_int, check_seed
from vips.cli.common import busy, fail, needs_extra
from vips.errors import VipsError
from vips.io.atomic import check_outputs


def train(
    data: Path = typer.Option(..., "--data", help="A dataset folder from `vips dataset build` (its train split is used)."),
    out: Path = typer.Option(..., "--out", help="Run folder: config.json, log.jsonl, checkpoint and weights (resumed if present)."),
    steps: int = typer.Option(15000, help="Training steps (the learning-rate schedule spans them)."),
    width: int = typer.Option(64, help="Transformer width."),
    layers: int = typer.Option(4, help="Denoiser layers."),
    mlp_ratio: int = typer.Option(2, help="Hidden width of each transformer MLP, in multiples of the width."),
    schedule_shift: float = typer.Option(
        1.0, min=0.01, help="Raise the noise schedule's signal-to-noise ratio by this factor squared: about one over "
        "the spread of the pose vectors (see vips.diffusion.alpha_bar)."),
    rigs_per_batch: int = typer.Option(8, help="Rigs per batch."),
    poses_per_rig: int = typer.Option(8, help="Poses drawn from each rig per batch."),
    lr: float = typer.Option(1.5e-3, help="Peak learning rate (AdamW, warmup then cosine)."),
    warmup: int = typer.Option(300, help="Warmup steps of the learning rate."),
    threads: int = typer.Option(1, help="Torch threads per process (1 is fastest on a small, busy CPU)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help=f"Seed of weights and batches ({SEED_HELP})."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", help="Fine-tune: start from 'default' (the shipped model), a model folder or a "
        "model.safetensors of the same architecture instead of random weights."),
) -> None:
    """Train a pose diffusion model (torch); the defaults are the shipped model's recipe
    (training/default_model.json). Under `torchrun --nproc_per_node N $(which vips) train ...` it runs DDP."""
    try:
        check_seed(seed)
    except VipsError as exc:
        fail(str(exc))
    with needs_extra("train", "train"):
        from vips.model.network import ModelConfig
        from vips.model.train import TrainConfig
        from vips.model.train import train as run_training
    model = ModelConfig(width=width, layers=layers, mlp_ratio=mlp_ratio, schedule_shift=schedule_shift)
    config = TrainConfig(out=str(out), data=str(data), model=model, steps=steps, rigs_per_batch=rigs_per_batch,
                         poses_per_rig=poses_per_rig, lr=lr, warmup=warmup, threads=threads, device=device,
                         seed=seed, log_every=50, checkpoint_every=500,
                         init_from=init_from)
    try:
        run = run_training(config)
    except (VipsError, FileNotFoundError) as exc:
        fail(str(exc))
    typer.echo(f"trained {run}")


def evaluate(
    out: Path = typer.Option(..., "--out", help="Report folder: report.json and PNG plots."),
    model: Optional[Path] = typer.Option(None, help="Model folder (default: the model shipped with vips)."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="A dataset from `vips dataset build`: its procedural species and real clip families "
        "of --split."),
    assets: list[str] = typer.Option(
        [], "--assets", help="Animated assets to evaluate on too, each its own real-motion family (repeatable)."),
    split: str = typer.Option("test", help="Dataset split: test (held-out species) or val."),
    max_rigs: int = typer.Option(12, help="Held-out individuals to evaluate, spread over body plans."),
    samples: int = typer.Option(128, help=f"Samples per rig (1-{MAX_POSES})."),
    steps: int = typer.Option(30, help=f"DDIM steps per sample (1-{MAX_STEPS})."),
    seed: int = typer.Option(0, help=f"Seed of samples and corruptions ({SEED_HELP})."),
    frames_per_clip: int = typer.Option(
        40, "--frames-per-clip", min=1, help="Real motion: evenly spaced frames evaluated per clip."),
    cover_samples: int = typer.Option(
        256, "--cover-samples", min=1, help="Real motion: samples per rig for coverage and rest bias."),
    sheet: list[str] = typer.Option(
        [], "--sheet", metavar="ASSET", help="Write a contact sheet of 16 samples (scores on the tiles, implausible "
        "ones red) of this asset into the report folder (repeatable)."),
) -> None:
    """Evaluate a pose-space model.

    Procedural held-out species: plausibility AUROC per corruption, 1-NNA, COV, MMD, APD, self-intersection,
    against baselines (per-joint Gaussian, nearest neighbour, uniform in joint limits) fitted to the training
    poses of species with the same skeleton; a second draw of held-out poses ("heldout_data") shows each
    metric's floor.

    Real motion ("real motion" in report.json, real_*.png): the dataset's real clip families of --split (rigs
    never trained on) and each --assets file. On --frames-per-clip frames per clip: the share flagged plausible;
    per corruption (turned_joints: 2-3 joints turned 90-120 deg; twist, random_rotation, hyperextension,
    through_body; only joints whose turn changes the body: no helper, end, ground or IK-target bone) the share
    caught and the AUROC of real against corrupted; coverage (a frame is covered by one
    of --cover-samples samples within a mean joint distance of 8 % of the height, joints relative to the body
    joint and facing one way); rest bias (samples' median distance from the rest pose over the real frames').
    Targets: plausible >= 0.9, caught >= 0.9, AUROC >= 0.95 per family and kind; coverage >= 0.8 and rest
    bias >= 0.7 per clip."""
    from vips.evaluation.run_model import evaluate_model
    from vips.examples import resolve

    try:
        check_int(samples, "--samples", 1, MAX_POSES)
        check_int(steps, "--steps", 1, MAX_STEPS)
        check_seed(seed)
        report = evaluate_model(model, data, [resolve(a) for a in assets], out, split, max_rigs, samples, steps,
                                seed, progress=lambda msg: typer.echo(msg, err=True),
                                frames_per_clip=frames_per_clip, cover_samples=cover_samples,
                                sheets=[resolve(a) for a in sheet])
    except VipsError as exc:
        fail(str(exc))
    summary = {k: report[k] for k in ("aggregate", "targets") if k in report}
    if "real motion" in report:
        real = report["real motion"]
        summary["real motion"] = {"mean": real["mean"], "groups": {g: v["families"] for g, v in real["groups"].items()},
                                  "targets": real["targets"]}
    if "sheets" in report:
        summary["sheets"] = {r["file"]: f"{r['plausible']} of {r['samples']} plausible" for r in report["sheets"]}
    typer.echo(json.dumps(summary, indent=1, default=float))


def export_onnx_command(
    weights: Path = typer.Argument(..., help="A model weights file (model.safetensors from training)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (ONNX graphs, safetensors, model.json)."),
    model_id: Optional[str] = typer.Option(None, help="Model id recorded in every pose set (default: folder name)."),
    threshold: Optional[float] = typer.Option(None, help="Calibrated plausibility threshold to record (finite)."),
    check: bool = typer.Option(True, help="Compare ONNX Runtime against torch on random rigs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export a trained model to a pose-space model folder for the ONNX Runtime backend (needs torch)."""
    with needs_extra("export-onnx", "train"):
        import onnx  # noqa: F401 - used by check_onnx and the export; imported here so a missing one is one line

        from vips.model.onnx_export import check_onnx
        from vips.model.weights import load_weights
        from vips.runtime.model_dir import MODEL_FILES, export_model_dir
    try:
        if threshold is not None:
            check_float(threshold, "--threshold")
        if not weights.is_file():
            fail(f"{weights}: no such weights file")
        if out.exists() and not out.is_dir():
            fail(f"--out {out}: is a file; a model folder is written there")
        if out.is_dir():
            check_outputs([("--out", out / name) for name in MODEL_FILES], [weights])
        try:
            model = load_weights(weights)
        except ValueError as exc:
            fail(str(exc))
        with busy("exporting", as_json):
            info = export_model_dir(model, out, model_id=model_id, threshold=threshold)
            diff = check_onnx(model, out) if check else None
    except VipsError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"folder": str(out), "model_id": info.model_id, "max_abs_diff": diff}))
    else:
        typer.echo(f"wrote {out} (model id {info.model_id}" + (f", ONNX vs torch max diff {diff:.2e})" if check
                                                                else ")"))
