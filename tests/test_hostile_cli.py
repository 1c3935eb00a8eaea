"""Hostile use of the command line: out-of-range arguments, outputs that would destroy inputs, missing, read-only
and full output folders, tampered model folders, concurrent and interrupted `vips batch` runs.

Every case runs the installed `vips` as a user would and ends in a one-line ``error: ...`` with exit code 1, or
in a documented acceptance (a usage error with exit code 2; an output symlink replaced, its target untouched;
exit 130 / 143 with a report after SIGINT / SIGTERM). Inputs stay byte-identical and refused commands leave their
output folders as they were. Random values come from fixed seeds. The model is the toy one of
tests/runtime_support.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from runtime_support import toy_model_dir

from vips.cli.checks import IMAGE_SIZE, MAX_POSES, MAX_STEPS
from vips.examples import resolve

SEED = 14
RNG = np.random.default_rng(SEED)
BIG_N = int(RNG.integers(MAX_POSES + 1, 2**62))
BIG_STEPS = int(RNG.integers(MAX_STEPS + 1, 10**9))
BIG_SIZE = int(RNG.integers(IMAGE_SIZE[1] + 1, 10**6))
NEG_SEED = -int(RNG.integers(1, 2**62))
OVER_SEED = 2**63 + int(RNG.integers(0, 2**62))
FAR = float(10 ** RNG.uniform(6, 300))


def vips_command(*args: object) -> list[str]:
    """The installed `vips` entry point (as a user runs it) with ``args``."""
    exe = Path(sys.executable).with_name("vips")
    return [*([str(exe)] if exe.exists() else [sys.executable, "-m", "vips.cli"]), *map(str, args)]


def run_vips(*args: object, cwd: Path, env: dict | None = None, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(vips_command(*args), capture_output=True, text=True, cwd=cwd, timeout=180,
                          env=env or {**os.environ, "PYTHONWARNINGS": "ignore"}, preexec_fn=preexec_fn)


def assert_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit code 1, one line ``error: ...`` on stderr holding every word, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and link under ``folder`` (hidden ones included) -> its content hash or link target."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def toy() -> Path:
    return toy_model_dir()


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    """A folder holding A.glb (the shipped CesiumMan, with an animation clip usable as a pose set)."""
    shutil.copy(resolve("example:CesiumMan"), tmp_path / "A.glb")
    return tmp_path


# ----- argument ranges ----------------------------------------------------------------------------------------
RANGE_CASES = [
    (["sample", "{A}", "-n", 0, "-o", "s.usda"], ["-n", "from 1 to"]),
    (["sample", "{A}", "-n", BIG_N, "-o", "s.usda"], ["-n", str(BIG_N)]),
    (["sample", "{A}", "--steps", 0, "-o", "s.usda"], ["--steps", "got 0"]),
    (["sample", "{A}", "--steps", BIG_STEPS, "-o", "s.usda"], ["--steps", str(BIG_STEPS)]),
    (["sample", "{A}", "--seed", -1, "-o", "s.usda"], ["--seed", "2^63"]),
    (["sample", "{A}", "--seed", NEG_SEED, "-o", "s.usda"], ["--seed", str(NEG_SEED)]),
    (["sample", "{A}", "--seed", 2**63, "-o", "s.usda"], ["--seed", str(2**63)]),
    (["sample", "{A}", "--seed", OVER_SEED, "-o", "s.usda"], ["--seed", str(OVER_SEED)]),
    (["interpolate", "{A}", "--from", "{A}:0", "--to", "{A}:1", "-n", 1, "-o", "i.usda"], ["-n", "from 2 to"]),
    (["interpolate", "{A}", "--from", "{A}:0", "--to", "{A}:1", "-n", 10**7, "-o", "i.usda"], ["-n"]),
    (["interpolate", "{A}", "--from", "{A}:0", "--to", "{A}:1", "--steps", 0, "-o", "i.usda"], ["--steps"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--size", BIG_SIZE], ["--size", str(BIG_SIZE)]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--size", 0], ["--size"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--count", 0], ["--count"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--azimuth", "nan"], ["--azimuth", "nan"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--azimuth", "inf"], ["--azimuth"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--elevation", "nan"], ["--elevation"]),
    (["keyframes", "{A}", "--poses", "{A}", "--out", "kf", "--elevation", 90], ["--elevation"]),
    (["ik", "{A}", "--handle", f"joint_15={FAR:g},1,0", "-o", "ik.usda"], ["--handle", "times its height"]),
    (["ik", "{A}", "--handle", "joint_15=1e400,1,0", "-o", "ik.usda"], ["--handle", "finite"]),
    (["ik", "{A}", "--handle", "joint_15=nan,1,0", "-o", "ik.usda"], ["--handle", "finite"]),
    (["ik", "{A}", "--look-at", f"joint_15=0,{-FAR:g},0", "-o", "ik.usda"], ["--look-at", "times its height"]),
    (["ik", "{A}", "--handle", "joint_15=0,1,0", "--noise-level", 0, "-o", "ik.usda"], ["--noise-level"]),
    (["ik", "{A}", "--handle", "joint_15=0,1,0", "--noise-level", 1.5, "-o", "ik.usda"], ["--noise-level"]),
    (["ik", "{A}", "--handle", "joint_15=0,1,0", "--noise-level", "nan", "-o", "ik.usda"], ["--noise-level"]),
    (["ik", "{A}", "--handle", "joint_15=0,1,0", "--steps", 0, "-o", "ik.usda"], ["--steps"]),
    (["batch", ".", "--out", "out", "--poses", BIG_N], ["--poses"]),
    (["batch", ".", "--out", "out", "--steps", 0], ["--steps"]),
    (["batch", ".", "--out", "out", "--seed", -1], ["--seed"]),
    (["batch", ".", "--out", "out", "--workers", 0], ["--workers"]),
    (["batch", ".", "--out", "out", "--timeout", -1], ["--timeout"]),
    (["batch", ".", "--out", "out", "--max-input-mb", "nan"], ["--max-input-mb"]),
    (["fit", ".", "--rig", "{A}", "-o", "f.usda", "--fps", 0], ["--fps"]),
    (["fit", ".", "--rig", "{A}", "-o", "f.usda", "--points", 0], ["--points"]),
    (["fit", ".", "--rig", "{A}", "-o", "f.usda", "--seed", OVER_SEED], ["--seed"]),
    (["dataset", "build", "--out", "d", "--seed", -5], ["--seed"]),
]


@pytest.mark.parametrize("args, words", RANGE_CASES, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(RANGE_CASES)])
def test_out_of_range_arguments_are_refused_before_any_work(work: Path, toy: Path, args: list, words: list) -> None:
    before = snapshot(work)
    model = ["--model", toy] if args[0] in ("sample", "interpolate", "ik", "batch") else []
    proc = run_vips(*[str(a).replace("{A}", "A.glb") for a in args], *model, cwd=work)
    assert_error(proc, *words)
    assert snapshot(work) == before


def test_a_value_of_the_wrong_type_is_a_usage_error(work: Path) -> None:
    """Documented acceptance: Click's usage error (exit code 2, the option named), not a traceback."""
    proc = run_vips("sample", "A.glb", "-n", "many", "-o", "s.usda", cwd=work)
    assert proc.returncode == 2 and "'-n'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (work / "s.usda").exists()


# ----- outputs that are inputs, or each other ---------------------------------------------------------------
def _links(work: Path) -> None:
    (work / "link.glb").symlink_to("A.glb")
    os.link(work / "A.glb", work / "hard.glb")
    (work / "sub").mkdir()
    (work / "sub" / "up.glb").symlink_to("../A.glb")


SAME_FILE_CASES = [
    (["sample", "A.glb", "-o", "A.glb"], ["-o A.glb", "is the input"]),
    (["sample", "A.glb", "-o", "link.glb"], ["-o link.glb", "is the input"]),
    (["sample", "A.glb", "-o", "hard.glb"], ["-o hard.glb", "is the input"]),
    (["sample", "link.glb", "-o", "sub/up.glb"], ["is the input"]),
    (["convert", "A.glb", "A.glb"], ["TARGET A.glb", "is the input"]),
    (["convert", "A.glb", "link.glb"], ["is the input"]),
    (["convert", "hard.glb", "A.glb"], ["is the input"]),
    (["interpolate", "A.glb", "--from", "hard.glb:0", "--to", "hard.glb:1", "-o", "hard.glb"], ["is the input"]),
    (["ik", "A.glb", "--handle", "joint_15=0,1,0", "--init", "link.glb:0", "-o", "A.glb"], ["is the input"]),
    (["sample", "A.glb", "-o", "s.usda", "--contact-sheet", "m.png", "--map", "m.png"],
     ["--map m.png", "same file as --contact-sheet"]),
    (["sample", "A.glb", "-o", "s.usda", "--contact-sheet", "s.usda"], ["--contact-sheet s.usda", ".png"]),
    (["keyframes", "A.glb", "--poses", "A.glb", "--out", "A.glb"], ["--out A.glb", "is a file"]),
    (["convert", "A.glb", "."], ["is a folder"]),
]


@pytest.mark.parametrize("args, words", SAME_FILE_CASES, ids=[f"{a[0]}-{i}" for i, (a, _) in
                                                              enumerate(SAME_FILE_CASES)])
def test_an_output_that_is_an_input_or_another_output_is_refused(work: Path, toy: Path, args: list,
                                                                 words: list) -> None:
    _links(work)
    before = snapshot(work)
    model = ["--model", toy] if args[0] in ("sample", "interpolate", "ik") else []
    assert_error(run_vips(*args, *model, cwd=work), *words)
    assert snapshot(work) == before


def test_the_files_a_gltf_names_are_inputs_too(work: Path, toy: Path, assets_dir: Path) -> None:
    import base64

    doc = json.loads((assets_dir / "gltf" / "SimpleSkin.gltf").read_text())
    data = doc["buffers"][0]["uri"].split(",", 1)[1]
    (work / "skin.bin").write_bytes(base64.b64decode(data))
    doc["buffers"][0]["uri"] = "skin.bin"
    doc["images"] = [{"uri": "tex.png"}]
    (work / "tex.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (work / "skin.gltf").write_text(json.dumps(doc))
    before = snapshot(work)
    assert_error(run_vips("convert", "skin.gltf", "skin.bin", cwd=work), "is the input")
    assert_error(run_vips("sample", "skin.gltf", "-o", "s.usda", "--contact-sheet", "tex.png", "--model", toy,
                          cwd=work), "--contact-sheet tex.png", "is the input")
    assert snapshot(work) == before


def test_an_output_symlink_is_replaced_and_its_target_untouched(work: Path) -> None:
    """Documented acceptance: writing to a link that leads to a file that is no input replaces the link."""
    (work / "elsewhere.usda").write_text("keep me\n")
    (work / "out.usda").symlink_to("elsewhere.usda")
    proc = run_vips("convert", "A.glb", "out.usda", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert not (work / "out.usda").is_symlink() and (work / "out.usda").stat().st_size > 1000
    assert (work / "elsewhere.usda").read_text() == "keep me\n"


# ----- output folders: missing, read-only, full -------------------------------------------------------------
MISSING_CASES = [
    (["sample", "A.glb", "-o", "missing/s.usda"], ["-o missing/s.usda", "does not exist"]),
    (["sample", "A.glb", "-o", "s.usda", "--contact-sheet", "missing/s.png"], ["--contact-sheet", "does not exist"]),
    (["sample", "A.glb", "-o", "s.usda", "--map", "missing/m.png"], ["--map", "does not exist"]),
    (["convert", "A.glb", "missing/c.usda"], ["missing/c.usda", "does not exist"]),
    (["keyframes", "A.glb", "--poses", "A.glb", "--out", "missing/kf"], ["--out missing/kf", "does not exist"]),
    (["bench", "--json", "missing/b.json"], ["--json", "does not exist"]),
]


@pytest.mark.parametrize("args, words", MISSING_CASES, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(MISSING_CASES)])
def test_a_missing_output_folder_is_refused_before_anything_is_written(work: Path, toy: Path, args: list,
                                                                       words: list) -> None:
    before = snapshot(work)
    model = ["--model", toy] if args[0] == "sample" else []
    assert_error(run_vips(*args, *model, cwd=work), *words)
    assert snapshot(work) == before


def test_read_only_output_folders(work: Path, toy: Path) -> None:
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only folder stays writable")
        for args in (["convert", "A.glb", "ro/c.usda"],
                     ["sample", "A.glb", "-o", "ro/s.usda", "--model", toy],
                     ["sample", "A.glb", "-o", "s.usda", "--contact-sheet", "ro/s.png", "--model", toy],
                     ["keyframes", "A.glb", "--poses", "A.glb", "--out", "ro/kf", "--count", 2, "--size", 64],
                     ["keyframes", "A.glb", "--poses", "A.glb", "--out", "ro", "--count", 2, "--size", 64]):
            assert_error(run_vips(*args, cwd=work), "ro", "cannot")
        assert list(ro.iterdir()) == [] and not (work / "s.usda").exists()
    finally:
        ro.chmod(0o755)


def _small_files(limit: int):  # noqa: ANN202 - a preexec_fn
    """A child whose files cannot grow past ``limit`` bytes: writes fail as on a full disk (EFBIG)."""
    import resource

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


FULL_CASES = [
    (["convert", "A.glb", "c.usda"], ["c.usda"]),
    (["convert", "A.glb", "c.glb"], ["c.glb", "File too large"]),
    (["sample", "A.glb", "-n", 2, "--steps", 2, "-o", "s.glb"], ["s.glb", "File too large"]),
    (["keyframes", "A.glb", "--poses", "A.glb", "--out", "kf", "--count", 2, "--size", 512], ["kf/frame_0000.png"]),
]


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs POSIX resource limits")
@pytest.mark.parametrize("args, words", FULL_CASES, ids=[a[0] + "-" + str(i) for i, (a, _) in enumerate(FULL_CASES)])
def test_a_full_disk_is_one_line_and_leaves_nothing_behind(work: Path, toy: Path, args: list, words: list) -> None:
    before = snapshot(work)
    model = ["--model", toy] if args[0] == "sample" else []
    assert_error(run_vips(*args, *model, cwd=work, preexec_fn=_small_files(8192)), *words)
    assert snapshot(work) == before, "a temporary or partial file was left behind"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_device_as_output_is_refused(work: Path) -> None:
    assert_error(run_vips("convert", "A.glb", "/dev/full", cwd=work), "/dev/full", "not a regular file")
    assert_error(run_vips("bench", "--json", "/dev/null", cwd=work), "/dev/null", "not a regular file")


# ----- tampered model folders -------------------------------------------------------------------------------
def _json_edit(change):  # noqa: ANN001, ANN202
    def edit(m: Path) -> None:
        doc = json.loads((m / "model.json").read_text())
        change(doc)
        (m / "model.json").write_text(json.dumps(doc))
    return edit


def _set(path: str, value):  # noqa: ANN001, ANN202
    keys = path.split(".")

    def change(doc: dict) -> None:
        for k in keys[:-1]:
            doc = doc.setdefault(k, {})
        doc[keys[-1]] = value
    return _json_edit(change)


def _write(name: str, data: bytes):  # noqa: ANN202
    return lambda m: (m / name).write_bytes(data)


def _truncate(name: str, seed: int):  # noqa: ANN202
    def edit(m: Path) -> None:
        data = (m / name).read_bytes()
        cut = int(np.random.default_rng(seed).uniform(0.05, 0.95) * len(data))
        (m / name).write_bytes(data[:cut])
    return edit


def _garbage(name: str, seed: int):  # noqa: ANN202
    def edit(m: Path) -> None:
        size = (m / name).stat().st_size
        (m / name).write_bytes(np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes())
    return edit


def _copy(src: str, dst: str):  # noqa: ANN202
    return lambda m: shutil.copy(toy_model_dir() / src, m / dst)


def _swap(m: Path) -> None:
    _copy("rig_encoder.onnx", "denoiser.onnx")(m)
    _copy("denoiser.onnx", "rig_encoder.onnx")(m)


def _wider_encoder(m: Path) -> None:
    """The rig encoder with its tokens doubled in width (a graph of another model): what a width-mismatched
    encoder looks like to the runtime."""
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(m / "rig_encoder.onnx"))
    for node in proto.graph.node:
        node.output[:] = ["narrow" if n == "rig_context" else n for n in node.output]
    proto.graph.node.append(onnx.helper.make_node("Concat", ["narrow", "narrow"], ["rig_context"], axis=2))
    out = next(o for o in proto.graph.output if o.name == "rig_context")
    out.type.tensor_type.shape.dim[2].dim_value *= 2
    onnx.save(proto, str(m / "rig_encoder.onnx"))


def _safetensors_header(header: dict):  # noqa: ANN202
    raw = json.dumps(header).encode()
    return _write("model.safetensors", len(raw).to_bytes(8, "little") + raw + b"\0" * 16)


def _fifo(name: str):  # noqa: ANN202
    def edit(m: Path) -> None:
        (m / name).unlink()
        os.mkfifo(m / name)
    return edit


MODEL_CASES = {
    "threshold-nan": (_set("threshold", float("nan")), ["model.json", "threshold", "finite"]),
    "threshold-string": (_set("threshold", "high"), ["model.json", "threshold"]),
    "draws-huge": (_set("score.draws", 10**7), ["model.json", "score.draws", "64"]),
    "draws-zero": (_set("score.draws", 0), ["score.draws"]),
    "levels-empty": (_set("score.levels", []), ["score.levels"]),
    "levels-ends": (_set("score.levels", [0.0, 1.0]), ["score.levels", "(0, 1)"]),
    "levels-many": (_set("score.levels", [0.5] * 17), ["score.levels"]),
    "score-seed": (_set("score.seed", -1), ["score.seed"]),
    "score-list": (_set("score", [1, 2]), ["model.json", "score must be an object"]),
    "spacing": (_set("schedule.spacing", "cosine"), ["schedule.spacing", "karras"]),
    "shift-zero": (_set("schedule.shift", 0), ["schedule.shift"]),
    "shift-string": (_set("schedule.shift", "4"), ["schedule.shift"]),
    "shift-inf": (_set("schedule.shift", float("inf")), ["schedule.shift"]),
    "prediction": (_set("prediction", "x0"), ["prediction", "eps, v"]),
    "model-id": (_set("model_id", 5), ["model_id"]),
    "format": (_set("format", "vips-pose-space/9"), ["unknown model format"]),
    "json-list": (_write("model.json", b"[1, 2]"), ["model.json", "JSON object"]),
    "json-broken": (_write("model.json", b'{"format": '), ["model.json", "JSON"]),
    "json-empty": (_write("model.json", b""), ["model.json", "JSON"]),
    "json-deep": (_write("model.json", b"[" * 100_000 + b"]" * 100_000), ["model.json"]),
    "json-huge": (_write("model.json", b" " * (2**20 + 1) + b"{}"), ["model.json", "bytes"]),
    "json-fifo": (_fifo("model.json"), ["model.json", "not a regular file"]),
    "denoiser-empty": (_write("denoiser.onnx", b""), ["denoiser.onnx", "empty"]),
    "denoiser-truncated": (_truncate("denoiser.onnx", SEED), ["denoiser.onnx"]),
    "denoiser-garbage": (_garbage("denoiser.onnx", SEED), ["denoiser.onnx", "not a loadable ONNX graph"]),
    "denoiser-fifo": (_fifo("denoiser.onnx"), ["denoiser.onnx", "not a regular file"]),
    "encoder-empty": (_write("rig_encoder.onnx", b""), ["rig_encoder.onnx", "empty"]),
    "encoder-truncated": (_truncate("rig_encoder.onnx", SEED + 1), ["rig_encoder.onnx"]),
    "encoder-garbage": (_garbage("rig_encoder.onnx", SEED + 1), ["rig_encoder.onnx"]),
    "swapped": (_swap, ["rig_encoder.onnx", "swapped"]),
    "denoiser-in-encoder-place": (_copy("denoiser.onnx", "rig_encoder.onnx"), ["rig_encoder.onnx", "swapped"]),
    "encoder-in-denoiser-place": (_copy("rig_encoder.onnx", "denoiser.onnx"), ["denoiser.onnx"]),
    "wider-encoder": (_wider_encoder, ["rig_encoder.onnx", "rig_context width", "denoiser.onnx"]),
    "weights-empty": (_write("model.safetensors", b""), ["model.safetensors", "empty"]),
    "weights-truncated": (_truncate("model.safetensors", SEED + 2), ["model.safetensors", "truncated"]),
    "weights-garbage": (_garbage("model.safetensors", SEED + 2), ["model.safetensors"]),
    "weights-offsets": (_safetensors_header({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}),
                        ["model.safetensors", "'w'", "data_offsets"]),
    "weights-dtype": (_safetensors_header({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}),
                      ["model.safetensors", "dtype"]),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_a_tampered_model_folder_is_one_line_naming_the_file_and_field(work: Path, toy: Path, case: str) -> None:
    edit, words = MODEL_CASES[case]
    model = work / "model"
    shutil.copytree(toy, model)
    edit(model)
    before = snapshot(work)
    assert_error(run_vips("score", "A.glb", "A.glb:0", "--model", model, cwd=work), *words)
    assert snapshot(work) == before


def test_batch_with_a_broken_model_fails_once_before_any_asset(work: Path, toy: Path) -> None:
    model = work / "model"
    shutil.copytree(toy, model)
    _swap(model)
    (work / "lib").mkdir()
    shutil.copy(work / "A.glb", work / "lib" / "a.glb")
    assert_error(run_vips("batch", "lib", "--out", "out", "--model", model, cwd=work), "swapped")
    assert not list((work / "out").rglob("asset.json"))


# ----- nothing outside the paths a user names ----------------------------------------------------------------
def test_no_file_is_written_outside_the_named_outputs(work: Path, toy: Path) -> None:
    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(HOME=str(home), PYTHONWARNINGS="ignore")
    proc = run_vips("sample", "A.glb", "-n", 2, "--steps", 2, "-o", "s.usda", "--map", "m.png", "--model", toy,
                    cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert list(home.rglob("*")) == [], "something (ONNX Runtime telemetry?) wrote into $HOME"
    assert sorted(p.name for p in work.iterdir()) == ["A.glb", "home", "m.png", "s.usda"]


# ----- vips batch: one run per output folder, interrupts ------------------------------------------------------
def _wait_for(check, what: str, proc: subprocess.Popen, limit: float = 90.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lock_pid(out: Path) -> int | None:
    try:
        return json.loads((out / ".vips-batch.lock").read_text()).get("pid")
    except (OSError, ValueError):
        return None


def _records(out: Path) -> int:
    return len(list(out.rglob("asset.json")))


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith((".staging", ".old", ".lock"))]


def test_batch_locks_its_output_and_reports_what_finished_when_interrupted(work: Path, toy: Path) -> None:
    lib, out, outside, home = work / "lib", work / "out", work / "outside", work / "home"
    for folder in (lib / "sub", outside, home):
        folder.mkdir(parents=True)
    for i in range(16):
        os.link(work / "A.glb", lib / f"a{i:02d}.glb")
    os.link(work / "A.glb", lib / "sub" / "b.glb")  # sorted last: never finished before the last run
    (outside / "keep.txt").write_text("outside the output folder\n")
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(HOME=str(home), PYTHONWARNINGS="ignore")
    args = ["batch", "lib", "--out", "out", "--model", toy, "--poses", 8, "--steps", 8, "--formats", "usd",
            "--workers", 1]

    def start() -> subprocess.Popen:
        return subprocess.Popen(vips_command(*args), cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    # A second run on the same folder is refused, naming the first one's pid.
    first = start()
    _wait_for(lambda: _lock_pid(out) == first.pid, "the lock", first)
    assert_error(run_vips(*args, cwd=work, env=env), "another vips batch", f"pid {first.pid}")
    # SIGINT after the first asset: exit 130, one line, a report of what finished.
    _wait_for(lambda: _records(out) >= 1, "the first asset", first)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=90)
    assert first.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted by SIGINT: "), err
    report = json.loads((out / "report.json").read_text())
    c, stop = report["counts"], report["interrupted"]
    assert stop["signal"] == "SIGINT" and stop["unfinished"] and c["done"] >= 1 and c["failed"] == 0
    assert c["done"] + len(stop["unfinished"]) == 17 and report["processed"] == c["done"]
    assert _records(out) == c["done"] and not _leftovers(out)
    done_first = c["done"]

    # A stale lock (its run was killed) is taken over; SIGTERM stops the resumed run the same way (exit 143).
    (out / ".vips-batch.lock").write_text(json.dumps({"pid": 4_000_000, "started": "earlier"}))
    (out / "sub").symlink_to(outside, target_is_directory=True)  # a link planted in the output folder
    second = start()
    _wait_for(lambda: _records(out) > done_first, "one more asset", second)
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=90)
    assert second.returncode == 143 and err.startswith("interrupted by SIGTERM: "), err
    report = json.loads((out / "report.json").read_text())
    assert report["took_over_lock_of"].startswith("pid 4000000")
    assert report["counts"]["skipped"] == done_first and report["processed"] == report["counts"]["done"] >= 1
    done_second = report["counts"]["done"]

    # The last run finishes; throughput counts only the assets it processed.
    last = start()
    _, err = last.communicate(timeout=150)
    assert last.returncode == 0, err
    report = json.loads((out / "report.json").read_text())
    c = report["counts"]
    assert report["interrupted"] is None and c["skipped"] == done_first + done_second and c["done"] == 17 - c["skipped"]
    assert report["processed"] == c["done"]
    assert report["assets_per_minute"] == pytest.approx(60 * c["done"] / report["seconds"], rel=0.02, abs=0.02)
    assert not (out / "sub").is_symlink() and (out / "sub" / "b.glb" / "poses.usda").is_file()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert not _leftovers(out) and list(home.rglob("*")) == []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the workers start")
def test_ctrl_c_while_workers_start_is_one_line(work: Path, toy: Path) -> None:
    """Ctrl-C reaches the whole process group; workers still importing must not print tracebacks."""
    (work / "lib").mkdir()
    for i in range(4):
        os.link(work / "A.glb", work / "lib" / f"a{i}.glb")
    proc = subprocess.Popen(vips_command("batch", "lib", "--out", "out", "--model", toy, "--workers", 2),
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    _wait_for(lambda: children.read_text().split(), "the workers", proc)
    time.sleep(0.3)  # the workers are importing vips
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted by SIGINT: "), err
    assert (work / "out" / "report.json").is_file() and not _leftovers(work / "out")
