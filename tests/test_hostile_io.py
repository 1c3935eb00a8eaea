"""Hostile input (issue 14): every case ends in a clean vips error or a documented acceptance, quickly, and nothing
outside the asset's folder is read.

The corpus is regenerated in ``tmp_path`` with fixed seeds: malformed and truncated files of every format (glTF
and GLB, BVH, RigNet rig text + OBJ, USD), references that leave the asset's folder (``..``, absolute paths,
``%2e%2e``, symlinks, ``file:`` and other schemes), FIFOs and devices as references and as assets, sizes declared
far beyond the bytes present, deep hierarchies and a 20,000-joint chain.

Every file outside an asset's folder holds :data:`MARKER`; a case that read one and quoted it would show it in its
message, and every refusal asserts it does not. Each case runs under a deadline (SIGALRM, which also interrupts a
blocking ``open``), so a case that would hang fails instead. Documented acceptances (a case that may load):
a truncated file that still parses; a glTF image that is missing inside the folder (images are never read); a
deep hierarchy that loads whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import vips
import vips.io.guard as guard
import vips.rig_validation as rig_validation
from vips.io.discover import discover
from vips.errors import AssetError, VipsError
from vips.io.bvh import read_bvh
from vips.io.gltf import read_gltf
from vips.io.gltf_format import build_glb
from vips.io.obj import read_obj
from vips.io.rignet import read_rignet

from conftest import random_rig_arrays

MARKER = "VIPS-SECRET-7f3a9c"  # in every file outside an asset's folder; never in any message
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "setitimer"),
                           reason="POSIX only: FIFOs, /dev/zero and SIGALRM deadlines")
CASE_SECONDS = 10.0  # per case: generous on two busy cores; real cases take well under a second


# ----- running a case --------------------------------------------------------------------------------------
class Deadline(Exception):
    """A case ran past its time bound (raised by SIGALRM, so even a blocked open() ends)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):  # noqa: ANN001 - signal handler signature
        raise Deadline(f"the case ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused(path: Path, match: str | None = None, loader: Callable = vips.load,
            seconds: float = CASE_SECONDS) -> str:
    """Load ``path`` with ``loader``; assert a :class:`VipsError` naming the file (and matching ``match``) within
    ``seconds``, whose message holds no :data:`MARKER`. Returns the message."""
    start = time.perf_counter()
    with deadline(seconds), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VipsError) as info:
            loader(path)
    message = str(info.value)
    assert time.perf_counter() - start < seconds
    assert Path(path).name in message, message
    assert MARKER not in message, message
    if match is not None:
        assert re.search(match, message), message
    return message


def loads_or_refused(path: Path, loader: Callable = vips.load, seconds: float = CASE_SECONDS,
                     names: tuple[str, ...] = ()) -> vips.Rig | None:
    """A documented acceptance: ``path`` loads, or fails with a clean :class:`VipsError` naming it (or one of
    ``names``, the other files of the asset), in time."""
    with deadline(seconds), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return loader(path)
        except VipsError as exc:
            assert any(n in str(exc) for n in (Path(path).name, *names)), str(exc)
            assert MARKER not in str(exc), str(exc)
            return None


def link(path: Path, target: Path | str) -> None:
    """A symlink at ``path`` to ``target``; skips the case where the system cannot make one (Windows without
    the privilege)."""
    try:
        path.symlink_to(target, target_is_directory=Path(target).is_dir())
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"cannot make symlinks here ({exc})")


def quiet(loader: Callable, path: Path):  # noqa: ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loader(path)


# ----- the corpus ------------------------------------------------------------------------------------------
def gltf_parts(seed: int = 0) -> tuple[dict, bytes]:
    """A small skinned glTF (3 joints, one triangle, one rotation clip) as (JSON, buffer bytes); the buffer has
    no uri yet."""
    rng = np.random.default_rng(seed)
    rotations = rng.normal(size=(2, 4))
    arrays = [
        (rng.normal(size=(3, 3)).astype("<f4"), "VEC3", 5126),
        (np.array([[0, 1, 0, 0], [1, 2, 0, 0], [2, 0, 0, 0]], "<u1"), "VEC4", 5121),
        (np.array([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [1, 0, 0, 0]], "<f4"), "VEC4", 5126),
        (np.array([0, 1, 2], "<u2"), "SCALAR", 5123),
        (np.array([0.0, 1.0], "<f4"), "SCALAR", 5126),
        ((rotations / np.linalg.norm(rotations, axis=1, keepdims=True)).astype("<f4"), "VEC4", 5126),
    ]
    blob, views, accessors = b"", [], []
    for i, (arr, kind, ctype) in enumerate(arrays):
        data = arr.tobytes()
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        accessors.append({"bufferView": i, "componentType": ctype, "count": len(arr), "type": kind})
        blob += data + b"\0" * (-len(data) % 4)
    doc = {
        "asset": {"version": "2.0"},
        "scenes": [{"nodes": [0, 3]}],
        "nodes": [
            {"name": "root", "children": [1]},
            {"name": "mid", "translation": [0, 1, 0], "children": [2]},
            {"name": "tip", "translation": [0, 1, 0]},
            {"name": "body", "mesh": 0, "skin": 0},
        ],
        "skins": [{"joints": [0, 1, 2]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "JOINTS_0": 1, "WEIGHTS_0": 2}, "indices": 3}]}],
        "animations": [{"name": "wave", "channels": [{"sampler": 0, "target": {"node": 1, "path": "rotation"}}],
                        "samplers": [{"input": 4, "output": 5}]}],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    return doc, blob


def write_gltf(folder: Path, name: str, doc: dict, uri: str) -> Path:
    doc = json.loads(json.dumps(doc))
    doc["buffers"][0]["uri"] = uri
    path = folder / f"{name}.gltf"
    path.write_text(json.dumps(doc))
    return path


BVH = """\
HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT spine
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 1 0 0 0 0 10 0 0
0 1 0 5 0 0 20 0 0
0 1 0 10 0 0 30 0 0
"""

RIG_TXT = """\
joints hip 0 1 0
joints spine 0 1.5 0
joints head 0 2 0
root hip
hier hip spine
hier spine head
skin 0 hip 1
skin 1 hip 0.5 spine 0.5
skin 2 head 1
skin 3 spine 1
"""
OBJ = "v 0 1 0\nv 0 1.5 0\nv 0 2 0\nv 0.5 1.5 0\nf 1 2 4\nf 2 3 4\n"


def usd_rig(seed: int = 0, joints: int = 5) -> tuple[vips.Rig, vips.Poses]:
    rng = np.random.default_rng(seed)
    arrays = random_rig_arrays(rng, joints, 12, 2)
    rig = vips.Rig([f"j{i}" for i in range(joints)], faces=rng.integers(0, 12, size=(8, 3)).astype(np.int32),
                   **arrays)
    poses = vips.Poses(rng.normal(size=(4, joints, 4)), rng.normal(size=(4, 3)) * 0.1, 24.0, "anim")
    return rig, poses


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An asset folder with one valid asset of every format, and an outside folder of secrets: a copy of the
    glTF buffer followed by the marker (it would load if it were read), a text file and a RigNet mesh, and
    the marker in the environment (``/proc/self/environ``)."""
    folder = tmp_path / "library" / "asset"
    outside = tmp_path / "outside"
    folder.mkdir(parents=True)
    outside.mkdir()
    doc, blob = gltf_parts()
    (folder / "model.bin").write_bytes(blob)
    (outside / "secret.bin").write_bytes(blob + MARKER.encode() * 4)
    (outside / "secret.txt").write_text(f"joints {MARKER} 0 0 0\nroot {MARKER}\n")
    (outside / "secret.obj").write_text(OBJ + f"# {MARKER}\n")
    monkeypatch.setenv("VIPS_HOSTILE_MARKER", MARKER)
    paths = {"folder": folder, "outside": outside, "secret": outside / "secret.bin"}
    paths["gltf"] = write_gltf(folder, "model", doc, "model.bin")
    paths["glb"] = folder / "model.glb"
    paths["glb"].write_bytes(build_glb({**doc, "buffers": [{"byteLength": len(blob)}]}, blob))
    paths["bvh"] = folder / "walk.bvh"
    paths["bvh"].write_text(BVH)
    paths["rignet"] = folder / "rig_rig.txt"
    paths["rignet"].write_text(RIG_TXT)
    (folder / "rig.obj").write_text(OBJ)
    rig, poses = usd_rig()
    for suffix in ("usda", "usdc"):
        paths[suffix] = folder / f"rig.{suffix}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vips.save(rig, paths[suffix], poses)
    return paths


def test_the_corpus_is_valid(corpus: dict[str, Path]) -> None:
    for key in ("gltf", "glb", "bvh", "rignet", "usda", "usdc"):
        rig = quiet(vips.load, corpus[key])
        assert rig.num_joints >= 3 and rig.clips or key == "rignet", key


# ----- references that leave the asset's folder --------------------------------------------------------------
ESCAPES = [
    ("../../outside/secret.bin", "outside the asset's folder"),
    ("%2e%2e/%2e%2e/outside/secret.bin", "outside the asset's folder"),
    ("%2E%2E%2F%2E%2E%2Foutside%2Fsecret.bin", "outside the asset's folder"),
    ("sub/../../../outside/secret.bin", "outside the asset's folder"),
    ("../../../../../../../../etc/passwd", "outside the asset's folder"),
    ("{secret}", "absolute path"),
    ("%2F{secret_rel}", "absolute path"),
    ("/proc/self/environ", "absolute path"),
    ("file://{secret}", "'file:' URI"),
    ("file:secret.bin", "'file:' URI"),
    ("FILE:///etc/passwd", "'file:' URI"),
    ("http://example.invalid/secret.bin", "'http:' URI"),
    ("C:/outside/secret.bin", "'c:' URI"),
    ("link.bin", "outside the asset's folder"),
    ("linked_dir/secret.bin", "outside the asset's folder"),
    ("model.bin%00.txt", "not a file name"),
]


@pytest.mark.parametrize("uri, reason", ESCAPES)
def test_buffer_references_that_leave_the_folder_are_refused(corpus: dict[str, Path], uri: str, reason: str) -> None:
    folder, secret = corpus["folder"], corpus["secret"]
    if "link" in uri:
        link(folder / "link.bin", secret)
        link(folder / "linked_dir", corpus["outside"])
    uri = uri.format(secret=secret, secret_rel=str(secret).lstrip("/"))
    doc, _ = gltf_parts()
    path = write_gltf(folder, "escape", doc, uri)
    message = refused(path, re.escape(reason))
    assert repr(uri)[1:-1][:60] in message or uri[:40] in message  # the message names the URI
    refused(path, re.escape(reason), loader=read_gltf)


@pytest.mark.parametrize("uri", ["../../outside/secret.bin", "/etc/passwd", "file:///etc/passwd", "link.png"])
def test_image_references_that_leave_the_folder_are_refused(corpus: dict[str, Path], uri: str) -> None:
    if "link" in uri:
        link(corpus["folder"] / "link.png", corpus["secret"])
    doc, _ = gltf_parts()
    doc["images"] = [{"uri": uri}]
    refused(write_gltf(corpus["folder"], "image", doc, "model.bin"), r"image 0 refers to")


def test_missing_image_inside_the_folder_is_accepted(corpus: dict[str, Path]) -> None:
    doc, _ = gltf_parts()
    doc["images"] = [{"uri": "textures/skin%20colour.png"}, {"uri": "data:image/png;base64,AAAA"}]
    rig = quiet(vips.load, write_gltf(corpus["folder"], "textured", doc, "model.bin"))
    assert rig.num_joints == 3  # images are never read: a missing texture does not cost the rig


def test_references_inside_the_folder_still_load(corpus: dict[str, Path]) -> None:
    folder = corpus["folder"]
    (folder / "sub dir").mkdir()
    (folder / "sub dir" / "b.bin").write_bytes((folder / "model.bin").read_bytes())
    link(folder / "inner_link.bin", folder / "model.bin")
    doc, _ = gltf_parts()
    for uri in ("sub%20dir/b.bin", "./sub dir/../model.bin", "inner_link.bin"):
        assert quiet(vips.load, write_gltf(folder, "inside", doc, uri)).num_joints == 3


def test_rignet_mesh_linked_from_outside_is_refused(corpus: dict[str, Path]) -> None:
    folder = corpus["folder"]
    (folder / "rig.obj").unlink()
    link(folder / "rig.obj", corpus["outside"] / "secret.obj")
    refused(corpus["rignet"], r"RigNet pair refers to 'rig\.obj', which lies outside")
    refused(corpus["rignet"], r"outside", loader=read_rignet)


# ----- FIFOs and devices -----------------------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("uri, reason", [
    ("/dev/zero", "absolute path"),
    ("/dev/urandom", "absolute path"),
    ("zero.bin", "outside the asset's folder"),
    ("pipe.bin", "a FIFO"),
    ("pipe_link.bin", "a FIFO"),
    ("sub", "a folder"),
])
def test_fifos_and_devices_as_references_never_block(corpus: dict[str, Path], uri: str, reason: str) -> None:
    folder = corpus["folder"]
    os.mkfifo(folder / "pipe.bin")
    link(folder / "pipe_link.bin", folder / "pipe.bin")
    link(folder / "zero.bin", "/dev/zero")
    (folder / "sub").mkdir()
    doc, _ = gltf_parts()
    refused(write_gltf(folder, "device", doc, uri), re.escape(reason), seconds=5)


@POSIX
@pytest.mark.parametrize("name", ["pipe.glb", "pipe.gltf", "pipe.bvh", "pipe_rig.txt", "pipe.obj", "pipe.usda",
                                  "zero.glb", "random.bvh", "null.usda", "/dev/zero", "/dev/urandom", "/dev/null"])
def test_fifos_and_devices_as_assets_never_block(corpus: dict[str, Path], name: str) -> None:
    folder = corpus["folder"]
    if name.startswith("/"):
        path = Path(name)
    else:
        path = folder / name
        targets = {"zero": "/dev/zero", "random": "/dev/urandom", "null": "/dev/null"}
        if name.startswith("pipe"):
            os.mkfifo(path)
        else:
            path.symlink_to(targets[path.stem])
    message = refused(path, r"FIFO|device", seconds=5)
    assert "not an asset file" in message
    for loader in (read_gltf, read_bvh, read_rignet, read_obj):  # the readers check too, not only vips.load
        refused(path, loader=loader, seconds=5)


@POSIX
def test_usd_reader_refuses_fifo_assets_and_layers(corpus: dict[str, Path]) -> None:
    from vips.io.usd import read_usd

    folder = corpus["folder"]
    os.mkfifo(folder / "pipe.usda")
    refused(folder / "pipe.usda", r"FIFO", loader=read_usd, seconds=5)
    for name, layer in (("fifo_layer", "./pipe.usda"), ("zero_layer", "/dev/zero")):
        path = folder / f"{name}.usda"
        path.write_text(f"#usda 1.0\n(\n    subLayers = [@{layer}@]\n)\n")
        refused(path, r"composes .*not a regular file", seconds=5)


@POSIX
def test_rignet_mesh_that_is_a_fifo_is_refused(corpus: dict[str, Path]) -> None:
    (corpus["folder"] / "rig.obj").unlink()
    os.mkfifo(corpus["folder"] / "rig.obj")
    refused(corpus["rignet"], r"rig\.obj', which is a FIFO", seconds=5)


@POSIX
def test_discovery_stays_inside_the_library_and_never_blocks(corpus: dict[str, Path]) -> None:
    library, folder, outside = corpus["folder"].parent, corpus["folder"], corpus["outside"]
    os.mkfifo(folder / "notes.txt")
    os.mkfifo(folder / "pipe.glb")
    (outside / "other.glb").write_bytes(corpus["glb"].read_bytes() + MARKER.encode())
    link(folder / "out.glb", outside / "other.glb")
    link(folder / "secret_rig.txt", outside / "secret.txt")
    link(folder / "zero.txt", "/dev/zero")
    link(library / "elsewhere", outside)
    link(folder / "inside.glb", folder / "model.glb")
    doc, _ = gltf_parts()
    doc["images"] = [{"uri": "/etc/passwd"}, {"uri": "../../outside/secret.txt"}, {"uri": "model.bin"}]
    write_gltf(folder, "escape", doc, "../../outside/secret.bin")
    with deadline(CASE_SECONDS):
        assets, ignored = discover(library)
        hashes = [a.content_hash() for a in assets]
    root = os.path.realpath(library)
    for asset in assets:
        for f in asset.files:
            assert os.path.commonpath([root, os.path.realpath(f)]) == root, (asset.rel, f)
    rels = {a.rel for a in assets}
    assert {"asset/model.gltf", "asset/model.glb", "asset/walk.bvh", "asset/rig_rig.txt", "asset/inside.glb",
            "asset/escape.gltf"} <= rels
    assert not rels & {"asset/out.glb", "asset/pipe.glb", "asset/notes.txt", "asset/secret_rig.txt", "asset/zero.txt"}
    assert {"asset/pipe.glb", "asset/notes.txt", "asset/out.glb", "asset/secret_rig.txt", "asset/zero.txt"} <= set(
        ignored)
    assert not any(r.startswith("elsewhere") for r in rels | set(ignored))
    escape = next(a for a in assets if a.rel == "asset/escape.gltf")
    assert [Path(f).name for f in escape.files] == ["escape.gltf", "model.bin"]  # only the image inside counts
    assert len(hashes) == len(assets) and all(len(h) == 64 for h in hashes)


# ----- sizes declared far beyond the bytes present ----------------------------------------------------------
@contextlib.contextmanager
def memory_bound(limit_mb: float) -> Iterator[None]:
    """Fails when the Python and numpy allocations inside exceed ``limit_mb`` at their peak."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        assert peak < limit_mb, f"peak allocation {peak:.0f} MB"
    finally:
        tracemalloc.stop()


def _accessor(doc: dict, i: int, **fields) -> None:  # noqa: ANN003
    doc["accessors"][i].update(fields)


def _unbacked(doc: dict, i: int, count: int) -> None:
    """Accessor ``i`` without a bufferView (zero-filled) of ``count`` elements."""
    doc["accessors"][i].pop("bufferView")
    doc["accessors"][i]["count"] = count


HUGE_GLTF = {
    "count 2^31": (lambda d: _accessor(d, 0, count=2**31), r"accessor 0 declares 2147483648 elements"),
    "count 2^27 without a view": (lambda d: _unbacked(d, 0, 2**27), r"accessor 0 has no bufferView"),
    "count 2^28 without a view": (lambda d: _unbacked(d, 4, 2**28), r"accessor 4 has no bufferView"),
    "count past its view": (lambda d: _accessor(d, 0, count=1000), r"accessor 0 needs bytes"),
    "view past its buffer": (lambda d: d["bufferViews"][0].update(byteLength=2**40), r"bufferView 0 spans"),
    "offset 2^62": (lambda d: _accessor(d, 0, byteOffset=2**62), r"accessor 0"),
    "sparse count 2^30": (lambda d: _accessor(d, 0, sparse={
        "count": 2**30, "indices": {"bufferView": 3, "componentType": 5123}, "values": {"bufferView": 0}}),
        r"sparse"),
    "buffer 2^40 bytes": (lambda d: d["buffers"][0].update(byteLength=2**40),
                          r"buffer 0 declares byteLength: 1,099,511,627,776 bytes, more than"),
    "buffer longer than its file": (lambda d: d["buffers"][0].update(byteLength=10**6),
                                    r"holds \d+ bytes, but buffer 0 declares 1000000"),
}


@pytest.mark.parametrize("case", sorted(HUGE_GLTF))
def test_huge_declared_gltf_sizes_fail_fast_and_small(corpus: dict[str, Path], case: str) -> None:
    edit, match = HUGE_GLTF[case]
    doc, blob = gltf_parts()
    edit(doc)
    path = write_gltf(corpus["folder"], "huge", doc, "model.bin")
    with memory_bound(256):
        refused(path, match, seconds=5)


def test_accessors_without_data_are_bounded_all_together(corpus: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import vips.io.gltf_format as gltf_format

    monkeypatch.setattr(gltf_format, "MAX_UNBACKED_COMPONENTS", 20)
    doc, _ = gltf_parts()
    _unbacked(doc, 0, 3)  # 9 components of zeros: accepted alone
    assert quiet(vips.load, write_gltf(corpus["folder"], "zeros", doc, "model.bin")).num_vertices == 3
    _unbacked(doc, 2, 3)  # 12 more: past the 20 the file may hold in all
    refused(write_gltf(corpus["folder"], "zeros", doc, "model.bin"), r"accessor 2 has no bufferView")


def test_clip_keys_far_apart_are_bounded(corpus: dict[str, Path]) -> None:
    doc, blob = gltf_parts()
    times = np.array([0, 1 / 240, 2 / 240, 1e7], "<f4").tobytes()
    doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(times)})
    doc["accessors"].append({"bufferView": 6, "componentType": 5126, "count": 4, "type": "SCALAR"})
    rotations = np.tile([0, 0, 0, 1], 4).astype("<f4").tobytes()
    doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob) + len(times), "byteLength": len(rotations)})
    doc["accessors"].append({"bufferView": 7, "componentType": 5126, "count": 4, "type": "VEC4"})
    doc["animations"][0]["samplers"][0] = {"input": 6, "output": 7}
    blob += times + rotations
    doc["buffers"][0]["byteLength"] = len(blob)
    (corpus["folder"] / "far.bin").write_bytes(blob)
    with memory_bound(256):
        refused(write_gltf(corpus["folder"], "far", doc, "far.bin"), r"would have \d+ frames", seconds=5)


@pytest.mark.parametrize("payload, match", [
    ("AAAA", r"holds 3 bytes but declares byteLength"),
    ("not base64!", r"holds .*|corrupt base64"),
    ("@@@@" * 60, r"corrupt base64"),
])
def test_data_uris_are_checked_against_byte_length(corpus: dict[str, Path], payload: str, match: str) -> None:
    doc, _ = gltf_parts()
    refused(write_gltf(corpus["folder"], "data", doc, "data:application/octet-stream;base64," + payload), match)


def test_data_uri_byte_length_over_the_cap_is_refused_before_decoding(corpus: dict[str, Path]) -> None:
    doc, _ = gltf_parts()
    doc["buffers"][0]["byteLength"] = guard.MAX_BINARY_BYTES + 1
    with memory_bound(64):
        refused(write_gltf(corpus["folder"], "data", doc, "data:application/octet-stream;base64,AAAA"),
                r"more than the [\d,]+ this reader accepts")


@pytest.mark.parametrize("fmt", ["gltf", "bvh", "usda"])
def test_clips_over_the_joint_frame_cap_are_refused(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                    fmt: str) -> None:
    monkeypatch.setattr(guard, "MAX_JOINT_FRAMES", 4)  # the clips have 6 (glTF), 9 (BVH) and 20 (USD)
    refused(corpus[fmt], r"joint-frames")


@pytest.mark.parametrize("rate", [0.0, -24.0, 1e300, 1e-300, float("nan")])
def test_usd_time_codes_per_second_must_be_a_real_frame_rate(corpus: dict[str, Path], rate: float) -> None:
    from pxr import Usd

    stage = Usd.Stage.Open(str(corpus["usda"]))
    stage.SetTimeCodesPerSecond(rate)
    stage.GetRootLayer().Save()
    del stage
    refused(corpus["usda"], r"timeCodesPerSecond .* is not the frame rate of real motion")


def test_gltf_channels_aiming_at_one_target_are_read_once(corpus: dict[str, Path]) -> None:
    doc, _ = gltf_parts()
    channel = doc["animations"][0]["channels"][0]
    doc["animations"][0]["channels"] = [channel] * 50_000  # glTF allows one channel per target
    path = write_gltf(corpus["folder"], "repeated", doc, "model.bin")
    with deadline(CASE_SECONDS), pytest.warns(vips.RigWarning, match=r"49999 channels aiming at a target"):
        rig = vips.load(path)
    assert len(rig.clips["wave"]) == 2


# ----- BVH ---------------------------------------------------------------------------------------------------
BVH_NO_CHANNELS = "HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  End Site\n  {\n    OFFSET 0 1 0\n  }\n}\nMOTION\n"


@pytest.mark.parametrize("motion, match", [
    ("Frames: 1000000\nFrame Time: 0.0333333\n", r"promises 1000000 frames but only 0"),
    (f"Frames: {10**30}\nFrame Time: 0.0333333\n", r"promises 10{30} frames"),
    ("Frames: 3\nFrame Time: 0.0333333\n\n\n", r"promises 3 frames but only 2"),
    ("Frames: \u00b2\nFrame Time: 0.0333333\n", r"not a non-negative integer"),
])
def test_bvh_without_channels_cannot_declare_frames_it_lacks(tmp_path: Path, motion: str, match: str) -> None:
    path = tmp_path / "tiny.bvh"
    path.write_text(BVH_NO_CHANNELS + motion)
    assert path.stat().st_size < 160  # the 140-byte file that once wrote 150 MB
    with memory_bound(64):
        refused(path, match, seconds=5)


def test_bvh_without_channels_keeps_its_declared_empty_frames(tmp_path: Path) -> None:
    path = tmp_path / "still.bvh"
    path.write_text(BVH_NO_CHANNELS + "Frames: 2\nFrame Time: 0.5\n\n\n")
    assert len(quiet(vips.load, path).clips["still"]) == 2


@pytest.mark.parametrize("line, match", [
    ("Frames: 1000000000", r"promises 1000000000 frames but only 3"),
    ("Frame Time: 1e-300", r"Frame Time 1e-300 is not the frame rate of real motion"),
    ("Frame Time: 1e300", r"Frame Time 1e300 is not the frame rate"),
    ("Frame Time: 1e-5", r"between 0\.0001 and 3600 seconds"),
    ("Frame Time: nan", r"Frame Time is 'nan'; it must be a finite number"),
    ("Frame Time: inf", r"finite number"),
    ("Frame Time: -0.04", r"must be positive"),
    ("Frame Time: 0", r"must be positive"),
])
def test_bvh_motion_headers_are_checked(corpus: dict[str, Path], line: str, match: str) -> None:
    key = line.split(":")[0]
    text = "\n".join(line if row.startswith(key + ":") else row for row in BVH.splitlines())
    corpus["bvh"].write_text(text + "\n")
    with memory_bound(64):
        refused(corpus["bvh"], match, seconds=5)


def test_bvh_channel_count_must_be_ascii_digits(corpus: dict[str, Path]) -> None:
    corpus["bvh"].write_text(BVH.replace("CHANNELS 3", "CHANNELS \u00b3"))
    refused(corpus["bvh"], r"must start with a count")


# ----- deep hierarchies and long chains ---------------------------------------------------------------------
def chain_bvh(depth: int) -> str:
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 3 Zrotation Xrotation Yrotation"]
    for i in range(1, depth):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 0.01 0", "CHANNELS 3 Zrotation Xrotation Yrotation"]
    lines += ["End Site", "{", "OFFSET 0 0.01 0", "}"] + ["}"] * depth
    lines += ["MOTION", "Frames: 2", "Frame Time: 0.0333333"] + [" ".join(["1"] * (3 * depth))] * 2
    return "\n".join(lines) + "\n"


def chain_gltf(depth: int) -> dict:
    nodes = [{"name": f"j{i}", "translation": [0, 0.01 if i else 0, 0], **({"children": [i + 1]} if i + 1 < depth
                                                                           else {})} for i in range(depth)]
    return {"asset": {"version": "2.0"}, "nodes": nodes, "skins": [{"joints": list(range(depth))}],
            "scenes": [{"nodes": [0]}]}


def chain_rignet(depth: int) -> str:
    # Children listed before their parents, so the reader must reorder the whole chain.
    joints = [f"joints j{i} 0 {0.01 * i:g} 0" for i in reversed(range(depth))]
    return "\n".join(joints + ["root j0"] + [f"hier j{i - 1} j{i}" for i in reversed(range(1, depth))]) + "\n"


def write_chain(folder: Path, fmt: str, depth: int) -> Path:
    if fmt == "bvh":
        path = folder / f"chain{depth}.bvh"
        path.write_text(chain_bvh(depth))
    elif fmt == "gltf":
        path = folder / f"chain{depth}.gltf"
        path.write_text(json.dumps(chain_gltf(depth)))
    else:
        path = folder / f"chain{depth}_rig.txt"
        path.write_text(chain_rignet(depth))
    return path


@pytest.mark.parametrize("fmt", ["bvh", "gltf", "rignet"])
def test_hierarchies_5000_deep_load_without_recursion(tmp_path: Path, fmt: str) -> None:
    rig = loads_or_refused(write_chain(tmp_path, fmt, 5000), seconds=20)
    assert rig is not None and rig.num_joints >= 5000
    assert rig.parents[-1] == rig.num_joints - 2


def test_deeply_nested_gltf_json_is_an_asset_error(tmp_path: Path) -> None:
    path = tmp_path / "nested.gltf"
    path.write_text('{"asset": {"version": "2.0"}, "nodes": ' + "[" * 200_000 + "]" * 200_000 + "}")
    refused(path, r"JSON is corrupt")


def test_usd_skeleton_400_deep_loads(tmp_path: Path) -> None:
    depth = 400
    parents = np.arange(-1, depth - 1, dtype=np.int32)
    translations = np.tile([0.0, 0.01, 0.0], (depth, 1))
    rotations = np.tile([1.0, 0, 0, 0], (depth, 1))
    path = tmp_path / "deep.usdc"
    vips.save(vips.Rig([f"j{i}" for i in range(depth)], parents, translations, rotations), path)
    rig = loads_or_refused(path)
    assert rig is not None and rig.num_joints == depth


def _linear_topological_order(original: Callable) -> Callable:
    """rig_validation's topological check, answered in O(J) for parents-first single-root rigs (a parents-first
    order cannot hold a cycle) and left to the original otherwise."""

    def check(rig):  # noqa: ANN001, ANN202
        parents = rig.parents
        if np.all(parents < np.arange(len(parents))) and int((parents < 0).sum()) == 1 and parents[0] == -1:
            return None
        return original(rig)

    return check


@pytest.mark.parametrize("fmt", ["bvh", "gltf", "rignet"])
def test_readers_load_a_20000_joint_chain_in_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     fmt: str) -> None:
    """The readers' own work is near-linear in the joint count. Rig validation's cycle walk
    (``rig_validation._topological_order``) is O(J x depth), about 40 s for this chain on its own, and lies
    outside the io layer: it is answered linearly here (see the next test for the whole of ``vips.load``)."""
    monkeypatch.setattr(rig_validation, "_topological_order",
                        _linear_topological_order(rig_validation._topological_order))
    path = write_chain(tmp_path, fmt, 20_000)
    start = time.perf_counter()
    rig = loads_or_refused(path, seconds=25)
    assert rig is not None and rig.num_joints >= 20_000, fmt
    assert time.perf_counter() - start < 25


@pytest.mark.parametrize("fmt", ["bvh", "gltf", "rignet"])
def test_vips_load_of_a_20000_joint_chain_takes_seconds(tmp_path: Path, fmt: str) -> None:
    path = write_chain(tmp_path, fmt, 20_000)
    rig = loads_or_refused(path, seconds=25)
    assert rig is not None and rig.num_joints >= 20_000


def test_rignet_skin_lines_naming_thousands_of_joints_are_bounded(tmp_path: Path) -> None:
    """A (V, K) skin sized by the longest skin line would take 1.6 GB here; at most 9 influences are kept."""
    joints, vertices = 2000, 100_000
    lines = [f"joints j{i} 0 {i * 0.01:g} 0" for i in range(joints)] + ["root j0"]
    lines += [f"hier j0 j{i}" for i in range(1, joints)]
    everyone = " ".join(f"j{i} 1" for i in range(joints))
    lines += [f"skin {v} {everyone}" for v in range(5)] + [f"skin {v} j0 1" for v in range(5, vertices)]
    (tmp_path / "wide_rig.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "wide.obj").write_text("v 0 0 0\n" * vertices)
    with memory_bound(256):
        rig = loads_or_refused(tmp_path / "wide_rig.txt", seconds=30)
    assert rig is not None and rig.skin_indices.shape == (vertices, 8)
    assert any("5 vertices had more than 8 influences" in w for w in rig.warnings)


# ----- malformed and truncated files of every format ------------------------------------------------------
GARBAGE = ["", "{", "}", "nan", "1e309", "-1", "99999999999999999999999", "\u00e9\u00e8", "JOINT x", "End Site",
           "Frames: 1000000", "joints", "hier a a", "skin 0 nowhere 1", "f 1 2 99999", "v nan 0 0", "def Xform \"\" {"]


def _edits(text: str, rng: np.random.Generator) -> Iterator[str]:
    lines = text.splitlines()
    for _ in range(6):  # cut at a random character: a truncated file
        yield text[: int(rng.integers(0, len(text)))]
    for _ in range(6):  # one line replaced, one line removed
        k = int(rng.integers(0, len(lines)))
        yield "\n".join(lines[:k] + [str(rng.choice(GARBAGE))] + lines[k + 1:]) + "\n"
        yield "\n".join(lines[:k] + lines[k + 1:]) + "\n"


@pytest.mark.parametrize("fmt, seed", [("gltf", 1), ("bvh", 2), ("rignet", 3), ("obj", 4), ("usda", 5)])
def test_edited_and_truncated_text_files_end_cleanly(corpus: dict[str, Path], fmt: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = corpus["folder"] / "rig.obj" if fmt == "obj" else corpus[fmt]
    text = target.read_text()
    if fmt == "gltf":  # one line per JSON value, so line edits break values rather than the whole document
        text = json.dumps(json.loads(text), indent=1)
    for variant in _edits(text, rng):
        target.write_text(variant)
        if fmt == "obj":
            loads_or_refused(corpus["rignet"], names=(target.name,))
        else:
            loads_or_refused(target)


@pytest.mark.parametrize("fmt, seed", [("glb", 6), ("usdc", 7)])
def test_edited_and_truncated_binary_files_end_cleanly(corpus: dict[str, Path], fmt: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = corpus[fmt]
    data = path.read_bytes()
    variants = [data[: int(rng.integers(0, len(data)))] for _ in range(10)]
    if fmt == "glb":  # usd-core is not asked to survive flipped bytes in crate files; truncations it handles
        for _ in range(20):
            flipped = bytearray(data)
            for k in rng.integers(0, len(data), size=int(rng.integers(1, 6))):
                flipped[k] = int(rng.integers(0, 256))
            variants.append(bytes(flipped))
    for variant in variants:
        path.write_bytes(variant)
        loads_or_refused(path)


def test_empty_and_tiny_files_of_every_suffix(tmp_path: Path) -> None:
    for n, suffix in enumerate((".glb", ".gltf", ".bvh", "_rig.txt", ".obj", ".usda", ".usdc", ".usd")):
        (tmp_path / str(n)).mkdir()  # each suffix alone: an OBJ pairs with the rig file of its stem
        for k, data in enumerate((b"", b"\0", b"glTF", b"HIERARCHY", b"#usda 1.0\n", b"PXR-USDC", b"\xff\xfe")):
            path = tmp_path / str(n) / f"tiny{k}{suffix}"
            path.write_bytes(data)
            assert loads_or_refused(path) is None, (suffix, data)
