"""``vips batch``: a whole asset library to scored pose sets, with a report."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from vips.cli.checks import MAX_POSES, MAX_STEPS, MAX_WORKERS, SEED_HELP, check_float, check_int, check_seed
from vips.cli.common import fail
from vips.errors import VipsError


def _check_options(poses: int, seed: int, workers: Optional[int], steps: int, memory_limit: Optional[float],
                   max_input_mb: float, timeout: Optional[float]) -> None:
    check_int(poses, "--poses", 1, MAX_POSES)
    check_seed(seed)
    if workers is not None:
        check_int(workers, "--workers", 1, MAX_WORKERS)
    check_int(steps, "--steps", 1, MAX_STEPS)
    if memory_limit is not None:
        check_float(memory_limit, "--memory-limit", 0.0)
    check_float(max_input_mb, "--max-input-mb", 0.0, lo_open=True)
    if timeout is not None:
        check_float(timeout, "--timeout", 0.0)


def batch_command(
    library: Path = typer.Argument(..., help="Library folder, searched recursively for rigged assets."),
    out: Path = typer.Option(..., "--out", help="Output folder: OUT/<asset path>/..., report.json, report.html. "
                             "An existing one is resumed: finished assets are skipped. One run at a time: a run "
                             "holds OUT/.vips-batch.lock, and a second run on the same folder is refused."),
    poses: int = typer.Option(64, help=f"Poses sampled per asset (1-{MAX_POSES})."),
    formats: str = typer.Option("usd,glb,keyframes", help="Comma-separated outputs: usd, glb, keyframes."),
    engine: str = typer.Option("local", help="local (process pool) or ray (RAY_ADDRESS, else a local cluster)."),
    seed: int = typer.Option(0, help=f"Batch seed ({SEED_HELP}; each asset's seed derives from it and the asset's "
                                     "path)."),
    workers: Optional[int] = typer.Option(None, help=f"Local worker processes, 1-{MAX_WORKERS} (default: all cores)."),
    steps: int = typer.Option(50, help=f"DDIM steps per sample (1-{MAX_STEPS})."),
    model: Optional[Path] = typer.Option(None, help="Pose-space model folder (default: the shipped model)."),
    memory_limit: Optional[float] = typer.Option(
        None, "--memory-limit", help="GiB of address space per local worker (default: an equal share of 90% of "
        "the machine's memory; 0: no limit)."),
    max_input_mb: float = typer.Option(512.0, help="Assets whose input files are larger fail without loading."),
    timeout: Optional[float] = typer.Option(600.0, help="Seconds one asset may take on the local engine (0: no "
                                            "limit)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a summary."),
) -> None:
    """Sample and score a pose set for every rigged asset of a library (glTF, USD, RigNet txt + obj, BVH as
    skeleton only). Writes the outputs per asset and a report; exits with code 1 when any asset failed.

    Ctrl-C (SIGINT) or SIGTERM stops the run: the workers are stopped, report.json and report.html are written
    for the assets that finished, one line on stderr says what finished, and the exit code is 130 (SIGINT) or
    143 (SIGTERM). Running the same command again finishes the rest.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vips.batch import BatchSettings, run_batch
    from vips.batch.runner import BatchInterrupted
    from vips.parallel import interrupt_signal, signals_interrupt

    try:
        _check_options(poses, seed, workers, steps, memory_limit, max_input_mb, timeout)
        settings = BatchSettings(poses=poses, formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
                                 seed=seed, steps=steps, model=None if model is None else str(model),
                                 max_input_mb=max_input_mb)
        limit = None if memory_limit is None else int(memory_limit * 2**30)
        with signals_interrupt(), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                           TimeRemainingColumn(), transient=True,
                                           disable=as_json or not sys.stdout.isatty()) as bar:
            task = bar.add_task("batch", total=None)

            def update(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=f"batch {name}")

            report = run_batch(library, out, settings, engine=engine, workers=workers, memory_limit=limit,
                               timeout=timeout or None, progress=update)
    except VipsError as exc:
        fail(str(exc))
    except BatchInterrupted as stop:
        c, info = stop.report["counts"], stop.report["interrupted"]
        typer.echo(f"interrupted by {info['signal']}: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed, "
                   f"{len(info['unfinished'])} not finished; report: {Path(stop.report['out']) / 'report.json'}",
                   err=True)
        raise typer.Exit(code=128 + stop.signum) from None
    except KeyboardInterrupt as stop:  # before the run started or after it ended: nothing to report
        signum = interrupt_signal(stop)
        typer.echo(f"interrupted by {signal.Signals(signum).name}", err=True)
        raise typer.Exit(code=128 + signum) from None
    c = report["counts"]
    if as_json:
        typer.echo(json.dumps(report, indent=1))
    else:
        rate = report["assets_per_minute"]
        typer.echo(f"{out}: {c['total']} assets, {c['done']} done, {c['skipped']} skipped, {c['failed']} failed; "
                   f"{c['poses']} poses; {report['seconds']:.1f} s"
                   + (f" ({rate:g} processed assets/min)" if rate else ""))
        for entry in report["assets"]:
            if entry["status"] == "failed":
                typer.echo(f"  failed  {entry['path']}: {entry['reason']}")
        typer.echo(f"report: {Path(out) / 'report.html'}")
    if c["failed"]:
        raise typer.Exit(code=1)
