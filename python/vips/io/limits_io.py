"""Joint limits on disk: JSON, UsdSkel (our ``VipsJointLimitsAPI`` on the Skeleton) and glTF ``extras``.

The limits travel as the JSON document of :meth:`vips.limits.SwingTwistLimits.to_json` (``format``
``vips-joint-limits/1``: one object per joint, angles in degrees); this module maps it to and from files:

- ``.json``: the document itself.
- ``.usda/.usdc/.usd``: the rig as UsdSkel (:func:`vips.io.usd_write.write_usd`, no animation) with
  ``VipsJointLimitsAPI`` applied to the Skeleton: uniform arrays with one entry per joint, in the order of the
  Skeleton's ``joints`` (usd_schemas/generatedSchema.usda documents each attribute): ``twistAxis``,
  ``swingAxisU``, ``swingAxisV`` (float3[], unit vectors in the joint's rest frame), ``twistRange``,
  ``swingRangeU``, ``swingRangeV`` (float2[], [lower, upper] degrees), ``swingCone`` (float[], degrees) and
  ``achievedCoverage`` (float[]), plus ``coverage`` (float) and ``info`` (the provenance as JSON text), all
  under ``vips:jointLimits:``.
- ``.glb``: the rig (:func:`vips.io.gltf_write.glb_bytes`, no animation) with the whole document in the skin's
  ``extras.vips_joint_limits`` and each joint's own object in its node's ``extras.vips_joint_limit``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vips.errors import AssetError, UnsupportedFormatError
from vips.io.atomic import write_bytes_atomic

if TYPE_CHECKING:
    from vips.rig import Rig

#: The ``format`` of the limits document (:meth:`vips.limits.SwingTwistLimits.to_json`).
LIMITS_FORMAT = "vips-joint-limits/1"
LIMITS_API = "VipsJointLimitsAPI"
ATTR_PREFIX = "vips:jointLimits:"
#: glTF: the skin's extras key (whole document) and each joint node's extras key (its own entry).
GLTF_SKIN_KEY, GLTF_JOINT_KEY = "vips_joint_limits", "vips_joint_limit"
USD_SUFFIXES = (".usda", ".usdc", ".usd")
LIMITS_SUFFIXES = (".json", *USD_SUFFIXES, ".glb")
# USD attribute -> (document key of each joint, Sdf value type name)
_USD_ARRAYS = {
    "twistAxis": ("twist_axis", "Float3Array"),
    "swingAxisU": ("swing_axis_u", "Float3Array"),
    "swingAxisV": ("swing_axis_v", "Float3Array"),
    "twistRange": ("twist_deg", "Float2Array"),
    "swingRangeU": ("swing_u_deg", "Float2Array"),
    "swingRangeV": ("swing_v_deg", "Float2Array"),
    "swingCone": ("swing_cone_deg", "FloatArray"),
    "achievedCoverage": ("achieved_coverage", "FloatArray"),
}


def write_limits(doc: dict[str, Any], path: str | os.PathLike[str], rig: "Rig | None" = None) -> Path:
    """Write the limits document ``doc`` to ``path`` (format from the suffix, :data:`LIMITS_SUFFIXES`), atomically.

    USD and .glb files hold the rig too, so they need ``rig`` (whose joints ``doc`` lists, in order).
    Returns the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LIMITS_SUFFIXES:
        raise UnsupportedFormatError(f"{path}: joint limits are written as {', '.join(LIMITS_SUFFIXES)}")
    if suffix == ".json":
        write_bytes_atomic(path, (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())
        return path
    if rig is None:
        raise AssetError(f"{path}: a {suffix} limits file holds the rig too; give the rig")
    names = [j["name"] for j in doc["joints"]]
    if names != list(rig.joint_names):
        raise AssetError(f"{path}: the limits' joints do not match rig {rig.label}'s")
    if suffix == ".glb":
        write_bytes_atomic(path, _glb_with_limits(rig, doc))
    else:
        from vips.io.usd_write import write_usd

        write_usd(rig, path, clips=[], decorate=lambda prims: author_usd_limits(prims["skeleton"], doc))
    return path


def read_limits(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The limits document in a file :func:`write_limits` wrote (JSON, USD or .glb); AssetError when it has none."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        from vips.io.guard import read_asset

        try:
            return json.loads(read_asset(path, 1 << 28).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AssetError(f"{path}: not a JSON file ({exc})") from None
    if suffix in USD_SUFFIXES:
        return _read_usd(path)
    if suffix in (".glb", ".gltf"):
        from vips.io.gltf_format import parse_file

        skins = parse_file(path).json.get("skins") or []
        for skin in skins:
            extras = skin.get("extras") if isinstance(skin, dict) else None
            if isinstance(extras, dict) and GLTF_SKIN_KEY in extras:
                return extras[GLTF_SKIN_KEY]
        raise AssetError(f"{path}: no skin carries joint limits (extras.{GLTF_SKIN_KEY})")
    raise UnsupportedFormatError(f"{path}: joint limits are read from {', '.join(LIMITS_SUFFIXES)}")


# ----- glTF -------------------------------------------------------------------------------------------------
def _glb_with_limits(rig: "Rig", doc: dict[str, Any]) -> bytes:
    from vips.io.gltf_write import glb_bytes

    def add_limits(gltf: dict[str, Any]) -> None:
        skin = gltf["skins"][0]
        skin.setdefault("extras", {})[GLTF_SKIN_KEY] = doc
        for node, entry in zip(skin["joints"], doc["joints"]):
            gltf["nodes"][node].setdefault("extras", {})[GLTF_JOINT_KEY] = entry

    return glb_bytes(rig, [], decorate=add_limits)


# ----- USD --------------------------------------------------------------------------------------------------
def author_usd_limits(skeleton: Any, doc: dict[str, Any]) -> None:
    """Apply ``VipsJointLimitsAPI`` to the Skeleton prim ``skeleton`` and author ``doc`` as its attributes."""
    from pxr import Sdf, Vt

    _VT_ARRAYS = {"Float3Array": Vt.Vec3fArray, "Float2Array": Vt.Vec2fArray, "FloatArray": Vt.FloatArray}
    skeleton.ApplyAPI(LIMITS_API)
    uniform = Sdf.VariabilityUniform
    joints = doc["joints"]
    for attr, (key, type_name) in _USD_ARRAYS.items():
        values = [j.get(key) for j in joints]
        if any(v is None for v in values):
            continue
        array = np.asarray(values, np.float32)
        vt = _VT_ARRAYS[type_name].FromNumpy(np.ascontiguousarray(array))
        skeleton.CreateAttribute(ATTR_PREFIX + attr, getattr(Sdf.ValueTypeNames, type_name), custom=False,
                                 variability=uniform).Set(vt)
    if doc.get("coverage") is not None:
        skeleton.CreateAttribute(ATTR_PREFIX + "coverage", Sdf.ValueTypeNames.Float, custom=False,
                                 variability=uniform).Set(float(doc["coverage"]))
    skeleton.CreateAttribute(ATTR_PREFIX + "info", Sdf.ValueTypeNames.String, custom=False,
                             variability=uniform).Set(json.dumps(doc.get("info") or {}))


def _read_usd(path: Path) -> dict[str, Any]:
    from pxr import UsdSkel

    from vips.io.usd_read import open_stage, skeleton_joint_names

    stage = open_stage(path)
    for prim in stage.Traverse():
        if not prim.IsA(UsdSkel.Skeleton) or not prim.GetAttribute(ATTR_PREFIX + "twistRange").IsValid():
            continue
        skel = UsdSkel.Skeleton(prim)
        joints = [str(j) for j in (skel.GetJointsAttr().Get() or [])]
        parents = np.asarray(UsdSkel.Topology(joints).GetParentIndices(), np.int64)
        names = skeleton_joint_names(skel, joints, parents)
        entries: list[dict[str, Any]] = [{"name": n} for n in names]
        for attr, (key, _) in _USD_ARRAYS.items():
            a = prim.GetAttribute(ATTR_PREFIX + attr)
            value = a.Get() if a.IsValid() else None
            if value is None:
                continue
            array = np.asarray(value, np.float64)
            if len(array) != len(entries):
                raise AssetError(f"{path}: {prim.GetPath()}.{ATTR_PREFIX}{attr} has {len(array)} entries for "
                                 f"{len(entries)} joints")
            for entry, v in zip(entries, array):
                entry[key] = float(v) if array.ndim == 1 else [float(x) for x in v]
        coverage = prim.GetAttribute(ATTR_PREFIX + "coverage")
        info = prim.GetAttribute(ATTR_PREFIX + "info")
        try:
            info_value = json.loads(info.Get()) if info.IsValid() and info.Get() else {}
        except json.JSONDecodeError:
            info_value = {}
        return {"format": LIMITS_FORMAT, "coverage": float(coverage.Get()) if coverage.IsValid()
                and coverage.HasAuthoredValue() else None, "info": info_value, "joints": entries}
    raise AssetError(f"{path}: no Skeleton carries joint limits ({LIMITS_API})")
