"""Training data for the pose model: groups of poses of one rig, stored as safetensors, batched by rig.

A :class:`PoseGroup` holds one rig's conditioning (node features, graph codes, live channels) and N encoded
poses (N, J, D) (see :mod:`vips.pose_encoding`), tagged with its source (procedural species, artist clips,
fitted video...). A dataset directory holds one ``*.safetensors`` file per group (tensors ``node_features``,
``graph_code``, ``channel_mask``, ``poses``; metadata ``name`` and ``source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vips.features import RigConditioning, rig_conditioning
from vips.pose_encoding import POSE_DIM, channel_mask, encode_poses

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


@dataclass(eq=False)
class PoseGroup:
    """Poses of one rig.

    Attributes:
        node_features: (J, F) float32 rig features.
        graph_code: (J, J) int64 graph codes.
        channel_mask: (J, D) float32 live channels (:func:`vips.pose_encoding.channel_mask`); a joint with no
            live channel (above the body root, or a helper joint) is masked out of the model.
        poses: (N, J, D) float32 pose vectors.
        name: the rig's name; source: the data source it came from (used to mix sources).
    """

    node_features: np.ndarray
    graph_code: np.ndarray
    channel_mask: np.ndarray
    poses: np.ndarray
    name: str = ""
    source: str = "default"

    @property
    def num_joints(self) -> int:
        return int(self.node_features.shape[0])

    @property
    def joint_mask(self) -> np.ndarray:
        """(J,) float32: 1 on the joints the model sees."""
        return (self.channel_mask.max(axis=1) > 0).astype(np.float32)

    @classmethod
    def from_conditioning(cls, cond: RigConditioning, poses: np.ndarray, name: str = "", source: str = "default"):
        """A group from a rig's conditioning and its (N, J, D) pose vectors."""
        return cls(cond.node_features, cond.graph_code, channel_mask(cond), np.asarray(poses, np.float32), name,
                   source)

    @classmethod
    def from_rig(cls, rig: "Rig", poses: "Poses", source: str = "default") -> "PoseGroup":
        """A group from a rig and its poses (conditioning computed here)."""
        cond = rig_conditioning(rig)
        return cls.from_conditioning(cond, encode_poses(poses, cond), rig.name or rig.label, source)

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(
            {"node_features": self.node_features, "graph_code": self.graph_code, "channel_mask": self.channel_mask,
             "poses": self.poses},
            str(tmp),
            metadata={"name": self.name, "source": self.source},
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PoseGroup":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            keys = ("node_features", "graph_code", "channel_mask", "poses")
            missing = [k for k in keys if k not in f.keys()]
            if missing:
                raise ValueError(f"{path}: not a pose group of this version (missing {', '.join(missing)}); "
                                 "rebuild it from the dataset")
            arrays = {k: f.get_tensor(k) for k in keys}
        group = cls(arrays["node_features"], arrays["graph_code"].astype(np.int64), arrays["channel_mask"],
                    arrays["poses"], meta.get("name", Path(path).stem), meta.get("source", "default"))
        J = group.num_joints
        if (group.graph_code.shape != (J, J) or group.channel_mask.shape != (J, POSE_DIM) or group.poses.ndim != 3
                or group.poses.shape[1:] != (J, POSE_DIM)):
            raise ValueError(f"{path}: inconsistent shapes {group.node_features.shape}, {group.graph_code.shape}, "
                             f"{group.channel_mask.shape}, {group.poses.shape}")
        return group


def save_dataset(groups: list[PoseGroup], directory: str | Path) -> Path:
    """Write ``groups`` as ``DIR/group_00000.safetensors``...; returns the directory."""
    directory = Path(directory)
    for i, g in enumerate(groups):
        g.save(directory / f"group_{i:05d}.safetensors")
    return directory


@dataclass
class Batch:
    """One training batch: G rigs, P poses each, padded to the largest joint count Jm.

    Attributes:
        x0: (G*P, Jm, D) clean pose vectors (rig g's poses at rows g*P .. g*P+P-1).
        channel_mask: (G*P, Jm, D) live channels (zero on padding).
        node_features: (G, Jm, F); graph_code: (G, Jm, Jm) int64; mask: (G, Jm) 1 on real joints.
        poses_per_rig: P.
    """

    x0: np.ndarray
    channel_mask: np.ndarray
    node_features: np.ndarray
    graph_code: np.ndarray
    mask: np.ndarray
    poses_per_rig: int


def source_weight(source: str, weights: dict[str, float]) -> float:
    """A source's weight: its own entry, else that of the longest ``PREFIX*`` entry it starts with (``"clip:*"``
    for every real-motion family), else 1."""
    if source in weights:
        return float(weights[source])
    prefixes = [k for k in weights if k.endswith("*") and source.startswith(k[:-1])]
    return float(weights[max(prefixes, key=len)]) if prefixes else 1.0


def group_probabilities(groups: list[PoseGroup], source_weights: dict[str, float] | None = None) -> np.ndarray:
    """(N,) probability of drawing each group: each source gets its weight (:func:`source_weight`, default 1),
    split evenly over its groups, so a source with many small groups does not drown the others."""
    weights = source_weights or {}
    sources = [g.source for g in groups]
    counts = {s: sources.count(s) for s in set(sources)}
    p = np.array([source_weight(s, weights) / counts[s] for s in sources], np.float64)
    if p.sum() <= 0:
        raise ValueError("source weights give every group zero probability")
    return p / p.sum()


def make_batch(groups: list[PoseGroup], probs: np.ndarray, rigs: int, poses_per_rig: int,
               rng: np.random.Generator) -> Batch:
    """Draw ``rigs`` groups (by ``probs``) and ``poses_per_rig`` poses from each (with replacement)."""
    chosen = [groups[i] for i in rng.choice(len(groups), size=rigs, p=probs)]
    Jm = max(g.num_joints for g in chosen)
    F = chosen[0].node_features.shape[1]
    G, P = rigs, poses_per_rig
    x0 = np.zeros((G * P, Jm, POSE_DIM), np.float32)
    cmask = np.zeros((G * P, Jm, POSE_DIM), np.float32)
    feats = np.zeros((G, Jm, F), np.float32)
    code = np.zeros((G, Jm, Jm), np.int64)
    mask = np.zeros((G, Jm), np.float32)
    for g, group in enumerate(chosen):
        J = group.num_joints
        idx = rng.integers(0, len(group.poses), size=P)
        x0[g * P:(g + 1) * P, :J] = group.poses[idx]
        cmask[g * P:(g + 1) * P, :J] = group.channel_mask
        feats[g, :J] = group.node_features
        code[g, :J, :J] = group.graph_code
        mask[g, :J] = group.joint_mask
    return Batch(x0, cmask, feats, code, mask, P)
