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


def _import_nodes(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a file at any depth (a lazy import inside a function counts), except those under
    ``if TYPE_CHECKING:`` (annotations only, never run; import-linter leaves them out too)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack += node.orelse
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack += ast.iter_child_nodes(node)
    return found


def _vips_imports(module: str) -> set[str]:
    """Every ``vips...`` module ``module`` imports (see :func:`_import_nodes`)."""
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    found = set()
    for node in _import_nodes(path):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vips":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vips"}
    return found


@pytest.mark.parametrize("module, allowed", [
    ("vips.skeleton", {"vips.errors", "vips.rotations"}),
    ("vips.rotations", set()),
    ("vips.model_contract", {"vips.errors"}),
    ("vips.rig_validation", {"vips.errors", "vips.skeleton"}),
])
def test_shared_low_modules_import_only_below_them(module, allowed):
    assert _vips_imports(module) <= allowed


def test_the_rig_sits_below_kinematics_and_the_body():
    """The rig computes its rest transforms itself; kinematics never asks the body (which skins the rest pose)."""
    assert not _vips_imports("vips.rig") & {"vips.kinematics", "vips.body", "vips.local_poses"}
    assert "vips.body" not in _vips_imports("vips.kinematics")


def test_kinematics_sits_below_the_readers():
    assert not any(m.startswith("vips.io") for m in _vips_imports("vips.kinematics"))
    assert "vips.kinematics" in _vips_imports("vips.io.usd_read")


def test_the_exporter_and_the_runtime_meet_only_in_the_contract():
    assert not any(m.startswith("vips.runtime") for m in _vips_imports("vips.model.onnx_export"))
    assert "vips.model_contract" in _vips_imports("vips.model.onnx_export")
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


def _module_graph() -> dict[str, set[str]]:
    """Module -> the vips modules it imports (at any depth in the file), read from the source: an independent
    reading of what import-linter checks. ``from vips.x import y`` counts as an import of ``vips.x.y`` when that is
    a module, else of ``vips.x``; the package root (which re-exports) and the compiled extension are left out."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in _import_nodes(path):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vips":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in modules}
        graph[name] = {t for t in targets if t in modules and t not in ("vips", name)}
    return graph


def _sibling_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every import as an edge between the two siblings (children of one package) that hold its ends."""
    edges = set()
    for a, targets in graph.items():
        for b in targets:
            pa, pb = a.split("."), b.split(".")
            k = 0
            while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
                k += 1
            if k < min(len(pa), len(pb)):
                edges.add((".".join(pa[:k + 1]), ".".join(pb[:k + 1])))
    return edges


def test_no_import_cycles_between_siblings():
    """No package's modules or subpackages import each other in a circle (brute force: a cycle through an edge
    a -> b is a path back from b to a)."""
    edges = _sibling_edges(_module_graph())
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    cycles = []
    for a, b in sorted(edges):
        seen, stack = {b}, [b]
        while stack:
            for n in succ.get(stack.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        if a in seen:
            cycles.append(f"{a} -> {b}")
    assert not cycles, cycles
