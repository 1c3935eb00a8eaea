"""Limb-end IK targets: skinned feet that an artist rig parents to its ground bone, ridden on their limbs.

Game rigs made in Blender (every Quaternius animal, dinosaur, the knight and the platformer character) drive
their legs by IK: the foot is a bone of its own, a child of the ground bone beside the body, that the animation
*translates* to where the foot stands, and the leg bones turn to reach it. The foot carries skin. The pose model
holds rotations and one root translation (:class:`vips.Poses`), so in its view such a foot never leaves its rest
spot: real frames showed legs striding away from feet glued to the ground (the Stegosaurus's worst joints were
its back legs), and samples could not lift a foot.

So the loader (:func:`vips.io.load`) hangs each such target under the end of its limb, where the animation keeps
it: every joint keeps its rest and animated world transforms, only its parent (and, to keep parents before
children, the joint order) changes. The foot is then a joint of the leg and its turn a pose like any other. The
writers put it back under its file parent (:func:`in_file_hierarchy`), with the translations the pose puts it
at, so a written file has the hierarchy engines and DCCs expect of that skeleton.

The rule uses the rest skeleton and the skin, never joint names. A **limb-end target** is a joint

- beside the body: its parent lies above the body root (:func:`vips.body.body_root`: a ground or control bone)
  and it is not on the way down to the body root;
- whose subtree holds fewer than :data:`vips.body.MIN_LIMB_JOINTS` joints (a foot and its toe; a longer branch
  is a limb of its own);
- that carries skin (it or its child; a pole target deforms nothing and stays where it is);
- whose skin blends most with a limb's end: its **anchor** is the body joint that bends the most skin weight
  together with it (over the vertices both move, the smaller of the two weights), and that joint must be a leaf
  of the body. A leaf anchors one target at most (the largest shared weight first).

The skin decides, not the rest positions: a glTF leaf has no tail, and a frog's folded back foot lies nearer its
front leg's end than its own. On the Quaternius packs the rule finds every IK foot (animals, dinosaurs, frog,
rat, knight, platformer character) and nothing else (a bee's or crab's body beside its head blends with the
head, which is no limb end).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from vips.body import MIN_LIMB_JOINTS, body_root
from vips.kinematics import local_from_world, world_from_local, world_matrices
from vips.local_poses import poses_from_local
from vips.poses import Poses
from vips.rotations import compose_affine, decompose_affine, nearest_rigid, quat_conjugate, quat_multiply, quat_normalize
from vips.skeleton import children_lists, preorder, strict_ancestors, subtree_sizes

if TYPE_CHECKING:
    from vips.io.channels import ClipChannels
    from vips.rig import Rig


def find_limb_targets(parents: np.ndarray, body_root: int, skin_indices: np.ndarray | None,
                      skin_weights: np.ndarray | None) -> dict[int, int]:
    """``{target: anchor}``: the limb-end targets of a skeleton and the limb end each rides on (module docstring).

    Args:
        parents: (J,) parent indices, topologically ordered.
        body_root: index of the body root.
        skin_indices: (V, K) joint indices of the skin, or None for a rig without skin (then there are none).
        skin_weights: (V, K) their weights.
    """
    parents = np.asarray(parents)
    above = strict_ancestors(parents, body_root)
    if skin_indices is None or skin_weights is None or not above.any():
        return {}
    J = len(parents)
    size = subtree_sizes(parents)
    kids = children_lists(parents)
    in_body = np.zeros(J, bool)
    in_body[body_root] = True
    for j, p in enumerate(parents):
        in_body[j] |= p >= 0 and in_body[p]
    candidates = [t for t, p in enumerate(parents)
                  if p >= 0 and above[p] and not above[t] and not in_body[t] and size[t] < MIN_LIMB_JOINTS]
    if not candidates:
        return {}
    idx = np.asarray(skin_indices, np.int64)
    w = np.asarray(skin_weights, np.float64)
    pairs = []
    for t in candidates:
        mine = (np.isin(idx, [t, *kids[t]]) * w).sum(axis=1)  # per vertex: the target's and its toe's weight
        rows = np.flatnonzero(mine > 0)
        if not len(rows):
            continue  # a pole or an IK target that deforms nothing
        # Skin the two bend together: over the vertices the target moves, the smaller of the two weights.
        shared = np.zeros(J)
        np.add.at(shared, idx[rows].ravel(), np.minimum(w[rows], mine[rows, None]).ravel())
        shared[~in_body] = 0.0
        a = int(np.argmax(shared))
        if shared[a] > 0.0 and not kids[a]:
            pairs.append((-float(shared[a]), t, a))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, t, a in sorted(pairs):
        if a not in used:
            out[t] = a
            used.add(a)
    return dict(sorted(out.items()))


def limb_targets(rig: "Rig") -> dict[int, int]:
    """``{target: anchor}`` of ``rig`` (:func:`find_limb_targets` on its skeleton and skin)."""
    return find_limb_targets(rig.parents, body_root(rig), rig.skin_indices, rig.skin_weights)


def with_targets_on_limbs(rig: "Rig") -> "Rig":
    """``rig`` with each limb-end target a child of its anchor (``rig`` itself when it has none).

    Joints are reordered so that parents come first (a subtree stays contiguous, the file's order otherwise kept);
    rest, bind and every clip's world transforms are unchanged, the clips' poses are read again from them
    (:func:`vips.local_poses.poses_from_local`), and ``file_parents`` records the file's hierarchy for the
    writers (:func:`in_file_hierarchy`)."""
    targets = limb_targets(rig)
    if not targets:
        return rig
    file_parents = np.asarray(rig.parents, np.int64)
    view = file_parents.copy()
    for t, a in targets.items():
        view[t] = a
    order = np.array([j for j, _ in preorder(view)], np.int64)
    new = np.empty(len(order), np.int64)
    new[order] = np.arange(len(order))
    parents = np.where(view[order] >= 0, new[np.maximum(view[order], 0)], -1).astype(np.int32)
    rest_world = rig.rest_world_matrices().astype(np.float64)[order]
    rest_rotations, rest_translations = local_from_world(rest_world, parents)
    out = dataclasses.replace(
        rig,
        joint_names=[rig.joint_names[j] for j in order],
        parents=parents,
        rest_translations=rest_translations.astype(np.float32),
        rest_rotations=rest_rotations.astype(np.float32),
        bind_matrices=None if rig.bind_matrices is None else np.asarray(rig.bind_matrices)[order],
        skin_indices=None if rig.skin_indices is None else new[np.asarray(rig.skin_indices)].astype(np.int32),
        clips={}, clip_channels={}, warnings=list(rig.warnings),
        file_parents=np.where(file_parents[order] >= 0, new[np.maximum(file_parents[order], 0)], -1).astype(np.int32),
    )
    kept = {id(ch.poses) for ch in rig.clip_channels.values()}
    for name, channels in rig.clip_channels.items():
        moved = _reparented(channels, file_parents, order, parents)
        if channels.poses is not None:
            moved.poses = _poses(out, moved)
            out.clips[name] = moved.poses
        out.clip_channels[name] = moved
    for name, poses in rig.clips.items():  # clips without channels (built in memory): their rotations carry over
        if id(poses) not in kept:
            out.clips[name] = dataclasses.replace(poses, rotations=_carried_rotations(rig, out, poses, order))
    return out


def in_file_hierarchy(rig: "Rig", clips: "list[ClipChannels]") -> "tuple[Rig, list[ClipChannels]]":
    """What a writer writes: ``rig`` and its ``clips`` with every joint back under its file parent (the rig's
    ``file_parents``), world transforms unchanged; ``(rig, clips)`` as they are when it has no other hierarchy."""
    if rig.file_parents is None:
        return rig, clips
    file_parents = np.asarray(rig.file_parents, np.int32)
    identity = np.arange(rig.num_joints)
    rest_world = rig.rest_world_matrices().astype(np.float64)
    rest_rotations, rest_translations = local_from_world(rest_world, file_parents)
    written = dataclasses.replace(rig, parents=file_parents, rest_rotations=rest_rotations.astype(np.float32),
                                  rest_translations=rest_translations.astype(np.float32), file_parents=None)
    return written, [_reparented(ch, rig.parents, identity, file_parents) for ch in clips]


def _reparented(channels: "ClipChannels", parents: np.ndarray, order: np.ndarray,
                new_parents: np.ndarray) -> "ClipChannels":
    """``channels`` (local TRS under ``parents``) as local TRS of the joints ``order`` under ``new_parents``: the
    same world transforms (scales included), so the mesh skins the same. Only the joints whose parent changes get
    new channels; the others keep theirs exactly."""
    parents = np.asarray(parents)
    rotations, translations, scales = (np.array(x[:, order]) for x in
                                       (channels.rotations, channels.translations, channels.scales))
    old_parent = np.where(parents[order] >= 0, np.argsort(order)[np.maximum(parents[order], 0)], -1)
    moved = np.flatnonzero(old_parent != np.asarray(new_parents))
    if len(moved):
        local = compose_affine(channels.rotations.astype(np.float64), channels.translations.astype(np.float64),
                               channels.scales.astype(np.float64))
        world = world_from_local(local, parents)[:, order]
        # pinv: a joint scaled to zero (a spawn effect) has no inverse; such a clip has no poses anyway.
        local_moved = np.linalg.pinv(world[:, new_parents[moved]]) @ world[:, moved]
        r, t, s = decompose_affine(local_moved)
        rotations[:, moved], translations[:, moved], scales[:, moved] = r, t, s
    return dataclasses.replace(channels, rotations=rotations, translations=translations, scales=scales, poses=None)


def _poses(rig: "Rig", channels: "ClipChannels") -> Poses:
    """The pose model's view of ``channels`` of ``rig`` (rigid parts of the world transforms, as the readers)."""
    local = compose_affine(channels.rotations.astype(np.float64), channels.translations.astype(np.float64),
                           channels.scales.astype(np.float64))
    world = nearest_rigid(world_from_local(local, np.asarray(rig.parents)))
    rotations, translations = local_from_world(world, rig.parents)
    poses, _ = poses_from_local(rig, rotations, translations, fps=channels.fps, name=channels.name)
    return poses


def _carried_rotations(rig: "Rig", out: "Rig", poses: Poses, order: np.ndarray) -> np.ndarray:
    """Rotations (F, J, 4) of ``poses`` of ``rig`` for the reordered ``out``: every joint keeps its world turn (a
    target's pose delta is read against its new parent's turn; it now sits at its rest offset on the limb)."""
    world = world_matrices(rig, poses).astype(np.float64)[:, order]
    rotations, _ = local_from_world(world, out.parents)
    delta = quat_multiply(quat_conjugate(out.rest_rotations.astype(np.float64))[None], rotations)
    return quat_normalize(delta).astype(np.float32)
