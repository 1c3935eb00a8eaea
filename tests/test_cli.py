"""The command line as users meet it: real subprocesses, one-line errors, no half-written outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_vips(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed `vips` entry point (as a user would) and capture its output."""
    exe = Path(sys.executable).with_name("vips")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vips.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_help_explains_every_command() -> None:
    out = run_vips("--help")
    assert out.returncode == 0
    for command in ("info", "convert", "examples"):
        assert command in out.stdout
        sub = run_vips(command, "--help")
        assert sub.returncode == 0 and "Usage" in sub.stdout


def test_info_json_on_shipped_example() -> None:
    out = run_vips("info", "example:CesiumMan", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["joints"] >= 19 and summary["vertices"] == 3273
    assert summary["up_axis"] == "Y" and summary["meters_per_unit"] == 1.0
    assert len(summary["clips"]) == 1 and summary["height"] > 1.0


def test_convert_writes_usd_and_glb(tmp_path: Path) -> None:
    for name in ("man.usda", "man.usdc", "man.glb"):
        out = run_vips("convert", "example:CesiumMan", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        umask = os.umask(0)
        os.umask(umask)
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask  # like a plain open(), not mkstemp's 0600
        info = run_vips("info", str(tmp_path / name), "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["vertices"] == 3273


def _written(path: Path, data: bytes | None) -> Path:
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("missing.glb", None, "no such file"),
        ("empty.glb", b"", "empty"),
        ("junk.glb", b"glTF" + bytes(range(64)), "junk.glb"),
        ("notes.txt", b"hello world\n", "not a format"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_writes_nothing(
    tmp_path: Path, name: str, data: bytes | None, expected: str
) -> None:
    source = _written(tmp_path / name, data)
    target = tmp_path / "out.usda"
    for args in (("info", str(source)), ("convert", str(source), str(target))):
        out = run_vips(*args)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
        assert expected in lines[0]
        assert "Traceback" not in out.stderr
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_convert_to_unknown_suffix_and_unknown_clip(tmp_path: Path) -> None:
    out = run_vips("convert", "example:CesiumMan", str(tmp_path / "x.fbx"))
    assert out.returncode == 1 and "cannot write '.fbx'" in out.stderr
    out = run_vips("convert", "example:CesiumMan", str(tmp_path / "x.usda"), "--clip", "nope")
    assert out.returncode == 1 and "no clip named 'nope'" in out.stderr
    assert not (tmp_path / "x.usda").exists()


def test_failed_convert_keeps_existing_output(tmp_path: Path) -> None:
    target = tmp_path / "keep.usda"
    target.write_text("precious")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00" + b"\x00" * 8)
    out = run_vips("convert", str(bad), str(target))
    assert out.returncode == 1
    assert target.read_text() == "precious"
