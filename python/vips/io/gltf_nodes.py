"""The node tree of a parsed glTF document: parents, a parents-first order, local and world matrices.

Shared by the rig reader (:mod:`vips.io.gltf_read`) and the plain-mesh reader (:mod:`vips.io.gltf_mesh`), so
glTF's node hierarchy is parsed and checked (one parent per node, no cycles) in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vips.io.gltf_format import GltfDocument
from vips.rotations import compose_affine, decompose_affine


def wxyz(q: np.ndarray) -> np.ndarray:
    """glTF (x, y, z, w) -> (w, x, y, z)."""
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)


class NodeTree:
    """The nodes of ``doc``: ``parent`` (N,) int64 (-1 for top-level nodes) and ``topo`` (every node, parents
    first); AssetError naming the file when a node has two parents or the hierarchy has a cycle."""

    def __init__(self, doc: GltfDocument) -> None:
        self.doc = doc
        self.nodes = doc.array("nodes")
        self.parent, self.topo = self._node_parents()

    def node(self, i: int) -> dict[str, Any]:
        return self.doc.item("nodes", i, "a node")

    def _node_parents(self) -> tuple[np.ndarray, list[int]]:
        """(parent of each node (-1 for top-level nodes), the nodes parents first). Iterative and linear."""
        n = len(self.nodes)
        parent = np.full(n, -1, np.int64)
        for i in range(n):
            children = self.node(i).get("children", [])
            if not isinstance(children, list):
                raise self.doc.fail(f"node {i} has an invalid 'children' list")
            for c in children:
                c = self.doc.index(c, n, f"node {i}'s children")
                if parent[c] >= 0 or c == i:
                    raise self.doc.fail(f"node {c} has more than one parent (the nodes must form a tree)")
                parent[c] = i
        children: list[list[int]] = [[] for _ in range(n)]
        for c in range(n):
            if parent[c] >= 0:
                children[parent[c]].append(c)
        topo = [i for i in range(n) if parent[i] < 0]
        for i in topo:  # breadth first from the top-level nodes; the list grows as it is walked
            topo.extend(children[i])
        if len(topo) < n:  # every node has at most one parent, so the nodes never reached form cycles
            reached = np.zeros(n, bool)
            reached[topo] = True
            raise self.doc.fail(f"the node hierarchy has a cycle through node {int(np.argmin(reached))}")
        return parent, topo

    def node_matrix(self, i: int) -> np.ndarray:
        node, what = self.node(i), f"node {i}"
        matrix = self.doc.numbers(node, "matrix", 16, what)
        if matrix is not None:
            return matrix.reshape(4, 4).T.copy()  # glTF stores column-major
        t, r, s = self.node_trs(i)
        return compose_affine(r, t, s)

    def node_trs(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(translation (3,), rotation (w, x, y, z), scale (3,)) of node ``i``, float64."""
        node, what = self.node(i), f"node {i}"
        matrix = self.doc.numbers(node, "matrix", 16, what)
        if matrix is not None:
            r, t, s = decompose_affine(matrix.reshape(4, 4).T)
            return t, r, s
        t = self.doc.numbers(node, "translation", 3, what)
        r = self.doc.numbers(node, "rotation", 4, what)
        s = self.doc.numbers(node, "scale", 3, what)
        t = np.zeros(3) if t is None else t
        r = np.array([1.0, 0, 0, 0]) if r is None else wxyz(r)
        if np.linalg.norm(r) < 1e-6:
            raise self.doc.fail(f"node {i} has a zero rotation quaternion")
        s = np.ones(3) if s is None else s
        return t, r, s

    def world_matrices(self, local: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Global matrices (..., 4, 4) of the nodes from their local matrices; None where the local is None
        (callers leave out nodes whose ancestors they do not need)."""
        world: list[np.ndarray | None] = [None] * len(local)
        for i in range(len(local)):
            if local[i] is None:
                continue
            chain = []
            k = i
            while k >= 0 and world[k] is None:
                chain.append(k)
                k = int(self.parent[k])
            for k in reversed(chain):
                p = int(self.parent[k])
                world[k] = local[k] if p < 0 else world[p] @ local[k]
        return world
