"""Pose-set files through vips.io: one build per write (metadata included), one parse per read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import cesium_man

import vips.io.gltf_read
import vips.io.gltf_write
import vips.io.usd_read
from vips.io.pose_set import PoseSetMeta, read_pose_set, write_pose_set
from vips.kinematics import joint_positions


@pytest.fixture(scope="module")
def cesium():
    rig, clip = cesium_man()
    return rig, clip[np.arange(5)]


def _meta(n: int) -> PoseSetMeta:
    scores = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    return PoseSetMeta("traversal", scores, scores > 0, np.arange(n, dtype=np.int64) + 3, "model-x", 0.25)


def _counting(monkeypatch: pytest.MonkeyPatch, *targets: tuple[object, str]) -> list[str]:
    """Wrap each ``(module, name)`` so every call appends ``name`` to the returned list."""
    calls: list[str] = []
    for module, name in targets:
        def wrapper(*args, _inner=getattr(module, name), _name=name, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(_name)
            return _inner(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return calls


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One entry per glTF file parsed or USD stage opened by the readers."""
    return _counting(monkeypatch, (vips.io.gltf_read, "parse_file"), (vips.io.usd_read, "open_stage"))


@pytest.mark.parametrize("suffix", [".usda", ".glb"])
def test_one_pass_write_reads_back_equal(cesium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str):
    rig, poses = cesium
    meta = _meta(len(poses))
    builds = _counting(monkeypatch, (vips.io.gltf_write, "glb_bytes"))
    parses = _parses(monkeypatch)
    path = write_pose_set(rig, tmp_path / f"set{suffix}", poses, meta.scores, meta.plausible, meta.seeds,
                          meta.kind, meta.model_id, meta.threshold)
    # the metadata goes in with the file, never by reading back what was written and patching it
    assert parses == [] and len(builds) == (1 if suffix == ".glb" else 0)
    rig2, poses2, meta2 = read_pose_set(path)
    assert meta2 == meta and meta2.schema_applied
    assert rig2.joint_names == rig.joint_names and not rig2.clips
    np.testing.assert_allclose(joint_positions(rig2, poses2), joint_positions(rig, poses), atol=1e-4)


@pytest.mark.parametrize("suffix", [".usda", ".glb"])
def test_pose_set_file_is_parsed_once_on_read(cesium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              suffix: str):
    rig, poses = cesium
    path = write_pose_set(rig, tmp_path / f"set{suffix}", poses, kind="samples")
    parses = _parses(monkeypatch)
    _, poses2, meta = read_pose_set(path)
    assert len(parses) == 1  # rig, poses and metadata all come from the one parse
    assert len(poses2) == len(poses) and meta.kind == "samples" and meta.scores is None
