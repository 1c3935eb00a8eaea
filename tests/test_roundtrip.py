"""Every test asset through every writer and back: glTF / RigNet / UsdSkel / BVH -> Rig -> USD and glb -> Rig.

Checks the issue's bar: names, units, hierarchy, rest and bind transforms, weights and every clip's full channels
survive within 1e-5 of the rig's height, and for every animation frame our skinning equals a float64 reference
and usd-core's own skinning of the exported poses within 1e-4 of the height. (tests/test_convert_lossless.py
checks the full channels against each source format's own skinning.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pxr import Usd
from test_io_usd import usd_skinned_world, usd_times
from test_kinematics import reference_skin, reference_world

import vips
from vips.kinematics import skin, world_matrices

ASSETS = [
    "gltf/CesiumMan.glb", "gltf/RiggedSimple.glb", "gltf/SimpleSkin.gltf",
    "rignet/humanoid_auto_rig.txt", "rignet/fox_auto_rig.txt", "usd/skinnedArm.usda", "usd/lbs.usda", "bvh/walk.bvh",
]


def load_quiet(path: Path) -> vips.Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        return vips.load(path)


def assert_same_rig(a: vips.Rig, b: vips.Rig, what: str) -> None:
    tol = 1e-5 * a.height()
    assert b.joint_names == a.joint_names, what
    assert (b.up_axis, b.meters_per_unit, b.root_name or b.name) == (a.up_axis, a.meters_per_unit,
                                                                     a.root_name or a.name), what
    np.testing.assert_array_equal(b.parents, a.parents, err_msg=what)
    np.testing.assert_allclose(b.rest_world_matrices(), a.rest_world_matrices(), atol=tol, err_msg=what)
    np.testing.assert_allclose(b.bind_matrices, a.bind_matrices, atol=max(tol, 1e-6), err_msg=what)
    assert b.has_mesh == a.has_mesh, what
    if a.has_mesh:
        np.testing.assert_allclose(b.vertices, a.vertices, atol=tol, err_msg=what)
        np.testing.assert_array_equal(b.faces, a.faces, err_msg=what)
        dense = lambda r: np.add.at(z := np.zeros((r.num_vertices, r.num_joints)),  # noqa: E731
                                    (np.arange(r.num_vertices)[:, None], r.skin_indices), r.skin_weights) or z
        np.testing.assert_allclose(dense(b), dense(a), atol=1e-6, err_msg=what)
    assert list(b.clips) == list(a.clips), what
    for name, clip in a.clips.items():
        other = b.clips[name]
        assert len(other) == len(clip), what
        np.testing.assert_allclose(world_matrices(b, other), world_matrices(a, clip), atol=tol, err_msg=f"{what} {name}")
    assert list(b.clip_channels) == list(a.clip_channels), what
    for name, ch in a.clip_channels.items():
        other = b.clip_channels[name]
        assert (len(other), other.fps, other.poses is None) == (len(ch), ch.fps, ch.poses is None), what
        np.testing.assert_allclose(other.translations, ch.translations, atol=tol, err_msg=f"{what} {name}")
        np.testing.assert_allclose(other.scales, ch.scales, rtol=1e-3, atol=1e-6, err_msg=f"{what} {name}")  # half3
        dot = np.abs(np.sum(other.rotations * ch.rotations, axis=-1))
        np.testing.assert_allclose(dot, 1, atol=1e-6, err_msg=f"{what} {name}")


@pytest.mark.parametrize("asset", ASSETS)
def test_asset_round_trips_through_usd_and_glb(assets_dir: Path, tmp_path: Path, asset: str) -> None:
    rig = load_quiet(assets_dir / asset)
    for suffix in (".usda", ".usdc", ".glb"):
        out = tmp_path / f"out{suffix}"
        vips.save(rig, out)
        back = load_quiet(out)
        # glTF is Y-up metres: a Z-up or centimetre rig is written under a conversion node, which vips reads back.
        assert_same_rig(rig, back, f"{asset} -> {suffix}")


@pytest.mark.parametrize("asset", [a for a in ASSETS if not a.endswith(".bvh")])
def test_every_frame_skins_like_float64_reference_and_usd_core(assets_dir: Path, tmp_path: Path, asset: str) -> None:
    rig = load_quiet(assets_dir / asset)
    clips = list(rig.clips.values()) or [vips.Poses.identity(1, rig.num_joints)]
    tol = 1e-4 * rig.height()
    for clip in clips:
        ours = skin(rig, clip)
        ref_world = reference_world(rig.parents, rig.rest_translations, rig.rest_rotations, clip.rotations,
                                    clip.root_translation)
        ref = reference_skin(ref_world, rig.bind_matrices.astype(np.float64), rig.vertices.astype(np.float64),
                             rig.skin_indices, rig.skin_weights.astype(np.float64))
        assert np.abs(ours - ref).max() <= tol
        out = tmp_path / f"{clip.name}.usda"
        # A copy: the rig's own clip object would be written from its full channels, not from the poses.
        vips.save(rig, out, vips.Poses(clip.rotations, clip.root_translation, clip.fps, clip.name))
        stage = Usd.Stage.Open(str(out))
        times = usd_times(stage)
        assert len(times) == len(clip)
        for k, t in enumerate(times):
            err = np.abs(ours[k] - usd_skinned_world(stage, t)).max()
            assert err <= tol, f"{asset} frame {k}: {err:.3g} from usd-core's skinning"
