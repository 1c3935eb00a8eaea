"""Pose-set metadata (``vips:poseSet:*``) as it lives in files, for the readers and writers of every format.

A pose set (``vips sample``, ``vips ik``, ``vips traverse``...) records what made its poses: their kind, per-pose
scores, plausible flags and seeds, the model id and the score threshold. In UsdSkel they are the attributes of our
codeless ``VipsPoseSetAPI`` on the SkelAnimation (usd_schemas/); in glTF the same values live in the animation's
``extras.vips_pose_set`` as JSON. The readers keep them on the clip (:attr:`vips.io.channels.ClipChannels.pose_set`)
and the writers write them back, so ``vips convert`` carries them through ``.usda -> .glb -> .usda`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vips.usd_schema import API_NAME, KINDS

ATTR_PREFIX = "vips:poseSet:"
GLTF_EXTRAS_KEY = "vips_pose_set"


@dataclass(eq=False)
class PoseSetMeta:
    """What a pose set file records about its poses.

    Attributes:
        kind: how the poses were made: one of ``vips.usd_schema.KINDS`` (samples, traversal, ik, fitted, clip).
        scores: (F,) float32 plausibility scores (higher is more plausible), or None.
        plausible: (F,) bool flags, or None.
        seeds: (F,) int64 sampling seeds (-1 where none applies), or None.
        model_id: the model that made or scored the poses ("" when none).
        threshold: the score threshold behind ``plausible`` (None when none).
        schema_applied: on read, whether the USD animation carries ``VipsPoseSetAPI`` (always True for glb
            files with metadata). Not part of equality.
    """

    kind: str = "samples"
    scores: np.ndarray | None = None
    plausible: np.ndarray | None = None
    seeds: np.ndarray | None = None
    model_id: str = ""
    threshold: float | None = None
    schema_applied: bool = field(default=False, compare=False)

    def __eq__(self, other: object) -> bool:
        """Same kind, model id, threshold and per-pose arrays (values and dtypes); ``schema_applied`` is ignored."""
        if not isinstance(other, PoseSetMeta):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None) == (b is None) and (a is None or (a.dtype == b.dtype and np.array_equal(a, b)))

        return (self.kind, self.model_id, self.threshold) == (other.kind, other.model_id, other.threshold) and all(
            same(getattr(self, k), getattr(other, k)) for k in ("scores", "plausible", "seeds"))

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def to_json(self) -> dict:
        return {"kind": self.kind, "model_id": self.model_id, "threshold": self.threshold,
                "scores": None if self.scores is None else [float(s) for s in self.scores],
                "plausible": None if self.plausible is None else [bool(p) for p in self.plausible],
                "seeds": None if self.seeds is None else [int(s) for s in self.seeds]}

    @classmethod
    def from_json(cls, d: dict) -> "PoseSetMeta":
        """The metadata of a JSON object written by :meth:`to_json`; ValueError naming the key that is malformed
        (files are user input: readers turn it into a warning)."""
        if not isinstance(d, dict):
            raise ValueError("the pose-set metadata is not a JSON object")

        def arr(key: str, dtype: type, what: str, ok: Callable[[Any], bool]) -> np.ndarray | None:
            value = d.get(key)
            if value is None:
                return None
            if not isinstance(value, list) or not all(map(ok, value)):
                raise ValueError(f"'{key}' must be a list of {what}")
            return np.asarray(value, dtype).reshape(-1)

        kind, model_id, threshold = d.get("kind", "samples"), d.get("model_id", ""), d.get("threshold")
        if kind not in KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        if not isinstance(model_id, str):
            raise ValueError("'model_id' must be a string")
        if threshold is not None and not _is_number(threshold):
            raise ValueError("'threshold' must be a number or null")
        return cls(kind, arr("scores", np.float32, "numbers", _is_number),
                   arr("plausible", bool, "booleans", lambda x: isinstance(x, bool)),
                   arr("seeds", np.int64, "integers", lambda x: isinstance(x, int) and not isinstance(x, bool)),
                   model_id, None if threshold is None else float(threshold), True)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def gltf_meta(extras: Any) -> PoseSetMeta | None:
    """The pose-set metadata in a glTF animation's ``extras`` (None when it has none); ValueError when malformed."""
    if not isinstance(extras, dict) or GLTF_EXTRAS_KEY not in extras:
        return None
    return PoseSetMeta.from_json(extras[GLTF_EXTRAS_KEY])


def author_usd_meta(anim: Any, meta: PoseSetMeta) -> None:
    """Apply ``VipsPoseSetAPI`` to the SkelAnimation prim ``anim`` and author ``meta`` as its attributes."""
    from pxr import Sdf, Vt

    anim.ApplyAPI(API_NAME)
    p, uniform = ATTR_PREFIX, Sdf.VariabilityUniform
    anim.CreateAttribute(p + "kind", Sdf.ValueTypeNames.Token, custom=False, variability=uniform).Set(meta.kind)
    anim.CreateAttribute(p + "modelId", Sdf.ValueTypeNames.String, custom=False, variability=uniform).Set(
        meta.model_id)
    if meta.threshold is not None:
        anim.CreateAttribute(p + "threshold", Sdf.ValueTypeNames.Float, custom=False, variability=uniform).Set(
            float(meta.threshold))
    if meta.scores is not None:
        anim.CreateAttribute(p + "scores", Sdf.ValueTypeNames.FloatArray, custom=False).Set(
            Vt.FloatArray.FromNumpy(np.ascontiguousarray(meta.scores, np.float32)))
    if meta.plausible is not None:
        anim.CreateAttribute(p + "plausible", Sdf.ValueTypeNames.BoolArray, custom=False).Set(
            Vt.BoolArray([bool(x) for x in meta.plausible]))
    if meta.seeds is not None:
        anim.CreateAttribute(p + "seeds", Sdf.ValueTypeNames.Int64Array, custom=False).Set(
            Vt.Int64Array([int(x) for x in meta.seeds]))


def read_usd_meta(anim: Any, schema_known: bool) -> PoseSetMeta | None:
    """The pose-set metadata authored on the SkelAnimation prim ``anim``, or None when it has no
    ``vips:poseSet:kind``. ``schema_known``: whether usd-core knows our schema (else ``schema_applied`` is False)."""
    def get(name: str) -> Any:
        attr = anim.GetAttribute(ATTR_PREFIX + name)
        return attr.Get() if attr.IsValid() and attr.HasAuthoredValue() else None

    kind = get("kind")
    if kind is None:
        return None

    def arr(name: str, dtype: type) -> np.ndarray | None:
        value = get(name)
        return None if value is None else np.asarray(list(value), dtype).reshape(-1)

    threshold = get("threshold")
    return PoseSetMeta(str(kind), arr("scores", np.float32), arr("plausible", bool), arr("seeds", np.int64),
                       str(get("modelId") or ""), None if threshold is None else float(threshold),
                       bool(anim.HasAPI(API_NAME)) if schema_known else False)
