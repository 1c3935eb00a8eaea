"""Simulated per-frame reconstruction of a skinned clip: what a video model plus 3D reconstruction gives.

Each frame of a ground-truth clip becomes a point cloud: area-weighted samples of the skinned surface,
kept only where a camera sees them (front-facing and not occluded: a z-buffer of splatted surface samples),
with Gaussian noise, uniform outliers and a per-frame similarity misalignment (scale, rotation,
translation) standing in for each frame's reconstruction living in its own coordinate frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vips.fitting.alignment import Similarity
from vips.fitting.surface import sample_surface
from vips.kinematics import skin
from vips.rotations import axis_angle_to_quat, quat_to_matrix

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


@dataclass
class SimulatedSequence:
    """A simulated reconstruction of F frames.

    Attributes:
        clouds: F float32 point clouds (N_f, 3), each in its own (misaligned) frame.
        misalignment: F similarities that took world space to each cloud's frame
            (``clouds[f] ~ misalignment[f].apply(world points)``); frame 0's is the identity unless asked.
        camera: (3,) camera direction (unit, world space, from the body towards the camera).
        visible_fraction: (F,) fraction of surface samples the camera saw.
        outliers: F bool masks (N_f,) of the outlier points.
    """

    clouds: list[np.ndarray]
    misalignment: list[Similarity]
    camera: np.ndarray
    visible_fraction: np.ndarray
    outliers: list[np.ndarray] = field(default_factory=list)


def visible_mask(
    points: np.ndarray, normals: np.ndarray, eye: np.ndarray, target: np.ndarray, resolution: int = 160,
    tolerance: float = 0.01, splat_points: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) bool: points a pinhole camera at ``eye`` looking at ``target`` sees.

    A point is seen when its normal faces the camera and its depth is within ``tolerance`` (world units) of
    the nearest depth splatted into its pixel (``splat_points`` and the points themselves). Pixels must be
    small against the parts that occlude each other and the splats dense enough to cover them.
    """
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    up = np.array([0.0, 1.0, 0.0]) if abs(fwd[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    splat = points if splat_points is None else splat_points

    def project(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rel = p - eye
        depth = rel @ fwd
        return rel @ right / depth, rel @ up / depth, depth

    su, sv, sd = project(splat)
    pu, pv, pd = project(points)
    lo = np.minimum(su.min(), pu.min()), np.minimum(sv.min(), pv.min())
    span = max(su.max() - lo[0], sv.max() - lo[1], pu.max() - lo[0], pv.max() - lo[1]) * 1.001 + 1e-12
    def pix(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.clip(((u - lo[0]) / span * resolution).astype(np.int64), 0, resolution - 1),
            np.clip(((v - lo[1]) / span * resolution).astype(np.int64), 0, resolution - 1),
        )

    zbuf = np.full((resolution, resolution), np.inf)
    iu, iv = pix(su, sv)
    np.minimum.at(zbuf, (iu, iv), sd)
    ju, jv = pix(pu, pv)
    np.minimum.at(zbuf, (ju, jv), pd)
    near = zbuf
    facing = np.einsum("ij,ij->i", normals, eye[None] - points) > 0
    return facing & (pd <= near[ju, jv] + tolerance)


def random_similarity(rng: np.random.Generator, scale_range: float, max_angle_deg: float, max_shift: float) -> Similarity:
    """A random similarity: log-uniform scale in [1/(1+s), 1+s], rotation up to ``max_angle_deg`` about a
    random axis, translation up to ``max_shift`` in each coordinate."""
    scale = float(np.exp(rng.uniform(-np.log1p(scale_range), np.log1p(scale_range))))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(0, max_angle_deg))
    rot = quat_to_matrix(axis_angle_to_quat(axis * angle))
    return Similarity(scale, rot, rng.uniform(-max_shift, max_shift, size=3))


def simulate_reconstruction(
    rig: "Rig",
    poses: "Poses",
    seed: int = 0,
    num_points: int = 3000,
    noise: float = 0.005,
    outlier_fraction: float = 0.03,
    scale_range: float = 0.15,
    max_angle_deg: float = 15.0,
    max_shift: float = 0.1,
    misalign_first: bool = False,
    camera_elevation_deg: tuple[float, float] = (5.0, 30.0),
    single_view: bool = True,
) -> SimulatedSequence:
    """Simulate per-frame reconstructions of ``poses`` (F poses of ``rig``).

    Args:
        rig: a rig with a mesh and skin weights.
        poses: F ground-truth poses.
        seed: all randomness (samples, camera, noise, outliers, misalignment).
        num_points: surface samples per frame before visibility (about half survive).
        noise: Gaussian noise standard deviation, as a fraction of the rig height.
        outlier_fraction: outliers added, as a fraction of the visible points, uniform in the frame's
            bounding box grown by 10%.
        scale_range, max_angle_deg, max_shift: per-frame misalignment (see :func:`random_similarity`);
            ``max_shift`` is a fraction of the rig height.
        misalign_first: also misalign frame 0 (off by default: the rigged first frame defines world space).
        camera_elevation_deg: range of the camera's elevation above the horizon; its azimuth is random.
            The camera keeps its direction for the whole clip and follows the body's centre.
        single_view: keep only what the camera sees; False keeps the whole surface (as from a
            reconstruction that completes unseen sides). A flat (zero-thickness) mesh is seen from both
            sides.

    Returns:
        A :class:`SimulatedSequence`.
    """
    rng = np.random.default_rng(seed)
    height = rig.height()
    up = rig.up_vector().astype(np.float64)
    verts = skin(rig, poses).astype(np.float64)
    # The camera stands back by the body's largest extent (for a snake the height is a few millimetres).
    size = float(np.ptp(rig.vertices, axis=0).max())
    flat = float(np.ptp(rig.vertices, axis=0).min()) <= 1e-6 * size
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation = np.deg2rad(rng.uniform(*camera_elevation_deg))
    horiz = np.array([np.cos(azimuth), 0.0, np.sin(azimuth)]) if rig.up_axis == "Y" else np.array(
        [np.cos(azimuth), np.sin(azimuth), 0.0])
    camera = np.cos(elevation) * horiz + np.sin(elevation) * up
    clouds, sims, fractions, outlier_masks = [], [], [], []
    for f in range(poses.num_poses):
        v = verts[f]
        face, bary = sample_surface(v, rig.faces, num_points, rng)
        tri = v[rig.faces[face]]
        pts = (tri * bary[:, :, None]).sum(1)
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        if flat:
            # A sheet (zero thickness) is seen from both sides: turn its normals towards the camera.
            side = np.sign(np.einsum("ij,j->i", normals, camera))
            normals *= np.where(side == 0, 1.0, side)[:, None]
        sface, sbary = sample_surface(v, rig.faces, num_points * 3, rng)
        splat = (v[rig.faces[sface]] * sbary[:, :, None]).sum(1)
        centre = 0.5 * (v.min(0) + v.max(0))
        eye = centre + camera * 2.5 * size
        seen = (
            visible_mask(pts, normals, eye, centre, tolerance=0.02 * height, splat_points=splat)
            if single_view
            else np.ones(len(pts), bool)
        )
        cloud = pts[seen] + rng.normal(scale=noise * height, size=(int(seen.sum()), 3))
        n_out = int(round(outlier_fraction * len(cloud)))
        # Outliers fill the box of what was seen (of the whole body when nothing was).
        box = cloud if len(cloud) else v
        lo, hi = box.min(0), box.max(0)
        pad = 0.1 * (hi - lo)
        outl = rng.uniform(lo - pad, hi + pad, size=(n_out, 3))
        cloud = np.concatenate([cloud, outl])
        is_out = np.concatenate([np.zeros(len(cloud) - n_out, bool), np.ones(n_out, bool)])
        perm = rng.permutation(len(cloud))
        sim = (
            random_similarity(rng, scale_range, max_angle_deg, max_shift * height)
            if (f > 0 or misalign_first)
            else Similarity()
        )
        clouds.append(sim.apply(cloud[perm]).astype(np.float32))
        outlier_masks.append(is_out[perm])
        sims.append(sim)
        fractions.append(seen.mean())
    return SimulatedSequence(clouds, sims, camera, np.asarray(fractions), outlier_masks)


def rigged_first_frame(rig: "Rig", poses: "Poses", frame: int = 0) -> tuple["Rig", "Poses"]:
    """The rig re-posed so its rest (and bind) pose is ``poses[frame]``, and ``poses`` relative to it.

    The fitting pipeline takes the skeleton from the rigged *first frame* of a sequence (an auto-rigger
    run on frame 0's mesh), so simulations of it start from this rig. Skin weights, faces and joint
    names are kept; ``skin(new_rig, new_poses)`` equals ``skin(rig, poses)``.
    """
    from vips.kinematics import local_transforms, skinning_matrices, world_matrices
    from vips.poses import Poses as _Poses
    from vips.rig import Rig as _Rig
    from vips.rotations import quat_conjugate, quat_multiply, quat_normalize

    first = poses[frame]
    local_r, local_t = local_transforms(rig, first)
    world = world_matrices(rig, first)[0]
    verts = skin(rig, first)[0]
    new = _Rig(
        joint_names=list(rig.joint_names),
        parents=rig.parents.copy(),
        rest_translations=local_t[0],
        rest_rotations=local_r[0],
        bind_matrices=world.astype(np.float32),
        vertices=verts.astype(np.float32),
        faces=rig.faces.copy(),
        skin_indices=rig.skin_indices.copy(),
        skin_weights=rig.skin_weights.copy(),
        up_axis=rig.up_axis,
        meters_per_unit=rig.meters_per_unit,
        name=rig.name,
        source=rig.source,
    )
    delta = quat_normalize(quat_multiply(quat_conjugate(first.rotations.astype(np.float64)), poses.rotations))
    root = poses.root_translation - first.root_translation
    _ = skinning_matrices  # (same bind convention as kinematics.skin)
    return new, _Poses(delta.astype(np.float32), root.astype(np.float32), poses.fps, poses.name)
