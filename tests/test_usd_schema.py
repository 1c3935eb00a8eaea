"""Our codeless USD schema is found by usd-core as soon as vips is imported, and by any USD tool (no vips import)
through the folder `python -m vips.usd_schema` prints for PXR_PLUGINPATH_NAME. Each check runs in a fresh
process: usd-core builds its schema registry once per process, so only a new process shows what a user gets."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import vips
from vips.io.pose_set import write_pose_set
from vips.usd_schema import API_NAME

# Opens the pose set with plain usd-core and prints its SkelAnimation's applied schemas (and whether vips is loaded).
OPEN_AND_LIST = """
import sys
{first}
from pxr import Usd, UsdSkel
stage = Usd.Stage.Open(sys.argv[1])
anim = next(p for p in stage.Traverse() if p.IsA(UsdSkel.Animation))
print(",".join(anim.GetAppliedSchemas()), "vips" in sys.modules, sep="|")
"""


def _env(plugin_path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PXR_PLUGINPATH_NAME"}
    if plugin_path is not None:
        env["PXR_PLUGINPATH_NAME"] = plugin_path
    return env


def _applied(pose_set: Path, tmp_path: Path, first: str, env: dict[str, str]) -> tuple[list[str], bool]:
    script = tmp_path / "open_pose_set.py"
    script.write_text(OPEN_AND_LIST.format(first=first))
    done = subprocess.run([sys.executable, str(script), str(pose_set)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    schemas, vips_loaded = done.stdout.strip().splitlines()[-1].split("|")
    return [s for s in schemas.split(",") if s], vips_loaded == "True"


@pytest.fixture(scope="module")
def pose_set(assets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        rig = vips.load(assets_dir / "gltf" / "RiggedSimple.glb")
    poses = next(iter(rig.clips.values()))[:3]
    return write_pose_set(rig, tmp_path_factory.mktemp("schema") / "poses.usda", poses, scores=[0.5, 1.0, 2.0])


def test_module_prints_the_plugin_folder(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vips.usd_schema"], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # nothing but the path: fit for $(...)
    folder = Path(done.stdout.strip())
    assert folder.is_absolute() and (folder / "plugInfo.json").is_file()
    assert (folder / "generatedSchema.usda").is_file()


def test_importing_vips_makes_usd_core_see_the_schema(pose_set: Path, tmp_path: Path) -> None:
    schemas, _ = _applied(pose_set, tmp_path, "import vips", _env())
    assert API_NAME in schemas
    # The control: the same file in a process that neither imports vips nor sets the plugin path.
    schemas, vips_loaded = _applied(pose_set, tmp_path, "", _env())
    assert API_NAME not in schemas and not vips_loaded


def test_plugin_path_lets_plain_usd_see_the_schema_without_vips(pose_set: Path, tmp_path: Path) -> None:
    printed = subprocess.run([sys.executable, "-m", "vips.usd_schema"], cwd=tmp_path, env=_env(),
                             capture_output=True, text=True, timeout=120).stdout.strip()
    schemas, vips_loaded = _applied(pose_set, tmp_path, "", _env(printed))
    assert API_NAME in schemas and not vips_loaded
