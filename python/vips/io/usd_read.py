"""UsdSkel reader: the first skinned Skeleton of a stage -> :class:`vips.Rig` with its animation clips.

Spaces. UsdSkel keeps joints, bind transforms and skinned points in *skeleton space*; the Skeleton prim's
local-to-world transform ``M`` places that space in the stage. The rig lives in the stage's world space:

- ``G = M @ J`` is a joint's stage-space matrix (``J`` its skel-space matrix). A Rig has no scale, so its
  world matrix is the rigid part ``W`` of ``G`` (nearest rotation by polar decomposition, translation kept)
  and ``R = inv(W) @ G`` is the scale the rig cannot hold (``s * I`` for a uniformly scaled stage);
- bind matrices ``B' = M @ B @ inv(R_rest)`` and vertices ``M @ geomBindTransform @ p``, so that
  ``W @ inv(B') @ v = G @ inv(B) @ geomBind @ p``: UsdSkel's skinned point taken to world, exactly in the rest
  pose and in every pose where ``R`` keeps its rest value (any motion of uniformly scaled joints). Animated or
  non-uniform scale that breaks this is reported with :meth:`Rig.warn` (the glTF reader does the same).

``M`` is read at the earliest time code for the rig; clips use ``M`` at each sampled time (an animated
Skeleton or SkelRoot transform becomes root motion). A skeleton with several root joints gets a synthetic
root joint whose stage-space matrix is ``M``.

Each SkelAnimation becomes the pose model's :class:`Poses` (``rig.clips``, from the rigid parts above) and its full
channels in rig frames (``rig.clip_channels``, :mod:`vips.io.channels`: every joint's rotation, translation and
scale, from the animation's own components). A clip's name is the prim's ``displayName`` when authored, else its
name; its fps is timeCodesPerSecond over the spacing of its time samples. What vips writes beside UsdSkel is read
back: ``vips:jointNames`` on the Skeleton (joint names that are not identifiers), the ``vips:poseSet:*``
metadata of pose sets, and the SkelRoot's name (:attr:`Rig.root_name`).
"""

from __future__ import annotations

import math
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pxr import Sdf, Tf, Usd, UsdGeom, UsdSkel

from vips.errors import AssetError
from vips.io.channels import ClipChannels, dropped_message, rig_frame_channels, zero_scale
from vips.io.guard import (MAX_FRAME_TIME, MAX_MESH_VERTICES, MIN_FRAME_TIME, check_asset, check_frame_time,
                            check_joint_frames, check_size, shown)
from vips.io.names import UniqueNames
from vips.io.pose_set_meta import read_usd_meta
from vips.io.usd_common import describe_error, matrices_from_usd, matrix_from_usd
from vips.io.usd_write import JOINT_NAMES_ATTR
from vips.kinematics import local_from_world, world_from_local
from vips.local_poses import poses_from_local
from vips.rig import Rig
from vips.rotations import compose_affine, decompose_affine, nearest_rigid
from vips.usd_schema import register

# Joint scales further than this from one are left out of the poses with a warning (a Rig has no scale).
SCALE_TOLERANCE = 1e-4
# Passes of prefixing clashing joint names with their parents' names before they are numbered instead.
MAX_PREFIX_PASSES = 8


@dataclass
class _Found:
    skeleton: UsdSkel.Skeleton
    root: Usd.Prim | None  # the SkelRoot (None for a Skeleton outside any SkelRoot)
    binding: UsdSkel.Binding | None
    cache: UsdSkel.Cache


@dataclass
class _Space:
    """How skel-space matrices map to the rig's world (see the module docstring)."""

    parents: np.ndarray  # (J',) rig parents (J' = J + 1 when a synthetic root was added)
    synthetic_root: bool
    notes: list[str] = field(default_factory=list)
    residual: np.ndarray | None = None  # (J', 4, 4) inv(W) @ G of the rest pose: the scale the rig cannot hold


def read_usd(path: Path) -> Rig:
    """Read the first skinned UsdSkel skeleton of a .usd / .usda / .usdc / .usdz file.

    Joints come from the Skeleton's ``joints`` (names: ``jointNames`` when unique, else path leaves made
    unique), rest from ``restTransforms`` (else derived from ``bindTransforms``); every Mesh bound to it is
    concatenated (fan-triangulated) with its skin; the bound SkelAnimation and every other SkelAnimation
    under the SkelRoot become clips sampled at each authored time code (fps = timeCodesPerSecond).
    Raises :class:`AssetError` for unreadable files or stages without a skeleton.
    """
    path = Path(path)
    try:
        return _read(path)
    except Tf.ErrorException as exc:  # corrupt data that usd-core only notices while values are read
        raise AssetError(f"{path}: usd-core failed while reading it ({describe_error(exc)})") from None
    except np.linalg.LinAlgError:  # NaN or singular joint / bind matrices
        raise AssetError(f"{path}: a joint transform is singular or not finite; the skeleton cannot be read") from None
    except MemoryError:  # a corrupt array length in a .usdc claims billions of elements
        raise AssetError(f"{path}: the file claims more data than fits in memory; it is probably corrupt") from None


def _read(path: Path) -> Rig:
    stage = open_stage(path)
    found = _find_skeleton(stage, path)
    skel = found.skeleton
    where = f"{path}: skeleton {skel.GetPath()}"
    query = found.cache.GetSkelQuery(skel)
    if not query:
        raise AssetError(f"{where} is invalid (usd-core cannot build a skeleton query for it)")
    joints = [str(t) for t in query.GetJointOrder()]
    if not joints:
        raise AssetError(f"{where} has no joints")
    topology = UsdSkel.Topology(joints)
    ok, why = topology.Validate()
    if not ok:
        raise AssetError(f"{where} has an invalid joint hierarchy: {why}")
    usd_parents = np.asarray(topology.GetParentIndices(), np.int64)

    rest_local, bind_skel, notes = _rest_and_bind(skel, usd_parents, where)
    M0 = _skel_to_world(skel, Usd.TimeCode.EarliestTime())
    space = _space(usd_parents)
    notes += space.notes
    names = skeleton_joint_names(skel, joints, usd_parents)
    if space.synthetic_root:
        names = [_unused("root", names)] + names
    rest_stage = _stage_space(world_from_local(rest_local, usd_parents), M0, space)
    rest_world = nearest_rigid(rest_stage)
    space.residual = np.linalg.inv(rest_world) @ rest_stage
    _check_residual(space.residual, names, notes)
    bind_world = _stage_space(bind_skel, M0, space) @ np.linalg.inv(space.residual)
    rest_rot, rest_trans = local_from_world(rest_world, space.parents)
    mesh = _read_meshes(found, joints, M0, int(space.synthetic_root), notes, path)

    rig = Rig(
        joint_names=names,
        parents=space.parents,
        rest_translations=rest_trans,
        rest_rotations=rest_rot,
        bind_matrices=bind_world,
        up_axis=str(UsdGeom.GetStageUpAxis(stage)),
        meters_per_unit=float(UsdGeom.GetStageMetersPerUnit(stage)),
        name=path.stem,
        source=str(path),
        root_name=_own_name(found.root) if found.root is not None else "",
        **mesh,
    )
    for note in notes:
        rig.warn(note)
    _read_clips(rig, stage, found, query, usd_parents, rest_local, space)
    return rig


# ----- finding the skeleton ------------------------------------------------------------------------
def open_stage(path: Path) -> Usd.Stage:
    """The USD stage of ``path``, its layers checked first (size, no FIFOs or devices); AssetError naming it."""
    check_asset(path)  # a FIFO or a device given as the asset is refused before usd-core opens it
    parsed = _check_layer_files(path)  # held while usd-core opens the stage, so each layer is parsed once
    try:
        stage = Usd.Stage.Open(str(path), Usd.Stage.LoadAll)
    except Exception as exc:  # usd-core raises Tf.ErrorException with the parser's message
        raise AssetError(f"{path}: not a readable USD file ({describe_error(exc)})") from None
    del parsed
    if stage is None:
        raise AssetError(f"{path}: not a readable USD file")
    return stage


def _check_layer_files(path: Path) -> list[Sdf.Layer]:
    """The layers of the stage ``path`` that are regular files; AssetError when it composes one that is not
    (a FIFO named ``x.usda`` blocks usd-core forever). Composition otherwise stays usd-core's: the layers'
    sublayers, references and payloads are walked with Sdf alone (no stage is composed), and only regular files
    are opened to look further."""
    seen, todo, layers = {os.path.realpath(path)}, [str(path)], []
    while todo:
        try:
            layer = Sdf.Layer.FindOrOpen(todo.pop())
        except Tf.ErrorException:
            continue  # usd-core reports an unreadable layer when it composes the stage
        if layer is None:
            continue
        layers.append(layer)
        for asset_path in layer.GetCompositionAssetDependencies():
            resolved = layer.ComputeAbsolutePath(asset_path)
            if not resolved or os.path.realpath(resolved) in seen:
                continue
            seen.add(os.path.realpath(resolved))
            try:
                info = os.stat(resolved)
            except (OSError, ValueError):
                continue  # missing, or inside a package: usd-core's to report
            if not stat.S_ISREG(info.st_mode):
                raise AssetError(
                    f"{path}: layer {layer.identifier} composes {shown(asset_path)}, which is not a regular file "
                    "(a FIFO, device or socket); it was not opened"
                )
            todo.append(resolved)
    return layers


def _find_skeleton(stage: Usd.Stage, path: Path) -> _Found:
    cache = UsdSkel.Cache()
    predicate = Usd.TraverseInstanceProxies()
    for prim in Usd.PrimRange.Stage(stage, predicate):
        if prim.IsA(UsdSkel.Root):
            root = UsdSkel.Root(prim)
            cache.Populate(root, predicate)
            for binding in cache.ComputeSkelBindings(root, predicate):
                if binding.GetSkeleton():
                    return _Found(binding.GetSkeleton(), prim, binding, cache)
    # A Skeleton with no bound mesh (or outside any SkelRoot): a skeleton-only rig.
    for prim in Usd.PrimRange.Stage(stage, predicate):
        if prim.IsA(UsdSkel.Skeleton):
            root = prim.GetParent()
            while root and not root.IsPseudoRoot() and not root.IsA(UsdSkel.Root):
                root = root.GetParent()
            root = root if root and root.IsA(UsdSkel.Root) else None
            if root is not None:
                cache.Populate(UsdSkel.Root(root), predicate)
            return _Found(UsdSkel.Skeleton(prim), root, None, cache)
    raise AssetError(f"{path}: the stage holds no UsdSkel Skeleton (no rig to read)")


# ----- skeleton ------------------------------------------------------------------------------------
def _rest_and_bind(skel: UsdSkel.Skeleton, parents: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Local rest (J, 4, 4) and skel-space bind (J, 4, 4) matrices, each derived from the other when missing."""
    J = len(parents)
    notes: list[str] = []

    def get(attr, what: str) -> np.ndarray | None:  # noqa: ANN001
        value = attr.Get()
        if value is None or len(value) == 0:
            return None
        if len(value) != J:
            notes.append(f"skeleton {what} has {len(value)} entries for {J} joints; it was ignored")
            return None
        return matrices_from_usd(value)

    rest = get(skel.GetRestTransformsAttr(), "restTransforms")
    bind = get(skel.GetBindTransformsAttr(), "bindTransforms")
    if rest is None and bind is None:
        raise AssetError(f"{where} has neither restTransforms nor bindTransforms; its rest pose is unknown")
    if rest is None:
        inv = np.linalg.inv(bind)
        rest = np.array([bind[j] if p < 0 else inv[p] @ bind[j] for j, p in enumerate(parents)])
    if bind is None:
        bind = world_from_local(rest, parents)
    return rest, bind, notes


def _skel_to_world(skel: UsdSkel.Skeleton, time: Usd.TimeCode) -> np.ndarray:
    return matrix_from_usd(UsdGeom.Xformable(skel.GetPrim()).ComputeLocalToWorldTransform(time))


def _space(parents: np.ndarray) -> _Space:
    roots = int((parents < 0).sum())
    if roots > 1:
        note = f"the skeleton has {roots} root joints; a common root joint 'root' was added above them"
        rig_parents = np.concatenate([[-1], np.where(parents < 0, 0, parents + 1)])
        return _Space(rig_parents.astype(np.int32), True, [note])
    return _Space(parents.astype(np.int32), False, [])


def _stage_space(skel_mats: np.ndarray, M: np.ndarray, space: _Space) -> np.ndarray:
    """(..., J, 4, 4) skel-space joint matrices -> (..., J', 4, 4) stage-space matrices ``M @ J`` (float64)."""
    out = M @ np.asarray(skel_mats, np.float64)
    if space.synthetic_root:
        out = np.concatenate([np.broadcast_to(M, out.shape[:-3] + (1, 4, 4)), out], axis=-3)
    return out


def _check_residual(residual: np.ndarray, names: list[str], notes: list[str]) -> None:
    """Note joints whose rest scale is non-uniform or mirrored: rotating them cannot skin exactly."""
    lin = residual[:, :3, :3]
    det = np.linalg.det(lin)
    sigma = np.linalg.svd(lin, compute_uv=False)
    mean = np.cbrt(np.abs(det))
    spread = np.abs(sigma - mean[:, None]).max(axis=1) / np.maximum(mean, 1e-30)
    bad = (spread > SCALE_TOLERANCE) | (det < 0)
    if bad.any():
        notes.append(
            f"joint '{names[int(np.argmax(bad))]}' has a non-uniform or mirroring scale in the rest pose; the rest "
            "pose skins exactly, but poses that rotate it may skin differently from usd-core"
        )


def _own_name(prim: Usd.Prim) -> str:
    """A prim's displayName when authored (the name vips could not spell as a prim name), else its name."""
    return prim.GetDisplayName() if prim.HasAuthoredDisplayName() else prim.GetName()


def skeleton_joint_names(skel: UsdSkel.Skeleton, joints: list[str], parents: np.ndarray) -> list[str]:
    """The rig's unique joint names for the Skeleton ``skel`` with joint paths ``joints`` and ``parents`` (J,):
    the names vips wrote when there are some, else ``jointNames``, else unique names from the joint paths."""
    return _names_vips_wrote(skel, len(joints)) or _joint_names(skel, joints, parents)


def _names_vips_wrote(skel: UsdSkel.Skeleton, count: int) -> list[str] | None:
    """The rig's own joint names that vips wrote beside ``jointNames`` (which holds identifiers only), if any."""
    attr = skel.GetPrim().GetAttribute(JOINT_NAMES_ATTR)
    authored = attr.Get() if attr.IsValid() else None
    names = [str(n) for n in authored] if authored is not None and len(authored) == count else []
    return names if names and all(names) and len(set(names)) == count else None


def _joint_names(skel: UsdSkel.Skeleton, joints: list[str], parents: np.ndarray) -> list[str]:
    authored = skel.GetJointNamesAttr().Get()
    if authored is not None and len(authored) == len(joints):
        names = [str(n) for n in authored]
        if all(names) and len(set(names)) == len(names):
            return names
    names = [j.rstrip("/").split("/")[-1] or f"joint{i}" for i, j in enumerate(joints)]
    # Prefixing can grow names with the depth (a chain of joints all named "a"): once they hold this many
    # characters in all, they are numbered instead, so naming stays linear in the size of the file.
    budget = sum(map(len, names)) + 64 * len(names)
    total = 0
    for _ in range(min(len(names), MAX_PREFIX_PASSES)):  # each pass prefixes clashing names with their parent's
        counts = Counter(names)
        clashing = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashing:
            break
        total = sum(map(len, names))
        for i in clashing:
            p = parents[i]
            renamed = f"{names[p]}_{names[i]}" if p >= 0 else f"{names[i]}_{i}"
            total += len(renamed) - len(names[i])
            names[i] = renamed
            if total > budget:
                break
        if total > budget:
            break
    if total > budget:  # numbered from the leaf names: the prefixed ones may be as long as the chain is deep
        names = [f"{j.rstrip('/').split('/')[-1] or 'joint'}_{i}" for i, j in enumerate(joints)]
    elif len(set(names)) != len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return names


def _unused(name: str, names: list[str]) -> str:
    return UniqueNames(names)(name)


# ----- meshes --------------------------------------------------------------------------------------
def _read_meshes(found: _Found, joints: list[str], M: np.ndarray, shift: int, notes: list[str], path: Path) -> dict:
    """Vertices (world), faces and skin of every Mesh bound to the skeleton, concatenated; {} when none."""
    if found.binding is None:
        return {}
    parts, skipped, total = [], [], 0
    for target in found.binding.GetSkinningTargets():
        prim = target.GetPrim()
        if not prim.IsA(UsdGeom.Mesh):
            skipped.append(f"{prim.GetName()} ({prim.GetTypeName()})")
            continue
        part = _read_mesh(target, joints, M, notes, path)
        if part is not None:
            parts.append(part)
            total += len(part[0])  # instancing can list one stored mesh many times: bound them all together
            check_size(path, "the skinned meshes (all meshes)", total, MAX_MESH_VERTICES, "vertices")
    if skipped:
        notes.append(f"skinned prims that are not meshes were skipped: {', '.join(skipped)}")
    if not parts:
        return {}
    K = max(p[2].shape[1] for p in parts)
    verts, faces, idx, wts, offset = [], [], [], [], 0
    for v, f, i, w in parts:
        verts.append(v)
        faces.append(f + offset)
        idx.append(np.pad(i, ((0, 0), (0, K - i.shape[1]))) + shift)
        wts.append(np.pad(w, ((0, 0), (0, K - w.shape[1]))))
        offset += len(v)
    return {
        "vertices": np.concatenate(verts).astype(np.float32),
        "faces": np.concatenate(faces).astype(np.int32),
        "skin_indices": np.concatenate(idx).astype(np.int32),
        "skin_weights": np.concatenate(wts).astype(np.float32),
    }


def _read_mesh(target: UsdSkel.SkinningQuery, joints: list[str], M: np.ndarray, notes: list[str], path: Path):
    prim = target.GetPrim()
    where = f"{path}: mesh {prim.GetPath()}"
    mesh = UsdGeom.Mesh(prim)
    t = Usd.TimeCode.EarliestTime()
    points = mesh.GetPointsAttr().Get(t)
    if points is None or len(points) == 0:
        notes.append(f"mesh {prim.GetPath()} has no points; it was skipped")
        return None
    points = np.asarray(points, np.float64).reshape(-1, 3)
    N = len(points)
    influences = target.ComputeJointInfluences(t) if target.HasJointInfluences() else None
    if not influences:
        notes.append(f"mesh {prim.GetPath()} has no joint influences; it was skipped")
        return None
    K = int(target.GetNumInfluencesPerComponent())
    idx = np.asarray(influences[0], np.int64)
    wts = np.asarray(influences[1], np.float64)
    if target.GetInterpolation() == UsdGeom.Tokens.constant and idx.size == K:
        idx, wts = np.broadcast_to(idx, (N, K)), np.broadcast_to(wts, (N, K))
    elif idx.size == N * K and wts.size == N * K:
        idx, wts = idx.reshape(N, K), wts.reshape(N, K)
    else:
        raise AssetError(
            f"{where}: {idx.size} joint indices / {wts.size} weights do not match {N} points x elementSize {K}"
        )
    idx = _map_joints(target, idx, wts, joints, where)
    if target.GetSkinningMethod() != UsdSkel.Tokens.classicLinear:
        notes.append(f"mesh {prim.GetPath()} asks for {target.GetSkinningMethod()} skinning; it is read as linear")
    if target.HasBlendShapes():
        notes.append(f"mesh {prim.GetPath()} has blend shapes; they were ignored")
    geom_bind = matrix_from_usd(target.GetGeomBindTransform(t))
    xf = M @ geom_bind
    verts = points @ xf[:3, :3].T + xf[:3, 3]
    faces = _triangulate(mesh, N, where)
    return verts, faces, np.ascontiguousarray(idx), np.ascontiguousarray(wts)


def _map_joints(target: UsdSkel.SkinningQuery, idx: np.ndarray, wts: np.ndarray, joints: list[str], where: str):
    """Mesh-local joint indices (its own ``skel:joints`` order, when authored) -> skeleton indices."""
    order = target.GetJointOrder()
    if order is not None:
        lookup = {j: k for k, j in enumerate(joints)}
        missing = [str(j) for j in order if str(j) not in lookup]
        if missing:
            raise AssetError(f"{where}: skel:joints names joints the skeleton does not have: {', '.join(missing[:5])}")
        table = np.array([lookup[str(j)] for j in order], np.int64)
        size = len(table)
    else:
        table, size = None, len(joints)
    bad = (wts > 0) & ((idx < 0) | (idx >= size))
    if bad.any():
        v, k = np.argwhere(bad)[0]
        raise AssetError(f"{where}: point {v} is skinned to joint index {idx[v, k]}, outside [0, {size})")
    idx = np.where(wts > 0, idx, 0)
    return idx if table is None else table[idx]


def _triangulate(mesh: UsdGeom.Mesh, num_points: int, where: str) -> np.ndarray:
    """(T, 3) int64 fan triangulation of the mesh's polygons (right-handed winding)."""
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], np.int64)
    if (counts < 0).any() or counts.sum() != len(indices):
        raise AssetError(f"{where}: faceVertexCounts add up to {counts.sum()} but there are {len(indices)} indices")
    if indices.size and (indices.min() < 0 or indices.max() >= num_points):
        raise AssetError(f"{where}: a face refers to a point outside [0, {num_points})")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    ntri = np.maximum(counts - 2, 0)
    face = np.repeat(np.arange(len(counts)), ntri)
    k = np.arange(ntri.sum()) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    s = starts[face]
    tris = np.stack([indices[s], indices[s + k + 1], indices[s + k + 2]], axis=-1).reshape(-1, 3)
    if mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
        tris = tris[:, [0, 2, 1]]
    return tris


# ----- animation -----------------------------------------------------------------------------------
def _read_clips(
    rig: Rig,
    stage: Usd.Stage,
    found: _Found,
    query: UsdSkel.SkeletonQuery,
    usd_parents: np.ndarray,
    rest_local: np.ndarray,
    space: _Space,
) -> None:
    """Add every SkelAnimation as a clip: the bound one first, then the others under the SkelRoot."""
    codes_per_second = float(stage.GetTimeCodesPerSecond())
    bound = query.GetAnimQuery()
    bound_path = bound.GetPrim().GetPath() if bound else None
    joint_index = {j: k for k, j in enumerate(str(t) for t in query.GetJointOrder())}
    anims = [bound] if bound else []
    scope = found.root if found.root is not None else stage.GetPseudoRoot()
    for prim in Usd.PrimRange(scope, Usd.TraverseInstanceProxies()):
        if not prim.IsA(UsdSkel.Animation) or prim.GetPath() == bound_path:
            continue
        anim = found.cache.GetAnimQuery(UsdSkel.Animation(prim))
        if not anim or not any(str(j) in joint_index for j in anim.GetJointOrder()):
            rig.warn(f"animation {prim.GetPath()} animates none of the skeleton's joints; it was skipped")
            continue
        anims.append(anim)
    joint_frames = 0  # of the clips so far: checked against MAX_JOINT_FRAMES before each clip is sampled
    schema_known = register()
    for anim in anims:
        prim = anim.GetPrim()
        name = _own_name(prim)
        times = _times(anim)
        check_frame_time(str(rig.source), 1.0 / codes_per_second if codes_per_second > 0 else math.inf,
                         f"timeCodesPerSecond {codes_per_second:g}")
        check_joint_frames(rig.source, f"'{name}'", len(times), len(space.parents), joint_frames)
        joint_frames += len(times) * len(space.parents)
        order = [joint_index.get(str(j), -1) for j in anim.GetJointOrder()]
        local, trs = _sample(anim, order, times, rest_local)
        clip = _Clip(name, times, _clip_fps(times, codes_per_second), local, trs, read_usd_meta(prim, schema_known))
        _add_clip(rig, found, clip, usd_parents, space)


@dataclass
class _Clip:
    name: str
    times: list  # Usd.TimeCode of each frame
    fps: float
    local: np.ndarray  # (F, J, 4, 4) local skel-space matrices
    trs: tuple[np.ndarray, np.ndarray, np.ndarray]  # their rotations (F, J, 4), translations, scales (F, J, 3)
    pose_set: object  # PoseSetMeta | None


def _times(anim: UsdSkel.AnimQuery) -> list:
    times = sorted(set(anim.GetJointTransformTimeSamples()))
    return [Usd.TimeCode(t) for t in times] or [Usd.TimeCode.Default()]


def _clip_fps(times: list, codes_per_second: float) -> float:
    """Frames per second of a clip sampled at ``times``: time codes per second over their median spacing."""
    values = np.array([t.GetValue() for t in times if not t.IsDefault()], np.float64)
    steps = np.diff(values)
    if not steps.size or not np.median(steps) > 0:
        return codes_per_second
    fps = codes_per_second / float(np.median(steps))
    if not MIN_FRAME_TIME <= 1.0 / fps <= MAX_FRAME_TIME:  # not the spacing of real frames: the stage's rate
        return codes_per_second
    return float(round(fps)) if abs(fps - round(fps)) <= 1e-6 * fps else fps


def _sample(anim: UsdSkel.AnimQuery, order: list[int], times: list, rest_local: np.ndarray):  # noqa: ANN202
    """(local matrices (F, J, 4, 4), (rotations (F, J, 4), translations (F, J, 3), scales (F, J, 3))) of the
    skeleton's joints at ``times``: the animation's components where it animates a joint (``order`` maps its
    joints to the skeleton's, -1 for none), the rest transforms elsewhere."""
    F = len(times)
    local = np.repeat(rest_local[None], F, axis=0)
    r, t, s = (np.repeat(x[None], F, axis=0) for x in decompose_affine(rest_local))
    have = np.array([k >= 0 for k in order], bool)
    idx = [k for k in order if k >= 0]
    for f, time in enumerate(times):
        parts = anim.ComputeJointLocalTransformComponents(time)
        if parts and all(len(p) == len(order) for p in parts):
            tt, rr, ss = (np.asarray(p, np.float64).reshape(len(order), -1)[have] for p in parts)
            r[f, idx], t[f, idx], s[f, idx] = rr[:, [3, 0, 1, 2]], tt, ss  # GfQuatf is stored (x, y, z, w)
            local[f, idx] = compose_affine(r[f, idx], t[f, idx], s[f, idx])
        else:  # components that do not line up (usd-core then computes no transforms either)
            values = matrices_from_usd(anim.ComputeJointLocalTransforms(time))
            if len(values) == len(order):
                local[f, idx] = values[have]
                r[f, idx], t[f, idx], s[f, idx] = decompose_affine(values[have])
    return local, (r, t, s)


def _add_clip(rig: Rig, found: _Found, clip: _Clip, usd_parents: np.ndarray, space: _Space) -> None:
    """A sampled animation -> a clip of ``rig`` (its poses and its channels) named ``clip.name`` (made unique)."""
    skel_to_world = np.stack([_skel_to_world(found.skeleton, t) for t in clip.times])
    skel_mats = world_from_local(clip.local, usd_parents)
    stage_mats = np.stack([_stage_space(skel_mats[f], skel_to_world[f], space) for f in range(len(clip.times))])
    name = _unused(clip.name, [*rig.clips, *rig.clip_channels])
    channels = _channels(rig, clip, name, skel_to_world, usd_parents, space)
    zero = zero_scale(stage_mats)
    if zero.any():  # a spawn effect: the pose model cannot hold it, conversion keeps it
        f, j = (int(x) for x in np.argwhere(zero)[0])
        rig.warn(dropped_message(name, f"joint '{rig.joint_names[j]}'", f, clip.fps))
        if channels is not None:
            rig.clip_channels[name] = channels
        return
    world = nearest_rigid(stage_mats)
    drift = np.abs(np.linalg.inv(world) @ stage_mats - space.residual[None]).max(axis=(0, 2, 3))
    scale = np.abs(space.residual[:, :3, :3]).max(axis=(1, 2))
    if (drift > SCALE_TOLERANCE * scale).any():
        j = int(np.argmax(drift > SCALE_TOLERANCE * scale))
        rig.warn(
            f"clip '{name}' changes the scale of joint '{rig.joint_names[j]}' from its rest scale; a rig has no "
            "scale, so the pose model's clip leaves that change out (file conversion keeps it)"
        )
    rot, trans = local_from_world(world, space.parents)
    poses, notes = poses_from_local(rig, rot, trans, clip.fps, name)
    for note in notes:
        rig.warn(note)
    rig.clips[name] = poses
    if channels is not None:
        channels.poses = poses
        rig.clip_channels[name] = channels


def _channels(rig: Rig, clip: _Clip, name: str, skel_to_world: np.ndarray, usd_parents: np.ndarray,
              space: _Space) -> ClipChannels | None:
    """The clip's full channels in rig frames (:func:`vips.io.channels.to_rig_frames`); None where not finite.

    A top joint's left factor is the Skeleton's local-to-world ``M`` at each frame; the synthetic root (when there is
    one) is a joint whose file transform is ``M`` itself."""
    r, t, s = clip.trs
    F = len(clip.times)
    left = np.broadcast_to(space.residual[space.parents.clip(0)], (F,) + space.residual.shape).copy()
    roots = np.flatnonzero(usd_parents < 0)
    if space.synthetic_root:
        mr, mt, ms = decompose_affine(skel_to_world)
        r, t, s = (np.concatenate([a[:, None], b], axis=1) for a, b in ((mr, r), (mt, t), (ms, s)))
        left[:, 0] = np.eye(4)
    else:
        left[:, roots] = skel_to_world[:, None]
    channels = rig_frame_channels(rig, name, clip.fps, r, t, s, left, space.residual)
    if channels is not None:
        channels.pose_set = clip.pose_set
    return channels
