"""Helper joints: joints a rig carries for its skin or its tools that take no part in the pose.

Production character rigs hold joints an animator never poses as limbs: **twist bones** spread along a limb
bone (``UpperarmTwist01`` at the shoulder, ``UpperarmTwist02`` half-way to the elbow), **share** or corrective
bones at a joint (``KneeShareBone``), and **zero-length end joints** that exporters append to every chain
(``Mid3_end``). The iClone skeleton of the CMU retarget has 141 joints and 64 of them are such helpers. The pose
model, reading them as limbs, drew bodies with legs kicked sideways and crossed and flagged them plausible
(MODEL_CARD.md), while the same skeleton without them sampled standing, walking and crouching humans.

So the pose model leaves helpers out, as it leaves out the ground and control bones above the body
(:mod:`vips.body`): their conditioning is that of the rig without them (:func:`vips.features.rig_conditioning`),
they are masked out of the network, and every pose the model makes keeps each helper at its rest pose relative
to its parent (:mod:`vips.pose_encoding`), as engines and DCCs expect of bones their constraints drive; an edit
(:meth:`vips.PoseSpace.solve_ik` from an init) keeps the init's helper turns and a traversal turns them from one
keyframe's to the next's. The score reads them only through a turn limit (last paragraph).

The rule uses the rest skeleton only, never joint names (auto-rigs name joints ``joint_12``). Below the body
root (never the body root itself), a joint is a helper when

- it is a **zero-length leaf**: no children, within :data:`ZERO_LENGTH` of its parent and no skin, so that
  turning it moves nothing (a zero-length leaf that carries skin deforms the mesh: it stays a joint); or
- it starts an **on-bone branch**: its parent has another child with a larger subtree, and every joint of its own
  subtree lies within :data:`ON_BONE` of the bone from the parent to that child (twist bones along the bone,
  share bones at either end of it). A limb, a tail or a finger leaves the bone, so it never qualifies.

Lengths are fractions of the rig's height. A helper's descendants are helpers too.

The model cannot judge a helper's turn, but a helper turned nearly upside down from its rest is broken (a
forearm wrung like a sweet wrapper), whatever the rest of the pose looks like: a pose that turns one more than
:data:`HELPER_TURN_LIMIT_DEGREES` is implausible (:func:`helper_excess`, :meth:`vips.PoseSpace.score`). The limit
is set above what real motion does: in the 25 CMU clips on the iClone skeleton (1,000 frames) the share bones
reach 80 degrees and the twist bones 132 (an upper arm's, in modern dance), and 6 % of frames turn one past 90.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips.skeleton import children_lists, preorder, subtree_sizes

if TYPE_CHECKING:
    from vips.rig import Rig

#: A leaf this close to its parent (fraction of the rig's height) has zero length.
ZERO_LENGTH = 1e-3
#: A branch whose joints all lie this close to a sibling bone (fraction of the rig's height) lies on that bone.
ON_BONE = 5e-3
#: A helper turned farther than this from its rest (degrees) breaks the pose (module docstring).
HELPER_TURN_LIMIT_DEGREES = 150.0


def find_helper_joints(parents: np.ndarray, positions: np.ndarray, body_root: int, height: float,
                       skin_share: np.ndarray | None = None) -> np.ndarray:
    """(J,) bool: the helper joints of a skeleton (the rule is in the module docstring).

    Args:
        parents: (J,) parent indices, topologically ordered.
        positions: (J, 3) rest joint positions, asset units.
        body_root: index of the body root (:func:`vips.body.body_root`); only joints below it can be helpers.
        height: the rig's height, asset units.
        skin_share: (J,) fraction of the skin's weight each joint moves (:func:`vips.body.skin_shares`); None for
            a rig without skin.
    """
    parents = np.asarray(parents)
    pos = np.asarray(positions, np.float64)
    J = len(parents)
    kids = children_lists(parents)
    size = subtree_sizes(parents)
    order = np.array([j for j, _ in preorder(parents)], np.int64)
    start = np.empty(J, np.int64)
    start[order] = np.arange(J)  # a subtree is order[start[j]:][:size[j]]
    below = np.zeros(J, bool)
    for j in range(J):
        p = parents[j]
        below[j] = p >= 0 and (p == body_root or below[p])
    helper = np.zeros(J, bool)
    for j in range(J):
        if not below[j]:
            continue
        p = int(parents[j])
        if helper[p]:
            helper[j] = True
        elif not kids[j]:
            helper[j] = (np.linalg.norm(pos[j] - pos[p]) <= ZERO_LENGTH * height
                         and (skin_share is None or skin_share[j] <= 0.0))
        if helper[j] or len(kids[p]) < 2 or size[j] >= max(size[c] for c in kids[p]):
            continue
        # Only a branch smaller than a sibling is read whole, so all reads cost O(J log J) on any tree.
        members = pos[order[start[j]:start[j] + size[j]]]
        helper[j] = any(size[c] > size[j] and _on_segment(members, pos[p], pos[c], ON_BONE * height)
                        for c in kids[p] if c != j)
    return helper


def _on_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Whether every point (N, 3) lies within ``tol`` of the segment from ``a`` to ``b``."""
    ab = b - a
    span = float(ab @ ab)
    t = np.clip((points - a) @ ab / span, 0.0, 1.0) if span > 0 else np.zeros(len(points))
    return bool(np.all(np.linalg.norm(points - (a + t[:, None] * ab), axis=1) <= tol))


def helper_joints(rig: "Rig", body_root: int | None = None) -> np.ndarray:
    """(J,) bool: ``rig``'s helper joints (module docstring); ``body_root`` defaults to :func:`vips.body.body_root`."""
    from vips.body import body_root as find_body_root
    from vips.body import skin_shares

    body = find_body_root(rig) if body_root is None else body_root
    return find_helper_joints(rig.parents, rig.rest_joint_positions(), body, rig.height(), skin_shares(rig))


def carried_joints(parents: np.ndarray, live: np.ndarray) -> np.ndarray:
    """(J,) bool: the masked joints that ride on a joint the model sees (helpers and their descendants): a
    joint not ``live`` whose parent is live or carried. They keep their rest pose relative to their parent; the
    other masked joints, the ground and control bones above the body, carry the body's heading only."""
    live = np.asarray(live, bool)
    out = np.zeros(len(parents), bool)
    for j, p in enumerate(parents):
        out[j] = not live[j] and p >= 0 and (live[p] or out[p])
    return out


def helper_excess(rotations: np.ndarray, helpers: np.ndarray) -> np.ndarray:
    """(N,) float64 radians: how far past :data:`HELPER_TURN_LIMIT_DEGREES` each pose turns its most turned helper
    from rest (0 when every helper is within it, or there are none).

    Args:
        rotations: (N, J, 4) local rotations relative to the rest pose (wxyz, :class:`vips.poses.Poses`).
        helpers: (J,) bool, the helper joints (or any joints to hold to the limit).
    """
    q = np.asarray(rotations, np.float64)[:, np.asarray(helpers, bool)]
    if q.shape[1] == 0:
        return np.zeros(len(q))
    w = np.abs(q[..., 0]) / np.maximum(np.linalg.norm(q, axis=-1), 1e-12)
    turn = 2.0 * np.arccos(np.clip(w, 0.0, 1.0))
    return np.maximum(turn.max(axis=1) - np.radians(HELPER_TURN_LIMIT_DEGREES), 0.0)


def without_joints(rig: "Rig", drop: np.ndarray) -> "Rig":
    """``rig`` without the joints where ``drop`` (J,) is True, which must hold whole leaf subtrees (every
    descendant of a dropped joint dropped, the root kept). Skin weights of a dropped joint go to its nearest kept
    ancestor, so the mesh moves as the remaining bones move it. Clips are not carried over."""
    import warnings

    from vips.rig import Rig

    drop = np.asarray(drop, bool)
    parents = np.asarray(rig.parents)
    if drop[0] or any(drop[p] and not drop[j] for j, p in enumerate(parents) if p >= 0):
        raise ValueError("without_joints drops whole leaf subtrees: a dropped joint has a kept child")
    keep = np.flatnonzero(~drop)
    new_index = np.full(len(parents), -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    owner = np.arange(len(parents))
    for j, p in enumerate(parents):
        if drop[j]:
            owner[j] = owner[p]
    skin_indices = None
    if rig.skin_indices is not None:
        skin_indices = new_index[owner[np.asarray(rig.skin_indices)]].astype(np.asarray(rig.skin_indices).dtype)
    bind = None if rig.bind_matrices is None else np.asarray(rig.bind_matrices)[keep]
    new_parents = np.where(parents[keep] >= 0, new_index[np.maximum(parents[keep], 0)], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rig's own repairs were reported when it was loaded
        return Rig([rig.joint_names[j] for j in keep], new_parents.astype(np.int32),
                   np.asarray(rig.rest_translations)[keep], np.asarray(rig.rest_rotations)[keep],
                   bind_matrices=bind, vertices=rig.vertices, faces=rig.faces,
                   skin_indices=skin_indices,
                   skin_weights=rig.skin_weights, up_axis=rig.up_axis, meters_per_unit=rig.meters_per_unit,
                   name=rig.name, source=rig.source)
