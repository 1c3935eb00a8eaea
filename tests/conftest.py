"""Shared fixtures: the small real assets in tests/data/assets (licences in tests/data/README.md), the large real
motion set in ../shared/motion where a checkout has one beside it, and small random rigs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: The small real assets the tests read: glTF, UsdSkel, BVH and RigNet-format rigs, in the repository.
ASSETS_DIR = Path(__file__).resolve().parent / "data" / "assets"

#: The large real motion set (training data, not in the repository) beside the checkout. A fresh clone has none;
#: ``VIPS_TEST_NO_SHARED=1`` makes the tests behave as if there were none.
MOTION_DIR = Path(__file__).resolve().parents[2] / "shared" / "motion"
MOTION_AVAILABLE = MOTION_DIR.is_dir() and not os.environ.get("VIPS_TEST_NO_SHARED")
MOTION_MISSING = (f"needs the large real motion set at {MOTION_DIR} (training data beside the checkout, not in "
                  "the repository)" + (": hidden by VIPS_TEST_NO_SHARED" if MOTION_DIR.is_dir() else ""))
#: Mark for tests that read ../shared/motion: they skip, saying why, where it is absent.
requires_motion = pytest.mark.skipif(not MOTION_AVAILABLE, reason=MOTION_MISSING)


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """tests/data/assets: gltf/, usd/, bvh/, rignet/ (see tests/data/README.md)."""
    return ASSETS_DIR


def gpu_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):  # noqa: ANN001 - pytest hook signature
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def cesium_man():  # noqa: ANN201 - (Rig, Poses)
    """The shipped example character (a real glTF rig with a walk clip): ``(rig, clip)``, loader warnings hushed."""
    import warnings

    import vips
    from vips.examples import resolve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(resolve("example:CesiumMan"))
    return rig, next(iter(rig.clips.values()))


def random_rig_arrays(rng: np.random.Generator, num_joints: int, num_vertices: int = 0, influences: int = 4):
    """Random topologically ordered skeleton (+ optional mesh and skin) as plain arrays, float64."""
    from vips.rotations import quat_normalize

    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, num_joints)], np.int32)
    translations = rng.normal(size=(num_joints, 3)) * 0.3
    rotations = quat_normalize(rng.normal(size=(num_joints, 4)))
    out = {"parents": parents, "rest_translations": translations, "rest_rotations": rotations}
    if num_vertices:
        out["vertices"] = rng.normal(size=(num_vertices, 3))
        out["skin_indices"] = rng.integers(0, num_joints, size=(num_vertices, influences)).astype(np.int32)
        w = rng.random((num_vertices, influences)) + 0.05
        out["skin_weights"] = w / w.sum(axis=1, keepdims=True)
    return out


def edit_lines(text: str, edits: list[tuple[bool, int, str]]) -> list[str]:
    """Fuzzing helper: apply (replace?, position, line) edits to the lines of ``text``."""
    lines = text.splitlines()
    for replace, position, garbage in edits:
        position %= len(lines) + (0 if replace else 1)
        if replace:
            lines[position] = garbage
        else:
            lines.insert(position, garbage)
    return lines
