"""The ``vips`` Typer app and the console script's entry point; :mod:`vips.cli` registers the commands on it.

Arguments are checked against their ranges (stated in each option's help, :mod:`vips.cli.checks`) and outputs
against the inputs and each other before any work; every output is written atomically.

Nothing is written outside the paths a user names: no cache, no settings file, and ONNX Runtime's telemetry is
off (see :mod:`vips.runtime.onnx_backend`). ``--engine ray`` is the exception: Ray keeps its session files
under its own temporary folder.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="vips",
    help="ViPS runtime: learned pose spaces for rigged meshes. Run `vips COMMAND --help` for each command. "
    "Writes nothing but the files you name (no caches; ONNX Runtime telemetry is off).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point of the ``vips`` script (exit code 130 on Ctrl-C, without a traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
