"""A command whose optional dependency is missing says so in one line, naming the module and the extra that
installs it (pyproject.toml's optional-dependencies), with exit code 1 and no traceback."""

from __future__ import annotations

import subprocess

import pytest
from optional_deps import run_without

# Each command that needs an extra, the modules made unimportable, the arguments and the line it must print.
CASES = [
    ("train", ["torch"], ["--data", "data", "--out", "run"],
     'error: vips train needs torch: pip install "vips-runtime[train]"'),
    ("fit", ["torch"], ["frames", "--rig", "example:CesiumMan", "-o", "fitted.usda"],
     'error: vips fit needs torch: pip install "vips-runtime[train]"'),
    ("export-onnx", ["torch"], ["model.safetensors", "--out", "model"],
     'error: vips export-onnx needs torch: pip install "vips-runtime[train]"'),
    ("export-onnx", ["onnx"], ["model.safetensors", "--out", "model"],
     'error: vips export-onnx needs onnx: pip install "vips-runtime[train]"'),
    ("bench", ["scipy"], ["--quick", "--only", "nearest"],
     'error: vips bench needs scipy: pip install "vips-runtime[train,test]"'),
]


def _vips_without(modules: list[str], args: list[str], cwd) -> subprocess.CompletedProcess:  # noqa: ANN001
    """``vips ARGS`` with ``modules`` not importable."""
    return run_without(modules, f"from vips.cli import main\nsys.argv = ['vips', *{args!r}]\nmain()\n", cwd)


@pytest.mark.parametrize(("command", "missing", "args", "line"), CASES, ids=[f"{c[0]}-{c[1][0]}" for c in CASES])
def test_a_missing_extra_is_one_line(command, missing, args, line, tmp_path):
    result = _vips_without(missing, [command, *args], tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == line
    assert "Traceback" not in result.stdout
    assert not list(tmp_path.iterdir())  # nothing written


def test_engine_ray_without_ray_is_one_line(tmp_path):
    result = _vips_without(["ray"], ["dataset", "build", "--out", "data", "--species", "1", "--engine", "ray"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == 'error: --engine ray needs ray: pip install "vips-runtime[dist]"'


def test_the_torch_free_commands_run_without_torch(tmp_path):
    """The CLI itself imports without torch: `vips info` works."""
    result = _vips_without(["torch"], ["info", "example:CesiumMan", "--tree-limit", "0"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "joints" in result.stdout
