"""Pose sets on disk: a rig plus F poses (pose k at time code k) plus what made them.

USD (.usda / .usdc / .usd): the UsdSkel layout of :mod:`vips.io.usd_write` (SkelRoot, Skeleton, bound Mesh,
SkelAnimation) with our codeless ``VipsPoseSetAPI`` applied to the SkelAnimation and filled: kind, per-pose
scores, plausible flags and seeds, the model id and the threshold. glTF (.glb): the rig with the poses as one
animation (one keyframe per pose); the same metadata lives in the animation's ``extras.vips_pose_set``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vips.errors import AssetError, PoseError, UnsupportedFormatError
from vips.poses import Poses
from vips.rig import Rig
from vips.usd_schema import API_NAME, KINDS

USD_SUFFIXES = (".usd", ".usda", ".usdc")
ATTR_PREFIX = "vips:poseSet:"
GLTF_EXTRAS_KEY = "vips_pose_set"


@dataclass
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
            files with metadata).
    """

    kind: str = "samples"
    scores: np.ndarray | None = None
    plausible: np.ndarray | None = None
    seeds: np.ndarray | None = None
    model_id: str = ""
    threshold: float | None = None
    schema_applied: bool = field(default=False, compare=False)

    def to_json(self) -> dict:
        return {"kind": self.kind, "model_id": self.model_id, "threshold": self.threshold,
                "scores": None if self.scores is None else [float(s) for s in self.scores],
                "plausible": None if self.plausible is None else [bool(p) for p in self.plausible],
                "seeds": None if self.seeds is None else [int(s) for s in self.seeds]}

    @classmethod
    def from_json(cls, d: dict) -> "PoseSetMeta":
        def arr(key: str, dtype) -> np.ndarray | None:  # noqa: ANN001
            return None if d.get(key) is None else np.asarray(d[key], dtype)

        return cls(d.get("kind", "samples"), arr("scores", np.float32), arr("plausible", bool),
                   arr("seeds", np.int64), d.get("model_id", ""), d.get("threshold"), True)


def write_pose_set(rig: Rig, path: str | os.PathLike[str], poses: Poses, scores=None, plausible=None, seeds=None,
                   kind: str = "samples", model_id: str = "", threshold: float | None = None) -> Path:
    """Write ``poses`` of ``rig`` with their metadata to ``path`` (USD or .glb, from the suffix), atomically.

    Args:
        poses: F poses (pose k at time code k, played at ``poses.fps``).
        scores: optional (F,) floats; plausible: optional (F,) bools; seeds: optional (F,) ints.
        kind: one of samples, traversal, ik, fitted, clip.
        model_id, threshold: the model behind the poses and scores.
    Returns the path written.
    """
    path = Path(path)
    poses.check_rig(rig.num_joints, f"rig {rig.label}")
    meta = _meta(len(poses), scores, plausible, seeds, kind, model_id, threshold)
    suffix = path.suffix.lower()
    if suffix in USD_SUFFIXES:
        _write_usd(rig, path, poses, meta)
    elif suffix == ".glb":
        _write_glb(rig, path, poses, meta)
    else:
        raise UnsupportedFormatError(f"{path}: a pose set is written as .usda, .usdc, .usd or .glb")
    return path


def read_pose_set(path: str | os.PathLike[str]) -> tuple[Rig, Poses, PoseSetMeta]:
    """Read a pose set written by :func:`write_pose_set` (or any rigged USD / glTF file with an animation).

    Returns ``(rig, poses, meta)``: the rig, its pose-set animation (the bound SkelAnimation / the glTF
    animation carrying our metadata, else the first clip) and the metadata (defaults when the file has none).
    """
    from vips.io import load

    path = Path(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = load(path)
    if not rig.clips:
        raise AssetError(f"{path}: holds no animation, so no poses (write one with `vips sample`)")
    suffix = path.suffix.lower()
    name, meta = (None, PoseSetMeta())
    if suffix in USD_SUFFIXES:
        name, meta = _read_usd_meta(path)
    elif suffix in (".glb", ".gltf"):
        name, meta = _read_gltf_meta(path)
    poses = rig.clips.get(name) if name is not None else None
    if poses is None:
        poses = next(iter(rig.clips.values()))
    rig.clips = {}
    return rig, poses, meta


def parse_pose_ref(ref: str) -> tuple[Path, int | None]:
    """``FILE`` or ``FILE:I`` (the I-th pose, negative counts from the end) -> (path, index or None)."""
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail.lstrip("-").isdigit():
        return Path(head), int(tail)
    return Path(ref), None


def load_poses(ref: str, rig: Rig | None = None) -> Poses:
    """The poses of a pose-set reference ``FILE[:I]`` (one pose with an index), checked against ``rig``."""
    path, index = parse_pose_ref(ref)
    _, poses, _ = read_pose_set(path)
    if rig is not None and poses.num_joints != rig.num_joints:
        raise PoseError(f"{path}: its poses have {poses.num_joints} joints but the asset has {rig.num_joints}")
    if index is not None:
        if not -len(poses) <= index < len(poses):
            raise PoseError(f"{ref}: {path} holds {len(poses)} poses; index {index} is out of range")
        poses = poses[index]
    return poses


# ----- helpers -----------------------------------------------------------------------------------------------
def _meta(F: int, scores, plausible, seeds, kind: str, model_id: str, threshold) -> PoseSetMeta:  # noqa: ANN001
    if kind not in KINDS:
        raise PoseError(f"pose set kind must be one of {', '.join(KINDS)}, got '{kind}'")

    def arr(x, dtype, what: str):  # noqa: ANN001, ANN202
        if x is None:
            return None
        a = np.asarray(x, dtype).reshape(-1)
        if a.shape != (F,):
            raise PoseError(f"pose set {what}: expected {F} values (one per pose), got {a.shape[0]}")
        return a

    return PoseSetMeta(kind, arr(scores, np.float32, "scores"), arr(plausible, bool, "plausible"),
                       arr(seeds, np.int64, "seeds"), model_id or "", None if threshold is None else float(threshold))


def _write_usd(rig: Rig, path: Path, poses: Poses, meta: PoseSetMeta) -> None:
    from vips.usd_schema import register

    register()
    from pxr import Sdf, Vt

    from vips.io.usd import write_usd

    def apply_schema(prims: dict) -> None:
        anim = prims["animation"]
        anim.ApplyAPI(API_NAME)
        p = ATTR_PREFIX
        anim.CreateAttribute(p + "kind", Sdf.ValueTypeNames.Token, custom=False,
                             variability=Sdf.VariabilityUniform).Set(meta.kind)
        anim.CreateAttribute(p + "modelId", Sdf.ValueTypeNames.String, custom=False,
                             variability=Sdf.VariabilityUniform).Set(meta.model_id)
        if meta.threshold is not None:
            anim.CreateAttribute(p + "threshold", Sdf.ValueTypeNames.Float, custom=False,
                                 variability=Sdf.VariabilityUniform).Set(float(meta.threshold))
        if meta.scores is not None:
            anim.CreateAttribute(p + "scores", Sdf.ValueTypeNames.FloatArray, custom=False).Set(
                Vt.FloatArray.FromNumpy(meta.scores))
        if meta.plausible is not None:
            anim.CreateAttribute(p + "plausible", Sdf.ValueTypeNames.BoolArray, custom=False).Set(
                Vt.BoolArray([bool(x) for x in meta.plausible]))
        if meta.seeds is not None:
            anim.CreateAttribute(p + "seeds", Sdf.ValueTypeNames.Int64Array, custom=False).Set(
                Vt.Int64Array([int(x) for x in meta.seeds]))

    write_usd(rig, path, poses, decorate=apply_schema)


def _read_usd_meta(path: Path) -> tuple[str | None, PoseSetMeta]:
    from vips.usd_schema import register

    register()
    from pxr import Usd, UsdSkel

    stage = Usd.Stage.Open(str(path))
    for prim in stage.Traverse():
        if not prim.IsA(UsdSkel.Animation):
            continue
        attrs = {name: prim.GetAttribute(ATTR_PREFIX + name) for name in
                 ("kind", "scores", "plausible", "seeds", "modelId", "threshold")}
        if not (attrs["kind"].IsValid() and attrs["kind"].HasAuthoredValue()):
            continue

        def get(name: str):  # noqa: ANN202
            a = attrs[name]
            return a.Get() if a.IsValid() and a.HasAuthoredValue() else None

        def arr(name: str, dtype):  # noqa: ANN001, ANN202
            v = get(name)
            return None if v is None else np.asarray(list(v), dtype)

        meta = PoseSetMeta(str(get("kind")), arr("scores", np.float32), arr("plausible", bool),
                           arr("seeds", np.int64), str(get("modelId") or ""),
                           None if get("threshold") is None else float(get("threshold")),
                           prim.HasAPI(API_NAME) if _schema_known() else False)
        return prim.GetName(), meta
    return None, PoseSetMeta()


def _schema_known() -> bool:
    from vips.usd_schema import register

    return bool(register())


def _write_glb(rig: Rig, path: Path, poses: Poses, meta: PoseSetMeta) -> None:
    from vips.io.atomic import write_bytes_atomic
    from vips.io.gltf_format import _split_glb, build_glb
    from vips.io.gltf_write import _check_finite, glb_bytes

    if not (np.isfinite(poses.fps) and poses.fps > 0):
        raise PoseError(f"poses '{poses.name}': fps must be a positive number to be written, got {poses.fps}")
    _check_finite(rig)
    data = glb_bytes(rig, [poses])
    text, binary = _split_glb(path, data)
    gltf = json.loads(text.decode("utf-8"))
    gltf["animations"][0]["extras"] = {GLTF_EXTRAS_KEY: meta.to_json()}
    write_bytes_atomic(path, build_glb(gltf, binary or b""))


def _read_gltf_meta(path: Path) -> tuple[str | None, PoseSetMeta]:
    from vips.io.gltf_format import parse_file

    doc = parse_file(path)
    for anim in doc.json.get("animations", []) or []:
        extras = anim.get("extras") if isinstance(anim, dict) else None
        if isinstance(extras, dict) and isinstance(extras.get(GLTF_EXTRAS_KEY), dict):
            return anim.get("name"), PoseSetMeta.from_json(extras[GLTF_EXTRAS_KEY])
    return None, PoseSetMeta()
