"""What every ``vips`` command shares: error reporting, asset loading, optional-dependency messages, the spinner.

User errors (a missing file, a corrupt asset, an invalid rig, a missing optional dependency) print one line,
``error: ...``, on stderr and exit with code 1; no traceback. Bugs still show a traceback, so they can be
reported.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Iterator, NoReturn

import typer

from vips.errors import MissingExtra

if TYPE_CHECKING:
    from vips.rig import Rig

ASSET_HELP = "A rigged asset (.glb/.gltf, RigNet .txt + .obj, .usd/.usda/.usdc, .bvh), or example:NAME for a shipped one."


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 1 (no traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@contextlib.contextmanager
def needs_extra(command: str, extra: str) -> Iterator[None]:
    """Imports of an optional dependency inside the block: a missing one fails with one line naming the module
    and the extra that installs it (:class:`vips.errors.MissingExtra`), e.g.
    ``error: vips fit needs torch: pip install "vips-runtime[train]"``.

    ``command`` is the command as typed after ``vips``; ``extra`` one of pyproject.toml's optional-dependencies
    (several comma-separated, as pip takes them).
    """
    try:
        yield
    except ImportError as exc:
        module = (exc.name or "an optional package").partition(".")[0]  # the package pip installs
        fail(str(MissingExtra(f"vips {command}", module, extra)))


def load_asset(asset: str) -> "Rig":
    """Load an asset (``example:NAME`` names a shipped one). The reader's warnings (repairs) are not printed:
    the commands report them from ``rig.warnings`` where they matter."""
    from vips.examples import resolve
    from vips.io import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(resolve(asset))


@contextlib.contextmanager
def busy(what: str, quiet: bool) -> Iterator[None]:
    """A spinner on stderr while long work runs (none with --json or when stderr is not a terminal)."""
    if quiet:
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(what):
        yield
