"""Similarity alignment of reconstructed frames into one world space.

Per-frame reconstructions (a video model plus a 3D/4D reconstruction tool) come back each in its own frame:
a different scale, orientation and position per frame. We undo that with a similarity transform
``x -> scale * R @ x + t`` per frame, estimated by robust (trimmed) similarity ICP.

Method and limits:

* A rigid misalignment of a frame and a rigid motion of the whole body look identical in one frame, so the
  gauge is fixed by assuming the body moves little *between consecutive frames*: frame ``f`` is aligned
  to frame ``f - 1`` (:func:`align_frames`: cloud to aligned cloud; the fitting pipeline aligns to the
  previous frame's *fitted mesh*, a complete surface, which is more robust). True global motion (a
  creature walking away) is therefore only partly kept; bone lengths make *scale* fully observable, and the
  fitting refines it per frame.
* ICP converges locally: per-frame rotation errors of more than ~30-40 degrees need a better start
  (:func:`initial_alignment` tries several orientations for the first frame only).
* Chains accumulate error: each link adds the previous link's residual (what tracking-based pipelines
  suffer from too); aligning to a fitted model instead of a raw cloud keeps it small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vips.fitting.nn import nearest_single
from vips.rotations import axis_angle_to_quat, quat_to_matrix


@dataclass
class Similarity:
    """``x -> scale * rotation @ x + translation``.

    Attributes:
        scale: positive float.
        rotation: (3, 3) rotation matrix.
        translation: (3,) vector.
    """

    scale: float = 1.0
    rotation: np.ndarray = None  # type: ignore[assignment]
    translation: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.scale = float(self.scale)
        self.rotation = np.eye(3) if self.rotation is None else np.asarray(self.rotation, np.float64)
        self.translation = np.zeros(3) if self.translation is None else np.asarray(self.translation, np.float64)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) -> (..., 3), in the input's float dtype."""
        p = np.asarray(points)
        out = self.scale * p.astype(np.float64) @ self.rotation.T + self.translation
        return out.astype(p.dtype if p.dtype in (np.float32, np.float64) else np.float64)

    def inverse(self) -> "Similarity":
        r = self.rotation.T
        return Similarity(1.0 / self.scale, r, -(r @ self.translation) / self.scale)

    def compose(self, first: "Similarity") -> "Similarity":
        """The similarity that applies ``first`` and then ``self``."""
        return Similarity(
            self.scale * first.scale,
            self.rotation @ first.rotation,
            self.scale * self.rotation @ first.translation + self.translation,
        )

    def matrix(self) -> np.ndarray:
        """(4, 4) homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m

    def rotation_angle(self) -> float:
        """Angle of the rotation part, radians."""
        return float(np.arccos(np.clip((np.trace(self.rotation) - 1) / 2, -1, 1)))

    @classmethod
    def scaling(cls, scale: float, centre: np.ndarray) -> "Similarity":
        """Scaling by ``scale`` about the point ``centre`` (3,), which stays where it is."""
        return cls(scale, np.eye(3), np.asarray(centre, np.float64) * (1 - scale))


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None, with_scale: bool = True) -> Similarity:
    """Least-squares similarity taking ``src`` (N, 3) onto corresponding ``dst`` (N, 3) (Umeyama 1991).

    ``weights`` (N,) are non-negative per-pair weights. Returns the :class:`Similarity`.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / max(w.sum(), 1e-12)
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1
    rot = u @ np.diag(d) @ vt
    var_s = float(w @ (xs**2).sum(1))
    scale = float((sig * d).sum() / var_s) if with_scale and var_s > 1e-18 else 1.0
    return Similarity(scale, rot, mu_d - scale * rot @ mu_s)


def similarity_icp(
    source: np.ndarray,
    target: np.ndarray,
    init: Similarity | None = None,
    iterations: int = 30,
    trim: float = 0.8,
    with_scale: bool = True,
    symmetric: bool = False,
) -> tuple[Similarity, float]:
    """Trimmed similarity ICP: the similarity that puts ``source`` (N, 3) onto ``target`` (M, 3).

    Each iteration matches source points to their nearest target points (and, when ``symmetric``, target
    points to their nearest source points, which keeps partial clouds from shrinking onto a subset), keeps
    the ``trim`` fraction of closest pairs (outliers and unmatched parts drop out) and solves for the
    similarity in closed form (:func:`umeyama`).

    Returns:
        The similarity and the final RMS distance of the kept pairs (target units).
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float32)
    sim = init or Similarity()
    rms = np.inf
    for _ in range(iterations):
        moved = sim.apply(source).astype(np.float32)
        d_st, i_st = nearest_single(moved, target)
        src_pts, dst_pts, d2 = [source], [target[i_st].astype(np.float64)], [d_st]
        if symmetric:
            d_ts, i_ts = nearest_single(target, moved)
            src_pts.append(source[i_ts])
            dst_pts.append(target.astype(np.float64))
            d2.append(d_ts)
        src_all, dst_all, d_all = np.concatenate(src_pts), np.concatenate(dst_pts), np.concatenate(d2)
        keep = d_all <= np.quantile(d_all, trim)
        new = umeyama(src_all[keep], dst_all[keep], with_scale=with_scale)
        new_rms = float(np.sqrt(d_all[keep].mean()))
        change = np.abs(new.matrix() - sim.matrix()).max()
        sim = new
        if abs(rms - new_rms) < 1e-7 * max(new_rms, 1e-12) or change < 1e-7:
            rms = new_rms
            break
        rms = new_rms
    return sim, rms


def _rms_radius(points: np.ndarray) -> float:
    c = points - np.median(points, axis=0)
    r = np.sqrt((c**2).sum(1))
    return float(np.sqrt(np.mean(np.minimum(r, np.quantile(r, 0.9)) ** 2)))


def trimmed_rms(src: np.ndarray, target: np.ndarray, trim: float) -> float:
    """RMS of the closest ``trim`` fraction of nearest-neighbour distances between (N, 3) ``src`` and (M, 3)
    ``target``, both ways (as :func:`similarity_icp` measures it with ``symmetric``), in their units."""
    d1, _ = nearest_single(src, target)
    d2, _ = nearest_single(target, src)
    d = np.concatenate([d1, d2])
    return float(np.sqrt(d[d <= np.quantile(d, trim)].mean()))


def spread(points: np.ndarray) -> float:
    """Robust size of an (N, 3) cloud: the median distance to its median point, in its units."""
    return float(np.median(np.linalg.norm(points - np.median(points, axis=0), axis=1)))


def initial_alignment(
    source: np.ndarray, target: np.ndarray, max_angle_deg: float = 180.0, iterations: int = 30, trim: float = 0.7
) -> tuple[Similarity, float]:
    """Similarity putting ``source`` (N, 3) onto ``target`` (M, 3) without a starting guess.

    Matches robust centres and sizes, then runs :func:`similarity_icp` from several start orientations
    (identity and rotations about the principal axes up to ``max_angle_deg``) and keeps the best.
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    cs, ct = np.median(source, axis=0), np.median(target, axis=0)
    scale = _rms_radius(target) / max(_rms_radius(source), 1e-12)
    starts = [np.zeros(3)]
    if max_angle_deg > 0:
        for axis in np.eye(3):
            for angle in (90.0, 180.0, -90.0):
                if abs(angle) <= max_angle_deg:
                    starts.append(axis * np.deg2rad(angle))
    best: tuple[Similarity, float] | None = None
    for aa in starts:
        rot = quat_to_matrix(axis_angle_to_quat(aa))
        init = Similarity(scale, rot, ct - scale * rot @ cs)
        sim, rms = similarity_icp(source, target, init, iterations=iterations, trim=trim)
        if best is None or rms < best[1]:
            best = (sim, rms)
    return best  # type: ignore[return-value]


def align_frames(
    frames: list[np.ndarray],
    reference: np.ndarray | None = None,
    iterations: int = 30,
    trim: float = 0.7,
) -> list[Similarity]:
    """Similarities bringing every frame into the first frame's world space (or the ``reference``'s).

    Args:
        frames: F point clouds (N_f, 3), one per frame, each in its own frame.
        reference: (M, 3) points in the target world space (e.g. the rigged first frame's surface); None
            keeps frame 0 where it is.
        iterations, trim: ICP settings (see :func:`similarity_icp`).

    Returns:
        F similarities; ``sims[f].apply(frames[f])`` is frame ``f`` in world space. Frame 0 is aligned to
        ``reference`` (global search over orientations), frame ``f`` to the aligned frame ``f - 1``
        starting from frame ``f - 1``'s similarity (see the module notes for the limits).
    """
    sims: list[Similarity] = []
    prev_aligned = None
    for f, cloud in enumerate(frames):
        if f == 0:
            sim = initial_alignment(cloud, reference, trim=trim)[0] if reference is not None else Similarity()
        else:
            sim, _ = similarity_icp(cloud, prev_aligned, sims[-1], iterations=iterations, trim=trim)
        sims.append(sim)
        prev_aligned = sim.apply(np.asarray(cloud, np.float64)).astype(np.float32)
    return sims
