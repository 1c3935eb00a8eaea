"""Toy pose data for tests and smoke runs: random skinned rigs whose poses lie on a low-dimensional manifold.

Each rig gets a random tree and, per joint, a fixed bend axis; a pose bends every joint about its axis by an
angle that is a rig-specific linear function of two shared latent variables, plus a small jitter. So poses
have structure a model can learn (strongly correlated joints), and per-rig moments are known.
"""

from __future__ import annotations

import numpy as np

from vips.model.data import PoseGroup
from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_normalize


def toy_rig(rng: np.random.Generator, num_joints: int, name: str = "toy"):
    """A random rig (tree, mesh of jittered points around the joints, 2-bone skin) with generic joint names."""
    from vips.rig import Rig

    parents = np.array([-1] + [int(rng.integers(max(0, j - 3), j)) for j in range(1, num_joints)], np.int32)
    trans = rng.normal(size=(num_joints, 3)) * 0.2 + np.array([0.0, 0.25, 0.0])
    trans[0] = [0.0, 1.0, 0.0]
    rot = quat_normalize(rng.normal(size=(num_joints, 4)) * 0.3 + np.array([1.0, 0, 0, 0]))
    rig = Rig([f"joint_{j}" for j in range(num_joints)], parents, trans, rot, name=name)
    joints = rig.rest_joint_positions().astype(np.float64)
    V = 8 * num_joints
    owner = np.repeat(np.arange(num_joints), 8)
    verts = joints[owner] + rng.normal(size=(V, 3)) * 0.05
    second = np.where(parents[owner] >= 0, parents[owner], owner)
    w = rng.uniform(0.6, 1.0, size=V)
    return Rig(rig.joint_names, parents, trans, rot, vertices=verts.astype(np.float32),
               skin_indices=np.stack([owner, second], 1).astype(np.int32),
               skin_weights=np.stack([w, 1 - w], 1).astype(np.float32), name=name)


def toy_poses(rng: np.random.Generator, num_joints: int, num_poses: int, jitter: float = 0.05) -> Poses:
    """Poses bending each joint about a fixed random axis by ``A @ z`` (z ~ N(0, I_2)) plus jitter."""
    axes = rng.normal(size=(num_joints, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    mix = rng.normal(size=(num_joints, 2)) * 0.5
    z = rng.normal(size=(num_poses, 2))
    angles = z @ mix.T + jitter * rng.normal(size=(num_poses, num_joints))
    rot = axis_angle_to_quat(axes[None] * angles[..., None])
    root = np.concatenate([0.05 * z, 0.02 * rng.normal(size=(num_poses, 1))], 1)
    return Poses(rot.astype(np.float32), root.astype(np.float32), name="toy")


def toy_groups(seed: int = 0, num_rigs: int = 4, num_poses: int = 64, joints=(5, 12), sources=("a", "b")):
    """``num_rigs`` :class:`PoseGroup` of toy rigs with joint counts in ``[joints[0], joints[1]]``."""
    rng = np.random.default_rng(seed)
    groups = []
    for i in range(num_rigs):
        J = int(rng.integers(joints[0], joints[1] + 1))
        rig = toy_rig(rng, J, name=f"toy_{i}")
        groups.append(PoseGroup.from_rig(rig, toy_poses(rng, J, num_poses), source=sources[i % len(sources)]))
    return groups
