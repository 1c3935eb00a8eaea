"""glTF 2.0 reader: skeleton, rest and bind pose, skinned mesh and animation clips of a .glb / .gltf file.

How glTF maps onto a :class:`vips.Rig` (rig world space = glTF scene space: Y up, metres):

- Joints are the skin's joints, plus the nodes between them in the node tree, plus (when the skin has several
  top-level joints) their lowest common ancestor and the nodes on the way to it; a synthetic joint "root" joins
  what still has several roots.
- Rig world matrices are the nodes' global matrices (float64) with scale removed: the nearest rotation of each
  linear part (polar decomposition) and the untouched translation. Non-joint ancestors (an up-axis node above
  the skeleton) are thereby folded into the root joint. With ``G`` the glTF global matrix, ``W`` its cleaned
  rigid part and ``IBM`` the inverse bind matrix, glTF skins with ``G @ IBM = W @ (inv(W) @ G @ IBM)``, so the
  rig's bind matrix is ``inv(inv(W) @ G @ IBM)`` and the rest pose skins exactly as glTF does, whatever the
  scale. Posed frames stay exact while ``inv(W) @ G`` keeps its rest value (any rigid motion of uniformly
  scaled nodes); animated or non-uniform scale that changes it is reported with :meth:`Rig.warn`.
- The mesh's own space is mapped into scene space by the world matrix ``M`` of the first mesh node that uses
  the skin: vertices become ``M @ v`` and skin-joint bind matrices ``M @ bind``. Skinning is unchanged
  (``inv(M @ bind) @ M @ v = inv(bind) @ v``) and the rest mesh lines up with the joints.
- Meshes whose skins list the same joints with the same inverse bind matrices (one skin per mesh, as FBX2glTF
  writes) share the rig; meshes on another skeleton are left out and reported.
- Clips are sampled at a uniform rate. Each becomes the pose model's :class:`Poses` (``rig.clips``), where
  non-root joint translations and scales cannot be represented (bone lengths are fixed by the rig) and are
  reported, and its full local channels in rig frames (``rig.clip_channels``, :mod:`vips.io.channels`), which keep
  every animated rotation, translation and scale for conversion. A clip that scales a joint to zero (a spawn
  effect) has no poses (reported) but keeps its channels; a zero scale in the rest pose is an error.
- What vips itself recorded when it wrote the file is read back: the pose-set metadata in each animation's
  ``extras.vips_pose_set``, and in the scene's ``extras.vips`` the SkelRoot name (:attr:`Rig.root_name`) and the
  asset's own up axis and units, whose conversion node (``frame_node``) is then left out, so the rig comes back in
  the frame it was written from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vips import native
from vips.io.channels import ClipChannels, dropped_message, rig_frame_channels, zero_scale
from vips.io.gltf_format import FPS_EXTRAS_KEY, SCENE_EXTRAS_KEY, GltfDocument, asset_frame_trs, parse_file
from vips.io.gltf_nodes import NodeTree, wxyz
from vips.io.guard import MAX_MESH_VERTICES, check_joint_frames, check_size
from vips.io.names import UniqueNames
from vips.io.pose_set_meta import GLTF_EXTRAS_KEY, PoseSetMeta, gltf_meta
from vips.kinematics import local_from_world
from vips.local_poses import poses_from_local
from vips.poses import Poses
from vips.rig import Rig
from vips.rig_validation import MAX_INFLUENCES, UP_AXES
from vips.rotations import compose_affine, nearest_rigid, quat_normalize, quat_slerp

SCALE_TOLERANCE = 1e-3
NAN_REPAIR_FRACTION = 0.05  # at most this share of a primitive's vertices may take weights from a neighbour
MAX_FPS = 240
MAX_FRAMES = 100_000
SYNTHETIC = -1  # node index of the synthetic root joint


def read_gltf(path: Path) -> Rig:
    """Read a glTF 2.0 file (.glb or .gltf) into a :class:`Rig` (see the module docstring for the mapping).

    Raises :class:`vips.errors.AssetError` (naming ``path``) for structurally broken files or files without a
    skin, and :class:`vips.errors.RigError` when the result fails rig validation.
    """
    path = Path(path)
    doc = parse_file(path)
    doc.check_images()
    return _Reader(doc).rig()


class _Reader(NodeTree):
    def __init__(self, doc: GltfDocument) -> None:
        super().__init__(doc)
        self.notes: list[str] = []
        self.mesh_vertices = 0  # vertices of the primitives read so far (a mesh can be listed many times)
        self.clip_joint_frames = 0  # frames x skeleton nodes of the clips read so far (bounded in total)
        self.depth = np.zeros(len(self.nodes), np.int64)  # edges from the node up to its top-level ancestor
        for i in self.topo:
            if self.parent[i] >= 0:
                self.depth[i] = self.depth[self.parent[i]] + 1
        self.local = [self.node_matrix(i) for i in range(len(self.nodes))]
        self.written = self._written_by_vips()
        self.frame = self._asset_frame()
        if self.frame is not None:  # the node converting the asset's frame to glTF's: left out (identity)
            self.local[self.frame[0]] = np.eye(4)
        self.world = self.world_matrices(self.local)

    # ----- what vips recorded --------------------------------------------------------------------------------
    def _written_by_vips(self) -> dict[str, Any]:
        """The ``extras.vips`` object of the file's scene ({} when there is none)."""
        scenes, index = self.doc.json.get("scenes"), self.doc.json.get("scene", 0)
        if not isinstance(scenes, list) or not isinstance(index, int) or not 0 <= index < len(scenes):
            return {}
        extras = scenes[index].get("extras") if isinstance(scenes[index], dict) else None
        info = extras.get(SCENE_EXTRAS_KEY) if isinstance(extras, dict) else None
        return info if isinstance(info, dict) else {}

    def _asset_frame(self) -> tuple[int, str, float] | None:
        """(node, up axis, metres per unit) of the frame conversion node vips wrote, or None. Only a top-level,
        unanimated node with exactly the transform vips writes for that frame counts, so an edited file is read
        as plain glTF."""
        node, up, mpu = (self.written.get(k) for k in ("frame_node", "up_axis", "meters_per_unit"))
        if (not isinstance(node, int) or isinstance(node, bool) or not 0 <= node < len(self.nodes)
                or up not in UP_AXES or isinstance(mpu, bool) or not isinstance(mpu, (int, float))
                or not (np.isfinite(mpu) and mpu > 0) or self.parent[node] >= 0):
            return None
        trs = asset_frame_trs(up, float(mpu))
        expected = compose_affine(wxyz(np.asarray(trs.get("rotation", [0, 0, 0, 1.0]))), np.zeros(3),
                                  np.asarray(trs.get("scale", [1.0] * 3)))
        if not np.allclose(self.local[node], expected, rtol=1e-6, atol=1e-6 * float(mpu)):
            return None
        for anim in self.doc.array("animations"):
            channels = anim.get("channels") if isinstance(anim, dict) else None
            for ch in channels if isinstance(channels, list) else []:
                target = ch.get("target") if isinstance(ch, dict) else None
                if isinstance(target, dict) and target.get("node") == node:
                    return None
        return node, str(up), float(mpu)


    def ancestors(self, i: int) -> list[int]:
        """Ancestors of node ``i``, nearest first (O(depth): callers over many nodes use :meth:`with_ancestors`)."""
        out, k = [], int(self.parent[i])
        while k >= 0:
            out.append(k)
            k = int(self.parent[k])
        return out

    def with_ancestors(self, nodes: set[int]) -> set[int]:
        """``nodes`` and all their ancestors; each walk up stops at a node already taken, so it is linear."""
        out = set(nodes)
        for i in nodes:
            k = int(self.parent[i])
            while k >= 0 and k not in out:
                out.add(k)
                k = int(self.parent[k])
        return out

    # ----- skin and skeleton ----------------------------------------------------------------------
    def choose_skin(self) -> tuple[int, list[int]]:
        """(skin index, mesh nodes using it)."""
        skins = self.doc.array("skins")
        if not skins:
            has_mesh = bool(self.doc.array("meshes"))
            what = "it has meshes but no skin" if has_mesh else "it has no skin"
            raise self.doc.fail(f"no skin: {what}, so there is no rig to read (export it with its armature)")
        users: dict[int, list[int]] = {}
        for i in range(len(self.nodes)):
            node = self.node(i)
            if "skin" in node:
                s = self.doc.index(node["skin"], len(skins), f"node {i}'s skin")
                if "mesh" in node:
                    self.doc.index(node["mesh"], len(self.doc.array("meshes")), f"node {i}'s mesh")
                    users.setdefault(s, []).append(i)
        if not users:
            return 0, []
        skin = min(users)
        same = [s for s in sorted(users) if self.same_skin(skin, s)]
        left_out = [self.node_name(n) for s in sorted(users) if s not in same for n in users[s]]
        if left_out:
            self.notes.append(
                f"meshes {', '.join(map(repr, left_out[:5]))} use another skeleton than the meshes of skin {skin}; "
                "only those were read (bind every mesh to one armature to read them all)"
            )
        return skin, [n for s in same for n in users[s]]

    def same_skin(self, a: int, b: int) -> bool:
        """Whether skins ``a`` and ``b`` bind the same joints with the same inverse bind matrices, so their
        meshes share one rig (FBX2glTF writes one such skin per mesh)."""
        skin_a, skin_b = (self.doc.item("skins", i, "a node's skin") for i in (a, b))
        joints = skin_a.get("joints")
        if a == b or not isinstance(joints, list) or not joints or joints != skin_b.get("joints"):
            return a == b
        ibm_a, ibm_b = self.inverse_bind(skin_a, a, len(joints)), self.inverse_bind(skin_b, b, len(joints))
        return bool(np.allclose(ibm_a, ibm_b, rtol=1e-5, atol=1e-6 * np.abs(ibm_a).max()))

    def skeleton(self, skin_joints: list[int]) -> tuple[list[int], np.ndarray]:
        """(joint nodes in rig order with SYNTHETIC for a synthetic root, rig parents (J,))."""
        members, roots = self._joint_nodes(skin_joints)
        children: dict[int, list[int]] = {}
        for i in range(len(self.nodes)):
            p = int(self.parent[i])
            if i in members and p in members:
                children.setdefault(p, []).append(i)
        order: list[int] = [SYNTHETIC] if len(roots) > 1 else []
        stack = list(reversed(roots))
        while stack:
            k = stack.pop()
            order.append(k)
            stack.extend(reversed(children.get(k, [])))
        order = self._skin_order(order, skin_joints)
        position = {k: j for j, k in enumerate(order)}
        # A top-level joint hangs from the synthetic root (index 0) when there is one.
        top = 0 if order[0] == SYNTHETIC else -1
        parents = np.array(
            [-1 if k == SYNTHETIC else position.get(int(self.parent[k]), top) for k in order], np.int32
        )
        return order, parents

    def _joint_nodes(self, skin_joints: list[int]) -> tuple[set[int], list[int]]:
        """(the nodes that become joints, the top ones among them): the skin joints, the nodes between two of
        them and, when they have several tops, the paths up to their lowest common ancestor (if any)."""
        members = self._between(skin_joints)
        roots = sorted(j for j in members if int(self.parent[j]) not in members)
        if len(roots) > 1:
            lca = self._common_ancestor(roots)
            if lca is not None:
                members.add(lca)
                for r in roots:  # the paths up to the common ancestor; each walk stops at a node taken
                    k = int(self.parent[r])
                    while k >= 0 and k not in members:
                        members.add(k)
                        k = int(self.parent[k])
                roots = [lca]
        return members, roots

    def _between(self, skin_joints: list[int]) -> set[int]:
        """The skin joints and the nodes sitting between two of them (a skin joint above, one below): those
        become joints too. Two sweeps over the node tree, so linear in the number of nodes."""
        n = len(self.nodes)
        is_skin = np.zeros(n, bool)
        is_skin[skin_joints] = True
        above = np.zeros(n, bool)  # a strict ancestor is a skin joint
        below = np.zeros(n, bool)  # a strict descendant is a skin joint
        for i in self.topo:
            p = self.parent[i]
            above[i] = p >= 0 and (above[p] or is_skin[p])
        for i in reversed(self.topo):
            p = self.parent[i]
            if p >= 0 and (below[i] or is_skin[i]):
                below[p] = True
        return set(np.flatnonzero(is_skin | (above & below)).tolist())

    def _skin_order(self, dfs: list[int], skin_joints: list[int]) -> list[int]:
        """The skin's own joint order (added joints just before their first skin descendant) when that puts
        parents first, so rig joint j is skin joint j where possible; else the depth-first order ``dfs``."""
        key = self._skin_keys(dfs, skin_joints)
        depth = {k: (0 if k == SYNTHETIC else int(self.depth[k])) for k in dfs}
        order = sorted(dfs, key=lambda k: (key[k], depth[k]))
        seen: set[int] = {SYNTHETIC}
        for k in order:
            if k != SYNTHETIC and int(self.parent[k]) in key and int(self.parent[k]) not in seen:
                return dfs
            seen.add(k)
        return order

    def _skin_keys(self, dfs: list[int], skin_joints: list[int]) -> dict[int, float]:
        """Each node of ``dfs``: its rank in the skin's joint list, for an added joint the lowest rank of a skin
        joint below it, -inf for the synthetic root. One sweep over the node tree."""
        rank = {k: i for i, k in enumerate(skin_joints)}
        first = np.full(len(self.nodes), np.inf)  # the lowest skin rank in each node's subtree
        for k, r in rank.items():
            first[k] = r
        for i in reversed(self.topo):
            p = self.parent[i]
            if p >= 0:
                first[p] = min(first[p], first[i])
        key = {k: float(rank[k] if k in rank else first[k]) for k in dfs if k != SYNTHETIC}
        key[SYNTHETIC] = -np.inf
        return key

    def _common_ancestor(self, roots: list[int]) -> int | None:
        """The lowest node that is one of ``roots`` or an ancestor of each, or None (they lie in different
        trees). One sweep over the node tree: the deepest node whose subtree holds every root."""
        inside = np.zeros(len(self.nodes), np.int64)  # how many of the roots lie in each node's subtree
        inside[roots] = 1
        for i in reversed(self.topo):
            if self.parent[i] >= 0:
                inside[self.parent[i]] += inside[i]
        full = np.flatnonzero(inside == len(roots))
        return int(full[np.argmax(self.depth[full])]) if full.size else None

    def joint_names(self, order: list[int]) -> list[str]:
        """Node names (``joint_<node>`` when unnamed) made unique; the synthetic root gets the name "root"
        unless a node already has it (node names win, in rig order)."""
        bases = []
        for k in order:
            raw = None if k == SYNTHETIC else self.node(k).get("name")
            bases.append(raw.strip() if isinstance(raw, str) and raw.strip() else f"joint_{k}")
        names: list[str | None] = [None] * len(order)
        unique = UniqueNames()
        for j in sorted(range(len(order)), key=lambda j: order[j] == SYNTHETIC):
            names[j] = unique("root" if order[j] == SYNTHETIC else bases[j])
        return names  # type: ignore[return-value]

    # ----- transforms -----------------------------------------------------------------------------
    @staticmethod
    def joint_world(world: list[np.ndarray | None], order: list[int]) -> np.ndarray:
        """(..., J, 4, 4) glTF global matrices of the joints (identity for a synthetic root)."""
        shape = next(world[k] for k in order if k != SYNTHETIC).shape[:-2]
        eye = np.broadcast_to(np.eye(4), shape + (4, 4))
        return np.stack([eye if k == SYNTHETIC else world[k] for k in order], axis=-3)

    def rigid(self, g: np.ndarray, names: list[str], order: list[int]) -> np.ndarray:
        """(J, 4, 4) nearest rigid transforms (rotation by polar decomposition, same translation) of the rest
        pose's global matrices ``g`` (J, 4, 4); AssetError naming the joint (and the node that causes it) where
        ``g`` cannot be inverted."""
        problem = self.collapsed(g, self.local, order)
        if problem is not None:
            _, j, node = problem
            if node is None:
                raise self.doc.fail(f"joint '{names[j]}' has a transform that overflows (huge translation or scale)")
            where = "" if node == order[j] else f" (from node '{self.node_name(node)}' above it)"
            raise self.doc.fail(
                f"joint '{names[j]}' has a zero scale in the rest pose{where}, so its transform cannot be "
                "inverted; give the node a non-zero scale (or apply its scale) and export again"
            )
        return nearest_rigid(g)

    def collapsed(
        self, g: np.ndarray, local: list[np.ndarray | None], order: list[int]
    ) -> tuple[int, int, int | None] | None:
        """The first (frame, joint, node) where global matrices ``g`` (J, 4, 4) or (F, J, 4, 4) cannot be
        made rigid, or None. ``node`` is the topmost node of the joint's chain whose own local matrix in
        ``local`` (per node (4, 4) or (F, 4, 4)) has a zero scale (the joint's node when none has alone), or
        None when the transform is not finite (it overflowed)."""
        g = g.reshape((-1,) + g.shape[-3:])
        overflow = ~np.isfinite(g).all(axis=(-2, -1))
        if overflow.any():
            f, j = np.argwhere(overflow)[0]
            return int(f), int(j), None
        zero = zero_scale(g)
        if not zero.any():
            return None
        f, j = (int(x) for x in np.argwhere(zero)[0])
        node = order[j]
        for k in reversed([node, *self.ancestors(node)]):  # topmost first: the one that collapses the rest
            m = local[k]
            if m is not None and zero_scale(m if m.ndim == 2 else m[f]):
                return f, j, k
        return f, j, node

    def node_name(self, k: int) -> str:
        name = self.node(k).get("name")
        return name if isinstance(name, str) and name else f"node {k}"

    def check_scale(self, residual: np.ndarray, names: list[str]) -> None:
        """Warn when a joint's scale is not uniform (rest pose): animation cannot reproduce it exactly."""
        lin = residual[..., :3, :3]
        sigma = np.linalg.svd(lin, compute_uv=False)
        mean = np.cbrt(np.abs(np.linalg.det(lin)))
        spread = np.abs(sigma - mean[..., None]).max(axis=-1) / mean
        mirrored = np.linalg.det(lin) < 0
        if (spread > SCALE_TOLERANCE).any() or mirrored.any():
            j = int(np.argmax(spread + mirrored))
            self.notes.append(
                f"joint '{names[j]}' has a non-uniform or mirroring scale in the rest pose; the rest pose skins "
                "exactly, but poses that rotate it may skin differently from glTF viewers"
            )

    # ----- the rig --------------------------------------------------------------------------------
    def rig(self) -> Rig:
        doc = self.doc
        skin_index, mesh_nodes = self.choose_skin()
        skin = doc.item("skins", skin_index, "a node's skin")
        raw_joints = skin.get("joints")
        if not isinstance(raw_joints, list) or not raw_joints:
            raise doc.fail(f"skin {skin_index} has no joints")
        skin_joints = [doc.index(j, len(self.nodes), f"skin {skin_index}'s joints") for j in raw_joints]
        if len(set(skin_joints)) != len(skin_joints):
            raise doc.fail(f"skin {skin_index} lists the same joint node twice")
        order, parents = self.skeleton(skin_joints)
        names = self.joint_names(order)
        position = {k: j for j, k in enumerate(order)}
        skin_to_rig = np.array([position[k] for k in skin_joints], np.int64)

        g = self.joint_world(self.world, order)
        w = self.rigid(g, names, order)
        residual = np.linalg.inv(w) @ g  # inv(W) @ G: the scale part that the rig cannot hold
        self.check_scale(residual, names)
        rotations, translations = local_from_world(w, parents)

        mesh_space = np.eye(4)
        if mesh_nodes:
            mesh_space = self.world[mesh_nodes[0]]
            if not np.isfinite(mesh_space).all() or not abs(np.linalg.det(mesh_space[:3, :3])) >= 1e-12:
                self.notes.append(f"mesh node {mesh_nodes[0]} has a zero scale; its transform was ignored")
                mesh_space = np.eye(4)
        bind = w.copy()
        ibm = self.inverse_bind(skin, skin_index, len(skin_joints))
        for s, j in enumerate(skin_to_rig):
            bind[j] = mesh_space @ np.linalg.inv(residual[j] @ ibm[s])

        vertices = faces = skin_indices = skin_weights = None
        if mesh_nodes:
            vertices, faces, skin_indices, skin_weights = self.mesh(mesh_nodes, len(skin_joints))
            vertices = vertices @ mesh_space[:3, :3].T + mesh_space[:3, 3]
            skin_indices = skin_to_rig[skin_indices]

        rig = Rig(
            joint_names=names,
            parents=parents,
            rest_translations=translations,
            rest_rotations=rotations,
            bind_matrices=bind,
            vertices=vertices,
            faces=faces,
            skin_indices=skin_indices,
            skin_weights=skin_weights,
            up_axis="Y" if self.frame is None else self.frame[1],
            meters_per_unit=1.0 if self.frame is None else self.frame[2],
            name=doc.path.stem,
            source=str(doc.path),
            root_name=self.written.get("skel_root") if isinstance(self.written.get("skel_root"), str) else "",
        )
        for note in self.notes:
            rig.warn(note)
        self.read_clips(rig, order, residual)
        return rig

    def inverse_bind(self, skin: dict[str, Any], skin_index: int, count: int) -> np.ndarray:
        if "inverseBindMatrices" not in skin:
            return np.broadcast_to(np.eye(4), (count, 4, 4))
        what = f"skin {skin_index}'s inverseBindMatrices"
        acc = self.doc.index(skin["inverseBindMatrices"], len(self.doc.array("accessors")), what)
        dtype, atype = self.doc.accessor_info(acc)
        if atype != "MAT4" or dtype.kind != "f":
            raise self.doc.fail(f"{what} must be a float MAT4 accessor, not {atype} of {dtype}")
        ibm = self.doc.accessor(acc, what)
        if ibm.shape[0] < count:
            raise self.doc.fail(f"{what} has {ibm.shape[0]} matrices for {count} joints")
        ibm = ibm[:count].copy()
        ibm[:, 3] = (0, 0, 0, 1)
        if not np.isfinite(ibm).all():
            raise self.doc.fail(f"{what} holds NaN or infinite values")
        det = np.linalg.det(ibm[:, :3, :3])
        if (np.abs(det) < 1e-12 * np.abs(ibm[:, :3, :3]).max(axis=(1, 2)) ** 3 + 1e-300).any():
            raise self.doc.fail(f"{what}: matrix {int(np.argmin(np.abs(det)))} is singular")
        return ibm

    # ----- mesh -----------------------------------------------------------------------------------
    def mesh(self, mesh_nodes: list[int], num_skin_joints: int) -> tuple[np.ndarray, ...]:
        """Concatenated triangles of every mesh node: vertices (V, 3), faces (F, 3), skin indices into the
        skin's joint list (V, K) and weights (V, K)."""
        doc = self.doc
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for n in mesh_nodes:
            m = int(self.node(n)["mesh"])
            mesh = doc.item("meshes", m, f"node {n}'s mesh")
            prims = mesh.get("primitives")
            if not isinstance(prims, list) or not prims:
                raise doc.fail(f"mesh {m} has no primitives")
            for p, prim in enumerate(prims):
                if not isinstance(prim, dict):
                    raise doc.fail(f"mesh {m} primitive {p} is not an object")
                mode = prim.get("mode", 4)
                if mode not in (0, 4):
                    self.notes.append(
                        f"mesh {m} primitive {p} has mode {mode!r} (not triangles or points); it was skipped"
                    )
                    continue
                parts.append(self.primitive(prim, f"mesh {m} primitive {p}", num_skin_joints, points=mode == 0))
        if not parts:
            raise doc.fail("the skinned meshes have no triangle (or point) primitives")
        k = max(part[2].shape[1] for part in parts)
        vertices, faces, indices, weights, offset = [], [], [], [], 0
        for v, f, i, w in parts:
            pad = ((0, 0), (0, k - i.shape[1]))
            vertices.append(v)
            faces.append(f + offset)
            indices.append(np.pad(i, pad))
            weights.append(np.pad(w, pad))
            offset += len(v)
        return np.concatenate(vertices), np.concatenate(faces), np.concatenate(indices), np.concatenate(weights)

    def primitive(
        self, prim: dict[str, Any], what: str, num_skin_joints: int, points: bool = False
    ) -> tuple[np.ndarray, ...]:
        """(vertices, faces, skin-joint indices, weights) of one primitive; POINTS give vertices only."""
        doc = self.doc
        attrs = prim.get("attributes")
        if not isinstance(attrs, dict) or "POSITION" not in attrs:
            raise doc.fail(f"{what} has no POSITION attribute")
        positions = doc.accessor(attrs["POSITION"], f"{what} POSITION")
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise doc.fail(f"{what} POSITION must be VEC3")
        V = positions.shape[0]
        self.mesh_vertices += V
        check_size(doc.path, "the skinned meshes (all primitives)", self.mesh_vertices, MAX_MESH_VERTICES,
                   "vertices")
        if "indices" in prim:
            idx = doc.accessor(prim["indices"], f"{what} indices")
            if idx.ndim != 1 or idx.dtype.kind != "i":
                raise doc.fail(f"{what} indices must be an unsigned integer SCALAR accessor")
        else:
            idx = np.arange(V)
        if points:
            idx = np.zeros(0, np.int64)
        if len(idx) % 3:
            raise doc.fail(f"{what} has {len(idx)} indices, not a multiple of 3 (triangles)")
        if idx.size and (idx.min() < 0 or idx.max() >= V):
            raise doc.fail(f"{what} indices refer to vertex {int(idx.max())}, but it has {V} vertices")
        sets = [s for s in range(MAX_INFLUENCES // 4) if f"JOINTS_{s}" in attrs]
        if 0 not in sets or any(f"WEIGHTS_{s}" not in attrs for s in sets):
            raise doc.fail(f"{what} has no JOINTS_0/WEIGHTS_0 skin attributes")
        joints, weights = [], []
        for s in sets:
            j = doc.accessor(attrs[f"JOINTS_{s}"], f"{what} JOINTS_{s}")
            w = doc.accessor(attrs[f"WEIGHTS_{s}"], f"{what} WEIGHTS_{s}", normalize=True)
            for arr, label in ((j, f"JOINTS_{s}"), (w, f"WEIGHTS_{s}")):
                if arr.shape != (V, 4):
                    raise doc.fail(f"{what} {label} must be VEC4 with {V} elements, got shape {arr.shape}")
            if j.dtype.kind != "i":
                raise doc.fail(f"{what} JOINTS_{s} must hold unsigned integers")
            joints.append(j)
            weights.append(w)
        j, w = self.repair_weights(positions, np.concatenate(joints, axis=1), np.concatenate(weights, axis=1), what)
        used = w > 0
        bad = used & ((j < 0) | (j >= num_skin_joints))
        if bad.any():
            v = int(np.argwhere(bad)[0, 0])
            raise doc.fail(f"{what}: vertex {v} uses joint {int(j[bad][0])}, but the skin has {num_skin_joints} joints")
        j = np.where(used, j, 0)
        return positions, idx.reshape(-1, 3), j, w

    def repair_weights(
        self, positions: np.ndarray, joints: np.ndarray, weights: np.ndarray, what: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Skin joints and weights (V, K) of primitive ``what`` with NaN weights repaired; AssetError where the
        repair would be a guess.

        Exporters write NaN for a vertex that has no weight (FBX2glTF normalizes 0 / 0). Such a vertex takes
        the joints and weights of the nearest vertex (``positions`` (V, 3)) whose weights are finite; NaN
        influences beside finite positive ones are dropped. Infinite weights, or NaN at more than
        NAN_REPAIR_FRACTION of the vertices (the skin itself is missing), are refused.
        """
        finite = np.isfinite(weights)
        if finite.all():
            return joints, weights
        V = len(weights)
        if np.isinf(weights).any():
            v = int(np.argwhere(np.isinf(weights))[0, 0])
            raise self.doc.fail(f"{what} has infinite skin weights (first at vertex {v}); export its skin again")
        weights = np.where(finite, weights, 0.0)
        partial = ~finite.all(axis=1) & (weights.sum(axis=1) > 0)
        empty = ~finite.all(axis=1) & ~partial
        skinned = np.flatnonzero(finite.all(axis=1) & (weights.sum(axis=1) > 0))
        n = int(empty.sum())
        if n > max(1.0, NAN_REPAIR_FRACTION * V) or (n and not skinned.size):
            raise self.doc.fail(
                f"{what} has NaN skin weights at {n} of its {V} vertices (first: vertex {int(np.argmax(empty))}), "
                "too many to take weights from their neighbours; weight-paint those vertices and export again"
            )
        if n:
            query = np.ascontiguousarray(positions[empty][None], np.float32)
            _, nearest = native.knn(query, np.ascontiguousarray(positions[skinned][None], np.float32))
            source = skinned[nearest[0, :, 0]]
            joints = joints.copy()
            joints[empty], weights[empty] = joints[source], weights[source]
            self.notes.append(
                f"{what}: {n} vertices had NaN skin weights (no weight at all); they took the weights of the "
                "nearest vertex with weights"
            )
        if partial.any():
            self.notes.append(
                f"{what}: {int(partial.sum())} vertices had NaN skin weights beside finite ones; the NaN "
                "influences were dropped"
            )
        return joints, weights

    # ----- animation ------------------------------------------------------------------------------
    def read_clips(self, rig: Rig, order: list[int], rest_residual: np.ndarray) -> None:
        anims = self.doc.array("animations")
        skeleton_nodes = self.with_ancestors({k for k in order if k != SYNTHETIC})
        clip_names = UniqueNames([*rig.clips, *rig.clip_channels])
        for a in range(len(anims)):
            anim = self.doc.item("animations", a, "animation")
            name = anim.get("name")
            name = clip_names(name if isinstance(name, str) and name else f"clip_{a}")
            clip, channels = self.clip(anim, a, name, rig, order, skeleton_nodes, rest_residual)
            if clip is not None:
                rig.clips[name] = clip
            if channels is not None:
                rig.clip_channels[name] = channels

    def clip(
        self,
        anim: dict[str, Any],
        a: int,
        name: str,
        rig: Rig,
        order: list[int],
        skeleton_nodes: set[int],
        rest_residual: np.ndarray,
    ) -> tuple[Poses | None, ClipChannels | None]:
        """Animation ``a`` sampled at a uniform rate: (poses of ``rig`` (None where the pose model cannot hold the
        clip), its full channels (None where they are not finite)); both None when it moves no skeleton node."""
        doc = self.doc
        channels, samplers = anim.get("channels"), anim.get("samplers")
        if not isinstance(channels, list) or not isinstance(samplers, list):
            raise doc.fail(f"animation {a} needs 'channels' and 'samplers' lists")
        chosen: dict[tuple[int, str], int] = {}  # (node, path) -> sampler; glTF allows one channel per target
        duplicates = 0
        for c, ch in enumerate(channels):
            what = f"animation {a} channel {c}"
            target = ch.get("target") if isinstance(ch, dict) else None
            if not isinstance(target, dict):
                raise doc.fail(f"{what} has no target")
            path = target.get("path")
            if path not in ("translation", "rotation", "scale", "weights"):
                raise doc.fail(f"{what} has an invalid target path {path!r}")
            if "node" not in target or path == "weights":
                continue
            node = doc.index(target["node"], len(self.nodes), what)
            if node not in skeleton_nodes:
                continue
            duplicates += (node, path) in chosen
            chosen[(node, path)] = doc.index(ch.get("sampler"), len(samplers), what)  # the last one wins
        if duplicates:
            rig.warn(f"clip '{name}' has {duplicates} channels aiming at a target another channel animates; the last "
                     "channel of each target was used (glTF allows one per target)")
        tracks = [(node, path, *self.sampler(samplers[s], f"animation {a} sampler {s}", path))
                  for (node, path), s in chosen.items()]
        if not tracks:
            return None, None
        fps, times = self.frame_times([t[2] for t in tracks], name, _written_fps(anim.get("extras")))
        F = len(times)
        check_joint_frames(doc.path, f"'{name}'", F, len(skeleton_nodes), self.clip_joint_frames)
        self.clip_joint_frames += F * len(skeleton_nodes)
        frames: dict[int, list[np.ndarray]] = {}
        slot = {"translation": 0, "rotation": 1, "scale": 2}
        for node, path, keys, values, mode in tracks:
            if node not in frames:
                frames[node] = [np.broadcast_to(x, (F, x.size)) for x in self.node_trs(node)]
            frames[node][slot[path]] = sample(keys, values, mode, times, path == "rotation")
        # Only the skeleton and its ancestors matter; other nodes stay None and are not computed.
        local: list[np.ndarray | None] = [
            np.broadcast_to(m, (F, 4, 4)) if i in skeleton_nodes else None for i, m in enumerate(self.local)
        ]
        for k, (t, r, s) in frames.items():
            local[k] = compose_affine(r, t, s)
        world = self.world_matrices(local)
        g = self.joint_world(world, order)
        channels = self.channels(frames, world, order, rig, rest_residual, name, fps)
        if channels is not None:
            channels.pose_set = self.pose_set(anim, name, rig)
        problem = self.collapsed(g, local, order)
        if problem is not None:  # one odd clip (a spawn effect) must not cost the rig and the other clips
            rig.warn(self.dropped(name, problem, order, rig.joint_names, fps))
            return None, channels if problem[2] is not None else None
        w = nearest_rigid(g)
        rotations, translations = local_from_world(w, rig.parents)
        self.check_clip_scale(np.linalg.inv(w) @ g, rest_residual, rig, name)
        poses, notes = poses_from_local(rig, rotations, translations, fps=fps, name=name)
        for note in notes:
            rig.warn(note)
        if channels is not None:
            channels.poses = poses
        return poses, channels

    def channels(
        self,
        frames: dict[int, list[np.ndarray]],
        world: list[np.ndarray | None],
        order: list[int],
        rig: Rig,
        rest_residual: np.ndarray,
        name: str,
        fps: float,
    ) -> ClipChannels | None:
        """Every joint's local channels of clip ``name`` in rig frames (:func:`vips.io.channels.to_rig_frames`)
        from the nodes' sampled TRS ``frames`` (animated nodes) and the nodes' own TRS (the others); ``world``
        holds the clip's global matrices of the skeleton's ancestors. None when they are not finite."""
        F = next(iter(frames.values()))[0].shape[0]
        J = len(order)
        r = np.zeros((F, J, 4))
        r[..., 0] = 1
        t, s = np.zeros((F, J, 3)), np.ones((F, J, 3))
        left = np.broadcast_to(np.eye(4), (F, J, 4, 4)).copy()
        for j, k in enumerate(order):
            if k == SYNTHETIC:
                continue  # the identity: its children's frames are the scene's
            t[:, j], r[:, j], s[:, j] = frames[k] if k in frames else self.node_trs(k)
            p = int(rig.parents[j])
            if p >= 0 and order[p] != SYNTHETIC:
                left[:, j] = rest_residual[p]
            elif self.parent[k] >= 0:
                left[:, j] = world[int(self.parent[k])]
        return rig_frame_channels(rig, name, fps, r, t, s, left, rest_residual)

    @staticmethod
    def pose_set(anim: dict[str, Any], name: str, rig: Rig) -> PoseSetMeta | None:
        """The pose-set metadata in animation ``anim``'s extras; None (reported when malformed) when it has none."""
        try:
            return gltf_meta(anim.get("extras"))
        except (ValueError, TypeError, OverflowError) as exc:
            rig.warn(f"clip '{name}': its pose-set metadata (extras.{GLTF_EXTRAS_KEY}) was ignored: {exc}")
            return None

    def dropped(
        self, name: str, problem: tuple[int, int, int | None], order: list[int], names: list[str], fps: float
    ) -> str:
        """Why clip ``name`` was dropped, from :meth:`collapsed`'s (frame, joint, node)."""
        f, j, node = problem
        at = f"at frame {f} (t = {f / fps:.4g} s)"
        if node is None:
            return (
                f"clip '{name}' dropped: it gives joint '{names[j]}' a non-finite transform {at} (a zero rotation "
                "quaternion, or a huge translation or scale)"
            )
        what = f"joint '{names[order.index(node)]}'" if node in order else (
            f"node '{self.node_name(node)}' above joint '{names[j]}'"
        )
        return dropped_message(name, what, f, fps)

    @staticmethod
    def check_clip_scale(residual: np.ndarray, rest_residual: np.ndarray, rig: Rig, name: str) -> None:
        """Warn when clip ``name`` scales a joint: ``residual`` (F, J, 4, 4) is each frame's ``inv(W) @ G``,
        ``rest_residual`` (J, 4, 4) the rest pose's. The change is measured relative to the rest scale, so
        a centimetre armature (scale 100) with float noise in its bones' scales is not reported."""
        change = residual[..., :3, :3] @ np.linalg.inv(rest_residual[:, :3, :3]) - np.eye(3)
        deviation = np.abs(change).max(axis=(-2, -1))  # (F, J) relative scale change
        scaled = np.flatnonzero(deviation.max(axis=0) > SCALE_TOLERANCE)
        if scaled.size:
            j = int(scaled[0])  # the topmost scaled joint: its descendants inherit the scale
            f = int(np.argmax(deviation[:, j]))
            rig.warn(
                f"clip '{name}' scales joint '{rig.joint_names[j]}' by {100 * deviation[f, j]:.3g}% at frame {f}; "
                "poses hold no scale, so the pose model's clip leaves it out (file conversion keeps it)"
            )

    def sampler(self, spec: Any, what: str, path: str) -> tuple[np.ndarray, np.ndarray, str]:
        """(key times (T,), values (T, C) or (T, 3, C) for CUBICSPLINE, interpolation)."""
        doc = self.doc
        if not isinstance(spec, dict):
            raise doc.fail(f"{what} is not an object")
        mode = spec.get("interpolation", "LINEAR")
        if mode not in ("LINEAR", "STEP", "CUBICSPLINE"):
            raise doc.fail(f"{what} has an unknown interpolation {mode!r}")
        times = doc.accessor(spec.get("input"), f"{what} input")
        if times.ndim != 1 or times.dtype.kind != "f" or not np.isfinite(times).all():
            raise doc.fail(f"{what} input must be finite float SCALAR times")
        if np.any(np.diff(times) < 0):
            raise doc.fail(f"{what} input times are not increasing")
        values = doc.accessor(spec.get("output"), f"{what} output", normalize=True)
        width = 4 if path == "rotation" else 3
        per = 3 if mode == "CUBICSPLINE" else 1
        if values.ndim != 2 or values.shape[1] != width or values.shape[0] != per * len(times):
            raise doc.fail(
                f"{what} output must hold {per * len(times)} VEC{width} values for {len(times)} key times"
            )
        if not np.isfinite(values).all():
            raise doc.fail(f"{what} output holds NaN or infinite values")
        if path == "rotation":
            values = wxyz(values)
        if mode == "CUBICSPLINE":
            values = values.reshape(len(times), 3, width)
        return times, values, mode

    def frame_times(
        self, key_times: list[np.ndarray], name: str, fps: float | None = None
    ) -> tuple[float, np.ndarray]:
        """(fps, uniform sample times from 0 to the last key) for a clip; ``fps`` when given (the exact rate vips
        wrote the clip at), else the keys' median rate rounded to whole frames per second."""
        steps = np.concatenate([np.diff(np.unique(t)) for t in key_times])
        steps = steps[steps > 1e-9]
        if fps is None:
            fps = 30.0 if steps.size == 0 else float(min(max(round(1.0 / float(np.median(steps))), 1), MAX_FPS))
        end = max(float(t[-1]) for t in key_times)
        # Key times are float32: k / fps rounds up by up to 6e-8 relative, which must not add a frame.
        count = int(np.ceil(end * fps * (1 - 1e-6) - 1e-6)) + 1 if end > 0 else 1
        if count > MAX_FRAMES:
            raise self.doc.fail(f"clip '{name}' would have {count} frames (it lasts {end:g} s); corrupt key times?")
        return fps, np.arange(count) / fps


def _written_fps(extras: Any) -> float | None:
    """The exact frame rate vips recorded in an animation's ``extras.vips_fps`` (None when absent or invalid)."""
    fps = extras.get(FPS_EXTRAS_KEY) if isinstance(extras, dict) else None
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (np.isfinite(fps) and 1 <= fps <= MAX_FPS):
        return None
    return float(fps)


def sample(keys: np.ndarray, values: np.ndarray, mode: str, times: np.ndarray, rotation: bool) -> np.ndarray:
    """Values (F, C) of one glTF sampler at ``times`` (F,); clamped outside the keys.

    Args:
        keys: (T,) increasing key times.
        values: (T, C), or (T, 3, C) (in-tangent, value, out-tangent) for CUBICSPLINE.
        mode: "LINEAR" (slerp for rotations), "STEP" or "CUBICSPLINE" (Hermite, glTF Appendix C).
        rotation: values are (w, x, y, z) quaternions; results are normalized.
    """
    points = values[:, 1] if mode == "CUBICSPLINE" else values
    if len(keys) == 1:
        out = np.repeat(points[:1], len(times), axis=0)
        return quat_normalize(out) if rotation else out
    k = np.clip(np.searchsorted(keys, times, side="right") - 1, 0, len(keys) - 2)
    dt = keys[k + 1] - keys[k]
    u = np.clip((times - keys[k]) / np.where(dt > 0, dt, 1), 0, 1)
    u = np.where(dt > 0, u, 1.0)[:, None]
    a, b = points[k], points[k + 1]
    if mode == "STEP":
        out = np.where(u >= 1, b, a)
    elif mode == "LINEAR":
        out = quat_slerp(a, b, u[:, 0]) if rotation else a + (b - a) * u
    else:
        u2, u3 = u * u, u * u * u
        span = dt[:, None]
        out = (
            (2 * u3 - 3 * u2 + 1) * a
            + (u3 - 2 * u2 + u) * span * values[k, 2]
            + (-2 * u3 + 3 * u2) * b
            + (u3 - u2) * span * values[k + 1, 0]
        )
    return quat_normalize(out) if rotation else out
