"""Tree helpers on a skeleton's parent array: children, depths, ancestors, subtree sizes, hop distances, bone axes.

Every function takes ``parents``, a (J,) integer array with ``parents[j]`` the index of joint j's parent and -1
for a root, topologically ordered (``parents[j] < j``, as :class:`vips.rig.Rig` guarantees) unless its docstring
says otherwise. A forest (several roots) is allowed; joints of different trees count as joined through a virtual
common parent of the roots. Walks are iterative, so deep chains cost no recursion.

This module is numpy only and sits below the rig: it imports nothing of vips.
"""

from __future__ import annotations

import numpy as np


def children_lists(parents: np.ndarray) -> list[list[int]]:
    """For each joint, the indices of its children in joint order. Any parent order works (no ordering needed)."""
    kids: list[list[int]] = [[] for _ in range(len(parents))]
    for j, p in enumerate(parents):
        if p >= 0:
            kids[int(p)].append(j)
    return kids


def preorder(parents: np.ndarray) -> list[tuple[int, int]]:
    """``(joint, depth)`` for every joint, depth first from the roots (children in joint order), as a joint tree is
    read top to bottom; iterative, so a 20,000-joint chain costs no recursion. A subtree is a contiguous run."""
    kids = children_lists(parents)
    order: list[tuple[int, int]] = []
    stack = [(j, 0) for j in reversed(range(len(parents))) if parents[j] < 0]
    while stack:
        j, depth = stack.pop()
        order.append((j, depth))
        stack.extend((k, depth + 1) for k in reversed(kids[j]))
    return order


def child_counts(parents: np.ndarray) -> np.ndarray:
    """(J,) int64 number of children of each joint."""
    parents = np.asarray(parents)
    return np.bincount(parents[parents >= 0], minlength=len(parents)).astype(np.int64)


def depths(parents: np.ndarray) -> np.ndarray:
    """(J,) int64 number of bones from each joint's root down to it (0 for a root)."""
    d = np.zeros(len(parents), np.int64)
    for j, p in enumerate(parents):
        if p >= 0:
            d[j] = d[p] + 1
    return d


def subtree_sizes(parents: np.ndarray) -> np.ndarray:
    """(J,) int64 number of joints in the subtree rooted at each joint, the joint itself included."""
    size = np.ones(len(parents), np.int64)
    for j in range(len(parents) - 1, -1, -1):  # children after parents: one sweep carries every count up
        if parents[j] >= 0:
            size[parents[j]] += size[j]
    return size


def ancestors(parents: np.ndarray) -> np.ndarray:
    """(J, J) bool, ``A[i, k]`` when joint k is joint i or one of its ancestors."""
    a = np.eye(len(parents), dtype=bool)
    for j, p in enumerate(parents):
        if p >= 0:
            a[j] |= a[p]
    return a


def strict_ancestors(parents: np.ndarray, joint: int) -> np.ndarray:
    """(J,) bool: the ancestors of ``joint``, itself excluded (linear in its depth; any parent order works)."""
    out = np.zeros(len(parents), bool)
    k = int(parents[joint])
    while k >= 0:
        out[k] = True
        k = int(parents[k])
    return out


def hop_distances(parents: np.ndarray) -> np.ndarray:
    """(J, J) int64 number of bones on the tree path between every two joints (0 on the diagonal).

    Row by row from the parent's row: a joint is one bone further than its parent from every joint outside its
    own subtree and one bone closer to every joint inside it. O(J^2) time and memory.
    """
    J = len(parents)
    depth = depths(parents)
    inside = ancestors(parents).T  # inside[j, k]: k lies in the subtree of j
    dist = np.zeros((J, J), np.int64)
    virtual = depth + 1  # the distances from a virtual common parent of the roots
    for j, p in enumerate(parents):
        dist[j] = (dist[p] if p >= 0 else virtual) + 1
        dist[j, inside[j]] -= 2
    return dist


def bone_axes(
    parents: np.ndarray,
    offsets: np.ndarray,
    min_length: float,
    incoming: np.ndarray | None = None,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """(J, 3) float64 unit *bone axis* of each joint: the direction from the joint to its children.

    The one definition vips uses (joint limits, the twist corruption, the hyper-extension validator, the
    reference frames of the pose encoding): the **mean** of the offsets to the children, the longest child's
    offset when that mean is shorter than ``min_length``. The mean, not the first child, because the order of a
    joint's children is an accident of the file it came from (a converted asset may list them differently);
    the mean depends on the geometry only, and on a chain (one child) the two agree.

    Args:
        parents: (J,) parent indices (any order).
        offsets: (J, 3) each joint's offset from its parent, in the frame the axes are wanted in: the rest
            translations (the parent's frame, where the parent's pose delta acts) or world position differences.
        min_length: offsets and means no longer than this are no direction (asset units).
        incoming: (J, 3) optional direction for joints without one from their children (leaves, zero-length
            bones), e.g. the joint's own offset from its parent; used when longer than ``min_length``.
        fallback: (3,) optional unit axis for joints with no direction at all; without it they get zeros.
    """
    offsets = np.asarray(offsets, np.float64)
    axes = np.zeros((len(parents), 3))
    for j, kids in enumerate(children_lists(parents)):
        v = np.zeros(3)
        if kids:
            v = offsets[kids].mean(axis=0)
            if np.linalg.norm(v) <= min_length:
                v = offsets[kids[int(np.argmax(np.linalg.norm(offsets[kids], axis=1)))]]
        if np.linalg.norm(v) <= min_length and incoming is not None:
            v = np.asarray(incoming[j], np.float64)
        n = np.linalg.norm(v)
        if n > min_length:
            axes[j] = v / n
        elif fallback is not None:
            axes[j] = fallback
    return axes
