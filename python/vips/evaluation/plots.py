"""Evaluation pictures drawn with Pillow alone: grouped bar charts and a 2D map of the pose space.

Every function writes one PNG and returns its path (:func:`write_pose_map` atomically, for ``vips sample --map``).
Values that are None (not measured) leave a gap labelled "n/a" rather than a zero bar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vips.evaluation.metrics import pose_features
from vips.io.atomic import atomic_path

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
           (127, 127, 127), (188, 189, 34), (23, 190, 207)]
INVALID = (214, 39, 40)
GRID = (225, 225, 225)
TEXT = (30, 30, 30)
#: Pose-map colours: reference poses, plausible and implausible ones.
REFERENCE_COLOR = (170, 170, 170)
PLAUSIBLE_COLOR = (40, 110, 220)
IMPLAUSIBLE_COLOR = (220, 30, 30)


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, anchor: str = "la",
          fill: tuple = TEXT) -> None:
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


def _legend(draw: ImageDraw.ImageDraw, x: float, y: float, entries: list[tuple[str, tuple]], font,
            horizontal: bool = False) -> None:
    for label, color in entries:
        draw.rectangle([x, y + 3, x + 12, y + 15], fill=color)
        _text(draw, (x + 18, y + 9), label, font, anchor="lm")
        if horizontal:
            x += 36 + draw.textlength(label, font=font)
        else:
            y += 20


def bar_chart(path: str | Path, groups: list[str], series: dict[str, list[float | None]], title: str,
              ylabel: str, y_range: tuple[float, float] = (0.0, 1.0),
              lines: list[tuple[float, str]] | None = None, size: tuple[int, int] = (1000, 520)) -> Path:
    """Grouped bars: one group per entry of ``groups``, one coloured bar per series.

    Args:
        groups: G group labels along the x axis.
        series: name -> G values (None where not measured), one colour each.
        y_range: axis range; values outside are clipped to it.
        lines: horizontal reference lines as (value, label), drawn dashed.
    """
    W, H = size
    left, right, top, bottom = 70, 110, 50, 80
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    font, small, big = _font(14), _font(12), _font(18)
    _text(draw, (W / 2, 14), title, big, anchor="mt")
    y0, y1 = y_range
    ph = H - top - bottom

    def y_of(v: float) -> float:
        return top + ph * (1 - (np.clip(v, y0, y1) - y0) / (y1 - y0))

    for t in np.linspace(y0, y1, 6):
        y = y_of(t)
        draw.line([left, y, W - right, y], fill=GRID)
        _text(draw, (left - 6, y), f"{t:.2f}", small, anchor="rm")
    _text(draw, (left, top - 8), ylabel, font, anchor="rd")
    names = list(series)
    gw = (W - left - right) / max(1, len(groups))
    bw = 0.8 * gw / max(1, len(names))
    for g, label in enumerate(groups):
        gx = left + g * gw + 0.1 * gw
        for s, name in enumerate(names):
            v = series[name][g]
            x = gx + s * bw
            if v is None or not np.isfinite(v):
                _text(draw, (x + bw / 2, y_of(y0) - 4), "n/a", small, anchor="md")
                continue
            draw.rectangle([x + 1, y_of(v), x + bw - 1, y_of(y0)], fill=PALETTE[s % len(PALETTE)])
            if bw >= 26:
                _text(draw, (x + bw / 2, y_of(v) - 2), f"{v:.2f}", small, anchor="md")
        _text(draw, (left + (g + 0.5) * gw, H - bottom + 8), label, font, anchor="mt")
    for value, text in lines or []:
        y = y_of(value)
        for x in np.arange(left, W - right, 12):
            draw.line([x, y, min(x + 6, W - right), y], fill=(90, 90, 90), width=1)
        _text(draw, (W - right + 4, y), text, small, anchor="lm")
    draw.line([left, top, left, top + ph], fill=TEXT)
    draw.line([left, top + ph, W - right, top + ph], fill=TEXT)
    _legend(draw, left + 10, H - 28, [(n, PALETTE[s % len(PALETTE)]) for s, n in enumerate(names)], font,
            horizontal=True)
    img.save(path)
    return Path(path)


def scatter_map(path: str | Path, layers: list[tuple[str, np.ndarray, tuple]], title: str,
                size: tuple[int, int] = (760, 640), radius: float = 3.0) -> Path:
    """2D scatter of point layers drawn in order (later layers on top).

    Args:
        layers: (label, (n, 2) points, RGB colour) triples; empty layers are listed but draw nothing.
        size: canvas size for a legend 200 pixels wide; the canvas widens for longer labels.
    """
    font, big = _font(14), _font(18)
    labels = [f"{label} ({len(np.reshape(p, (-1, 2)))})" for label, p, _ in layers]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    right = 60 + int(max((probe.textlength(t, font=font) for t in labels), default=0))
    W, H = size[0] - 200 + right, size[1]  # the plot keeps its size; the canvas grows with the legend
    left, top, bottom = 40, 50, 40
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    _text(draw, (W / 2, 14), title, big, anchor="mt")
    pts = [np.asarray(p, np.float64).reshape(-1, 2) for _, p, _ in layers]
    allp = np.concatenate(pts) if any(len(p) for p in pts) else np.zeros((1, 2))
    lo, hi = np.percentile(allp, 0.5, axis=0), np.percentile(allp, 99.5, axis=0)
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    pw, ph = W - left - right, H - top - bottom
    draw.rectangle([left, top, left + pw, top + ph], outline=GRID)
    for (label, _, color), p in zip(layers, pts):
        xy = np.clip((p - lo) / (hi - lo), 0, 1)
        for x, y in zip(left + xy[:, 0] * pw, top + (1 - xy[:, 1]) * ph):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    _legend(draw, W - right + 16, top + 10, [(t, c) for t, (_, _, c) in zip(labels, layers)], font)
    _text(draw, (left, H - bottom + 10), "PCA of root-relative joint positions, heading removed (axes: PC1, PC2)",
          _font(12))
    img.save(path)
    return Path(path)


def pca_2d(fit_on: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Project (n, D) arrays on the first two principal axes of ``fit_on``; returns [(n, 2), ...] for each input."""
    x = np.asarray(fit_on, np.float64).reshape(len(fit_on), -1)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:2].T
    if axes.shape[1] < 2:
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    return [(np.asarray(a, np.float64).reshape(len(a), x.shape[1]) - mean) @ axes if len(a) else np.zeros((0, 2))
            for a in (fit_on, *others)]


def write_pose_map(rig: "Rig", poses: "Poses", plausible, path: str | os.PathLike[str],
                   reference: "Poses | None" = None, title: str = "pose space") -> Path:  # noqa: ANN001
    """A 2D map of the pose space (PCA of root-relative joint positions, heading removed): reference poses in
    grey, plausible poses in blue, implausible ones in red ((N,) bool ``plausible``). The axes are fitted on
    ``reference`` when given."""
    feats = pose_features(rig, poses).reshape(len(poses), -1)
    ref = None if reference is None else pose_features(rig, reference).reshape(len(reference), -1)
    ok = np.asarray(plausible, bool)
    if ref is not None:
        ref2, pts = pca_2d(ref, feats)
    else:
        pts = pca_2d(feats)[0]
        ref2 = np.zeros((0, 2))
    layers = []
    if ref is not None:
        layers.append(("reference poses", ref2, REFERENCE_COLOR))
    layers += [("plausible", pts[ok], PLAUSIBLE_COLOR), ("implausible", pts[~ok], IMPLAUSIBLE_COLOR)]
    path = Path(path)
    with atomic_path(path) as tmp:
        scatter_map(tmp, layers, title)
    return path
