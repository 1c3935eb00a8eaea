"""``vips bench``: the native kernels side by side with their peers (scipy cKDTree, numpy, torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vips.cli.common import fail, needs_extra
from vips.errors import VipsError


def bench(
    quick: bool = typer.Option(False, "--quick", help="Smaller sizes and fewer repeats (about a minute)."),
    only: Optional[str] = typer.Option(None, help="Comma-separated suites to run (default: all)."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Also write the results to this JSON file."),
) -> None:
    """Benchmark the native kernels side by side with their peers (scipy cKDTree, numpy, torch) and print ratios."""
    from vips.benchmarks import run_suites
    from vips.io.atomic import check_outputs, write_bytes_atomic

    try:
        check_outputs({"--json": as_json})
    except VipsError as exc:
        fail(str(exc))
    names = [n.strip() for n in only.split(",")] if only else None
    try:
        with needs_extra("bench", "train,test"):  # the peers: torch, scipy
            results = run_suites(names, quick)
    except ValueError as exc:
        fail(str(exc))
    if as_json is not None:
        try:
            write_bytes_atomic(as_json, json.dumps(results, indent=2, default=float).encode())
        except VipsError as exc:
            fail(str(exc))
