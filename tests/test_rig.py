"""Rig validation: what is rejected (with the joint or vertex named) and what is repaired."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_rig_arrays

import vips
from vips.errors import RigError
from vips.rotations import quat_to_matrix


def make(rng_seed: int = 0, n_joints: int = 6, n_vertices: int = 20, **overrides) -> vips.Rig:
    arrays = random_rig_arrays(np.random.default_rng(rng_seed), n_joints, n_vertices)
    arrays.update(overrides)
    names = arrays.pop("joint_names", [f"j{i}" for i in range(n_joints)])
    return vips.Rig(joint_names=names, name="test", **arrays)


def test_valid_rig_properties() -> None:
    rig = make()
    assert rig.num_joints == 6 and rig.num_vertices == 20
    assert rig.parents[0] == -1 and np.all(rig.parents[1:] < np.arange(1, 6))
    np.testing.assert_allclose(rig.skin_weights.sum(axis=1), 1, atol=1e-6)
    # Weights sorted strongest first.
    assert np.all(np.diff(rig.skin_weights, axis=1) <= 0)
    # Default bind = rest world: skinning the rest pose reproduces the mesh.
    verts = vips.kinematics.skin(rig, vips.Poses.identity(1, rig.num_joints))[0]
    np.testing.assert_allclose(verts, rig.vertices, atol=1e-5)
    assert "6 joints" in repr(rig)


def test_unordered_joints_are_reordered_consistently() -> None:
    rng = np.random.default_rng(3)
    base = make(3)
    perm = np.array([3, 0, 5, 1, 4, 2])  # new position i holds old joint perm[i]
    inv = np.argsort(perm)
    parents = np.where(base.parents[perm] < 0, -1, inv[np.maximum(base.parents[perm], 0)])
    clip = vips.Poses(
        vips.rotations.quat_normalize(rng.normal(size=(3, 6, 4))).astype(np.float32), rng.normal(size=(3, 3))
    )
    shuffled_clip = vips.Poses(clip.rotations[:, perm], clip.root_translation)
    with pytest.warns(vips.RigWarning, match="topological"):
        rig = vips.Rig(
            [base.joint_names[i] for i in perm], parents, base.rest_translations[perm], base.rest_rotations[perm],
            vertices=base.vertices, skin_indices=inv[base.skin_indices], skin_weights=base.skin_weights,
            clips={"c": shuffled_clip},
        )
    assert np.all(rig.parents[1:] < np.arange(1, 6))
    parent_name = lambda r, j: r.joint_names[r.parents[j]] if r.parents[j] >= 0 else None  # noqa: E731
    assert {n: parent_name(rig, j) for j, n in enumerate(rig.joint_names)} == {
        n: parent_name(base, j) for j, n in enumerate(base.joint_names)
    }
    np.testing.assert_allclose(
        vips.kinematics.skin(rig, rig.clips["c"]), vips.kinematics.skin(base, clip), atol=1e-5
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"parents": [-1, 2, 1, 0, 0, 0]}, "cycle"),
        ({"parents": [-1, -1, 0, 0, 0, 0]}, "2 root joints"),
        ({"parents": [-1, 0, 9, 0, 0, 0]}, "outside"),
        ({"joint_names": ["a", "b", "c", "a", "e", "f"]}, "'a' is used twice"),
        ({"rest_translations": np.where(np.arange(18).reshape(6, 3) == 7, np.nan, 0.0)}, "'j2' has a NaN"),
        ({"rest_rotations": np.zeros((6, 4))}, "zero rest rotation"),
        ({"vertices": np.zeros((0, 3))}, "empty"),
    ],
)
def test_invalid_rigs_raise_actionable_errors(overrides: dict, message: str) -> None:
    if "vertices" in overrides:
        overrides |= {"skin_indices": np.zeros((0, 4), np.int32), "skin_weights": np.zeros((0, 4))}
    with pytest.raises(RigError, match=message):
        make(**overrides)


def test_skin_errors_name_the_vertex() -> None:
    rig = make()
    idx = rig.skin_indices.copy()
    idx[7, 0] = 42
    with pytest.raises(RigError, match="vertex 7 is skinned to joint index 42"):
        make(skin_indices=idx, skin_weights=rig.skin_weights)
    w = rig.skin_weights.copy()
    w[[4, 9]] = 0
    with pytest.raises(RigError, match="2 vertices have no skin weight.*vertex 4"):
        make(skin_indices=rig.skin_indices, skin_weights=w)
    w = rig.skin_weights.copy()
    w[5, 1] = np.nan
    with pytest.raises(RigError, match="vertex 5 has a NaN"):
        make(skin_indices=rig.skin_indices, skin_weights=w)


def test_weights_not_summing_to_one_are_renormalized_with_a_warning() -> None:
    rig = make()
    with pytest.warns(vips.RigWarning, match="3 vertices had skin weights not summing to one"):
        fixed = make(skin_indices=rig.skin_indices, skin_weights=rig.skin_weights * np.r_[2, 2, 2, np.ones(17)][:, None])
    np.testing.assert_allclose(fixed.skin_weights, rig.skin_weights, atol=1e-6)
    assert any("renormalized" in w for w in fixed.warnings)


def test_more_than_eight_influences_keep_the_strongest() -> None:
    rng = np.random.default_rng(1)
    idx = np.tile(np.arange(10, dtype=np.int32), (20, 1)) % 6
    w = rng.random((20, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        rig = make(skin_indices=idx, skin_weights=w)
    assert rig.skin_indices.shape == (20, 8)
    kept = np.sort(w, axis=1)[:, ::-1][:, :8]
    np.testing.assert_allclose(rig.skin_weights, kept / kept.sum(axis=1, keepdims=True), atol=1e-6)


def test_skeleton_only_rig_and_height() -> None:
    rig = vips.Rig(["root", "a"], [-1, 0], [[0, 0, 0], [0, 2, 0]], [[1, 0, 0, 0], [1, 0, 0, 0]])
    assert not rig.has_mesh and rig.height() == pytest.approx(2.0)
    with pytest.raises(RigError, match="no mesh"):
        vips.kinematics.skin(rig, vips.Poses.identity(1, 2))
    assert rig.joint_paths() == ["root", "root/a"]


def test_joint_index_suggests_close_names() -> None:
    rig = vips.Rig(["root", "l_elbow", "r_elbow"], [-1, 0, 0], np.zeros((3, 3)), [[1, 0, 0, 0]] * 3)
    with pytest.raises(RigError, match="did you mean l_elbow"):
        rig.joint_index("l_elbw")


def test_rest_rotations_are_normalized() -> None:
    rig = make(rest_rotations=np.tile([2.0, 0, 0, 0], (6, 1)))
    np.testing.assert_allclose(quat_to_matrix(rig.rest_rotations), np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-7)
