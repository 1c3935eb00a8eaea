"""glTF 2.0 binary (.glb) writer: one skinned mesh, its skin and joint nodes, and animations.

Layout of the file: an optional top node converting the rig's units and up axis to glTF's Y-up metres
(rotation and uniform scale), the joint nodes (rest pose as TRS, quaternions x, y, z, w) under it, the mesh
node beside the skeleton, one skin whose inverse bind matrices are ``inv(bind)`` (column-major), one scene.
Every array gets its own tightly packed, 4-byte aligned buffer view in the single binary chunk.

Clips are written from their full channels (:func:`vips.io.channels.clips_to_write`): one LINEAR key per frame,
a rotation sampler for every joint, translation and scale samplers for the joints whose translation or scale
leaves the rest pose (the root's translation always). A clip's pose-set metadata goes to the animation's
``extras.vips_pose_set``; the scene's ``extras.vips`` records the SkelRoot name and, with the conversion node, the
asset's own up axis and units, so that vips reads the file back in the frame it was written from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from vips.errors import RigError
from vips.io.atomic import write_bytes_atomic
from vips.io.channels import ClipChannels, clips_to_write
from vips.limb_targets import in_file_hierarchy
from vips.io.gltf_format import (ARRAY_BUFFER, DTYPE_COMPONENTS, ELEMENT_ARRAY_BUFFER, FPS_EXTRAS_KEY,
                                 SCENE_EXTRAS_KEY, asset_frame_trs, build_glb, pad4)
from vips.io.pose_set_meta import GLTF_EXTRAS_KEY
from vips.poses import Poses
from vips.rig import Rig

_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
# A translation (relative to the rig's height) or scale channel this close to the rest everywhere is not written.
UNCHANGED = 1e-6


def write_glb(rig: Rig, path: Path, poses: Poses | None = None, clips: list[ClipChannels] | None = None) -> None:
    """Write ``rig`` as a binary glTF file at ``path``, atomically.

    Args:
        rig: the rig; its mesh (if any) becomes one skinned mesh with up to 8 influences (JOINTS_0/1 as
            UNSIGNED_SHORT, WEIGHTS_0/1 as FLOAT).
        path: the .glb file to write (replaced only once the new file is complete).
        poses: written as one animation named ``poses.name`` with pose k at time k / fps: the full channels the
            rig keeps for that clip, else the poses' rotations and root translation. None writes every clip of the
            rig instead (:func:`vips.io.channels.clips_to_write`).
        clips: the animations to write, as channels (overrides ``poses``).

    Raises :class:`vips.errors.PoseError` when a clip does not fit the rig; nothing is written then.
    """
    if clips is None:
        clips = clips_to_write(rig, poses)
    for clip in clips:
        clip.check(rig)
    rig, clips = in_file_hierarchy(rig, clips)  # limb-end IK targets back under their file parent
    _check_finite(rig)
    write_bytes_atomic(path, glb_bytes(rig, clips))


def _check_finite(rig: Rig) -> None:
    """A rig changed after construction may hold NaN; glTF has no way to store it."""
    arrays = {
        "rest translations": rig.rest_translations,
        "rest rotations": rig.rest_rotations,
        "bind matrices": rig.bind_matrices,
        "vertices": rig.vertices,
        "skin weights": rig.skin_weights,
    }
    for what, array in arrays.items():
        if array is not None and not np.isfinite(np.asarray(array, np.float64)).all():
            raise RigError(f"{rig.label}: the {what} hold NaN or infinite values; cannot write a glTF file")


class _Builder:
    """Accumulates the binary chunk, buffer views and accessors."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append ``array`` (count, n) or (count,) as an accessor; returns its index."""
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.chunks.append(data + b"\0" * (pad4(len(data)) - len(data)))
        self.size += pad4(len(data))
        width = 1 if array.ndim == 1 else int(np.prod(array.shape[1:]))
        accessor: dict[str, Any] = {
            "bufferView": len(self.views) - 1,
            "componentType": DTYPE_COMPONENTS[np.dtype(array.dtype).newbyteorder("<").str],
            "count": int(array.shape[0]),
            "type": _TYPES[width],
        }
        if bounds:
            flat = array.reshape(array.shape[0], -1)
            cast = float if array.dtype.kind == "f" else int
            accessor["min"] = [cast(x) for x in flat.min(axis=0)]
            accessor["max"] = [cast(x) for x in flat.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def binary(self) -> bytes:
        return b"".join(self.chunks)


def _xyzw(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) -> glTF (x, y, z, w)."""
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def _to_gltf_frame(rig: Rig) -> dict[str, Any] | None:
    """The node converting the rig's frame to glTF's Y-up metres, or None when it already is."""
    trs = asset_frame_trs(rig.up_axis, float(rig.meters_per_unit))
    return {"name": f"{rig.name or 'rig'}_to_gltf", **trs} if trs else None


def _scene_extras(rig: Rig, top: dict[str, Any] | None) -> dict[str, Any]:
    """What vips records in the scene: the SkelRoot name and, with the conversion node (index 0), the rig's frame."""
    info: dict[str, Any] = {}
    if rig.root_name or rig.name:
        info["skel_root"] = rig.root_name or rig.name
    if top is not None:
        info.update(frame_node=0, up_axis=rig.up_axis, meters_per_unit=float(rig.meters_per_unit))
    return {SCENE_EXTRAS_KEY: info} if info else {}


def glb_bytes(rig: Rig, clips: list[ClipChannels],
              decorate: Callable[[dict[str, Any]], None] | None = None) -> bytes:
    """The complete .glb file of ``rig`` with ``clips`` as animations.

    ``decorate``: called with the finished glTF JSON object (skin 0 is the rig's, its joints the rig's joints in
    order) before it is packed, to add what other formats keep there (joint limits), so the file is built once.
    """
    b = _Builder()
    nodes: list[dict[str, Any]] = []
    top = _to_gltf_frame(rig)
    if top is not None:
        nodes.append(top)
    first_joint = len(nodes)
    joint_nodes: list[dict[str, Any]] = []
    for j in range(rig.num_joints):
        joint_nodes.append(
            {
                "name": rig.joint_names[j],
                "translation": [float(x) for x in rig.rest_translations[j]],
                "rotation": [float(x) for x in _xyzw(rig.rest_rotations[j].astype(np.float64))],
            }
        )
    for j, p in enumerate(rig.parents):
        if p >= 0:
            joint_nodes[p].setdefault("children", []).append(first_joint + j)
    nodes.extend(joint_nodes)
    scene_roots = [first_joint]

    inverse_bind = np.linalg.inv(rig.bind_matrices.astype(np.float64))
    # glTF matrices are column-major: the transpose's rows are the columns.
    ibm = b.add(inverse_bind.transpose(0, 2, 1).reshape(-1, 16).astype(np.float32))
    skin = {"joints": list(range(first_joint, first_joint + rig.num_joints)), "inverseBindMatrices": ibm,
            "skeleton": first_joint}
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "vips"},
        "scene": 0,
        "nodes": nodes,
        "skins": [skin],
    }
    if rig.has_mesh:
        nodes.append({"name": rig.name or "mesh", "mesh": 0, "skin": 0})
        scene_roots.append(len(nodes) - 1)
        gltf["meshes"] = [{"name": rig.name or "mesh", "primitives": [_primitive(b, rig)]}]
    if top is not None:
        top["children"] = scene_roots
        scene_roots = [0]
    scene: dict[str, Any] = {"nodes": scene_roots}
    if extras := _scene_extras(rig, top):
        scene["extras"] = extras
    gltf["scenes"] = [scene]
    height = rig.height()
    animations = [_animation(b, rig, clip, first_joint, height) for clip in clips]
    if animations:
        gltf["animations"] = animations
    binary = b.binary()
    gltf["buffers"] = [{"byteLength": len(binary)}]
    gltf["bufferViews"] = b.views
    gltf["accessors"] = b.accessors
    if decorate is not None:
        decorate(gltf)
    return build_glb(gltf, binary)


def _primitive(b: _Builder, rig: Rig) -> dict[str, Any]:
    V = rig.num_vertices
    attributes = {"POSITION": b.add(rig.vertices.astype(np.float32), ARRAY_BUFFER, bounds=True)}
    K = rig.skin_indices.shape[1]
    sets = 1 if K <= 4 else 2
    indices = np.zeros((V, 4 * sets), np.uint16)
    weights = np.zeros((V, 4 * sets), np.float32)
    indices[:, :K] = rig.skin_indices
    weights[:, :K] = rig.skin_weights
    indices[weights == 0] = 0
    for s in range(sets):
        attributes[f"JOINTS_{s}"] = b.add(indices[:, 4 * s : 4 * s + 4], ARRAY_BUFFER)
        attributes[f"WEIGHTS_{s}"] = b.add(weights[:, 4 * s : 4 * s + 4], ARRAY_BUFFER)
    if rig.faces is None or not len(rig.faces):
        return {"attributes": attributes, "mode": 0}  # a point cloud: no triangles to index
    indices_accessor = b.add(rig.faces.reshape(-1).astype(np.uint32), ELEMENT_ARRAY_BUFFER, bounds=True)
    return {"attributes": attributes, "indices": indices_accessor, "mode": 4}


def _animation(b: _Builder, rig: Rig, clip: ClipChannels, first_joint: int, height: float) -> dict[str, Any]:
    """One animation: LINEAR keys at k / fps; rotations of every joint, translations and scales that move."""
    times = b.add(np.arange(clip.num_frames, dtype=np.float32) / np.float32(clip.fps), bounds=True)
    samplers: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []

    def channel(node: int, path: str, values: np.ndarray) -> None:
        samplers.append({"input": times, "output": b.add(values.astype(np.float32)), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    moved = np.abs(clip.translations - rig.rest_translations[None]).max(axis=(0, 2)) > UNCHANGED * height
    scaled = np.abs(clip.scales - 1).max(axis=(0, 2)) > UNCHANGED
    for j in range(rig.num_joints):
        if j == 0 or moved[j]:
            channel(first_joint + j, "translation", clip.translations[:, j])
        channel(first_joint + j, "rotation", _xyzw(clip.rotations[:, j].astype(np.float64)))
        if scaled[j]:
            channel(first_joint + j, "scale", clip.scales[:, j])
    extras: dict[str, Any] = {FPS_EXTRAS_KEY: float(clip.fps)}
    if clip.pose_set is not None:
        extras[GLTF_EXTRAS_KEY] = clip.pose_set.to_json()
    return {"name": clip.name, "channels": channels, "samplers": samplers, "extras": extras}
