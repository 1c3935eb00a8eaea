"""Per-joint conditioning of a rig for the pose model, computed once per rig (numpy only).

Everything here is expressed in the rig's *canonical frame*: Y up, facing +Z (the character's left on +X),
origin on the ground under the body root (:mod:`vips.body`: the pelvis, not a ground bone above it), lengths
divided by the rig's height. So the same asset scaled, re-unit'ed, stored Z-up, translated or turned about its
up axis gives the same features. The structure features (depth, chains, the root flag) count from the body
root, and the joints above it are left out of the model (:attr:`RigConditioning.joint_mask`), so a ground bone
added above the pelvis changes nothing the model sees. Helper joints (twist, share and zero-length end bones,
:mod:`vips.helper_joints`) are left out the same way: the features are those of the rig without them.

Facing is estimated from geometry (it must work for auto-rigs with generic joint names): the lateral axis is
the horizontal normal of the best mirror plane of the rest joints (symmetry), and its sign is chosen so that
the low bones (feet, toes, paws) point forward. See :func:`canonical_frame`.

The node features (J, F) are concatenated blocks, listed with their widths in :data:`FEATURE_BLOCKS`:

=================  =====  ===========================================================================
block              width  meaning (canonical units: lengths / rig height)
=================  =====  ===========================================================================
position           3      rest world position of the joint in the canonical frame
offset             3      rest offset from the parent joint (zero for the body root and below masked joints)
bone_length        1      length of that offset
direction          3      unit direction of the offset (zero for the root or a zero-length bone)
depth              2      edges from the body root: depth / max depth, and depth / 32
subtree            2      joints in the subtree rooted here: fraction of the joints the model sees, log(size) /
                          log(256)
children           1      number of children / 4
leaf_root          2      1 for a leaf; 1 for the body root
chain              3      position inside its chain of single-child joints (0 at the chain start, 1 at its
                          end), chain length / 16, and edges down to the deepest leaf / max depth
symmetry           3      side (+1 on the +X side with a mirror partner, -1 on -X, 0 on the midline or
                          unpaired), has a partner (1/0), mirror residual (distance to the mirrored partner)
mesh               8      has skinned mesh (1/0), skinned-area fraction (area-weighted sum of the joint's
                          weights / total area), weighted centroid of the region minus the joint position (3),
                          square roots of the region's covariance eigenvalues, largest first (3)
name               16     bag of body-part concepts found in the joint name (head, neck, spine, hip, arm,
                          hand, finger, leg, foot, tail, wing, jaw, eye, ear, root) and the side the name says
                          (+1 left, -1 right); all zero for generic names such as ``joint_17``
=================  =====  ===========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vips.body import above_body, body_root
from vips.helper_joints import helper_joints, without_joints
from vips.skeleton import ancestors, bone_axes, child_counts, depths, hop_distances, subtree_sizes

if TYPE_CHECKING:
    from vips.rig import Rig

FEATURE_BLOCKS: tuple[tuple[str, int], ...] = (
    ("position", 3),
    ("offset", 3),
    ("bone_length", 1),
    ("direction", 3),
    ("depth", 2),
    ("subtree", 2),
    ("children", 1),
    ("leaf_root", 2),
    ("chain", 3),
    ("symmetry", 3),
    ("mesh", 8),
    ("name", 16),
)
#: Width F of the node features.
FEATURE_DIM = sum(w for _, w in FEATURE_BLOCKS)

#: Body-part concepts of the name features, each with the name tokens that mean it.
NAME_CONCEPTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", ("head", "skull", "nose", "beak", "snout", "face")),
    ("neck", ("neck",)),
    ("spine", ("spine", "chest", "torso", "back", "abdomen", "belly", "body", "thorax", "ribs")),
    ("hip", ("hip", "hips", "pelvis", "waist", "butt", "glute")),
    ("arm", ("arm", "upperarm", "forearm", "shoulder", "clavicle", "collar", "elbow", "shldr", "bicep")),
    ("hand", ("hand", "wrist", "palm", "claw")),
    ("finger", ("finger", "thumb", "index", "middle", "ring", "pinky", "little", "digit")),
    ("leg", ("leg", "upleg", "thigh", "knee", "calf", "shin", "femur", "tibia")),
    ("foot", ("foot", "ankle", "toe", "toes", "heel", "paw", "hoof")),
    ("tail", ("tail",)),
    ("wing", ("wing", "feather")),
    ("jaw", ("jaw", "mouth", "teeth", "tongue", "lip", "mandible")),
    ("eye", ("eye", "eyes", "eyelid", "brow", "lid")),
    ("ear", ("ear", "ears", "antenna", "horn")),
    ("root", ("root", "cog", "master", "reference")),
)
_LEFT = frozenset({"l", "left", "lft", "lt"})
_RIGHT = frozenset({"r", "right", "rgt", "rt"})
_TOKEN_TO_CONCEPT = {tok: i for i, (_, toks) in enumerate(NAME_CONCEPTS) for tok in toks}

# Graph codes (the relation of joint j to joint i, for attention biases), see :func:`graph_codes`.
_DIST_BUCKETS = np.array([2, 3, 4, 5, 7, 10, 15])  # lower edges of the distance buckets for distance >= 2
CODE_SELF, CODE_PARENT, CODE_CHILD, CODE_MIRROR = 0, 1, 2, 3
_CODE_FAR = 4  # then (relation in {ancestor, descendant, other}) x (len(_DIST_BUCKETS) buckets)
#: Number of distinct graph codes.
NUM_GRAPH_CODES = _CODE_FAR + 3 * len(_DIST_BUCKETS)

# A mirrored joint matches a partner closer than this (canonical units: fraction of the rig's height).
MIRROR_TOLERANCE = 0.03


@dataclass(eq=False)
class RigConditioning:
    """What the pose model knows about a rig, computed once by :func:`rig_conditioning`.

    Attributes:
        node_features: (J, F) float32 per-joint features, F = :data:`FEATURE_DIM` (blocks in the module doc).
        parents: (J,) int32 parent index, -1 for the root.
        graph_distance: (J, J) float32 number of bones on the path between two joints.
        graph_code: (J, J) int64 relation code of joint j seen from joint i (self, parent, child, mirror
            partner, or ancestor/descendant/other by distance bucket), < :data:`NUM_GRAPH_CODES`.
        mirror: (J,) int32 left/right partner of each joint (itself on the midline, -1 when unpaired).
        height: the rig's height in asset units (what lengths are divided by).
        canonical_transform: (4, 4) float32 similarity taking asset-space points to the canonical frame
            (``p_canon = M[:3, :3] @ p + M[:3, 3]``; its linear part is ``rotation / height``).
        canonical_rotation: (3, 3) float32 rotation part (asset axes to canonical axes).
        rest_world_rotations: (J, 3, 3) float32 rest world rotation of each joint in the canonical frame.
        rest_positions: (J, 3) float32 rest joint positions in the canonical frame (the ``position`` block).
        reference_frames: (J, 3, 3) float32 each joint's reference frame at rest in the canonical frame, columns
            (bone axis, reference axis, their cross product): what the pose encoding reads a posed joint's
            orientation in (:func:`reference_frames`).
        body_root: index of the body root (:func:`vips.body.body_root`).
        joint_mask: (J,) float32, 0 for the joints above the body root (ground and control bones: not part of
            the pose, masked out of the model) and for helper joints (:mod:`vips.helper_joints`), 1 for every
            other joint.
        joint_names: the rig's joint names.
    """

    node_features: np.ndarray
    parents: np.ndarray
    graph_distance: np.ndarray
    graph_code: np.ndarray
    mirror: np.ndarray
    height: float
    canonical_transform: np.ndarray
    canonical_rotation: np.ndarray
    rest_world_rotations: np.ndarray
    rest_positions: np.ndarray
    reference_frames: np.ndarray
    body_root: int
    joint_mask: np.ndarray
    joint_names: list[str]

    @property
    def num_joints(self) -> int:
        return int(self.parents.shape[0])

    def __repr__(self) -> str:
        pairs = int(np.sum((self.mirror >= 0) & (self.mirror != np.arange(self.num_joints)))) // 2
        return f"RigConditioning({self.num_joints} joints, {pairs} mirror pairs, height={self.height:.4g})"


def rig_conditioning(rig: "Rig") -> RigConditioning:
    """Compute the conditioning of ``rig`` (see the module docstring for every feature).

    Helper joints (:mod:`vips.helper_joints`: twist, share and zero-length end bones) are left out like the
    joints above the body: every feature is that of the rig without them, and they are masked out."""
    body = body_root(rig)
    helpers = helper_joints(rig, body)
    if not helpers.any():
        return _conditioning(rig, body)
    keep = np.flatnonzero(~helpers)
    inner = _conditioning(without_joints(rig, helpers), int(np.searchsorted(keep, body)))
    return _with_helpers(inner, rig, keep)


def _with_helpers(inner: RigConditioning, rig: "Rig", keep: np.ndarray) -> RigConditioning:
    """The conditioning ``inner`` of ``rig`` without its helpers, spread back over all of ``rig``'s joints
    (``keep``: the indices of the joints ``inner`` has); helpers get zero features and mask 0."""
    parents = np.asarray(rig.parents, np.int64)
    J = len(parents)
    world = rig.rest_world_matrices().astype(np.float64)
    feats = np.zeros((J, inner.node_features.shape[1]), np.float32)
    feats[keep] = inner.node_features
    mirror = np.full(J, -1, np.int64)
    mirror[keep] = np.where(inner.mirror >= 0, keep[np.maximum(inner.mirror, 0)], -1)
    dist = hop_distances(parents)
    frames = np.repeat(np.eye(3, dtype=np.float32)[None], J, axis=0)
    frames[keep] = inner.reference_frames
    mask = np.zeros(J, np.float32)
    mask[keep] = inner.joint_mask
    # Helpers need their own rest (the decoding turns them with their parent); the kept joints keep inner's.
    rot = inner.canonical_rotation.astype(np.float64)
    rest_rot = np.einsum("ab,jbc->jac", rot, world[:, :3, :3]).astype(np.float32)
    rest_rot[keep] = inner.rest_world_rotations
    rest_pos = _apply(inner.canonical_transform.astype(np.float64), world[:, :3, 3]).astype(np.float32)
    rest_pos[keep] = inner.rest_positions
    return RigConditioning(
        node_features=feats,
        parents=parents.astype(np.int32),
        graph_distance=dist.astype(np.float32),
        graph_code=graph_codes(parents, dist, mirror),
        mirror=mirror.astype(np.int32),
        height=inner.height,
        canonical_transform=inner.canonical_transform,
        canonical_rotation=inner.canonical_rotation,
        rest_world_rotations=rest_rot,
        rest_positions=rest_pos,
        reference_frames=frames,
        body_root=int(keep[inner.body_root]),
        joint_mask=mask,
        joint_names=list(rig.joint_names),
    )


def _conditioning(rig: "Rig", body: int) -> RigConditioning:
    parents = np.asarray(rig.parents, np.int64)
    J = parents.shape[0]
    world = rig.rest_world_matrices().astype(np.float64)
    height = float(rig.height())
    mesh = _rest_mesh(rig)
    transform = canonical_frame(world[:, :3, 3], parents, height, rig.up_axis, mesh[0] if mesh else None,
                                origin_joint=body)
    rot = transform[:3, :3] * height
    pos = _apply(transform, world[:, :3, 3])

    dist = hop_distances(parents)
    depth = dist[body]
    above = above_body(parents, body)
    mirror, residual = mirror_pairs(pos, parents, depth)
    blocks = {
        "position": pos,
        **_bone_features(pos, np.where(above[np.maximum(parents, 0)] | (np.arange(J) == body), -1, parents)),
        **_topology_features(parents, depth, body),
        "symmetry": _symmetry_features(pos, mirror, residual),
        "mesh": _mesh_features(rig, mesh, transform, pos),
        "name": name_features(rig.joint_names),
    }
    feats = np.concatenate([np.asarray(blocks[name], np.float64).reshape(J, w) for name, w in FEATURE_BLOCKS], 1)
    return RigConditioning(
        node_features=feats.astype(np.float32),
        parents=parents.astype(np.int32),
        graph_distance=dist.astype(np.float32),
        graph_code=graph_codes(parents, dist, mirror),
        mirror=mirror.astype(np.int32),
        height=height,
        canonical_transform=transform.astype(np.float32),
        canonical_rotation=rot.astype(np.float32),
        rest_world_rotations=np.einsum("ab,jbc->jac", rot, world[:, :3, :3]).astype(np.float32),
        rest_positions=pos.astype(np.float32),
        reference_frames=reference_frames(pos, parents, body).astype(np.float32),
        body_root=body,
        joint_mask=(~above).astype(np.float32),
        joint_names=list(rig.joint_names),
    )


# Bones pointing closer than this (|cos|) to the facing axis take the up axis as their reference instead.
_FORWARD_BONE_COS = 0.8


def reference_frames(pos: np.ndarray, parents: np.ndarray, body_root: int | None = None) -> np.ndarray:
    """(J, 3, 3) float64 reference frame of each joint at rest, from the rest geometry alone (canonical frame).

    Columns: the *bone axis* (:func:`vips.skeleton.bone_axes`: to the mean of the children, the longest child
    when that mean vanishes, else the bone from the parent, else up), the *reference axis* (the facing axis +Z
    made perpendicular to the bone axis; the up axis +Y for bones within 37 degrees of the facing axis, such as
    feet, necks and tails of quadrupeds), and their cross product.

    The ``body_root``'s frame is the canonical frame itself (identity): its orientation is the body's (tilt and
    heading), and the mean of its children (spine up, legs down, a tail back) nearly cancels, so a bone axis
    from them would point up on one rig and backwards on the next for the same upright pelvis.

    The frame depends on where the bones point, never on the rig's local joint axes, and it turns with a
    limb when the rest pose swings the limb about the facing axis: a T-pose and an A-pose give an arm the same
    frame up to that swing, so a posed arm reads the same from either rest (see :mod:`vips.pose_encoding`).
    """
    offset = _offsets(pos, parents)
    axes = bone_axes(parents, offset, 1e-6, incoming=offset, fallback=np.array([0.0, 1.0, 0.0]))
    out = np.zeros((len(parents), 3, 3))
    for j, a in enumerate(axes):
        if j == body_root:
            out[j] = np.eye(3)
            continue
        ref = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < _FORWARD_BONE_COS else np.array([0.0, 1.0, 0.0])
        b = ref - (ref @ a) * a
        b /= np.linalg.norm(b)
        out[j] = np.stack([a, b, np.cross(a, b)], axis=1)
    return out


# ----- canonical frame ---------------------------------------------------------------------------------------
def up_to_y(up_axis: str) -> np.ndarray:
    """(3, 3) rotation taking the asset's up axis to +Y (identity for Y up; x, y, z -> x, z, -y for Z up)."""
    if up_axis == "Z":
        return np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    return np.eye(3)


def canonical_frame(
    joints: np.ndarray, parents: np.ndarray, height: float, up_axis: str = "Y", vertices: np.ndarray | None = None,
    origin_joint: int = 0,
) -> np.ndarray:
    """(4, 4) float64 similarity from asset space to the canonical frame (Y up, facing +Z, unit height).

    Args:
        joints: (J, 3) rest joint positions in asset space.
        parents: (J,) parent indices.
        height: the rig's height in asset units.
        up_axis: "Y" or "Z".
        vertices: optional (V, 3) rest mesh, whose lowest point is the ground (else the lowest joint).
        origin_joint: the joint the origin lies under (on the ground): the body root. The joints above it
            (ground and control bones) take no part in finding the facing.

    The lateral axis is the horizontal normal of the best mirror plane of the joints
    (:func:`lateral_axis`); the facing is horizontal and perpendicular to it, signed so that bones in the
    lowest 30% of the rig point forward on average (toes and paws), falling back to the sign of the joints'
    third moment along the facing when no low bone leans either way.
    """
    up = up_to_y(up_axis)
    keep = ~above_body(parents, origin_joint)
    index = np.cumsum(keep) - 1
    parents = np.where(keep[np.maximum(parents, 0)] & (parents >= 0), index[np.maximum(parents, 0)], -1)[keep]
    q = joints[keep] @ up.T
    lateral = lateral_axis(q, parents, height)
    facing = np.cross(lateral, [0.0, 1.0, 0.0])
    facing /= np.linalg.norm(facing)
    if _facing_sign(q, parents, height, facing, None if vertices is None else vertices @ up.T) < 0:
        facing = -facing
    x_axis = np.cross([0.0, 1.0, 0.0], facing)
    yaw = np.stack([x_axis, [0.0, 1.0, 0.0], facing])  # rows: canonical axes in up-converted coordinates
    rot = yaw @ up
    pts = joints[keep] if vertices is None else vertices
    c = (pts @ rot.T)[:, 1].min()
    root = rot @ joints[origin_joint]
    origin = np.array([root[0], c, root[2]])
    m = np.eye(4)
    m[:3, :3] = rot / height
    m[:3, 3] = -origin / height
    return m


def lateral_axis(points: np.ndarray, parents: np.ndarray, height: float) -> np.ndarray:
    """(3,) horizontal unit normal of the plane that best mirrors ``points`` (J, 3) (Y up) onto themselves.

    Candidates start from the horizontal principal axis and cover half a turn in 15 degree steps, then the best
    is refined; mirrored joints are matched to joints of the same depth. Starting from the principal axis keeps
    the result the same when the rig is turned about its up axis.
    """
    h = points[:, [0, 2]] - points[:, [0, 2]].mean(0)
    cov = h.T @ h
    w, v = np.linalg.eigh(cov)
    base = float(np.arctan2(v[1, -1], v[0, -1]))
    depth = depths(parents)
    same = depth[:, None] == depth[None, :]

    def cost(angle: float) -> float:
        n = np.array([np.cos(angle), np.sin(angle)])
        s = h @ n
        mirrored = h - 2 * (s - s.mean())[:, None] * n
        d2 = ((mirrored[:, None, :] - h[None, :, :]) ** 2).sum(-1)
        dy = (points[:, None, 1] - points[None, :, 1]) ** 2
        d = np.sqrt(np.where(same, d2 + dy, np.inf).min(1))
        return float(d.mean()) / height

    angles = base + np.arange(12) * np.pi / 12
    costs = [cost(a) for a in angles]
    best = float(angles[int(np.argmin(costs))])
    step = np.pi / 24
    for _ in range(6):  # pattern search down to ~0.2 degree
        trial = [best - step, best, best + step]
        best = trial[int(np.argmin([cost(a) for a in trial]))]
        step /= 2
    n = np.array([np.cos(best), np.sin(best)])
    dy = (points[:, None, 1] - points[None, :, 1]) ** 2
    n = _refine_normal(h, n, np.where(same, dy, np.inf), height)
    return np.array([n[0], 0.0, n[1]])


def _refine_normal(h: np.ndarray, n: np.ndarray, extra: np.ndarray, height: float) -> np.ndarray:
    """Snap a mirror normal to the mean direction between mutually matched mirror pairs (exact for a
    symmetric rig, so the canonical frame does not inherit the search's step size). ``extra`` (J, J) holds
    the squared vertical distances, inf between joints that may not pair."""
    s = h @ n
    mirrored = h - 2 * (s - s.mean())[:, None] * n
    d = ((mirrored[:, None, :] - h[None, :, :]) ** 2).sum(-1) + extra
    best = np.argmin(d, axis=1)
    idx = np.arange(len(h))
    diff = h - h[best]
    ok = (best[best] == idx) & (best != idx) & (np.sqrt(d[idx, best]) < MIRROR_TOLERANCE * height)
    ok &= np.linalg.norm(diff, axis=1) > 1e-6 * height
    if not ok.any():
        return n
    diff = diff[ok] * np.sign(diff[ok] @ n)[:, None]
    m = diff.sum(0)
    norm = np.linalg.norm(m)
    return m / norm if norm > 0 else n


def _facing_sign(q: np.ndarray, parents: np.ndarray, height: float, facing: np.ndarray, verts) -> float:
    low = q[:, 1].min() + 0.3 * height
    score = 0.0
    for j in range(1, len(parents)):
        p = parents[j]
        if p >= 0 and q[j, 1] < low and q[p, 1] < low:
            score += float((q[j] - q[p]) @ facing)
    if abs(score) > 1e-3 * height:
        return score
    pts = q if verts is None else verts
    s = (pts - pts.mean(0)) @ facing
    third = float(np.mean(s**3))
    return third if abs(third) > 1e-12 * height**3 else 1.0


def _apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ m[:3, :3].T + m[:3, 3]


# ----- skeleton structure ------------------------------------------------------------------------------------
def graph_codes(parents: np.ndarray, dist: np.ndarray, mirror: np.ndarray | None = None) -> np.ndarray:
    """(J, J) int64 relation of joint j to joint i, used to pick a learned attention bias.

    Codes: 0 self, 1 j is i's parent, 2 j is i's child, 3 j is i's mirror partner, then
    ``4 + 3 * bucket + relation`` with relation 0 (j is an ancestor of i), 1 (a descendant) or 2 (another
    branch) and ``bucket`` the index of the distance among the lower edges 2, 3, 4, 5, 7, 10, 15.
    """
    J = len(parents)
    a = ancestors(parents)
    bucket = np.clip(np.searchsorted(_DIST_BUCKETS, dist, side="right") - 1, 0, None)
    rel = np.where(a, 0, np.where(a.T, 1, 2))
    code = _CODE_FAR + 3 * bucket + rel
    idx = np.arange(J)
    code[idx[1:], parents[1:]] = CODE_PARENT
    code[parents[1:], idx[1:]] = CODE_CHILD
    if mirror is not None:
        paired = (mirror >= 0) & (mirror != idx)
        code[idx[paired], mirror[paired]] = CODE_MIRROR
    code[idx, idx] = CODE_SELF
    return code.astype(np.int64)


def _offsets(pos: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(J, 3) each joint's offset from its parent (zero where ``parents`` is -1)."""
    has = parents >= 0
    offset = np.zeros_like(pos)
    offset[has] = pos[has] - pos[parents[has]]
    return offset


def _bone_features(pos: np.ndarray, parents: np.ndarray) -> dict[str, np.ndarray]:
    """Offset, length and direction of each joint's bone from its parent (zero where ``parents`` is -1)."""
    offset = _offsets(pos, parents)
    length = np.linalg.norm(offset, axis=1, keepdims=True)
    direction = np.where(length > 1e-8, offset / np.maximum(length, 1e-12), 0.0)
    return {"offset": offset, "bone_length": length, "direction": direction}


def _topology_features(parents: np.ndarray, depth: np.ndarray, body: int) -> dict[str, np.ndarray]:
    """Structure features counted from the body root ``body``: ``depth`` is each joint's graph distance to it.
    Joints above the body root get values too, but the model never sees them (they are masked)."""
    J = len(parents)
    max_depth = max(int(depth.max()), 1)
    kids = child_counts(parents)
    size = subtree_sizes(parents)
    above = above_body(parents, body)
    seen = max(int((~above).sum()), 1)
    # Height above the deepest leaf of the subtree.
    below = np.zeros(J, np.int64)
    for j in range(J - 1, 0, -1):
        below[parents[j]] = max(below[parents[j]], below[j] + 1)
    # Chains: maximal runs where the parent has exactly one child; a chain starts at a joint whose parent
    # branches (or at the root).
    start = np.array([p < 0 or kids[p] != 1 or above[p] for p in parents])
    index = np.zeros(J, np.int64)
    head = np.arange(J)
    for j in range(J):
        if not start[j]:
            index[j] = index[parents[j]] + 1
            head[j] = head[parents[j]]
    length = np.zeros(J, np.int64)
    np.maximum.at(length, head, index + 1)
    chain_len = length[head]
    chain_pos = np.where(chain_len > 1, index / np.maximum(chain_len - 1, 1), 0.0)
    return {
        "depth": np.stack([depth / max_depth, depth / 32.0], 1),
        "subtree": np.stack([size / seen, np.log(size) / np.log(256.0)], 1),
        "children": (kids / 4.0)[:, None],
        "leaf_root": np.stack([kids == 0, np.arange(J) == body], 1).astype(np.float64),
        "chain": np.stack([chain_pos, chain_len / 16.0, below / max_depth], 1),
    }


# ----- symmetry ----------------------------------------------------------------------------------------------
def mirror_pairs(pos: np.ndarray, parents: np.ndarray, depth: np.ndarray | None = None,
                 tol: float = MIRROR_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Left/right partners of canonical rest positions (J, 3) by mirroring across the x = 0 plane.

    A partner must have the same depth (``depth``, default edges from the root), subtree size and number of
    children, be the mutual nearest mirrored match, and lie within ``tol`` (fraction of the height). Names are
    not used, so generic auto-rig names work.

    Returns:
        mirror: (J,) int64 partner index (the joint itself on the midline, -1 when unpaired).
        residual: (J,) float64 distance between the mirrored joint and its partner (0 when unpaired).
    """
    J = len(parents)
    mirrored = pos * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(mirrored[:, None, :] - pos[None, :, :], axis=-1)
    depth = depths(parents) if depth is None else depth
    size, kids = subtree_sizes(parents), child_counts(parents)
    same = (depth[:, None] == depth) & (size[:, None] == size) & (kids[:, None] == kids)
    d = np.where(same, d, np.inf)
    best = np.argmin(d, axis=1)
    idx = np.arange(J)
    ok = (d[idx, best] < tol) & (best[best] == idx)
    mirror = np.where(ok, best, -1)
    residual = np.where(ok, d[idx, best], 0.0)
    return mirror, residual


def _symmetry_features(pos: np.ndarray, mirror: np.ndarray, residual: np.ndarray) -> np.ndarray:
    paired = (mirror >= 0) & (mirror != np.arange(len(mirror)))
    side = np.where(paired, np.sign(pos[:, 0]), 0.0)
    return np.stack([side, (mirror >= 0).astype(np.float64), residual], 1)


# ----- mesh --------------------------------------------------------------------------------------------------
def _rest_mesh(rig: "Rig") -> tuple[np.ndarray, np.ndarray] | None:
    """Rest-pose vertices (V, 3) (skinned, so they match the rest joints even when bind != rest) and areas."""
    if not rig.has_mesh or rig.num_vertices == 0 or rig.skin_weights is None:
        return None
    from vips.kinematics import skin
    from vips.poses import Poses

    verts = skin(rig, Poses.identity(1, rig.num_joints))[0].astype(np.float64)
    area = np.full(len(verts), 1.0 / len(verts))
    if rig.faces is not None and len(rig.faces):
        f = np.asarray(rig.faces, np.int64)
        tri = verts[f]
        a = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        area = np.zeros(len(verts))
        np.add.at(area, f.ravel(), np.repeat(a / 3, 3))
        if area.sum() <= 0:
            area = np.full(len(verts), 1.0 / len(verts))
    return verts, area / area.sum()


def _mesh_features(rig: "Rig", mesh, transform: np.ndarray, pos: np.ndarray) -> np.ndarray:
    J = len(pos)
    out = np.zeros((J, 8))
    if mesh is None:
        return out
    verts, area = mesh
    v = _apply(transform, verts)
    idx = np.asarray(rig.skin_indices, np.int64).ravel()
    w = (np.asarray(rig.skin_weights, np.float64) * area[:, None]).ravel()
    vv = np.repeat(v, rig.skin_indices.shape[1], axis=0)
    mass = np.bincount(idx, weights=w, minlength=J)
    first = np.stack([np.bincount(idx, weights=w * vv[:, k], minlength=J) for k in range(3)], 1)
    second = np.zeros((J, 3, 3))
    np.add.at(second, idx, w[:, None, None] * vv[:, :, None] * vv[:, None, :])
    has = mass > 1e-12
    m = np.maximum(mass, 1e-12)
    centroid = first / m[:, None]
    cov = second / m[:, None, None] - centroid[:, :, None] * centroid[:, None, :]
    eig = np.sqrt(np.clip(np.linalg.eigvalsh(cov)[:, ::-1], 0, None))
    out[:, 0] = 1.0
    out[:, 1] = mass
    out[:, 2:5] = np.where(has[:, None], centroid - pos, 0.0)
    out[:, 5:8] = np.where(has[:, None], eig, 0.0)
    return out


# ----- names -------------------------------------------------------------------------------------------------
def name_tokens(name: str) -> list[str]:
    """Lower-case tokens of a joint name, split at separators, digits and camelCase (``mixamorig:LeftUpLeg``
    -> mixamorig, left, up, leg; ``Bip01 L Thigh`` -> bip, l, thigh)."""
    parts = re.split(r"[^A-Za-z]+", name)
    tokens: list[str] = []
    for part in parts:
        tokens += [t.lower() for t in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", part)]
    return tokens


def name_features(names: list[str]) -> np.ndarray:
    """(J, 16) float64: concept bag (15, see :data:`NAME_CONCEPTS`) and name side (+1 left, -1 right)."""
    out = np.zeros((len(names), len(NAME_CONCEPTS) + 1))
    for j, name in enumerate(names):
        tokens = name_tokens(name)
        for tok in tokens:
            concept = _TOKEN_TO_CONCEPT.get(tok)
            if concept is None and tok.endswith("s"):
                concept = _TOKEN_TO_CONCEPT.get(tok[:-1])
            if concept is not None:
                out[j, concept] = 1.0
        if out[j, :-1].any() or len(tokens) > 1:
            # A lone "l"/"r" token only means a side next to another word ("L_Arm", "hand.R", "lShldr").
            if _LEFT & set(tokens):
                out[j, -1] = 1.0
            elif _RIGHT & set(tokens):
                out[j, -1] = -1.0
    # Generic names ("joint_17", "bone.003") carry no concept; drop any stray side they might imply.
    out[~out[:, :-1].any(axis=1), -1] = 0.0
    return out
