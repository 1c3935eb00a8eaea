"""The rig as a differentiable torch model: 6D joint rotations -> joints, skinned vertices, surface samples.

Fitting works in a *normalized* frame: asset coordinates minus the rest mesh's centre, divided by its
largest extent (``Body.height``; the rig height for upright bodies), so every threshold and weight reads
as a fraction of the body's size. :class:`Body` precomputes
what the optimizer needs once per rig: rest and bind transforms, sparse skin weights, area-weighted surface
samples (a face and barycentric coordinates each) and the mesh edges among the vertices those samples use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vips.errors import RigError
from vips.fitting.surface import observable_joints, sample_surface
from vips.rotations import quat_to_matrix

if TYPE_CHECKING:
    from vips.rig import Rig


def rot6d_to_matrix_torch(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; the 6D form is the first two columns (as vips.rotations)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


class Body:
    """Differentiable skinning of one rig in the normalized frame.

    Args:
        rig: a rig with a mesh and skin weights.
        num_samples: surface samples used for Chamfer terms.
        seed: seed of the surface sampling.

    Attributes (torch, float32, normalized units):
        center (3,) and height: the normalization (asset = normalized * height + center).
        samples_face (M,) and samples_bary (M, 3): the surface samples on the active vertices.
        edges (E, 2) and rest_edge_length (E,): mesh edges among the active vertices.
        observable (J,) bool: joints whose rotation changes the mesh.
    """

    def __init__(self, rig: "Rig", num_samples: int = 1500, seed: int = 0) -> None:
        if not rig.has_mesh or rig.faces is None or len(rig.faces) == 0 or rig.skin_indices is None:
            raise RigError(f"{rig.label}: fitting needs a rig with a triangle mesh and skin weights")
        self.rig = rig
        self.num_joints = rig.num_joints
        verts = rig.vertices.astype(np.float64)
        # The normalizing length: the rest mesh's largest extent (the height for upright bodies; for long,
        # flat ones such as a salamander the up extent would make every tolerance absurdly tight).
        self.height = float(max(np.ptp(verts, axis=0).max(), 1e-9))
        self.center_np = 0.5 * (verts.min(0) + verts.max(0))
        rng = np.random.default_rng(seed)
        face, bary = sample_surface(verts, rig.faces, num_samples, rng)
        # Only the vertices of sampled faces are skinned while optimizing (big meshes stay cheap).
        active = np.unique(rig.faces[face].reshape(-1))
        remap = -np.ones(len(verts), np.int64)
        remap[active] = np.arange(len(active))
        self.active_vertices = active
        tri = remap[rig.faces[face]]
        edges = np.concatenate([rig.faces[:, [0, 1]], rig.faces[:, [1, 2]], rig.faces[:, [2, 0]]])
        edges = np.unique(np.sort(edges, axis=1), axis=0)
        edges = remap[edges]
        edges = edges[(edges >= 0).all(axis=1)]
        vn = (verts[active] - self.center_np) / self.height
        rest_len = np.linalg.norm(vn[edges[:, 0]] - vn[edges[:, 1]], axis=1)
        keep = rest_len > 1e-6
        self.vertices = torch.tensor(vn, dtype=torch.float32)
        # Dense (Va, J) weights: one matmul blends all joint transforms, faster than K gathers for J <~ 200.
        dense = np.zeros((len(active), rig.num_joints), np.float32)
        np.add.at(dense, (np.repeat(np.arange(len(active)), rig.skin_indices.shape[1]),
                          rig.skin_indices[active].reshape(-1)), rig.skin_weights[active].reshape(-1))
        self.weights = torch.tensor(dense)
        self.sample_tri = torch.tensor(tri, dtype=torch.long)
        self.sample_bary = torch.tensor(bary, dtype=torch.float32)
        self.edges = torch.tensor(edges[keep], dtype=torch.long)
        self.rest_edge_length = torch.tensor(rest_len[keep], dtype=torch.float32)
        self.observable = torch.tensor(observable_joints(rig))
        self.center = torch.tensor(self.center_np, dtype=torch.float32)
        self.operator = self._linear_operator(tri, bary, edges[keep], len(active))

        parents = rig.parents.astype(np.int64)
        self.parents = parents
        depth = rig.depths()
        self.levels = [
            (torch.tensor(np.nonzero(depth == d)[0]), torch.tensor(parents[depth == d]))
            for d in range(1, int(depth.max(initial=0)) + 1)
        ]
        self.rest_rot = torch.tensor(quat_to_matrix(rig.rest_rotations.astype(np.float64)), dtype=torch.float32)
        t = rig.rest_translations.astype(np.float64) / self.height
        t[0] = (rig.rest_translations[0] - self.center_np) / self.height
        self.rest_trans = torch.tensor(t, dtype=torch.float32)
        bind = rig.bind_matrices.astype(np.float64).copy()
        bind[:, :3, 3] = (bind[:, :3, 3] - self.center_np) / self.height
        inv_bind = np.linalg.inv(bind)
        self.inv_bind_rot = torch.tensor(inv_bind[:, :3, :3], dtype=torch.float32)
        self.inv_bind_trans = torch.tensor(inv_bind[:, :3, 3], dtype=torch.float32)

    @staticmethod
    def _linear_operator(tri: np.ndarray, bary: np.ndarray, edges: np.ndarray, num_vertices: int) -> torch.Tensor:
        """Sparse (3M + E, Va) matrix giving, from the skinned vertices in one product: the M samples, the two
        edge vectors of each sample's face (for its normal) and the E mesh edge vectors."""
        M, E = len(tri), len(edges)
        ar = np.arange(M)
        rows = [np.repeat(ar, 3), np.concatenate([ar, ar]) + M, np.concatenate([ar, ar]) + 2 * M,
                np.concatenate([np.arange(E), np.arange(E)]) + 3 * M]
        cols = [tri.reshape(-1), np.concatenate([tri[:, 1], tri[:, 0]]), np.concatenate([tri[:, 2], tri[:, 0]]),
                np.concatenate([edges[:, 0], edges[:, 1]])]
        vals = [bary.reshape(-1), np.repeat([1.0, -1.0], M), np.repeat([1.0, -1.0], M), np.repeat([1.0, -1.0], E)]
        op = torch.sparse_coo_tensor(
            torch.tensor(np.stack([np.concatenate(rows), np.concatenate(cols)])),
            torch.tensor(np.concatenate(vals), dtype=torch.float32),
            (3 * M + E, num_vertices),
            check_invariants=False,
        )
        return op.coalesce()

    def surface_and_edges(self, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From skinned vertices (F, Va, 3): samples (F, M, 3), unit normals (F, M, 3), edge lengths (F, E)."""
        F, Va = verts.shape[0], verts.shape[1]
        M = self.sample_tri.shape[0]
        flat = verts.permute(1, 0, 2).reshape(Va, F * 3)
        out = torch.sparse.mm(self.operator, flat).reshape(-1, F, 3).permute(1, 0, 2)
        pts, e1, e2, edges = out[:, :M], out[:, M : 2 * M], out[:, 2 * M : 3 * M], out[:, 3 * M :]
        n = torch.cross(e1, e2, dim=-1)
        return pts, n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12), edges.norm(dim=-1)

    # ----- unit conversions -------------------------------------------------------------------------
    def to_normalized(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) asset coordinates -> normalized coordinates, float32."""
        return ((np.asarray(points, np.float64) - self.center_np) / self.height).astype(np.float32)

    def to_asset(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) normalized coordinates -> asset coordinates, float32."""
        return (np.asarray(points, np.float64) * self.height + self.center_np).astype(np.float32)

    # ----- the differentiable model -----------------------------------------------------------------
    def forward_kinematics(self, rot6d: torch.Tensor, root_offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World rotations (F, J, 3, 3) and positions (F, J, 3), normalized units.

        Args:
            rot6d: (F, J, 6) delta rotations (6D form) from each joint's rest local rotation.
            root_offset: (F, 3) root translation offset, normalized units.
        """
        F = rot6d.shape[0]
        local_r = self.rest_rot[None] @ rot6d_to_matrix_torch(rot6d)
        trans = self.rest_trans[None].expand(F, -1, -1)
        trans = torch.cat([trans[:, :1] + root_offset[:, None], trans[:, 1:]], dim=1)
        world_r, world_t = local_r, trans
        for idx, par in self.levels:
            pr = world_r[:, par]
            new_r = pr @ local_r[:, idx]
            new_t = (pr @ trans[:, idx, :, None])[..., 0] + world_t[:, par]
            world_r = world_r.index_copy(1, idx, new_r)
            world_t = world_t.index_copy(1, idx, new_t)
        return world_r, world_t

    def skin(self, world_r: torch.Tensor, world_t: torch.Tensor) -> torch.Tensor:
        """(F, Va, 3) skinned active vertices from world transforms (F, J, 3, 3) and (F, J, 3)."""
        a = world_r @ self.inv_bind_rot[None]
        b = (world_r @ self.inv_bind_trans[None, :, :, None])[..., 0] + world_t
        F, J = a.shape[0], a.shape[1]
        blend = self.weights @ torch.cat([a.reshape(F, J, 9), b], -1)  # (F, Va, 12)
        m = blend[..., :9].reshape(F, -1, 3, 3)
        v = self.vertices
        return (m * v[None, :, None, :]).sum(-1) + blend[..., 9:]

    def surface(self, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Surface samples (F, M, 3) and their unit face normals (F, M, 3) from skinned vertices (F, Va, 3)."""
        tri = verts[:, self.sample_tri]  # (F, M, 3, 3)
        pts = (tri * self.sample_bary[None, :, :, None]).sum(2)
        n = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
        return pts, n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def edge_lengths(self, verts: torch.Tensor) -> torch.Tensor:
        """(F, E) lengths of the mesh edges among the active vertices."""
        return (verts[:, self.edges[:, 0]] - verts[:, self.edges[:, 1]]).norm(dim=-1)
