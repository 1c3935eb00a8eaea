"""A small procedural humanoid and smooth random motion, for fitting tests and as an evaluation fallback.

The body is made of elliptical tubes (one per bone, so bone twist is visible in the surface) with skin
weights blended across joints; end joints (``*_end``) carry no weight, as in many real rigs.
The full procedural creature library lives in :mod:`vips.data.creatures`; this is the minimal stand-in
fitting code can rely on without it.
"""

from __future__ import annotations

import numpy as np

from vips.poses import Poses
from vips.rotations import axis_angle_to_quat, quat_normalize

# name, parent, offset in the parent's (rest, world-aligned) frame
_SKELETON = [
    ("hips", -1, (0.0, 0.95, 0.0)),
    ("spine", 0, (0.0, 0.15, 0.0)),
    ("chest", 1, (0.0, 0.17, 0.0)),
    ("neck", 2, (0.0, 0.2, 0.0)),
    ("head", 3, (0.0, 0.08, 0.02)),
    ("head_end", 4, (0.0, 0.2, 0.0)),
    ("l_shoulder", 2, (0.18, 0.15, 0.0)),
    ("l_elbow", 6, (0.28, 0.0, 0.0)),
    ("l_wrist", 7, (0.25, 0.0, 0.0)),
    ("l_hand_end", 8, (0.1, 0.0, 0.0)),
    ("r_shoulder", 2, (-0.18, 0.15, 0.0)),
    ("r_elbow", 10, (-0.28, 0.0, 0.0)),
    ("r_wrist", 11, (-0.25, 0.0, 0.0)),
    ("r_hand_end", 12, (-0.1, 0.0, 0.0)),
    ("l_hip", 0, (0.1, -0.05, 0.0)),
    ("l_knee", 14, (0.0, -0.42, 0.0)),
    ("l_ankle", 15, (0.0, -0.42, 0.0)),
    ("l_toe_end", 16, (0.0, -0.05, 0.15)),
    ("r_hip", 0, (-0.1, -0.05, 0.0)),
    ("r_knee", 18, (0.0, -0.42, 0.0)),
    ("r_ankle", 19, (0.0, -0.42, 0.0)),
    ("r_toe_end", 20, (0.0, -0.05, 0.15)),
]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def toy_humanoid(seed: int = 0, rings: int = 8, sides: int = 10):  # noqa: ANN201 - returns vips.Rig
    """A random-proportioned humanoid rig (22 joints, ~3k vertices, asset units about 1.7 tall).

    Rest local rotations are random (with translations expressed in the rotated parent frames), so code
    that confuses rest and delta rotations fails on it.
    """
    from vips.rig import Rig
    from vips.rotations import quat_multiply, quat_conjugate, quat_to_matrix

    rng = np.random.default_rng(seed)
    names = [s[0] for s in _SKELETON]
    parents = np.array([s[1] for s in _SKELETON], np.int32)
    J = len(names)
    scale = rng.uniform(0.85, 1.15, size=J)
    offsets = np.array([s[2] for s in _SKELETON], np.float64) * scale[:, None]
    world_pos = np.zeros((J, 3))
    for j in range(J):
        world_pos[j] = offsets[j] if parents[j] < 0 else world_pos[parents[j]] + offsets[j]
    # Random rest orientations; local data consistent with them.
    world_q = quat_normalize(axis_angle_to_quat(rng.normal(scale=0.4, size=(J, 3))))
    local_q = np.zeros((J, 4))
    local_t = np.zeros((J, 3))
    for j in range(J):
        p = parents[j]
        if p < 0:
            local_q[j], local_t[j] = world_q[j], world_pos[j]
        else:
            local_q[j] = quat_multiply(quat_conjugate(world_q[p]), world_q[j])
            local_t[j] = quat_to_matrix(world_q[p]).T @ (world_pos[j] - world_pos[p])
    bind = np.tile(np.eye(4), (J, 1, 1))
    bind[:, :3, :3] = quat_to_matrix(world_q)
    bind[:, :3, 3] = world_pos

    verts, faces, skin_i, skin_w = [], [], [], []
    for j in range(1, J):
        p = parents[j]
        a, b = world_pos[p], world_pos[j]
        axis = b - a
        length = np.linalg.norm(axis)
        d = axis / length
        ref = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(d, ref)
        u /= np.linalg.norm(u)
        v = np.cross(d, u)
        radius = float(np.clip(0.22 * length, 0.035, 0.11)) * rng.uniform(0.9, 1.1)
        ru, rv = radius * 1.5, radius
        gp = parents[p]
        base = sum(len(x) for x in verts)
        ring_s = np.linspace(-0.08, 1.08, rings)
        ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
        s_grid, a_grid = np.meshgrid(ring_s, ang, indexing="ij")
        taper = 1.0 - 0.15 * s_grid
        pts = (a + s_grid[..., None] * axis + taper[..., None] * (np.cos(a_grid)[..., None] * ru * u
                                                                 + np.sin(a_grid)[..., None] * rv * v))
        verts.append(pts.reshape(-1, 3))
        s = s_grid.reshape(-1)
        w_child = 0.5 * _smoothstep((s - 0.75) / 0.3) if names[j].find("_end") < 0 else 0 * s
        w_gp = 0.5 * (1 - _smoothstep((s + 0.05) / 0.3)) if gp >= 0 else 0 * s
        w_self = 1 - w_child - w_gp
        skin_i.append(np.stack([np.full_like(s, p), np.full_like(s, j), np.full_like(s, max(gp, 0))], 1))
        skin_w.append(np.stack([w_self, w_child, w_gp], 1))
        for r in range(rings - 1):
            for k in range(sides):
                i0 = base + r * sides + k
                i1 = base + r * sides + (k + 1) % sides
                faces.append((i0, i1, i1 + sides))
                faces.append((i0, i1 + sides, i0 + sides))
        # caps: fan around the end rings' centres
        for end, r in ((a + ring_s[0] * axis, 0), (b + (ring_s[-1] - 1) * axis, rings - 1)):
            c = sum(len(x) for x in verts)
            verts.append(end[None])
            ws = np.array([w_self[r * sides], w_child[r * sides], w_gp[r * sides]])
            skin_i.append(np.array([[p, j, max(gp, 0)]], np.float64))
            skin_w.append(ws[None])
            for k in range(sides):
                i0 = base + r * sides + k
                i1 = base + r * sides + (k + 1) % sides
                faces.append((c, i1, i0) if r == 0 else (c, i0, i1))
    vertices = np.concatenate(verts).astype(np.float32)
    skin_indices = np.concatenate(skin_i).astype(np.int32)
    skin_weights = np.concatenate(skin_w).astype(np.float32)
    # Rig validation wants weights sorted by descending weight and unique indices per row.
    order = np.argsort(-skin_weights, axis=1, kind="stable")
    skin_indices = np.take_along_axis(skin_indices, order, 1)
    skin_weights = np.take_along_axis(skin_weights, order, 1)
    dup = skin_indices[:, 2] == skin_indices[:, 1]
    skin_weights[dup, 2] = 0.0
    dup0 = skin_indices[:, 1] == skin_indices[:, 0]
    skin_weights[dup0, 1] = 0.0
    skin_weights /= skin_weights.sum(1, keepdims=True)
    return Rig(
        joint_names=names,
        parents=parents,
        rest_translations=local_t.astype(np.float32),
        rest_rotations=quat_normalize(local_q).astype(np.float32),
        bind_matrices=bind.astype(np.float32),
        vertices=vertices,
        faces=np.asarray(faces, np.int32),
        skin_indices=skin_indices,
        skin_weights=skin_weights,
        name=f"toy_humanoid_{seed}",
    )


def toy_motion(rig, num_frames: int, seed: int = 0, amplitude_deg: float = 30.0, fps: float = 30.0) -> Poses:  # noqa: ANN001
    """Smooth random motion: per joint, a sum of sinusoids in axis-angle; the root walks and turns slowly.

    Returns ``num_frames`` poses of ``rig`` (deltas from the rest pose, root offset in asset units).
    """
    rng = np.random.default_rng(seed)
    J = rig.num_joints
    t = np.arange(num_frames) / fps
    aa = np.zeros((num_frames, J, 3))
    for k in range(3):
        freq = rng.uniform(0.2, 1.2, size=(J, 3))
        phase = rng.uniform(0, 2 * np.pi, size=(J, 3))
        amp = rng.uniform(0.2, 1.0, size=(J, 3)) * np.deg2rad(amplitude_deg) / 3 * 1.8
        aa += amp[None] * np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None])
    aa[:, 0] *= 0.5
    rotations = axis_angle_to_quat(aa)
    height = rig.height()
    root = np.zeros((num_frames, 3))
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.0, 0.6) * height
    root[:, 0] = np.cos(heading) * speed * t
    root[:, 2] = np.sin(heading) * speed * t
    root[:, 1] = 0.02 * height * np.sin(2 * np.pi * 1.5 * t)
    return Poses(rotations.astype(np.float32), root.astype(np.float32), fps, "toy_motion")
