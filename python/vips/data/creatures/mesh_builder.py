"""A closed triangle mesh from a creature's body primitives: a smooth union of tapered capsules (and rounded
boxes for robots) sampled on a grid and contoured by marching tetrahedra.

Marching tetrahedra on the Freudenthal (Kuhn) split of every grid cube has no ambiguous cases, so the
surface is a closed 2-manifold: every edge is shared by exactly two triangles. Triangles wind
counter-clockwise seen from outside (normals point out).
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from vips.data.creatures.skeleton import Primitive

TARGET_VERTICES = 2500
MIN_RADIUS_CELLS = 0.75  # thinner parts are thickened so the grid cannot lose them

# Each cube splits into six tetrahedra around its main diagonal (corner 0 -> corner 7); corner c has offset
# bits (c & 1, c >> 1 & 1, c >> 2 & 1).
_TETS = np.array([[0, 1 << p[0], (1 << p[0]) | (1 << p[1]), 7] for p in permutations(range(3))])
_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])


def _edge_id(a: int, b: int) -> int:
    return int(np.flatnonzero((_EDGES == sorted((a, b))).all(1))[0])


def _case_table() -> np.ndarray:
    """(16, 2, 3) tet edges forming up to two triangles for each inside-mask; -1 where there is none."""
    table = -np.ones((16, 2, 3), np.int64)
    for mask in range(1, 15):
        inside = [v for v in range(4) if mask >> v & 1]
        outside = [v for v in range(4) if not mask >> v & 1]
        if len(inside) in (1, 3):
            lone = inside[0] if len(inside) == 1 else outside[0]
            others = [v for v in range(4) if v != lone]
            table[mask, 0] = [_edge_id(lone, o) for o in others]
        else:
            (a, b), (c, d) = inside, outside
            quad = [_edge_id(a, c), _edge_id(a, d), _edge_id(b, d), _edge_id(b, c)]
            table[mask, 0] = quad[:3]
            table[mask, 1] = [quad[0], quad[2], quad[3]]
    return table


_CASES = _case_table()


def _frame(p: Primitive) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    axis = p.b - p.a
    length = float(np.linalg.norm(axis))
    u = axis / length if length > 1e-12 else np.array([0.0, 0.0, 1.0])
    w = p.flat - np.dot(p.flat, u) * u
    if np.linalg.norm(w) < 1e-6:
        w = np.cross(u, [1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.cross(u, [0.0, 1.0, 0.0])
    w /= np.linalg.norm(w)
    return u, w, np.cross(u, w), length


def primitive_field(p: Primitive, pts: np.ndarray, r_floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Field of one primitive at points (N, 3): (value, negative inside, metres-ish; normalized distance
    |offset| / radius, about 1 on the primitive's own surface)."""
    u, w, v, length = _frame(p)
    r0, r1 = max(p.r0, r_floor), max(p.r1, r_floor)
    d = pts - p.a
    along = d @ u
    if p.box:
        half = 0.5 * length
        local = np.stack([d @ v, d @ w, along - half], -1)
        ext = np.array([r0, max(r0 * p.squash, r_floor), half + 0.3 * r0])
        rr = 0.25 * min(ext[0], ext[1])
        q = np.abs(local) - ext + rr
        value = np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0) - rr
        return value, (value + r0) / r0
    t = np.clip(along / length, 0, 1) if length > 1e-12 else np.zeros(len(pts))
    off = d - (t * length)[:, None] * u
    squash = max(p.squash, r_floor / max(r0, r1, 1e-12))
    if squash < 1:
        off = off + ((1 / squash - 1) * (off @ w))[:, None] * w
    dist = np.linalg.norm(off, axis=-1)
    r = r0 + t * (r1 - r0)
    return dist - r, dist / r


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.maximum(k - np.abs(a - b), 0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _cell_size(prims: list[Primitive], target: int) -> float:
    """Grid spacing that gives about ``target`` vertices, accounting for parts thickened to the grid."""
    cell = 0.0
    for _ in range(3):
        floor = MIN_RADIUS_CELLS * cell
        area = 0.0
        for p in prims:
            r = max(0.5 * (p.r0 + p.r1), floor)
            flat = 1.0 if p.box else (1 + max(p.squash, floor / r)) / 2
            area += 2 * np.pi * r * flat * np.linalg.norm(p.b - p.a) + 4 * np.pi * r * r * flat
        # About 1.5 vertices per cell face crossed by the surface with the tetrahedral split (measured).
        cell = float(np.sqrt(area * 1.5 / target))
    return cell


def build_mesh(prims: list[Primitive], target_vertices: int = TARGET_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """Contour the smooth union of ``prims``: returns vertices (V, 3) float64 and faces (F, 3) int64."""
    cell = _cell_size(prims, target_vertices)
    r_floor = MIN_RADIUS_CELLS * cell
    lo = np.min([np.minimum(p.a, p.b) - max(p.r0, p.r1, r_floor) for p in prims], axis=0) - 2 * cell
    hi = np.max([np.maximum(p.a, p.b) + max(p.r0, p.r1, r_floor) for p in prims], axis=0) + 2 * cell
    shape = np.ceil((hi - lo) / cell).astype(int) + 1
    axes = [lo[i] + cell * np.arange(shape[i]) for i in range(3)]
    field = np.full(tuple(shape), 4 * cell)
    for p in prims:
        reach = max(p.r0, p.r1, r_floor) + 2 * cell
        pl = np.minimum(p.a, p.b) - reach
        ph = np.maximum(p.a, p.b) + reach
        i0 = np.clip(np.floor((pl - lo) / cell).astype(int), 0, shape - 1)
        i1 = np.clip(np.ceil((ph - lo) / cell).astype(int) + 1, 1, shape)
        sub = np.meshgrid(*[axes[i][i0[i]:i1[i]] for i in range(3)], indexing="ij")
        pts = np.stack([s.ravel() for s in sub], -1)
        value, _ = primitive_field(p, pts, r_floor)
        block = field[i0[0]:i1[0], i0[1]:i1[1], i0[2]:i1[2]]
        k = 0.6 * max(min(p.r0, p.r1), r_floor)
        field[i0[0]:i1[0], i0[1]:i1[1], i0[2]:i1[2]] = _smooth_min(block.ravel(), value, k).reshape(block.shape)
    field = np.where(np.abs(field) < 1e-9, 1e-9, field)
    return _march(field, lo, cell)


def _march(field: np.ndarray, origin: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    nx, ny, nz = field.shape
    inside = field < 0
    # Cubes holding both signs.
    corners = [inside[dx:nx - 1 + dx, dy:ny - 1 + dy, dz:nz - 1 + dz]
               for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    any_in = np.logical_or.reduce(corners)
    all_in = np.logical_and.reduce(corners)
    cubes = np.argwhere(any_in & ~all_in)
    offsets = np.array([[c & 1, c >> 1 & 1, c >> 2 & 1] for c in range(8)])
    node = cubes[:, None, :] + offsets[None]  # (C, 8, 3)
    node_id = (node[..., 0] * ny + node[..., 1]) * nz + node[..., 2]
    tet_nodes = node_id[:, _TETS].reshape(-1, 4)  # (C*6, 4)
    flat_field = field.ravel()
    vals = flat_field[tet_nodes]
    mask = ((vals < 0) * (1 << np.arange(4))).sum(1)
    keep = (mask > 0) & (mask < 15)
    tet_nodes, vals, mask = tet_nodes[keep], vals[keep], mask[keep]
    tris_e = _CASES[mask]  # (T, 2, 3) tet edge ids
    tet_idx = np.repeat(np.arange(len(mask)), 2)
    tris_e = tris_e.reshape(-1, 3)
    valid = tris_e[:, 0] >= 0
    tet_idx, tris_e = tet_idx[valid], tris_e[valid]
    ea = tet_nodes[tet_idx[:, None], _EDGES[tris_e][..., 0]]  # (F, 3) grid nodes at each edge end
    eb = tet_nodes[tet_idx[:, None], _EDGES[tris_e][..., 1]]
    lo_id, hi_id = np.minimum(ea, eb), np.maximum(ea, eb)
    key = lo_id.astype(np.int64) * field.size + hi_id
    uniq, inverse = np.unique(key.ravel(), return_inverse=True)
    faces = inverse.reshape(-1, 3)
    a, b = uniq // field.size, uniq % field.size
    fa, fb = flat_field[a], flat_field[b]
    t = np.clip(fa / (fa - fb), 0.02, 0.98)[:, None]

    def coords(ids: np.ndarray) -> np.ndarray:
        i, rem = np.divmod(ids, ny * nz)
        j, k = np.divmod(rem, nz)
        return origin + cell * np.stack([i, j, k], -1).astype(np.float64)

    verts = coords(a) * (1 - t) + coords(b) * t
    # Orient every triangle from the inside corners of its tetrahedron towards the outside ones.
    tv = vals[tet_idx] < 0
    tp = coords(tet_nodes[tet_idx])  # (F, 4, 3)
    n_in, n_out = tv.sum(1, keepdims=True), (~tv).sum(1, keepdims=True)
    outward = (tp * ~tv[..., None]).sum(1) / n_out - (tp * tv[..., None]).sum(1) / n_in
    normal = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    flip = (normal * outward).sum(1) < 0
    faces[flip] = faces[flip][:, ::-1]
    return verts, faces
