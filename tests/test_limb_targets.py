"""Limb-end IK targets (vips.limb_targets): which joints ride on which limb, and that re-hanging them changes no
world transform, no skinned vertex and nothing a written file holds.

References are independent of the module: float64 forward kinematics of the file's own channels as the reader
gives them (vips.io's reader without the loader's step), and the written file read back the same way.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from vips.io import _reader, load, save, sniff_format
from vips.kinematics import world_from_local
from vips.limb_targets import find_limb_targets, in_file_hierarchy, limb_targets, with_targets_on_limbs
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import compose_affine

IK_RIGS = Path(__file__).resolve().parent / "data" / "ik_rigs"
FEET = {"KnightCharacter.glb": {"Foot.L": "LowerLeg.L", "Foot.R": "LowerLeg.R"},
        "Stegosaurus.glb": {"BackFoot.R": "BackLowLeg.R", "BackFoot.L": "BackLowLeg.L",
                            "FrontFoot.R": "FrontLowLeg.R", "FrontFoot.L": "FrontLowLeg.L"}}


def _raw(path: Path) -> Rig:
    """The rig exactly as the file's reader builds it (file hierarchy, no targets moved)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _reader(sniff_format(path))(path)


def _quiet_load(path: Path) -> Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


def _world(channels, parents) -> np.ndarray:
    local = compose_affine(channels.rotations.astype(np.float64), channels.translations.astype(np.float64),
                           channels.scales.astype(np.float64))
    return world_from_local(local, np.asarray(parents))


def _parent_names(rig: Rig, parents=None) -> dict[str, str | None]:
    parents = rig.parents if parents is None else parents
    return {n: (rig.joint_names[p] if p >= 0 else None) for n, p in zip(rig.joint_names, parents)}


# ----- the rule ---------------------------------------------------------------------------------------------------
# ground(0) -> pelvis(1) -> thigh(2) -> shin(3) [leaf]; ground -> foot(4) -> toe(5); ground -> pole(6);
# pelvis -> arm(7) -> hand(8) [leaf]; ground -> tail(9) -> tail2(10) -> tail3(11) (a 3-joint branch: a limb)
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 0, 1, 7, 0, 9, 10])


def _skin(pairs: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """One vertex per tuple, its weight split evenly over the tuple's joints."""
    idx = np.zeros((len(pairs), 2), np.int32)
    w = np.zeros((len(pairs), 2), np.float32)
    for v, joints in enumerate(pairs):
        idx[v, :len(joints)] = joints
        w[v, :len(joints)] = 1.0 / len(joints)
    return idx, w


def test_rule_on_a_hand_labelled_skeleton():
    body = 1
    # The foot blends with the shin (a leaf): a target. The pole carries no skin; the tail is a limb of its own.
    idx, w = _skin([(1,), (2,), (2, 3), (3, 4), (4,), (5,), (7, 8), (8,), (9,), (10, 11), (1, 9)])
    assert find_limb_targets(PARENTS, body, idx, w) == {4: 3}
    # Blending most with the thigh (not a limb end) instead: no target.
    idx, w = _skin([(1,), (2, 4), (2, 4), (3, 4), (3,), (8,)])
    assert find_limb_targets(PARENTS, body, idx, w) == {}
    # Only its toe carries skin: the foot still rides (its subtree deforms the mesh).
    idx, w = _skin([(1,), (2,), (3, 5), (5,), (8,)])
    assert find_limb_targets(PARENTS, body, idx, w) == {4: 3}
    # No skin, or no ground bone above the body: nothing rides.
    assert find_limb_targets(PARENTS, body, None, None) == {}
    idx, w = _skin([(1,), (2,), (3, 4), (4,)])
    assert find_limb_targets(PARENTS, 0, idx, w) == {}


def test_a_limb_end_anchors_one_target():
    parents = np.array([-1, 0, 1, 2, 0, 0])  # two feet beside the body blend with the same shin
    idx, w = _skin([(1,), (2,), (3, 4), (3, 4), (3, 5), (4,), (5,)])
    assert find_limb_targets(parents, 1, idx, w) == {4: 3}  # the larger shared weight wins


@pytest.mark.parametrize("name", sorted(FEET))
def test_real_ik_feet_ride_on_their_legs(name):
    rig = _quiet_load(IK_RIGS / name)
    raw = _raw(IK_RIGS / name)
    moved = {n: p for n, p in _parent_names(rig).items() if _parent_names(raw)[n] != p}
    assert moved == FEET[name]
    assert {raw.joint_names[t]: raw.joint_names[a] for t, a in limb_targets(raw).items()} == FEET[name]
    assert _parent_names(rig, rig.file_parents) == _parent_names(raw)
    assert limb_targets(rig) == {}  # loading twice changes nothing more
    assert np.all(rig.parents < np.arange(rig.num_joints))


@pytest.mark.parametrize("name", sorted(FEET))
def test_every_world_transform_and_vertex_is_kept(name):
    raw = _raw(IK_RIGS / name)
    rig = _quiet_load(IK_RIGS / name)
    order = [raw.joint_names.index(n) for n in rig.joint_names]
    np.testing.assert_allclose(rig.rest_world_matrices(), raw.rest_world_matrices()[order], atol=1e-5)
    np.testing.assert_array_equal(rig.bind_matrices, raw.bind_matrices[order])
    height = raw.height()
    misses, misses_before = [], []
    for clip, channels in raw.clip_channels.items():
        expected = _world(channels, raw.parents)[:, order]
        got = _world(rig.clip_channels[clip], rig.parents)
        np.testing.assert_allclose(got, expected, atol=1e-5 * height + 1e-6)
        # The pose model's view: each foot turns and sits on its leg as the clip has it (up to the IK's stretch),
        # where the raw poses leave it at its rest spot on the ground bone.
        from vips import native
        from vips.kinematics import skinning_matrices, world_matrices
        view = world_matrices(rig, rig.clips[clip]).astype(np.float64)
        before = world_matrices(raw, raw.clips[clip]).astype(np.float64)[:, order]
        for foot, leg in FEET[name].items():
            t, a = rig.joint_names.index(foot), rig.joint_names.index(leg)
            on_leg = np.linalg.solve(expected[:, a], expected[:, t])
            np.testing.assert_allclose(np.linalg.solve(view[:, a], view[:, t])[:, :3, :3], on_leg[:, :3, :3],
                                       atol=1e-4)
            miss = np.linalg.norm(np.linalg.solve(view[:, a], view[:, t])[:, :3, 3] - on_leg[:, :3, 3], axis=-1)
            miss_before = np.linalg.norm(np.linalg.solve(before[:, a], before[:, t])[:, :3, 3] - on_leg[:, :3, 3],
                                         axis=-1)
            misses.append(miss)
            misses_before.append(miss_before)
        # And the skin: every vertex where the file's own transforms put it (the native LBS of the moved channels
        # against a float64 numpy LBS of the file's).
        inv_bind = np.linalg.inv(raw.bind_matrices.astype(np.float64))
        frame = len(channels) // 2
        ref = np.zeros((raw.num_vertices, 3))
        v = np.c_[raw.vertices, np.ones(raw.num_vertices)]
        m = _world(channels, raw.parents)[frame] @ inv_bind
        for k in range(raw.skin_indices.shape[1]):
            ref += raw.skin_weights[:, k, None] * np.einsum("vab,vb->va", m[raw.skin_indices[:, k]], v)[:, :3]
        got_world = _world(rig.clip_channels[clip], rig.parents)[frame:frame + 1]
        vertices = native.lbs(rig.vertices, rig.skin_indices, rig.skin_weights, skinning_matrices(rig, got_world))
        np.testing.assert_allclose(vertices[0], ref, atol=1e-4 * height)
    # Where the clip puts a foot relative to its shin against where the pose model's view puts it: apart by the
    # IK's stretch (a dying or jumping dinosaur's legs stretch up to a fifth of its height), far less than when
    # the feet stayed on the ground bone.
    miss, before = np.median(np.concatenate(misses)), np.median(np.concatenate(misses_before))
    assert miss <= 0.04 * height and before > 4 * miss, (miss / height, before / height)


@pytest.mark.parametrize("suffix", [".glb", ".usda"])
def test_written_files_keep_the_file_hierarchy(tmp_path, suffix):
    name = "KnightCharacter.glb"
    raw = _raw(IK_RIGS / name)
    rig = _quiet_load(IK_RIGS / name)
    sample = Poses(rig.clips["HumanArmature|Walking"].rotations[::7].copy(),
                   rig.clips["HumanArmature|Walking"].root_translation[::7].copy(), name="sampled")
    for poses in (None, sample):
        out = tmp_path / f"knight{suffix}"
        save(rig, out, poses)
        back = _raw(out)
        assert _parent_names(back) == _parent_names(raw)  # Foot.L under Bone again, as engines expect
        order = [back.joint_names.index(n) for n in rig.joint_names]
        clips = rig.clip_channels if poses is None else {"sampled": None}
        for clip in clips:
            written = next(ch for n, ch in back.clip_channels.items() if n.endswith(clip.split("|")[-1]))
            if poses is None:
                expected = _world(rig.clip_channels[clip], rig.parents)
            else:
                from vips.kinematics import world_matrices
                expected = world_matrices(rig, poses).astype(np.float64)
            np.testing.assert_allclose(_world(written, back.parents)[:, order], expected,
                                       atol=1e-4 * raw.height() + 1e-5)
        assert _parent_names(_quiet_load(out)) == _parent_names(rig)  # and it loads as the same pose rig


def test_rigs_without_targets_are_left_as_they_are():
    from vips.examples import resolve

    rig = _quiet_load(resolve("example:CesiumMan"))
    assert with_targets_on_limbs(rig) is rig and rig.file_parents is None
    written, clips = in_file_hierarchy(rig, [])
    assert written is rig and clips == []


def test_clips_without_channels_carry_over():
    """Poses hold no translation for the feet: they keep every joint's world turn, and a foot now sits at its
    leg's end (its rest offset from the shin) instead of its rest spot on the ground bone."""
    from vips.kinematics import world_matrices

    raw = _raw(IK_RIGS / "Stegosaurus.glb")
    name, clip = next(iter(raw.clips.items()))
    raw.clip_channels = {}
    rig = with_targets_on_limbs(raw)
    order = [raw.joint_names.index(n) for n in rig.joint_names]
    got, expected = world_matrices(rig, rig.clips[name]), world_matrices(raw, clip)[:, order]
    np.testing.assert_allclose(got[..., :3, :3], expected[..., :3, :3], atol=1e-5)
    feet = np.isin(rig.joint_names, list(FEET["Stegosaurus.glb"]))
    np.testing.assert_allclose(got[:, ~feet, :3, 3], expected[:, ~feet, :3, 3], atol=1e-4 * raw.height())
    rest = rig.rest_world_matrices().astype(np.float64)
    for j in np.flatnonzero(feet):
        a = rig.parents[j]
        offset = np.linalg.solve(rest[a], rest[j])[:3, 3]
        np.testing.assert_allclose(got[:, j, :3, 3], (got[:, a, :3, :3] @ offset) + got[:, a, :3, 3],
                                   atol=1e-4 * raw.height())
