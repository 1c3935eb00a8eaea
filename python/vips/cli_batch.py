"""``vips batch``: a whole asset library to scored pose sets, with a report (registered in :mod:`vips.cli`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vips.errors import VipsError


def batch_command(
    library: Path = typer.Argument(..., help="Library folder, searched recursively for rigged assets."),
    out: Path = typer.Option(..., "--out", help="Output folder: OUT/<asset path>/..., report.json, report.html. "
                             "An existing one is resumed: finished assets are skipped."),
    poses: int = typer.Option(64, help="Poses sampled per asset."),
    formats: str = typer.Option("usd,glb,keyframes", help="Comma-separated outputs: usd, glb, keyframes."),
    engine: str = typer.Option("local", help="local (process pool) or ray (RAY_ADDRESS, else a local cluster)."),
    seed: int = typer.Option(0, help="Batch seed (each asset's seed derives from it and the asset's path)."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes (default: all cores)."),
    steps: int = typer.Option(50, help="DDIM steps per sample."),
    model: Optional[Path] = typer.Option(None, help="Pose-space model folder (default: the shipped model)."),
    memory_limit: Optional[float] = typer.Option(
        None, "--memory-limit", help="GiB of address space per local worker (default: an equal share of 90% of "
        "the machine's memory; 0: no limit)."),
    max_input_mb: float = typer.Option(512.0, help="Assets whose input files are larger fail without loading."),
    timeout: Optional[float] = typer.Option(600.0, help="Seconds one asset may take on the local engine."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a summary."),
) -> None:
    """Sample and score a pose set for every rigged asset of a library (glTF, USD, RigNet txt + obj, BVH as
    skeleton only). Writes the outputs per asset and a report; exits with code 1 when any asset failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vips.batch import BatchSettings, run_batch

    try:
        settings = BatchSettings(poses=poses, formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
                                 seed=seed, steps=steps, model=None if model is None else str(model),
                                 max_input_mb=max_input_mb)
        limit = None if memory_limit is None else int(memory_limit * 2**30)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True, disable=as_json) as bar:
            task = bar.add_task("batch", total=None)

            def update(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=f"batch {name}")

            report = run_batch(library, out, settings, engine=engine, workers=workers, memory_limit=limit,
                               timeout=timeout or None, progress=update)
    except VipsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    c = report["counts"]
    if as_json:
        typer.echo(json.dumps(report, indent=1))
    else:
        rate = report["assets_per_minute"]
        typer.echo(f"{out}: {c['total']} assets, {c['done']} done, {c['skipped']} skipped, {c['failed']} failed; "
                   f"{c['poses']} poses; {report['seconds']:.1f} s"
                   + (f" ({rate:g} assets/min)" if rate else ""))
        for entry in report["assets"]:
            if entry["status"] == "failed":
                typer.echo(f"  failed  {entry['path']}: {entry['reason']}")
        typer.echo(f"report: {Path(out) / 'report.html'}")
    if c["failed"]:
        raise typer.Exit(code=1)
