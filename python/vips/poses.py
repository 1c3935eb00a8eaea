"""Poses: per-joint local rotations (deltas from the rest pose) plus the root's translation offset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.errors import PoseError


@dataclass(eq=False)
class Poses:
    """A set or sequence of F poses of one rig.

    Attributes:
        rotations: (F, J, 4) float32 unit quaternions (w, x, y, z): each joint's rotation *relative to its rest
            local rotation*, so the posed local rotation is ``rest_rotation[j] * rotations[f, j]``. Identity
            everywhere is the rest pose.
        root_translation: (F, 3) float32 offset added to the root joint's rest translation, in the root's parent
            frame and the asset's units.
        fps: frames per second when the poses form an animation (time code k is pose k).
        name: a label (clip name, "samples", "traversal"...).
    """

    rotations: np.ndarray
    root_translation: np.ndarray
    fps: float = 30.0
    name: str = "poses"

    def __post_init__(self) -> None:
        self.rotations = np.ascontiguousarray(self.rotations, dtype=np.float32)
        self.root_translation = np.ascontiguousarray(self.root_translation, dtype=np.float32)
        if self.rotations.ndim != 3 or self.rotations.shape[-1] != 4:
            raise PoseError(f"poses '{self.name}': rotations must have shape (F, J, 4), got {self.rotations.shape}")
        if self.root_translation.shape != (self.rotations.shape[0], 3):
            raise PoseError(
                f"poses '{self.name}': root_translation must have shape ({self.rotations.shape[0]}, 3), "
                f"got {self.root_translation.shape}"
            )
        if not (np.isfinite(self.rotations).all() and np.isfinite(self.root_translation).all()):
            raise PoseError(f"poses '{self.name}': rotations or root_translation hold NaN or inf")
        norms = np.linalg.norm(self.rotations, axis=-1)
        if (norms < 1e-6).any():
            f, j = np.argwhere(norms < 1e-6)[0]
            raise PoseError(f"poses '{self.name}': zero quaternion at pose {f}, joint {j}")
        self.rotations /= norms[..., None]

    @classmethod
    def identity(cls, num_poses: int, num_joints: int, fps: float = 30.0, name: str = "rest") -> "Poses":
        """``num_poses`` copies of the rest pose."""
        rotations = np.zeros((num_poses, num_joints, 4), np.float32)
        rotations[..., 0] = 1
        return cls(rotations, np.zeros((num_poses, 3), np.float32), fps, name)

    @property
    def num_poses(self) -> int:
        return self.rotations.shape[0]

    @property
    def num_joints(self) -> int:
        return self.rotations.shape[1]

    def __len__(self) -> int:
        return self.num_poses

    def __getitem__(self, index: int | slice | np.ndarray) -> "Poses":
        """Select poses; an integer keeps the pose axis, giving one pose as ``Poses`` of length 1."""
        if isinstance(index, (int, np.integer)):
            if not -self.num_poses <= index < self.num_poses:
                raise PoseError(f"poses '{self.name}' has {self.num_poses} poses; index {index} is out of range")
            index = slice(index, index + 1 if index != -1 else None)
        return Poses(self.rotations[index], self.root_translation[index], self.fps, self.name)

    @staticmethod
    def concatenate(items: list["Poses"], name: str | None = None) -> "Poses":
        """Join pose sets of the same rig along the pose axis."""
        if not items:
            raise PoseError("cannot concatenate an empty list of poses")
        return Poses(
            np.concatenate([p.rotations for p in items]),
            np.concatenate([p.root_translation for p in items]),
            items[0].fps,
            name or items[0].name,
        )

    def check_rig(self, num_joints: int, what: str = "rig") -> None:
        """Raise :class:`PoseError` unless the poses have ``num_joints`` joints."""
        if self.num_joints != num_joints:
            raise PoseError(f"poses '{self.name}' have {self.num_joints} joints but the {what} has {num_joints}")

    def __repr__(self) -> str:
        return f"Poses(name={self.name!r}, poses={self.num_poses}, joints={self.num_joints}, fps={self.fps:g})"
