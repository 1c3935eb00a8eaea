"""Per-joint conditioning: invariance to scale / units / up axis / facing, symmetry pairing, graph structure,
name and mesh features (the pose encoding is tested in test_pose_encoding.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vips.features import (
    CODE_CHILD,
    CODE_MIRROR,
    CODE_PARENT,
    FEATURE_BLOCKS,
    FEATURE_DIM,
    NAME_CONCEPTS,
    graph_codes,
    name_features,
    rig_conditioning,
)
from vips.rig import Rig
from vips.rotations import matrix_to_quat, quat_multiply, quat_normalize
from vips.skeleton import hop_distances

# A symmetric biped in the asset frame, facing +X (so canonicalization must turn it), toes pointing forward.
# (name role, parent role, world position as (forward, up, lateral-left))
_BIPED = [
    ("hips", None, (0.0, 1.0, 0.0)),
    ("spine", "hips", (0.0, 1.25, 0.0)),
    ("chest", "spine", (0.0, 1.5, 0.0)),
    ("neck", "chest", (0.02, 1.65, 0.0)),
    ("head", "neck", (0.05, 1.8, 0.0)),
    ("thigh_l", "hips", (0.0, 0.95, 0.12)),
    ("knee_l", "thigh_l", (0.03, 0.5, 0.13)),
    ("ankle_l", "knee_l", (0.0, 0.08, 0.13)),
    ("toe_l", "ankle_l", (0.15, 0.02, 0.14)),
    ("thigh_r", "hips", (0.0, 0.95, -0.12)),
    ("knee_r", "thigh_r", (0.03, 0.5, -0.13)),
    ("ankle_r", "knee_r", (0.0, 0.08, -0.13)),
    ("toe_r", "ankle_r", (0.15, 0.02, -0.14)),
    ("shoulder_l", "chest", (0.0, 1.55, 0.2)),
    ("elbow_l", "shoulder_l", (0.0, 1.55, 0.5)),
    ("wrist_l", "elbow_l", (0.05, 1.55, 0.78)),
    ("shoulder_r", "chest", (0.0, 1.55, -0.2)),
    ("elbow_r", "shoulder_r", (0.0, 1.55, -0.5)),
    ("wrist_r", "elbow_r", (0.05, 1.55, -0.78)),
]
_ROLES = [r for r, _, _ in _BIPED]


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def biped(generic_names: bool = True, seed: int = 0) -> Rig:
    """The biped above, Y up, facing +X, with random rest joint orientations, a point mesh and 2-bone skin."""
    rng = np.random.default_rng(seed)
    # (forward, up, left) -> asset (x, y, z) with forward = +X, left = -Z (right-handed, Y up).
    world = np.array([[f, u, -left] for _, _, (f, u, left) in _BIPED])
    parents = np.array([-1 if p is None else _ROLES.index(p) for _, p, _ in _BIPED], np.int32)
    J = len(_BIPED)
    # Random world orientations per joint; local rest transforms follow from them.
    wq = quat_normalize(rng.normal(size=(J, 4)))
    from vips.rotations import quat_conjugate, quat_to_matrix

    wr = quat_to_matrix(wq)
    trans = np.zeros((J, 3))
    rot = np.zeros((J, 4))
    for j in range(J):
        p = parents[j]
        if p < 0:
            trans[j], rot[j] = world[j], wq[j]
        else:
            trans[j] = wr[p].T @ (world[j] - world[p])
            rot[j] = quat_multiply(quat_conjugate(wq[p]), wq[j])
    owner = np.repeat(np.arange(J), 6)
    other = np.where(parents[owner] >= 0, parents[owner], owner)
    # Mesh points between each joint and its parent, mirrored so the mesh is symmetric too.
    u = np.tile(np.linspace(0.1, 0.9, 6), J)
    verts = world[owner] * (1 - u[:, None]) + world[other] * u[:, None] + np.array([0.0, 0.0, 0.0])
    names = [f"joint_{j}" for j in range(J)] if generic_names else list(_ROLES)
    w = np.stack([1 - 0.5 * u, 0.5 * u], 1)
    return Rig(names, parents, trans, rot, vertices=verts.astype(np.float32),
               skin_indices=np.stack([owner, other], 1).astype(np.int32), skin_weights=w.astype(np.float32),
               name="biped")


def transformed(rig: Rig, scale: float, rotation: np.ndarray, offset: np.ndarray, up_axis: str = "Y") -> Rig:
    """The same rig with every point mapped by ``p -> scale * rotation @ p + offset`` (a new asset)."""
    q = matrix_to_quat(rotation)
    trans = rig.rest_translations.astype(np.float64) * scale
    trans[0] = scale * rotation @ rig.rest_translations[0] + offset
    rot = rig.rest_rotations.astype(np.float64).copy()
    rot[0] = quat_multiply(q, rot[0])
    bind = rig.bind_matrices.astype(np.float64).copy()
    bind[:, :3, :3] = rotation @ bind[:, :3, :3]
    bind[:, :3, 3] = scale * bind[:, :3, 3] @ rotation.T + offset
    verts = scale * rig.vertices.astype(np.float64) @ rotation.T + offset
    return Rig(list(rig.joint_names), rig.parents, trans, rot, bind_matrices=bind, vertices=verts,
               skin_indices=rig.skin_indices, skin_weights=rig.skin_weights, up_axis=up_axis, name=rig.name)


Y_TO_Z = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # rotation taking +Y to +Z


def _variants(rig: Rig) -> dict[str, Rig]:
    return {
        "scaled_translated": transformed(rig, 100.0, np.eye(3), np.array([3.0, -20.0, 7.5])),
        "z_up": transformed(rig, 1.0, Y_TO_Z, np.zeros(3), up_axis="Z"),
        "yawed": transformed(rig, 1.0, _rot_y(0.7), np.zeros(3)),
        "all": transformed(rig, 0.01, Y_TO_Z @ _rot_y(-2.1), np.array([1.0, 2.0, 3.0]), up_axis="Z"),
    }


def test_feature_blocks_add_up():
    assert FEATURE_DIM == sum(w for _, w in FEATURE_BLOCKS)
    cond = rig_conditioning(biped())
    assert cond.node_features.shape == (len(_BIPED), FEATURE_DIM)
    assert cond.node_features.dtype == np.float32 and np.isfinite(cond.node_features).all()


@pytest.mark.parametrize("variant", ["scaled_translated", "z_up", "yawed", "all"])
def test_features_invariant_to_similarity_and_up_axis(variant):
    rig = biped()
    base = rig_conditioning(rig)
    other = rig_conditioning(_variants(rig)[variant])
    np.testing.assert_allclose(other.node_features, base.node_features, atol=2e-4)
    np.testing.assert_array_equal(other.graph_code, base.graph_code)
    np.testing.assert_array_equal(other.mirror, base.mirror)
    np.testing.assert_allclose(other.rest_world_rotations, base.rest_world_rotations, atol=1e-4)


def test_canonical_frame_faces_plus_z_with_y_up():
    cond = rig_conditioning(biped())
    pos = cond.node_features[:, :3]
    toe, ankle = _ROLES.index("toe_l"), _ROLES.index("ankle_l")
    assert pos[toe, 2] - pos[ankle, 2] > 0.05  # toes point forward (+Z)
    assert pos[_ROLES.index("head"), 1] > 0.9  # Y up, unit height
    assert abs(pos[:, 1].min()) < 0.01  # ground near zero (the lowest mesh point, a little above the toe)
    # Character's left (thigh_l) on +X when facing +Z with Y up.
    assert pos[_ROLES.index("thigh_l"), 0] > 0.05
    assert cond.height == pytest.approx(biped().height())


def test_symmetry_pairs_generic_names():
    cond = rig_conditioning(biped(generic_names=True, seed=3))
    for j, role in enumerate(_ROLES):
        if role.endswith("_l") or role.endswith("_r"):
            partner = role[:-1] + ("r" if role.endswith("_l") else "l")
            assert cond.mirror[j] == _ROLES.index(partner), role
        else:
            assert cond.mirror[j] == j, role
    side = cond.node_features[:, _block_slice("symmetry")][:, 0]
    assert side[_ROLES.index("wrist_l")] == 1 and side[_ROLES.index("wrist_r")] == -1 and side[0] == 0
    assert (cond.graph_code[_ROLES.index("elbow_l"), _ROLES.index("elbow_r")]) == CODE_MIRROR


def test_symmetry_rejects_asymmetric_joint():
    rig = biped()
    trans = rig.rest_translations.copy()
    # Move the right wrist well off its mirror position (in its parent's frame; any direction works).
    trans[_ROLES.index("wrist_r")] *= 1.5
    bent = Rig(rig.joint_names, rig.parents, trans, rig.rest_rotations, name="bent")
    cond = rig_conditioning(bent)
    assert cond.mirror[_ROLES.index("wrist_r")] == -1 and cond.mirror[_ROLES.index("wrist_l")] == -1
    assert cond.mirror[_ROLES.index("elbow_l")] == _ROLES.index("elbow_r")


@pytest.mark.parametrize("J", [1, 2, 9, 40])
def test_graph_codes(J):
    rng = np.random.default_rng(J)
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)])
    dist = hop_distances(parents)  # checked against a breadth-first search in test_skeleton.py
    code = graph_codes(parents, dist)
    assert (np.diag(code) == 0).all()
    for j in range(1, J):
        assert code[j, parents[j]] == CODE_PARENT and code[parents[j], j] == CODE_CHILD
    far = dist >= 2
    assert (code[far] >= 4).all()


def test_name_features():
    names = ["mixamorig:LeftUpLeg", "hand.R", "joint_17", "Bip01 L Thigh", "Tail_03", "bone.003", "lShldr", "R"]
    f = name_features(names)
    concept = {c: i for i, (c, _) in enumerate(NAME_CONCEPTS)}
    assert f[0, concept["leg"]] == 1 and f[0, -1] == 1
    assert f[1, concept["hand"]] == 1 and f[1, -1] == -1
    assert not f[2].any() and not f[5].any() and not f[7].any()
    assert f[3, concept["leg"]] == 1 and f[3, -1] == 1
    assert f[4, concept["tail"]] == 1 and f[4, -1] == 0
    assert f[6, concept["arm"]] == 1 and f[6, -1] == 1
    assert not rig_conditioning(biped(generic_names=True)).node_features[:, _block_slice("name")].any()
    assert rig_conditioning(biped(generic_names=False)).node_features[:, _block_slice("name")].any()


def _block_slice(name: str) -> slice:
    start = 0
    for block, width in FEATURE_BLOCKS:
        if block == name:
            return slice(start, start + width)
        start += width
    raise KeyError(name)


def test_mesh_features():
    rig = biped()
    mesh = rig_conditioning(rig).node_features[:, _block_slice("mesh")]
    assert (mesh[:, 0] == 1).all()
    assert mesh[:, 1].sum() == pytest.approx(1.0, abs=1e-5)  # area fractions cover the mesh
    assert (mesh[:, 5:8] >= 0).all() and (np.diff(mesh[:, 5:8], axis=1) <= 1e-6).all()
    # The two thighs skin mirrored regions: same area and extent, mirrored centroid offset.
    l, r = _ROLES.index("thigh_l"), _ROLES.index("thigh_r")
    np.testing.assert_allclose(mesh[l, [1, 3, 4, 5, 6, 7]], mesh[r, [1, 3, 4, 5, 6, 7]], atol=1e-5)
    assert mesh[l, 2] == pytest.approx(-mesh[r, 2], abs=1e-5)
    bare = Rig(rig.joint_names, rig.parents, rig.rest_translations, rig.rest_rotations)
    assert not rig_conditioning(bare).node_features[:, _block_slice("mesh")].any()


def test_real_asset_features(assets_dir):
    import warnings

    import vips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = vips.load(assets_dir / "gltf" / "CesiumMan.glb")
    cond = rig_conditioning(rig)
    assert np.isfinite(cond.node_features).all()
    paired = (cond.mirror >= 0) & (cond.mirror != np.arange(rig.num_joints))
    assert paired.sum() >= 12  # legs and arms pair up although the names are generic
