"""Every glTF and BVH file of the real motion set (../shared/motion beside the checkout) loads with `vips.load`
or is refused with a VipsError naming the file; the odd files load with the repairs they need."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from vips.errors import VipsError
from vips.io import load
from vips.rig import Rig

from conftest import MOTION_DIR, requires_motion

# Fresh clones (CI) have no ../shared: skip there, saying why.
pytestmark = requires_motion


def quiet_load(path: Path) -> Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


def test_every_file_loads_or_is_refused_by_name() -> None:
    files = sorted(p for p in MOTION_DIR.rglob("*") if p.suffix.lower() in (".glb", ".gltf", ".bvh"))
    assert len(files) > 100
    for path in files:
        try:
            rig = quiet_load(path)
        except VipsError as exc:  # any other exception type fails the test
            assert str(path) in str(exc), f"{path}: the error does not name the file: {exc}"
            continue
        assert rig.num_joints > 1 and (rig.clips or rig.has_mesh), path


def test_spawn_clips_are_dropped_and_the_rest_kept() -> None:
    rig = quiet_load(MOTION_DIR / "kaykit/Character_Animations_1.1/Rig_Medium/Rig_Medium_General.glb")
    assert "Spawn_Air" not in rig.clips and "Spawn_Ground" not in rig.clips
    assert {"Death_A", "Idle_A", "PickUp", "Throw", "Use_Item"} <= set(rig.clips) and len(rig.clips) == 13
    for name in ("Spawn_Air", "Spawn_Ground"):
        assert f"clip '{name}' dropped: it scales joint 'root' to zero at frame 0 (t = 0 s)" in " ".join(rig.warnings)


@pytest.mark.parametrize(
    "name, counts",
    [
        ("easy_enemies_pack/Wasp.glb", {"mesh 0 primitive 0": 3, "mesh 0 primitive 2": 3}),
        ("platformer_game_pack/Bee.glb", {"mesh 0 primitive 0": 6, "mesh 0 primitive 1": 6}),
        ("platformer_game_pack/Crab.glb", {"mesh 0 primitive 0": 6}),
    ],
)
def test_nan_skin_weights_of_fbx2gltf_exports_are_repaired(name: str, counts: dict) -> None:
    rig = quiet_load(MOTION_DIR / "quaternius" / name)
    repaired = [w for w in rig.warnings if "NaN skin weights" in w]
    assert repaired == [
        f"{what}: {n} vertices had NaN skin weights (no weight at all); they took the weights of the nearest "
        "vertex with weights"
        for what, n in counts.items()
    ]


def test_quaternius_centimetre_rigs_report_no_scaled_clips() -> None:
    """Armature scale 100 with float noise (1 +- 2e-5) in the bones' scales: no clip of them scales a joint."""
    for name in ("animals_pack/Donkey.glb", "animals_pack/Horse.glb", "single_knight_pack/KnightCharacter.glb"):
        rig = quiet_load(MOTION_DIR / "quaternius" / name)
        assert not [w for w in rig.warnings if "scales joint" in w], name


def test_meshes_with_a_skin_each_are_read_together() -> None:
    rig = quiet_load(MOTION_DIR / "quaternius/platformer_game_pack/Character.glb")  # body, ears, head, arms
    assert rig.num_vertices == 1895 and not [w for w in rig.warnings if "skeleton" in w]
