"""Every triangle mesh of a glTF file as one plain mesh in scene space (no rig): for per-frame reconstructions.

The node hierarchy and its matrices come from :class:`vips.io.gltf_nodes.NodeTree`, the same parsing the rig
reader uses; skins, morph targets and animations are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vips.io.gltf_format import parse_file
from vips.io.gltf_nodes import NodeTree


def read_gltf_positions(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """All triangle meshes of a .glb/.gltf file in world space (node transforms applied, skinning ignored):
    (V, 3) float32 vertices (file units) and (F, 3) int32 faces. Only the nodes of the default scene count
    (every top-level node when the file has no scene); AssetError naming the file when it is corrupt."""
    path = Path(path)
    doc = parse_file(path)
    tree = NodeTree(doc)
    world = tree.world_matrices([tree.node_matrix(i) for i in range(len(tree.nodes))])
    scenes = doc.array("scenes")
    if scenes:
        roots = scenes[doc.json.get("scene", 0)].get("nodes", [])
    else:
        roots = [i for i in range(len(tree.nodes)) if tree.parent[i] < 0]
    verts, faces, base = [], [], 0
    # depth first, last child first: the order meshes are concatenated in (frame sampling depends on it)
    stack = [int(r) for r in roots]
    while stack:
        i = stack.pop()
        node, m = tree.node(i), world[i]
        if "mesh" in node:
            mesh = doc.item("meshes", node["mesh"], f"node {i} mesh")
            for k, prim in enumerate(mesh.get("primitives", [])):
                if prim.get("mode", 4) != 4 or "POSITION" not in prim.get("attributes", {}):
                    continue
                pos = doc.accessor(prim["attributes"]["POSITION"], f"mesh {node['mesh']} primitive {k} POSITION")
                pos = pos.reshape(-1, 3).astype(np.float64) @ m[:3, :3].T + m[:3, 3]
                if "indices" in prim:
                    idx = doc.accessor(prim["indices"], f"mesh {node['mesh']} primitive {k} indices").reshape(-1, 3)
                else:
                    idx = np.arange(len(pos)).reshape(-1, 3)
                verts.append(pos)
                faces.append(idx.astype(np.int64) + base)
                base += len(pos)
        stack.extend(int(c) for c in node.get("children", []))
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32)
