"""The body of a rig: the joint that carries it, and the joints above that joint.

Real skeletons often put a static *ground* or *locomotion* bone (Unreal's ``root``, Blender's armature root,
the Quaternius ``AnimalArmature`` and its ``Body`` control bone) above the pelvis. Where such a creature faces,
how it tilts and how high it stands are the pelvis's, not the ground bone's: the pose model reads the body's
frame off the **body root** (:func:`body_root`) and keeps the joints above it (:func:`above_body`) out of the
pose (they carry only the heading and the ground position, see :mod:`vips.pose_encoding`).

The rule uses the rest pose and the skin, never joint names (auto-rigs name joints ``joint_12``): starting at the
root, step down to the child that holds most of the skeleton while the joint carries no body itself: it moves
almost none of the skin and either lies on the ground below the rest of the body (a ground or locomotion bone)
or has a single child with joints below it (a control bone such as ``Body`` above the pelvis). A rig without
skin (BVH) steps down only from joints on the ground below the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips.kinematics import skin
from vips.poses import Poses
from vips.skeleton import ancestors, children_lists, strict_ancestors, subtree_sizes

if TYPE_CHECKING:
    from vips.rig import Rig

#: A joint this close to the rig's lowest point (fraction of its height) lies on the ground.
GROUND_FRACTION = 0.05
#: A joint moving less than this fraction of the skin's total weight can be a control bone.
CONTROL_WEIGHT_FRACTION = 0.01
#: A branch beside the body with fewer joints than this is a control (an IK target or pole), not a limb.
MIN_LIMB_JOINTS = 3


def find_body_root(parents: np.ndarray, heights: np.ndarray, skin_share: np.ndarray | None = None) -> int:
    """Index of the body root of a skeleton (the rule is in the module docstring).

    Args:
        parents: (J,) parent indices, topologically ordered, joint 0 the root.
        heights: (J,) rest height of each joint above the rig's lowest point, as a fraction of its height.
        skin_share: (J,) fraction of the skin's total weight each joint moves; None for a rig without skin.
    """
    parents = np.asarray(parents)
    size = subtree_sizes(parents)
    kids = children_lists(parents)
    j = 0
    while kids[j]:
        c = max(kids[j], key=lambda k: size[k])
        if size[c] * 2 <= size[j] - 1 or size[c] == 1:
            break
        on_ground = heights[j] < GROUND_FRACTION <= heights[c]  # a bone on the ground, the body above it
        if skin_share is None:
            carrier = on_ground
        else:
            single = sum(size[k] > 1 for k in kids[j]) == 1
            carrier = skin_share[j] < CONTROL_WEIGHT_FRACTION and (on_ground or single)
        if not carrier:
            break
        j = c
    return int(j)


def body_root(rig: "Rig") -> int:
    """Index of ``rig``'s body root (see the module docstring); 0 when the root joint carries the body."""
    pos = rig.rest_joint_positions().astype(np.float64)
    axis = 1 if rig.up_axis == "Y" else 2
    if rig.has_mesh and rig.num_vertices:
        low = float(skin(rig, Poses.identity(1, rig.num_joints))[0][:, axis].min())
    else:
        low = float(pos[:, axis].min())
    heights = (pos[:, axis] - low) / rig.height()
    return find_body_root(rig.parents, heights, skin_shares(rig))


def skin_shares(rig: "Rig") -> np.ndarray | None:
    """(J,) float64 fraction of the skin's total weight each joint moves; None for a rig without skin."""
    if rig.skin_weights is None or rig.skin_indices is None or not rig.num_vertices:
        return None
    w = np.bincount(np.asarray(rig.skin_indices, np.int64).ravel(),
                    weights=np.asarray(rig.skin_weights, np.float64).ravel(), minlength=rig.num_joints)
    return w / max(float(w.sum()), 1e-12)


def above_body(parents: np.ndarray, body: int) -> np.ndarray:
    """(J,) bool: the strict ancestors of joint ``body`` (the ground and control bones above the body)."""
    return strict_ancestors(parents, body)


def judged_joints(rig: "Rig", body: int, shown: np.ndarray | None = None) -> np.ndarray:
    """(J,) bool: the joints whose rotation shapes the body, the ones a pose's plausibility can judge. Left out:

    - the joints above ``body`` (the body root): ground and control bones, whose rotation is the heading;
    - small branches beside the body, hanging off those joints (fewer than :data:`MIN_LIMB_JOINTS` joints): the IK
      targets and poles of artist rigs, parented to the ground bone, whose animated translations are not part of a
      pose (a real leg or tail has more joints);
    - joints whose rotation moves no skin (neither they nor a joint below them carries skin weight; in a rig
      without skin, the leaves and the joints whose only children are not ``shown``): helper and end bones, whose
      turn a real animator's pose says nothing about (:func:`visible_joints`);
    - joints not ``shown`` (J,) bool, default none left out: the pose model's caller passes the joints it sees, so
      helper joints (:mod:`vips.helper_joints`) are never judged.
    """

    parents = np.asarray(rig.parents)
    above = above_body(parents, body)
    below = ancestors(parents)  # below[j, k]: k is j or one of its ancestors
    size = subtree_sizes(parents)
    beside = np.zeros(len(parents), bool)
    for j in np.flatnonzero(~above & (parents >= 0)):
        if j != body and above[parents[j]] and size[j] < MIN_LIMB_JOINTS:
            beside |= below[:, j]
    shown = np.ones(len(parents), bool) if shown is None else np.asarray(shown, bool)
    return visible_joints(rig, shown) & shown & ~above & ~beside


def visible_joints(rig: "Rig", shown: np.ndarray | None = None) -> np.ndarray:
    """(J,) bool: the joints whose turn shows. In a rig with skin, those that move skin (they or a joint below
    them carry skin weight); in a skeleton-only rig, those with a child among ``shown`` (J,) bool (default every
    joint) to move: a leaf's turn, or a turn that moves only joints not ``shown`` (the helper joints the pose model
    keeps at rest), shows nothing."""
    moves = rig.moves_skin()
    if moves is not None:
        return np.asarray(moves, bool)
    shown = np.ones(rig.num_joints, bool) if shown is None else np.asarray(shown, bool)
    parents = np.asarray(rig.parents)
    out = np.zeros(len(parents), bool)
    out[parents[(parents >= 0) & shown]] = True
    return out
