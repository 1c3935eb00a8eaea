"""vips.io.guard: the one place where readers open assets, follow references and bound sizes (issue 14).

The hostile corpus in test_hostile_io.py drives these through every reader; here each check is pinned on its own.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from vips.errors import AssetError
from vips.io import guard


@pytest.fixture
def asset(tmp_path: Path) -> Path:
    folder = tmp_path / "lib" / "asset"
    (folder / "sub dir").mkdir(parents=True)
    (folder / "sub dir" / "a b.bin").write_bytes(b"0123456789")
    (tmp_path / "outside.bin").write_bytes(b"secret")
    path = folder / "model.gltf"
    path.write_text("{}")
    return path


def test_references_resolve_inside_the_folder_percent_decoded(asset: Path) -> None:
    target = asset.parent / "sub dir" / "a b.bin"
    assert guard.resolve_reference(asset, "sub%20dir/a%20b.bin", "buffer 0") == target
    assert guard.resolve_reference(asset, "./sub dir/../sub dir/a b.bin", "buffer 0") == target
    assert guard.resolve_reference(asset, "missing.png", "image 0", must_exist=False) is None
    with pytest.raises(AssetError, match=r"model\.gltf: buffer 0 refers to 'missing\.bin', which cannot be read"):
        guard.resolve_reference(asset, "missing.bin", "buffer 0")


@pytest.mark.parametrize("uri, reason", [
    ("../../outside.bin", "outside the asset's folder"),
    ("%2e%2e/%2E%2E/outside.bin", "outside the asset's folder"),
    ("/etc/passwd", "an absolute path"),
    ("%2Fetc%2Fpasswd", "an absolute path"),
    ("file:///etc/passwd", "a 'file:' URI"),
    ("https://example.invalid/a.bin", "a 'https:' URI"),
    ("a%00b.bin", "not a file name"),
    ("sub%20dir", "a folder"),
])
def test_references_that_leave_the_folder_or_are_not_files_are_refused(asset: Path, uri: str, reason: str) -> None:
    with pytest.raises(AssetError, match="model.gltf: buffer 0 refers to") as info:
        guard.resolve_reference(asset, uri, "buffer 0", must_exist=False)
    assert reason in str(info.value)
    assert "secret" not in str(info.value)


def test_read_reference_reads_only_the_declared_bytes(asset: Path) -> None:
    assert guard.read_reference(asset, "sub%20dir/a%20b.bin", "buffer 0", 4) == b"0123"
    with pytest.raises(AssetError, match=r"holds 10 bytes, but buffer 0 declares 11 \(truncated\?\)"):
        guard.read_reference(asset, "sub%20dir/a%20b.bin", "buffer 0", 11)
    with pytest.raises(AssetError, match=r"buffer 0 declares byteLength: 4,294,967,296 bytes, more than the"):
        guard.read_reference(asset, "sub%20dir/a%20b.bin", "buffer 0", 2**32)


def test_data_uris_are_sized_before_they_are_decoded(asset: Path) -> None:
    uri = "data:application/octet-stream;base64," + base64.b64encode(b"0123456789").decode()
    assert guard.decode_data_uri(asset, uri, "buffer 0", 10) == b"0123456789"
    assert guard.decode_data_uri(asset, uri, "buffer 0", 4) == b"0123"
    with pytest.raises(AssetError, match=r"buffer 0 holds 10 bytes but declares byteLength 11"):
        guard.decode_data_uri(asset, uri, "buffer 0", 11)
    with pytest.raises(AssetError, match=r"not base64"):
        guard.decode_data_uri(asset, "data:text/plain,0123", "buffer 0", 4)
    with pytest.raises(AssetError, match=r"more than the"):
        guard.decode_data_uri(asset, uri, "buffer 0", guard.MAX_BINARY_BYTES + 1)


def test_assets_must_be_regular_files(asset: Path, tmp_path: Path) -> None:
    assert guard.read_asset(asset, 100) == b"{}"
    assert guard.read_asset(asset, 100, head=1) == b"{"
    with pytest.raises(AssetError, match=r"more than the 0 MiB"):
        guard.read_asset(asset, 1)
    with pytest.raises(AssetError, match=r"no such file"):
        guard.read_asset(tmp_path / "nope.glb", 100)
    with pytest.raises(AssetError, match=r"is a folder"):
        guard.check_asset(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.bvh")
        with pytest.raises(AssetError, match=r"pipe\.bvh: is a FIFO \(named pipe\), not an asset file"):
            guard.read_asset(tmp_path / "pipe.bvh", 100)
    if os.path.exists("/dev/zero"):
        with pytest.raises(AssetError, match=r"/dev/zero: is a character device"):
            guard.read_asset(Path("/dev/zero"), 100)


def test_clip_sizes_and_frame_times_have_documented_bounds() -> None:
    guard.check_joint_frames("a.bvh", "'walk'", 1000, 100)
    with pytest.raises(AssetError, match=r"a\.bvh: clip 'walk' has 100000 frames of 100 joints, more than"):
        guard.check_joint_frames("a.bvh", "'walk'", 100_000, 100)
    with pytest.raises(AssetError, match=r"with the file's other clips"):
        guard.check_joint_frames("a.glb", "'run'", 1000, 100, before=guard.MAX_JOINT_FRAMES - 10)
    for seconds in (guard.MIN_FRAME_TIME, 1 / 30, guard.MAX_FRAME_TIME):
        guard.check_frame_time("a.bvh:5", seconds, "Frame Time")
    for seconds in (1e-300, 1e300, float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(AssetError, match=r"a\.bvh:5: Frame Time is not the frame rate of real motion"):
            guard.check_frame_time("a.bvh:5", seconds, "Frame Time")
