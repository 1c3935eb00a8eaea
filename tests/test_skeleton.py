"""vips.skeleton tree helpers and vips.rotations.swing_twist against brute-force references: breadth-first search
on an adjacency matrix and repeated parent walks, on random trees and forests and on real rigs."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from vips import skeleton
from vips.kinematics import joint_positions
from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_conjugate, quat_multiply, quat_normalize, swing_twist


def _random_tree(seed: int, J: int, roots: int = 1) -> np.ndarray:
    """Topologically ordered parents: joints 0..roots-1 are roots, every other joint hangs off an earlier one."""
    rng = np.random.default_rng(seed)
    return np.array([-1] * roots + [int(rng.integers(0, j)) for j in range(roots, J)], np.int64)


def _real_parents(name: str) -> np.ndarray:
    import warnings

    import vips
    from conftest import ASSETS_DIR, cesium_man

    if name == "CesiumMan":
        return cesium_man()[0].parents
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vips.load(ASSETS_DIR / "rignet" / f"{name}_rig.txt").parents


TREES = ([_random_tree(seed, J) for seed, J in enumerate([1, 2, 3, 9, 40, 120])]
         + [np.arange(-1, 30), np.array([-1] + [0] * 12)]  # a chain and a star
         + [_random_tree(7, 25, roots=3)])  # a forest


# ----- brute-force references ------------------------------------------------------------------------------------
def _adjacency(parents: np.ndarray) -> np.ndarray:
    """(J+1, J+1) bool undirected adjacency, node J the virtual common parent of the roots."""
    J = len(parents)
    adj = np.zeros((J + 1, J + 1), bool)
    for j, p in enumerate(parents):
        p = J if p < 0 else p
        adj[j, p] = adj[p, j] = True
    return adj


def _bfs(adj: np.ndarray, source: int) -> np.ndarray:
    dist = np.full(len(adj), -1, np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in np.flatnonzero(adj[u]):
            if dist[v] < 0:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def _walk_up(parents: np.ndarray, j: int) -> list[int]:
    """j's ancestors, nearest first, by repeated parent look-ups."""
    out = []
    while parents[j] >= 0:
        j = int(parents[j])
        out.append(j)
    return out


# ----- the helpers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parents", TREES, ids=lambda p: f"J{len(p)}")
def test_tree_helpers_match_brute_force(parents):
    _check_against_brute_force(parents)


@pytest.mark.parametrize("asset", ["CesiumMan", "fox_auto", "humanoid_auto"])
def test_tree_helpers_on_real_rigs(asset):
    _check_against_brute_force(_real_parents(asset))


def _check_against_brute_force(parents: np.ndarray) -> None:
    J = len(parents)
    adj = _adjacency(parents)
    from_top = _bfs(adj, J)  # every joint's depth plus one
    depth = np.array([len(_walk_up(parents, j)) for j in range(J)])
    np.testing.assert_array_equal(skeleton.depths(parents), depth)
    np.testing.assert_array_equal(skeleton.depths(parents), from_top[:J] - 1)

    kids = [[k for k in np.flatnonzero(adj[j, :J]) if from_top[k] > from_top[j]] for j in range(J)]
    assert skeleton.children_lists(parents) == kids
    np.testing.assert_array_equal(skeleton.child_counts(parents), [len(k) for k in kids])

    walks = [set(_walk_up(parents, j)) for j in range(J)]
    expected = np.array([[k == i or k in walks[i] for k in range(J)] for i in range(J)])
    np.testing.assert_array_equal(skeleton.ancestors(parents), expected)
    for j in range(J):
        np.testing.assert_array_equal(np.flatnonzero(skeleton.strict_ancestors(parents, j)), sorted(walks[j]))
    np.testing.assert_array_equal(skeleton.subtree_sizes(parents), expected.sum(axis=0))

    hops = np.stack([_bfs(adj, j)[:J] for j in range(J)])
    np.testing.assert_array_equal(skeleton.hop_distances(parents), hops)


def test_helpers_keep_int64_and_handle_no_joints():
    empty = np.zeros(0, np.int64)
    assert skeleton.children_lists(empty) == []
    for f in (skeleton.depths, skeleton.subtree_sizes, skeleton.child_counts):
        assert f(empty).shape == (0,) and f(empty).dtype == np.int64
    assert skeleton.hop_distances(empty).shape == (0, 0)
    assert skeleton.hop_distances(TREES[4]).dtype == np.int64


# ----- bone axes ------------------------------------------------------------------------------------------------
def _reference_axis(parents: np.ndarray, offsets: np.ndarray, j: int, eps: float) -> np.ndarray:
    kids = [k for k in range(len(parents)) if parents[k] == j]
    if not kids:
        return np.zeros(3)
    v = sum(offsets[k] for k in kids) / len(kids)
    if np.linalg.norm(v) <= eps:
        v = max((offsets[k] for k in kids), key=np.linalg.norm)
    return v / np.linalg.norm(v) if np.linalg.norm(v) > eps else np.zeros(3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bone_axes_point_to_the_mean_of_the_children(seed):
    parents = _random_tree(seed, 30)
    offsets = np.random.default_rng(seed).normal(size=(30, 3))
    offsets[5] = 0.0  # a zero-length bone
    axes = skeleton.bone_axes(parents, offsets, 1e-9)
    expected = np.stack([_reference_axis(parents, offsets, j, 1e-9) for j in range(30)])
    np.testing.assert_allclose(axes, expected, atol=1e-12)
    leaves = skeleton.child_counts(parents) == 0
    assert not axes[leaves].any() and np.allclose(np.linalg.norm(axes[~leaves], axis=1), 1)

    # Leaves take their incoming direction when given, and the fallback where that is too short as well.
    up = np.array([0.0, 1.0, 0.0])
    filled = skeleton.bone_axes(parents, offsets, 1e-9, incoming=offsets, fallback=up)
    np.testing.assert_allclose(filled[~leaves], axes[~leaves])
    for j in np.flatnonzero(leaves):
        n = np.linalg.norm(offsets[j])
        np.testing.assert_allclose(filled[j], offsets[j] / n if n > 1e-9 else up)


def test_bone_axes_ignore_the_order_of_the_children():
    # Joint 0 with three children listed in two orders: the axis is the same (the first child differs).
    offsets = np.array([[0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]])
    a = skeleton.bone_axes(np.array([-1, 0, 0, 0]), offsets, 1e-9)
    b = skeleton.bone_axes(np.array([-1, 0, 0, 0]), offsets[[0, 3, 1, 2]], 1e-9)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[0], [1, 2, 3] / np.sqrt(14.0))
    # Children that cancel out: the longest one.
    cancel = skeleton.bone_axes(np.array([-1, 0, 0]), np.array([[0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0]]), 1e-9)
    np.testing.assert_allclose(cancel[0], [1, 0, 0])


def test_turning_a_joint_about_its_bone_axis_keeps_its_only_child_in_place():
    from conftest import cesium_man

    rig = cesium_man()[0]
    axes = rig.bone_axes()
    single = [j for j, kids in enumerate(rig.children()) if len(kids) == 1 and axes[j].any()]
    assert len(single) > 5
    poses = Poses.identity(len(single), rig.num_joints)
    for i, j in enumerate(single):
        poses.rotations[i, j] = axis_angle_to_quat(axes[j] * 1.3)
    rest = joint_positions(rig, Poses.identity(1, rig.num_joints))[0]
    moved = joint_positions(rig, poses)
    child = [rig.children()[j][0] for j in single]
    np.testing.assert_allclose(moved[np.arange(len(single)), child], rest[child], atol=1e-4 * rig.height())


# ----- swing-twist ----------------------------------------------------------------------------------------------
def test_swing_twist_recomposes_with_the_twist_about_the_axis():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    axis = rng.normal(size=(500, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    q[:5, 0], q[:5, 1:] = 0.0, np.cross(axis[:5], [0.3, 0.4, 0.5])  # pure 180-degree swings: no twist
    q[:5] /= np.linalg.norm(q[:5], axis=1, keepdims=True)
    swing, twist = swing_twist(q, axis)
    assert swing.dtype == twist.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(swing, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(twist, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(quat_multiply(swing, twist), q, atol=1e-12)  # the same sign, not just rotation
    np.testing.assert_allclose(np.cross(twist[:, 1:], axis), 0, atol=1e-12)  # twist about the axis
    np.testing.assert_allclose(np.sum(swing[:, 1:] * axis, axis=1), 0, atol=1e-12)  # swing perpendicular
    np.testing.assert_allclose(twist[:5], np.tile([1.0, 0, 0, 0], (5, 1)), atol=1e-12)

    # The twist is the rotation about the axis closest to q: no other angle about it leaves a smaller swing.
    angles = np.linspace(-np.pi, np.pi, 721)
    for i in range(5, 25):
        about = axis_angle_to_quat(angles[:, None] * axis[i])
        rest = np.abs(quat_multiply(q[i], quat_conjugate(about))[:, 0])
        assert abs(swing[i, 0]) >= rest.max() - 1e-5


def test_swing_twist_broadcasts_one_axis_over_a_batch():
    q = quat_normalize(np.random.default_rng(1).normal(size=(4, 3, 4)))
    axis = np.array([0.0, 0.0, 1.0])
    swing, twist = swing_twist(q, axis)
    assert swing.shape == twist.shape == (4, 3, 4)
    np.testing.assert_allclose(twist[..., 1:3], 0, atol=1e-15)
    np.testing.assert_allclose(quat_multiply(swing, twist), q, atol=1e-12)
