"""Shared by the tests of what works without an optional dependency: run Python code in a fresh interpreter
where some modules cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_without(modules: list[str], code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a subprocess in which ``import NAME`` fails (ModuleNotFoundError) for each of ``modules``,
    as it does where the package is not installed; stdout and stderr are captured as text."""
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
                          cwd=cwd)
