"""Corruptions that turn valid poses into implausible ones, for the plausibility AUROC.

Every corruption has the signature ``corrupt(rig, poses, seed=0, reference=None) -> Corrupted`` and changes
one thing per pose (named in the pose's description); ``reference`` (training poses) is used by the
corruptions that need to know what the data does and defaults to ``poses`` themselves. Results keep the
input's shape and unit quaternions. Geometry uses the rig only, so any topology works.

Every corruption turns only joints whose turn changes the body's shape (:func:`corruptible_joints`): not the body
root nor the ground and control bones above it (their turn is the heading, or lying down), not the IK targets
beside the body, not helper joints (:mod:`vips.helper_joints`: real animation turns the iClone skeleton's twist
bones up to 132 degrees), and not joints that move no skin (end bones, whose turn shows nothing). A corrupted
pose is one that looks broken, so the yardstick never counts a turn nobody could see as a broken pose.

- ``twist``: a joint with a child twisted about its bone axis to 100..180 degrees from rest, its
  swing unchanged (so the bone points where it did);
- ``random_rotation``: 1..3 joints replaced by uniformly random rotations;
- ``turned_joints``: 2..3 joints with bones each turned 90..120 degrees about a random axis, on top of
  the rotation they had (the model issue's "a few joints turned 90-120 degrees");
- ``hyperextension``: the most hinge-like joints (one dominant axis of motion in the data) bent at least
  100 degrees against their usual bend and at least 45 degrees past anything the data does that way;
- ``through_body``: a limb chain swung rigidly about its root joint until its end effector (or, for a limb
  longer than the trunk is deep, its elbow/knee/wrist) lies inside the trunk (capsules around the trunk's
  bones, see :func:`body_layout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from vips.body import body_root, judged_joints
from vips.helper_joints import helper_joints
from vips.poses import Poses
from vips.rotations import (
    axis_angle_to_quat,
    matrix_to_quat,
    quat_multiply,
    quat_normalize,
    quat_to_axis_angle,
    quat_to_matrix,
    swing_twist,
)
from vips.skeleton import children_lists, subtree_sizes

if TYPE_CHECKING:
    from vips.rig import Rig


@dataclass(eq=False)
class Corrupted:
    """Corrupted poses: ``poses`` (same shape as the input), one description and the main joint changed per pose.

    Unpacks as ``poses, descriptions = corrupt(...)``.
    """

    poses: Poses
    descriptions: list[str]
    joints: np.ndarray  # (N,) int index of the joint that was changed (the first one for random_rotation)

    def __iter__(self) -> Iterator:
        return iter((self.poses, self.descriptions))


# ----- rig geometry shared by the corruptions ----------------------------------------------------------------
def uniform_quaternions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniformly distributed rotations (Haar measure) of shape ``shape + (4,)``, float64."""
    return quat_normalize(rng.normal(size=shape + (4,)))


def corruptible_joints(rig: "Rig") -> np.ndarray:
    """(J,) bool: the joints a corruption may turn, the ones whose turn changes the body's shape: the joints
    :func:`vips.body.judged_joints` judges on the skeleton without helper joints, less the body root itself."""
    body = body_root(rig)
    out = judged_joints(rig, body, shown=~helper_joints(rig, body))
    out[body] = False
    return out


def _candidates(rig: "Rig", need_bone: bool) -> np.ndarray:
    """Indices of the joints a corruption may turn (:func:`corruptible_joints`; with ``need_bone``, those with a
    bone to turn). Rigs where that leaves none (a few joints, no skin) fall back to every non-root joint."""
    bone = np.linalg.norm(rig.bone_axes(), axis=1) > 0
    cand = np.flatnonzero(corruptible_joints(rig) & (bone if need_bone else True))
    if len(cand):
        return cand
    ok = np.arange(rig.num_joints) > 0
    if need_bone:
        ok &= bone
    cand = np.flatnonzero(ok)
    if len(cand) == 0:  # one-joint rigs (or rigs of zero-length bones): the root is all there is
        cand = np.flatnonzero(bone) if need_bone else np.arange(rig.num_joints)
    if len(cand) == 0:
        raise ValueError(f"{rig.label}: no joint with a bone to corrupt")
    return cand


def _finish(poses: Poses, rotations: np.ndarray, kind: str, descriptions: list[str], joints: list[int]) -> Corrupted:
    # Normalize without canonicalizing the sign, so joints that were not corrupted keep their values.
    rotations = rotations / np.linalg.norm(rotations, axis=-1, keepdims=True)
    out = Poses(rotations.astype(np.float32), poses.root_translation.copy(), poses.fps,
                f"{poses.name}:{kind}")
    return Corrupted(out, descriptions, np.asarray(joints, np.int64))


# ----- twist ---------------------------------------------------------------------------------------------
def twist(rig: "Rig", poses: Poses, seed: int = 0, reference: Poses | None = None,
          min_deg: float = 100.0, max_deg: float = 180.0) -> Corrupted:
    """Twist one joint per pose (:func:`corruptible_joints`, with a bone) about its bone axis to
    ``min_deg..max_deg`` degrees from rest.

    The joint's swing is kept, so its bone (and the child joint) stay in place; the subtree turns about it.
    """
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    rng = np.random.default_rng(seed)
    axes = rig.bone_axes()
    cand = _candidates(rig, need_bone=True)
    rot = poses.rotations.astype(np.float64).copy()
    desc, joints = [], []
    for i in range(len(poses)):
        j = int(rng.choice(cand))
        angle = np.deg2rad(rng.uniform(min_deg, max_deg)) * rng.choice([-1.0, 1.0])
        swing, _ = swing_twist(rot[i, j], axes[j])
        rot[i, j] = quat_multiply(swing, axis_angle_to_quat(axes[j] * angle))
        desc.append(f"twist '{rig.joint_names[j]}' to {np.rad2deg(angle):+.0f} deg about its bone")
        joints.append(j)
    return _finish(poses, rot, "twist", desc, joints)


# ----- random rotations ------------------------------------------------------------------------------------
def random_rotation(rig: "Rig", poses: Poses, seed: int = 0, reference: Poses | None = None,
                    max_joints: int = 3) -> Corrupted:
    """Replace 1..``max_joints`` distinct joints (:func:`corruptible_joints`) of each pose by uniformly random
    rotations."""
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    rng = np.random.default_rng(seed)
    cand = _candidates(rig, need_bone=False)
    rot = poses.rotations.astype(np.float64).copy()
    desc, joints = [], []
    for i in range(len(poses)):
        k = int(rng.integers(1, min(max_joints, len(cand)) + 1))
        chosen = rng.choice(cand, size=k, replace=False)
        rot[i, chosen] = uniform_quaternions(rng, (k,))
        desc.append("random rotation of " + ", ".join(f"'{rig.joint_names[j]}'" for j in chosen))
        joints.append(int(chosen[0]))
    return _finish(poses, rot, "random_rotation", desc, joints)


# ----- a few joints turned ---------------------------------------------------------------------------------
def turned_joints(rig: "Rig", poses: Poses, seed: int = 0, reference: Poses | None = None, min_joints: int = 2,
                  max_joints: int = 3, min_deg: float = 90.0, max_deg: float = 120.0) -> Corrupted:
    """Turn ``min_joints..max_joints`` distinct joints with bones (:func:`corruptible_joints`) of each pose by
    ``min_deg..max_deg``.

    Each chosen joint's delta rotation ``q`` becomes ``r * q``, ``r`` a rotation by a uniform angle in
    ``[min_deg, max_deg]`` about a uniformly random axis: the joint ends that far (geodesic angle) from where
    it was, whatever its pose. Other joints and the root translation are untouched. Rigs with fewer joints
    with bones turn all they have.
    """
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    if not 1 <= min_joints <= max_joints:
        raise ValueError(f"turned_joints needs 1 <= min_joints <= max_joints, got {min_joints} and {max_joints}")
    rng = np.random.default_rng(seed)
    cand = _candidates(rig, need_bone=True)
    rot = poses.rotations.astype(np.float64).copy()
    desc, joints = [], []
    for i in range(len(poses)):
        k = int(rng.integers(min(min_joints, len(cand)), min(max_joints, len(cand)) + 1))
        chosen = rng.choice(cand, size=k, replace=False)
        axes = rng.normal(size=(k, 3))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        angles = np.deg2rad(rng.uniform(min_deg, max_deg, size=k))
        rot[i, chosen] = quat_multiply(axis_angle_to_quat(axes * angles[:, None]), rot[i, chosen])
        desc.append("turn " + ", ".join(f"'{rig.joint_names[j]}' by {np.rad2deg(a):.0f} deg"
                                        for j, a in zip(chosen, angles)))
        joints.append(int(chosen[0]))
    return _finish(poses, rot, "turned_joints", desc, joints)


# ----- hyper-extension ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class BendModel:
    """How each joint bends in the data: dominant axis, usual side, how far it goes the other way.

    Attributes:
        axis: (J, 3) unit dominant axis of the joint's rotation vectors (largest eigenvector of their second moment).
        sign: (J,) +1 or -1, the side of ``axis`` the joint usually bends to.
        opposite: (J,) radians, the furthest the data bends against the usual side (>= 0).
        hinge: (J,) share of the motion along ``axis`` (1 for a perfect hinge).
        motion: (J,) mean squared rotation angle (0 for joints that never move).
    """

    axis: np.ndarray
    sign: np.ndarray
    opposite: np.ndarray
    hinge: np.ndarray
    motion: np.ndarray


def bend_model(reference: Poses) -> BendModel:
    """Fit a :class:`BendModel` to reference poses (N, J)."""
    v = quat_to_axis_angle(reference.rotations.astype(np.float64))  # (N, J, 3)
    second = np.einsum("njk,njl->jkl", v, v) / max(1, len(v))
    vals, vecs = np.linalg.eigh(second)
    axis = vecs[..., -1]
    trace = vals.sum(axis=-1)
    hinge = np.where(trace > 1e-12, vals[:, -1] / np.where(trace > 1e-12, trace, 1), 0.0)
    proj = np.einsum("njk,jk->nj", v, axis)
    mean = proj.mean(axis=0)
    sign = np.where(mean < 0, -1.0, 1.0)
    opposite = np.maximum(0.0, (-sign[None] * proj).max(axis=0))
    return BendModel(axis, sign, opposite, hinge, trace)


def hyperextension(rig: "Rig", poses: Poses, seed: int = 0, reference: Poses | None = None,
                   min_deg: float = 100.0, margin_deg: float = 45.0, spread_deg: float = 40.0) -> Corrupted:
    """Bend a hinge-like joint per pose far against its usual bend.

    The joint's rotation becomes a bend of ``theta`` about its dominant axis, against its usual side, with
    ``theta >= max(min_deg, furthest the reference goes that way + margin_deg)`` (uniform over the next
    ``spread_deg``, at most 179 degrees). Joints are drawn among the most hinge-like (share of motion on one
    axis >= 0.5, else all moving joints) that still have room for that.
    """
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    reference = poses if reference is None else reference
    reference.check_rig(rig.num_joints, "reference poses' rig")
    rng = np.random.default_rng(seed)
    model = bend_model(reference)
    cand = _candidates(rig, need_bone=True)
    lo = np.maximum(np.deg2rad(min_deg), model.opposite + np.deg2rad(margin_deg))
    roomy = cand[lo[cand] <= np.deg2rad(150.0)]
    moving = roomy[model.motion[roomy] > 1e-8]
    hinges = moving[model.hinge[moving] >= 0.5]
    pool = hinges if len(hinges) else moving if len(moving) else roomy if len(roomy) else cand
    rot = poses.rotations.astype(np.float64).copy()
    axes = model.axis.copy()
    bones = rig.bone_axes()
    for j in pool:
        if model.motion[j] <= 1e-8:  # never moves in the data: bend perpendicular to the bone
            ref = np.array([1.0, 0, 0]) if abs(bones[j, 0]) < 0.9 else np.array([0, 1.0, 0])
            axes[j] = np.cross(bones[j], ref) / np.linalg.norm(np.cross(bones[j], ref))
    desc, joints = [], []
    for i in range(len(poses)):
        j = int(rng.choice(pool))
        start = min(lo[j], np.deg2rad(179.0))
        theta = min(rng.uniform(start, start + np.deg2rad(spread_deg)), np.deg2rad(179.0))
        rot[i, j] = axis_angle_to_quat(axes[j] * (-model.sign[j] * theta))
        desc.append(f"bend '{rig.joint_names[j]}' {np.rad2deg(theta):.0f} deg against its usual bend "
                    f"(data goes at most {np.rad2deg(model.opposite[j]) + 0.0:.0f} deg that way)")
        joints.append(j)
    return _finish(poses, rot, "hyperextension", desc, joints)


# ----- limbs through the body ------------------------------------------------------------------------------
@dataclass(eq=False)
class BodyLayout:
    """Trunk and limb chains of a rig, found from the tree alone.

    Attributes:
        core: (J,) bool, trunk joints (subtrees holding at least a fifth of the joints, and the root).
        chains: (root joint, end effector) pairs: a non-trunk joint hanging off the trunk and the deepest
            leaf below it.
        radius: trunk thickness (asset units): median distance of trunk-skinned vertices to the trunk's
            bones, or 8% of the height without a mesh.
    """

    core: np.ndarray
    chains: list[tuple[int, int]]
    radius: float


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, 3) points, (S, 3) segment starts and ends -> (P,) distance to the nearest segment."""
    ab = b - a
    length2 = np.maximum(np.sum(ab * ab, axis=1), 1e-18)
    t = np.clip(np.einsum("psk,sk->ps", points[:, None] - a[None], ab) / length2, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None] - closest, axis=-1).min(axis=1)


def body_layout(rig: "Rig") -> BodyLayout:
    """The :class:`BodyLayout` of ``rig``."""
    parents = rig.parents
    J = rig.num_joints
    size = subtree_sizes(parents)
    core = size >= max(2, int(np.ceil(0.2 * J)))
    core[0] = True
    depth = rig.depths()
    kids = children_lists(parents)
    chains = []
    for c in range(1, J):
        if core[c] or not core[parents[c]]:
            continue
        stack, best = [c], c
        while stack:
            k = stack.pop()
            if depth[k] > depth[best]:
                best = k
            stack.extend(kids[k])
        if best != c:
            chains.append((c, best))
    radius = 0.08 * rig.height()
    bones = [j for j in range(1, J) if core[j] and core[parents[j]]]
    if rig.has_mesh and bones:
        rest = rig.rest_joint_positions().astype(np.float64)
        owned = core[rig.skin_indices[:, 0]]
        if owned.sum() >= 8:
            a, b = rest[parents[bones]], rest[bones]
            d = _segment_distance(rig.vertices[owned].astype(np.float64), a, b)
            radius = float(np.clip(np.median(d), 0.02 * rig.height(), 0.25 * rig.height()))
    return BodyLayout(core, chains, radius)


def _trunk_segments(layout: BodyLayout, parents: np.ndarray, positions: np.ndarray,
                    subtree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, 3) starts and ends of the trunk bones of one posed skeleton, leaving out the chain's own subtree."""
    bones = [j for j in range(1, len(parents)) if layout.core[j] and layout.core[parents[j]] and not subtree[j]]
    if not bones:  # a trunk of one joint: a point-capsule at the root
        return positions[:1], positions[:1]
    bones = np.asarray(bones)
    return positions[parents[bones]], positions[bones]


def _rotation_between(u: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking direction u to direction d."""
    u, d = u / np.linalg.norm(u), d / np.linalg.norm(d)
    axis = np.cross(u, d)
    s, c = np.linalg.norm(axis), float(np.dot(u, d))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(u, [1.0, 0, 0] if abs(u[0]) < 0.9 else [0, 1.0, 0])
        axis, angle = perp / np.linalg.norm(perp), np.pi
    else:
        axis, angle = axis / s, np.arctan2(s, c)
    return quat_to_matrix(axis_angle_to_quat(axis * angle))


def _chain_path(parents: np.ndarray, root: int, end: int) -> list[int]:
    path = [end]
    while path[-1] != root:
        path.append(int(parents[path[-1]]))
    return path[::-1]


def through_body(rig: "Rig", poses: Poses, seed: int = 0, reference: Poses | None = None,
                 targets_per_bone: int = 9) -> Corrupted:
    """Swing one limb chain per pose rigidly about its root joint so that the limb passes into the trunk.

    Chains are those of :func:`body_layout` whose root is among :func:`corruptible_joints` (all of them when none is).

    For each chain (random order, chains longer than twice the trunk radius first) the swing aims the chain
    root's line to one of its joints at points along the trunk's bones; a joint "lands" where that line,
    at the joint's distance, meets the trunk. The deepest joint of the chain that lands within half the
    trunk radius of a trunk bone is used (the end effector when the limb is not longer than the trunk is
    deep, an elbow or knee when it would poke out the other side); without any, the closest landing, and
    the description says "short of".
    """
    from vips.kinematics import world_matrices

    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    rng = np.random.default_rng(seed)
    layout = body_layout(rig)
    if not layout.chains:
        raise ValueError(f"{rig.label}: no limb chain hangs off the trunk; 'through_body' does not apply")
    parents = rig.parents
    world = world_matrices(rig, poses).astype(np.float64)
    rest_m = quat_to_matrix(rig.rest_rotations.astype(np.float64))
    rot = poses.rotations.astype(np.float64).copy()
    s = np.linspace(0.0, 1.0, targets_per_bone)
    paths = [_chain_path(parents, c, e) for c, e in layout.chains]
    # A chain no longer than the trunk is thick ends "inside" wherever it points: prefer long ones.
    rest = rig.rest_joint_positions().astype(np.float64)
    reach = np.array([np.linalg.norm(rest[e] - rest[c]) for c, e in layout.chains])
    # Chains rooted at a joint whose turn shows (not an IK target beside the body, not a helper), long ones first.
    shows = corruptible_joints(rig)
    seen = [k for k in range(len(paths)) if shows[paths[k][0]]] or list(range(len(paths)))
    pool = [k for k in seen if reach[k] >= 2 * layout.radius] or seen
    subtrees = []
    for c, _ in layout.chains:
        inside = np.zeros(rig.num_joints, bool)
        inside[c] = True
        for j in range(c + 1, rig.num_joints):
            inside[j] |= inside[parents[j]]
        subtrees.append(inside)
    desc, joints = [], []
    for i in range(len(poses)):
        pos = world[i, :, :3, 3]
        best = None  # (distance, chain root, landed joint, aim direction, root-to-joint vector)
        for k in rng.permutation(pool):
            path = paths[k]
            c = path[0]
            a, b = _trunk_segments(layout, parents, pos, subtrees[k])
            targets = (a[:, None] + s[None, :, None] * (b - a)[:, None]).reshape(-1, 3)
            aim = targets - pos[c]
            aim = aim[np.linalg.norm(aim, axis=1) > 1e-9]
            if len(aim) == 0:
                continue
            aim /= np.linalg.norm(aim, axis=1, keepdims=True)
            found = False
            for j in path[:0:-1]:  # deepest first
                u = pos[j] - pos[c]
                length = np.linalg.norm(u)
                if length < 1.5 * layout.radius:
                    continue
                dist = _segment_distance(pos[c] + length * aim, a, b)
                t = int(np.argmin(dist))
                if best is None or dist[t] < best[0] or (not found and dist[t] < 0.5 * layout.radius):
                    best = (float(dist[t]), c, j, aim[t], u)
                if dist[t] < 0.5 * layout.radius:
                    found = True
                    break
            if found:
                break
        if best is None:
            raise ValueError(f"{rig.label}: every limb chain is shorter than the trunk is thick; "
                             "'through_body' does not apply")
        dist, c, j, aim, u = best
        turn = _rotation_between(u, aim)
        frame = world[i, parents[c], :3, :3] @ rest_m[c]  # the frame the joint's delta acts in
        rot[i, c] = quat_multiply(matrix_to_quat(frame.T @ turn @ frame), rot[i, c])
        where = "inside" if dist < layout.radius else "short of"
        desc.append(f"swing '{rig.joint_names[c]}' so '{rig.joint_names[j]}' ends {where} the trunk "
                    f"({dist / layout.radius:.2f} trunk radii from its axis)")
        joints.append(c)
    return _finish(poses, rot, "through_body", desc, joints)


CORRUPTIONS: dict[str, Callable[..., Corrupted]] = {
    "twist": twist,
    "random_rotation": random_rotation,
    "turned_joints": turned_joints,
    "hyperextension": hyperextension,
    "through_body": through_body,
}

#: The corruptions the procedural-species report uses by default (the report as it was before ``turned_joints``).
PROCEDURAL_CORRUPTIONS: tuple[str, ...] = ("twist", "random_rotation", "hyperextension", "through_body")
