"""The low layers stay low: modules that others share import no vips module above them (read from the source, so a
lazy import inside a function counts too)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vips

PACKAGE = Path(vips.__file__).resolve().parent


def _vips_imports(module: str) -> set[str]:
    """Every ``vips...`` module ``module`` imports, at any depth in the file."""
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vips":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vips"}
    return found


@pytest.mark.parametrize("module, allowed", [
    ("vips.skeleton", {"vips.errors", "vips.rotations"}),
    ("vips.rotations", set()),
    ("vips.model_contract", set()),
])
def test_shared_low_modules_import_only_below_them(module, allowed):
    assert _vips_imports(module) <= allowed


def test_kinematics_sits_below_the_readers():
    assert not any(m.startswith("vips.io") for m in _vips_imports("vips.kinematics"))
    assert "vips.kinematics" in _vips_imports("vips.io.usd_read")


def test_the_exporter_and_the_runtime_meet_only_in_the_contract():
    assert not any(m.startswith("vips.runtime") for m in _vips_imports("vips.model.export"))
    assert "vips.model_contract" in _vips_imports("vips.model.export")
    assert "vips.model_contract" in _vips_imports("vips.runtime.onnx_backend")


ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    """The layers of ``[tool.importlinter]`` in pyproject.toml (what ``lint-imports`` checks in .ci/run): a new
    upward import, a lazy one included, fails here."""
    # import-linter comes with the test extra; it reads the contracts from the pyproject.toml in its working folder.
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_no_private_names_are_imported_from_another_module():
    """``from vips.x import _name`` reaches into another module's private parts (the compiled ``vips._native``,
    wrapped by vips.native, is the one private module that is imported)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "vips"):
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__") and a.name != "_native"]
    assert not found
