"""Write the RigNet-format test rigs in ``tests/data/assets/rignet/`` (run once; the output files are committed).

The RigNet rigs of ``../shared/assets/rignet`` are for research use only, so the tests use two rigs of our own in
the same format, made from redistributable rigs and given the quirks of RigNet's auto-rigs:

- ``humanoid_auto``: CesiumMan (tests/data/assets/gltf/CesiumMan.glb, CC-BY 4.0, Cesium);
- ``fox_auto``: Quaternius' fox (``../shared/motion/quaternius/animals_pack/LowPolyFox.glb``, CC0 1.0) without
  its ground, control and pole-target bones, the IK foot bones hung under the lower legs instead.

Both are taken in their bind pose, scaled to unit height with the feet at y = 0 and centred on x and z, and their
joints renamed as RigNet names them: ``root``, ``joint_N``, and ``NAME_dup_K`` for the copies RigNet puts at a
branching joint (one copy per branch, a hair away from the joint, each heading one branch). Joints and bones are
listed breadth first, positions with 8 decimals, skin weights with 4 (summing to 1), OBJ vertices with 6.

Usage: ``python tests/data/make_rignet_rigs.py`` from the repository root (needs ``../shared/motion`` for the fox).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

import vips

HERE = Path(__file__).resolve().parent
OUT = HERE / "assets" / "rignet"
FOX = HERE.parents[2] / "shared" / "motion" / "quaternius" / "animals_pack" / "LowPolyFox.glb"
DUP_OFFSET = 0.003  # RigNet's branch copies sit this far (in unit-height units) from their joint

FOX_DROPPED = ["AnimalArmature", "Body", "PoleTargetBack.L", "PoleTarget.L", "PoleTargetBack.R", "PoleTarget.R"]
FOX_REPARENT = {"IKBackLeg.L": "BackLowerLeg.L", "IKFrontLeg.L": "FrontLowerLeg.L",
                "IKBackLeg.R": "BackLowerLeg.R", "IKFrontLeg.R": "FrontLowerLeg.R"}


def _load(path: Path) -> vips.Rig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vips.RigWarning)
        return vips.load(path)


def _skeleton(rig: vips.Rig, dropped: list[str], reparent: dict[str, str]):
    """Kept joint indices, their parents (indices into the kept list) and dense (V, J_kept) weights."""
    names = rig.joint_names
    keep = [j for j, n in enumerate(names) if n not in dropped]
    index = {j: k for k, j in enumerate(keep)}
    parents = []
    for j in keep:
        p = names.index(reparent[names[j]]) if names[j] in reparent else int(rig.parents[j])
        parents.append(index[p] if p in index else -1)
    if parents.count(-1) != 1:
        raise SystemExit(f"{rig.name}: the kept joints have {parents.count(-1)} roots, not one")
    dense = np.zeros((rig.num_vertices, rig.num_joints))
    np.add.at(dense, (np.arange(rig.num_vertices)[:, None], rig.skin_indices), rig.skin_weights)
    if dense[:, [j for j in range(rig.num_joints) if j not in index]].sum() > 1e-6:
        raise SystemExit(f"{rig.name}: a dropped joint carries skin")
    return keep, parents, dense[:, keep]


def _weld(verts: np.ndarray, weights: np.ndarray, faces: np.ndarray):
    """Merge vertices that the OBJ's 6 decimals write alike (glTF splits them at UV seams; RigNet's meshes
    are welded), keeping each first copy's weights and dropping triangles that collapse."""
    _, first, inverse = np.unique(np.round(verts, 6), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep the file order of first appearances
    new_index = np.empty(len(order), np.int64)
    new_index[order] = np.arange(len(order))
    f = new_index[inverse.reshape(-1)][faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return verts[first[order]], weights[first[order]], f


def _breadth_first(parents: list[int]) -> list[int]:
    order, queue = [], [parents.index(-1)]
    while queue:
        j = queue.pop(0)
        order.append(j)
        queue += [c for c, p in enumerate(parents) if p == j]
    return order


def _weights_text(row: np.ndarray, names: list[str]) -> str:
    """One vertex's influences, heaviest first, 4 decimals that sum to exactly 1."""
    idx = [j for j in np.argsort(-row, kind="stable") if row[j] >= 5e-5][:4]
    w = np.round(row[idx] / row[idx].sum() * 1e4).astype(int)
    w[0] += 10000 - w.sum()
    return " ".join(f"{names[j]} {v / 1e4:.4f}" for j, v in zip(idx, w) if v > 0)


def write_rig(rig: vips.Rig, name: str, dropped: list[str] = (), reparent: dict[str, str] | None = None) -> None:
    keep, parents, weights = _skeleton(rig, list(dropped), reparent or {})
    joints = rig.bind_matrices[keep, :3, 3].astype(np.float64)
    verts = rig.vertices.astype(np.float64)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    shift = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
    scale = 1.0 / (hi[1] - lo[1])
    joints, verts = (joints - shift) * scale, (verts - shift) * scale
    verts, weights, faces = _weld(verts, weights, rig.faces)

    order = _breadth_first(parents)
    label = {j: ("root" if parents[j] < 0 else f"joint_{rank}") for rank, j in enumerate(sorted(order))}
    # RigNet gives a branching joint one copy per child branch; the copies carry the branches (and, for the root,
    # the skin of the joint, as RigNet's root copies do).
    lines_joints, lines_hier, head_of = [], [], {}
    skin_owner = {j: label[j] for j in order}
    for j in order:
        lines_joints.append((label[j], joints[j]))
        kids = [c for c in order if parents[c] == j]
        if len(kids) > 1:
            for k, c in enumerate(kids):
                dup = f"{label[j]}_dup_{k}"
                toward = joints[c] - joints[j]
                pos = joints[j] + DUP_OFFSET * toward / max(np.linalg.norm(toward), 1e-12)
                lines_joints.append((dup, pos))
                lines_hier.append((label[j], dup))
                head_of[c] = dup
            if parents[j] < 0:
                skin_owner[j] = f"{label[j]}_dup_0"
        for c in kids:
            lines_hier.append((head_of.get(c, label[j]), label[c]))
    names = [skin_owner[j] for j in range(len(keep))]

    OUT.mkdir(parents=True, exist_ok=True)
    text = [f"joints {n} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}" for n, p in lines_joints]
    text.append("root root")
    text += [f"skin {v} {_weights_text(weights[v], names)}" for v in range(len(verts))]
    text += [f"hier {a} {b}" for a, b in lines_hier]
    (OUT / f"{name}_rig.txt").write_text("\n".join(text) + "\n")
    obj = [f"# {name}: {len(verts)} vertices, {len(faces)} triangles (see tests/data/README.md)"]
    obj += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    obj += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    (OUT / f"{name}.obj").write_text("\n".join(obj) + "\n")
    print(f"{name}: {len(lines_joints)} joints, {len(verts)} vertices, {len(faces)} triangles")


if __name__ == "__main__":
    write_rig(_load(HERE / "assets" / "gltf" / "CesiumMan.glb"), "humanoid_auto")
    write_rig(_load(FOX), "fox_auto", FOX_DROPPED, FOX_REPARENT)
