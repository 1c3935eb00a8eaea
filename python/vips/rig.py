"""The rig model: skeleton, rest and bind transforms, mesh and sparse skin weights of one asset."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vips import native, skeleton
from vips.errors import RigError
from vips.poses import Poses
from vips.rig_validation import validate


class RigWarning(UserWarning):
    """Something in a rig was repaired on load (weights renormalized, joints reordered...)."""


@dataclass(eq=False)
class Rig:
    """A rigged asset. Construction validates and normalizes it (see :func:`vips.rig_validation.validate`).

    Attributes:
        joint_names: J unique names.
        parents: (J,) int32, topologically ordered (``parents[j] < j``), exactly one root with parent -1.
        rest_translations: (J, 3) float32 local translation of each joint in its parent's frame (asset units).
        rest_rotations: (J, 4) float32 local rotation of each joint (w, x, y, z).
        bind_matrices: (J, 4, 4) float32 world-space bind transform of each joint (USD ``bindTransforms``,
            the inverse of glTF's inverse bind matrices); vertices are skinned by ``world @ inv(bind)``.
        vertices: (V, 3) float32 bind-pose mesh vertices, or None for a skeleton-only rig (BVH).
        faces: (F, 3) int32 triangles, or None.
        skin_indices: (V, K) int32 joint indices, K <= 8, sorted by descending weight.
        skin_weights: (V, K) float32, rows sum to one.
        up_axis: "Y" or "Z", the asset's up axis.
        meters_per_unit: length of one asset unit in metres.
        name: the asset's name.
        source: the file it came from ("" when built in memory); errors name it.
        clips: animation clips found in the file, by name: the pose model's view (rotations from the rest pose, one
            root translation, no scale).
        warnings: repairs made while loading (also issued as :class:`RigWarning`).
        clip_channels: every animated local channel (rotation, translation, scale) of each clip read from a file, by
            name (:class:`vips.io.channels.ClipChannels`); the writers write these, so converting a file loses no
            channel the pose model leaves out. Empty for rigs built in memory; see :mod:`vips.io.channels`.
        root_name: the name of the asset's top object in the file it came from (the UsdSkel SkelRoot prim; kept
            through glTF in the scene's extras), "" when none; writers name the SkelRoot after it, else after ``name``.
        file_parents: (J,) int32 the file's hierarchy where it differs from ``parents``, else None: the loader hangs
            limb-end IK targets under their limb (:mod:`vips.limb_targets`) and the writers put them back.
    """

    joint_names: list[str]
    parents: np.ndarray
    rest_translations: np.ndarray
    rest_rotations: np.ndarray
    bind_matrices: np.ndarray | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    skin_indices: np.ndarray | None = None
    skin_weights: np.ndarray | None = None
    up_axis: str = "Y"
    meters_per_unit: float = 1.0
    name: str = ""
    source: str = ""
    clips: dict[str, Poses] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    clip_channels: dict[str, Any] = field(default_factory=dict)
    root_name: str = ""
    file_parents: np.ndarray | None = None

    def __post_init__(self) -> None:
        validate(self)

    # ----- sizes and structure -------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_vertices(self) -> int:
        return 0 if self.vertices is None else int(self.vertices.shape[0])

    @property
    def has_mesh(self) -> bool:
        return self.vertices is not None

    @property
    def label(self) -> str:
        """How errors and reports name this rig: its file, else its name."""
        return self.source or self.name or "<rig>"

    def joint_index(self, name: str) -> int:
        """Index of the joint called ``name``; :class:`RigError` listing close names if there is none."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            import difflib

            close = difflib.get_close_matches(name, self.joint_names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise RigError(f"{self.label}: no joint named '{name}'{hint}") from None

    def children(self) -> list[list[int]]:
        """For each joint, the indices of its children (:func:`vips.skeleton.children_lists`)."""
        return skeleton.children_lists(self.parents)

    def depths(self) -> np.ndarray:
        """(J,) int64 number of edges from the root to each joint (:func:`vips.skeleton.depths`)."""
        return skeleton.depths(self.parents)

    def bone_axes(self) -> np.ndarray:
        """(J, 3) float64 unit direction from each joint to its children, in the frame its pose delta acts on
        (:func:`vips.skeleton.bone_axes` of the rest translations); zeros for leaves and for bones shorter than a
        millionth of the rig's height.

        A child's rest translation is expressed in its parent's frame, the frame the parent's delta rotates
        (posed local rotation is ``rest * delta``), so turning the delta about this axis leaves the bone in place.
        """
        return skeleton.bone_axes(self.parents, self.rest_translations, 1e-6 * self.height())

    def preorder(self) -> list[tuple[int, int]]:
        """``(joint, depth)`` for every joint, depth first from the root (children in joint order), as a joint tree is
        read top to bottom; iterative, so a 20,000-joint chain costs no recursion."""
        return skeleton.preorder(self.parents)

    def joint_tree(self) -> dict[str, Any]:
        """The skeleton as JSON-ready lists, one entry per joint in joint order (what ``vips info --json`` prints
        under "skeleton", with the body root and mirror partners added there).

        Keys: ``names``; ``parents`` (index into ``names``, -1 for the root); ``rest_positions`` (J x [x, y, z] world
        positions in the rest pose, asset units, float32 written shortest); ``leaf`` (the joint has no children);
        ``moves_skin`` (:meth:`moves_skin`, None without skin).
        """
        positions = self.rest_joint_positions().astype(np.float32).astype(str)
        skinned = self.moves_skin()
        return {
            "names": list(self.joint_names),
            "parents": [int(p) for p in self.parents],
            "rest_positions": [[float(v) for v in row] for row in positions],
            "leaf": [not kids for kids in self.children()],
            "moves_skin": None if skinned is None else skinned.tolist(),
        }

    def moves_skin(self) -> np.ndarray | None:
        """(J,) bool: the joint or one below it carries skin weight (the IK and pole targets of artist rigs carry
        none), or None for a rig without skin."""
        if self.skin_indices is None or self.skin_weights is None or not self.num_vertices:
            return None
        carries = np.zeros(self.num_joints, bool)
        carries[np.asarray(self.skin_indices)[np.asarray(self.skin_weights) > 0]] = True
        for j in range(self.num_joints - 1, 0, -1):  # children after parents: one sweep reaches every ancestor
            if carries[j] and self.parents[j] >= 0:
                carries[self.parents[j]] = True
        return carries

    def joint_paths(self) -> list[str]:
        """USD-style joint paths (``root/spine/neck``), parents before children."""
        paths: list[str] = []
        for j, p in enumerate(self.parents):
            paths.append(self.joint_names[j] if p < 0 else f"{paths[p]}/{self.joint_names[j]}")
        return paths

    # ----- geometry ------------------------------------------------------------------------------
    def rest_world_matrices(self) -> np.ndarray:
        """(J, 4, 4) float32 world transforms of the rest pose (native FK of the rest transforms)."""
        rotations = np.ascontiguousarray(self.rest_rotations[None], np.float32)
        translations = np.ascontiguousarray(self.rest_translations[None], np.float32)
        return native.fk(rotations, translations, self.parents)[0]

    def rest_joint_positions(self) -> np.ndarray:
        """(J, 3) float32 world positions of the joints in the rest pose."""
        return self.rest_world_matrices()[:, :3, 3].copy()

    def up_vector(self) -> np.ndarray:
        """(3,) unit vector of the asset's up axis."""
        return np.array([0, 1, 0] if self.up_axis == "Y" else [0, 0, 1], np.float32)

    def height(self) -> float:
        """Extent along the up axis of the mesh (or of the joints for a skeleton-only rig), in asset units.

        Never zero: a flat rig falls back to its largest extent, so it can normalize lengths.
        """
        pts = self.vertices if self.has_mesh else self.rest_joint_positions()
        axis = 1 if self.up_axis == "Y" else 2
        extent = np.ptp(pts, axis=0) if len(pts) else np.zeros(3)
        h = float(extent[axis])
        if h <= 1e-9 * max(1.0, float(extent.max(initial=0))):
            h = float(extent.max(initial=0))
        return h if h > 0 else 1.0

    # ----- reporting -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``vips info`` prints)."""
        return {
            "name": self.name,
            "source": self.source,
            "joints": self.num_joints,
            "root": self.joint_names[0],
            "hierarchy_depth": int(self.depths().max()) if self.num_joints else 0,
            "vertices": self.num_vertices,
            "faces": 0 if self.faces is None else int(self.faces.shape[0]),
            "max_influences": 0 if self.skin_indices is None else int(self.skin_indices.shape[1]),
            "clips": {name: {"frames": len(c), "fps": c.fps} for name, c in self.clips.items()},
            "height": self.height(),
            "up_axis": self.up_axis,
            "meters_per_unit": self.meters_per_unit,
            "warnings": list(self.warnings),
        }

    def warn(self, message: str) -> None:
        """Record a repair and issue it as a :class:`RigWarning`."""
        self.warnings.append(message)
        warnings.warn(f"{self.label}: {message}", RigWarning, stacklevel=3)

    def __repr__(self) -> str:
        mesh = f"{self.num_vertices} vertices" if self.has_mesh else "no mesh"
        clips = f", {len(self.clips)} clips" if self.clips else ""
        return f"Rig({self.name or self.label!r}, {self.num_joints} joints, {mesh}{clips})"
