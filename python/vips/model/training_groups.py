"""A built pose dataset (``vips dataset build``) as the model's training groups, one per individual.

Each group's *source* says what it is, so training can balance sources (``TrainConfig.source_weights``): a
procedural creature's body plan (``quadruped``, ``bird``...) or ``clip:<family>`` for real motion (the rig family
of :mod:`vips.data.clips`, so one family's many files count as one source).

Rest-pose variants: real rigs come in a T-pose, an A-pose or whatever pose the mesh was modelled in, and the pose
model must not care. The pose encoding is built so that the *tokens* of a posed body hardly depend on the rest
(:mod:`vips.pose_encoding`), but the rig's conditioning (rest positions, bone directions, the skinned mesh) does.
``rest_variants`` adds, per shard, that many copies of its rig re-rested at a random *symmetric* pose
(:func:`symmetric_rest`) with the same motion re-expressed on it, so the model learns from many rests of one motion.

Mirrored motion: real clips are few and lopsided (a sword in the right hand, a kick with the left leg).
``mirror_clips`` adds, per real-motion shard, one copy of its motion mirrored left to right on the same rig
(:func:`mirrored_motion`): each joint takes its mirror partner's turn, reflected across the midline plane, so the
model sees every one-sided pose on both sides. Rigs with a joint the model sees that has no mirror partner off the
midline get no copy (the mirror would not be a pose of that rig).

Inserted joints: real rigs hold joints that their animation never turns (the helper, share and split bones of
character rigs; a static hips bone below a moving control bone) where the training rigs have none, and the model
judged them implausible (MODEL_CARD.md). ``insert_variants`` adds, per shard, that many copies of its rig with 1 to
:data:`MAX_INSERTED` static joints inserted part-way along random bones (:func:`with_inserted_joints`): the same
bodies, with joints that stay at rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vips.errors import AssetError
from vips.io.shards import read_shard
from vips.model.data import PoseGroup

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

#: Largest swing of a paired joint (a limb) and tilt of a midline joint in a random rest, degrees.
REST_SWING_DEGREES = 45.0
REST_TILT_DEGREES = 15.0
#: Chance that a joint (a mirror pair counts once) is moved in a random rest.
REST_MOVE_CHANCE = 0.4
# Mirror across the canonical x = 0 plane (the character's left to right).
_MIRROR = np.diag([-1.0, 1.0, 1.0])


def group_source(meta: dict) -> str:
    """A shard's training source: its body plan, or ``clip:<family>`` for real motion."""
    if meta.get("source") == "clip":
        return f"clip:{meta.get('family') or meta['species']}"
    return str(meta["plan"])


def load_training_groups(dataset_dir: str | Path, split: str = "train", progress=None,  # noqa: ANN001
                         rest_variants: int = 0, seed: int = 0, insert_variants: int = 0,
                         mirror_clips: bool = False) -> list[PoseGroup]:
    """:class:`vips.model.data.PoseGroup` for every shard of ``split`` in a dataset built by ``vips dataset build``,
    plus ``rest_variants`` re-rested copies of each, ``insert_variants`` copies with static joints inserted and,
    with ``mirror_clips``, each real-motion shard's mirrored motion (see the module docstring; seeded by ``seed``
    and the shard).

    ``progress(done, total)`` is called after each shard.
    """
    root = Path(dataset_dir)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise AssetError(f"{root}: no manifest.json (build the dataset with `vips dataset build --out {root}`)")
    manifest = json.loads(manifest_path.read_text())
    shards = [s for s in manifest["shards"] if s["split"] == split]
    if not shards:
        raise AssetError(f"{root}: the dataset has no '{split}' shards")
    groups = []
    for i, meta in enumerate(shards):
        shard = read_shard(root / meta["file"])
        source = group_source(meta)
        groups.append(PoseGroup.from_rig(shard.rig, shard.poses, source=source))
        rng = np.random.default_rng([seed, i])
        for _ in range(rest_variants):
            rig, poses = rerested_motion(shard.rig, shard.poses, rng)
            groups.append(PoseGroup.from_rig(rig, poses, source=source))
        insert_rng = np.random.default_rng([seed, i, 1])  # its own stream: rest variants stay as they were
        for _ in range(insert_variants):
            rig, poses = with_inserted_joints(shard.rig, shard.poses, insert_rng)
            groups.append(PoseGroup.from_rig(rig, poses, source=source))
        mirrored = mirrored_motion(shard.rig, shard.poses) if mirror_clips and meta.get("source") == "clip" else None
        if mirrored is not None:
            groups.append(PoseGroup.from_rig(shard.rig, mirrored, source=source))
        if progress:
            progress(i + 1, len(shards))
    return groups


def load_dataset(directory: str | Path, rest_variants: int = 0, seed: int = 0,
                 insert_variants: int = 0, mirror_clips: bool = False) -> list[PoseGroup]:
    """All groups in a dataset directory: a built dataset (``manifest.json``, ``vips dataset build``; its train
    split, with ``rest_variants`` re-rested and ``insert_variants`` joint-inserted copies of each shard, see the
    module docstring) or a directory of ``*.safetensors`` groups (sorted by file name)."""
    if (Path(directory) / "manifest.json").is_file():
        return load_training_groups(directory, split="train", rest_variants=rest_variants, seed=seed,
                                    insert_variants=insert_variants, mirror_clips=mirror_clips)
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{directory}: no *.safetensors pose groups found")
    return [PoseGroup.load(f) for f in files]


#: Random rests drawn per variant before giving up on one that keeps the rig's facing.
REST_ATTEMPTS = 8


def rerested_motion(rig: "Rig", poses: "Poses", rng: np.random.Generator) -> tuple["Rig", "Poses"]:
    """``rig`` re-rested at a random symmetric pose and ``poses`` re-expressed on it (the same bodies).

    A rest that changes where the rig is found to face (legs swung back far enough to outweigh the feet,
    :func:`vips.features.canonical_frame`) is drawn again: the variant must teach "another rest, same body",
    not "the same body seen from behind". After :data:`REST_ATTEMPTS` tries the rig is returned unchanged.
    """
    from vips.features import rig_conditioning
    from vips.kinematics import rerest_poses, rerested

    facing = rig_conditioning(rig).canonical_rotation
    for _ in range(REST_ATTEMPTS):
        rest = symmetric_rest(rig, rng)
        other = rerested(rig, rest)
        if np.allclose(rig_conditioning(other).canonical_rotation, facing, atol=0.05):
            return other, rerest_poses(poses, rest)
    return rig, poses


def symmetric_rest(rig: "Rig", rng: np.random.Generator) -> "Poses":
    """A random rest pose of ``rig`` (one pose) that keeps its left/right symmetry: each mirror pair of joints
    (a chance of :data:`REST_MOVE_CHANCE`) swings by a random turn of up to :data:`REST_SWING_DEGREES`, mirrored
    on the partner; each midline joint tilts forward or back by up to :data:`REST_TILT_DEGREES`. The body root
    and the joints above it stay: the body keeps its place and facing.

    Turns are drawn in the canonical frame (:mod:`vips.features`) and applied as world turns at rest, so a
    symmetric rig stays symmetric (its facing and ground are found as before).
    """
    from vips.features import rig_conditioning
    from vips.poses import Poses
    from vips.rotations import axis_angle_to_quat, matrix_to_quat, quat_to_matrix

    cond = rig_conditioning(rig)
    J = rig.num_joints
    turns = np.repeat(np.eye(3)[None], J, axis=0)
    has_child = np.bincount(rig.parents[rig.parents >= 0], minlength=J) > 0
    for j in range(J):
        partner = int(cond.mirror[j])
        if j == cond.body_root or cond.joint_mask[j] == 0 or not has_child[j] or rng.random() > REST_MOVE_CHANCE:
            continue
        if partner == j:
            angle = np.radians(rng.uniform(-REST_TILT_DEGREES, REST_TILT_DEGREES))
            turns[j] = quat_to_matrix(axis_angle_to_quat(np.array([angle, 0.0, 0.0])))
        elif partner > j:
            axis = rng.normal(size=3)
            axis *= np.radians(rng.uniform(0, REST_SWING_DEGREES)) / np.linalg.norm(axis)
            turns[j] = quat_to_matrix(axis_angle_to_quat(axis))
            turns[partner] = _MIRROR @ turns[j] @ _MIRROR
    g = cond.rest_world_rotations.astype(np.float64)
    # A world turn T at a joint whose rest world rotation is G is the local delta G^T T G (in any axes).
    local = np.swapaxes(g, -1, -2) @ turns @ g
    return Poses(matrix_to_quat(local)[None].astype(np.float32), np.zeros((1, 3), np.float32), name="rest")


def mirrored_motion(rig: "Rig", poses: "Poses") -> "Poses | None":
    """``poses`` mirrored left to right on ``rig`` itself, or None when a joint the model sees has no mirror partner
    (:attr:`vips.features.RigConditioning.mirror`: -1, off the midline).

    In the canonical frame (:mod:`vips.features`, the character's left on +X) the mirror is ``M = diag(-1, 1, 1)``:
    joint j's world turn from rest becomes ``M W_m M`` with ``W_m`` its partner's (its own on the midline), and the
    root's translation is reflected. On a rig whose rest is symmetric, every joint of the result stands where the
    mirror image of its partner stood.
    """
    from vips.features import rig_conditioning
    from vips.pose_encoding import world_deltas
    from vips.poses import Poses
    from vips.rotations import matrix_to_quat

    cond = rig_conditioning(rig)
    partner = np.asarray(cond.mirror, np.int64)
    if np.any((cond.joint_mask > 0) & (partner < 0)):
        return None
    partner = np.where(partner < 0, np.arange(len(partner)), partner)  # masked joints: their own mirror image
    world = _MIRROR @ world_deltas(poses, cond)[:, partner] @ _MIRROR
    g = cond.rest_world_rotations.astype(np.float64)
    local = world.copy()
    for j, p in enumerate(cond.parents):
        if p >= 0:
            local[:, j] = np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    delta = np.swapaxes(g, -1, -2)[None] @ local @ g[None]
    rot = cond.canonical_rotation.astype(np.float64)  # asset axes -> canonical axes (orthonormal)
    root = poses.root_translation.astype(np.float64) @ (rot.T @ _MIRROR @ rot).T
    return Poses(matrix_to_quat(delta).astype(np.float32), root.astype(np.float32), poses.fps, poses.name)


# ----- inserted static joints --------------------------------------------------------------------------------
#: Most static joints inserted into one variant (each variant draws 1 to this many).
MAX_INSERTED = 3
#: Where along its bone an inserted joint sits (fractions of the bone from the parent's end).
INSERT_SPAN = (0.2, 0.8)


def with_inserted_joints(rig: "Rig", poses: "Poses", rng: np.random.Generator) -> tuple["Rig", "Poses"]:
    """``rig`` with 1 to :data:`MAX_INSERTED` joints inserted, each part-way along the bone into a random non-root
    joint (between that joint and its parent, with the parent's orientation and no skin), and ``poses`` with the new
    joints at rest: every original joint and every skinned vertex lands where it did. Joint order is repaired by
    the rig's validation (new joints are listed before their children)."""
    import warnings

    from vips.poses import Poses
    from vips.rig import Rig

    names, parents = list(rig.joint_names), [int(p) for p in rig.parents]
    trans = [t.astype(np.float64) for t in rig.rest_translations]
    rots = [q.astype(np.float32) for q in rig.rest_rotations]
    world = [w.astype(np.float64) for w in rig.rest_world_matrices()]
    bind = [b for b in np.asarray(rig.bind_matrices, np.float32)]
    for _ in range(int(rng.integers(1, MAX_INSERTED + 1))):
        j = int(rng.integers(1, len(names)))
        f = float(rng.uniform(*INSERT_SPAN))
        new = len(names)
        step = np.eye(4)
        step[:3, 3] = f * trans[j]
        world.append(world[parents[j]] @ step)  # the parent's orientation, part-way to joint j
        bind.append(world[-1].astype(np.float32))
        names.append(f"{names[j]}_inserted{new}")
        parents.append(parents[j])
        trans.append(f * trans[j])
        rots.append(np.array([1, 0, 0, 0], np.float32))
        trans[j] = (1 - f) * trans[j]
        parents[j] = new
    added = len(names) - rig.num_joints
    rotations = np.concatenate([poses.rotations, np.tile(np.array([1, 0, 0, 0], np.float32),
                                                         (len(poses), added, 1))], axis=1)
    motion = Poses(rotations, poses.root_translation.copy(), poses.fps, poses.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "joints were not in topological order": expected, repaired
        out = Rig(names, np.array(parents, np.int32), np.array(trans, np.float32), np.array(rots, np.float32),
                  bind_matrices=np.array(bind, np.float32), vertices=rig.vertices, faces=rig.faces,
                  skin_indices=rig.skin_indices, skin_weights=rig.skin_weights, up_axis=rig.up_axis,
                  meters_per_unit=rig.meters_per_unit, name=rig.name, source=rig.source, clips={"motion": motion})
    return out, out.clips.pop("motion")
