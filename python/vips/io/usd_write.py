"""UsdSkel writer: a :class:`vips.Rig` and its poses as a SkelRoot that engines and DCCs import.

Layout written under ``root_path`` (``/<Name>``, the default prim)::

    SkelRoot  /<Name>                          kind = component
      Skeleton  /<Name>/Skeleton               SkelBindingAPI; joints, jointNames, bindTransforms (world),
                                               restTransforms (local), skel:animationSource -> first clip
        SkelAnimation /<Name>/Skeleton/<clip>  translations float3[], rotations quatf[], scales half3[],
                                               one time sample per pose (time code k = pose k)
      Mesh  /<Name>/Mesh                       SkelBindingAPI; skel:skeleton, jointIndices / jointWeights
                                               (vertex, elementSize K), geomBindTransform = identity

Vertices and bind transforms are in the rig's world space and the Skeleton and Mesh carry no transform of
their own, so skeleton space is world space (USD_NOTES.md: never fold a Skeleton transform twice).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, UsdSkel, Vt

from vips.errors import AssetError
from vips.io.atomic import atomic_path
from vips.io.usd_common import describe_error, identifier, matrices_to_usd, quats_to_usd, unique_identifiers
from vips.kinematics import local_transforms
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import compose_affine


def write_usd(rig: Rig, path: Path, poses: Poses | None = None,
              decorate: Callable[[dict], None] | None = None) -> None:
    """Write ``rig`` as UsdSkel to ``path`` (.usda text, .usdc or .usd binary), atomically.

    ``poses`` (F poses) become one SkelAnimation with pose k at time code k; when None, every clip in
    ``rig.clips`` is written as its own SkelAnimation (the first one bound to the skeleton).
    ``decorate(prims)``, when given, may author more on the prims :func:`author_rig` returns (such as our
    pose-set schema on the animation) before the file is written.
    Raises :class:`AssetError` when the file cannot be written; an existing file is then left untouched.
    """
    path = Path(path)
    if path.suffix.lower() not in (".usd", ".usda", ".usdc"):
        raise AssetError(f"{path}: a UsdSkel file must end in .usd, .usda or .usdc")
    with atomic_path(path) as tmp:
        stage = Usd.Stage.CreateInMemory()
        prims = author_rig(stage, rig, poses, "/" + identifier(rig.name or path.stem, "Rig"))
        if decorate is not None:
            decorate(prims)
        try:
            ok = stage.GetRootLayer().Export(str(tmp))
        except Exception as exc:  # Tf.ErrorException from the file format plugin
            raise AssetError(f"{path}: USD could not write the file ({describe_error(exc)})") from None
        if not ok:
            raise AssetError(f"{path}: USD could not write the file")


def author_rig(stage: Usd.Stage, rig: Rig, poses: Poses | None = None, root_path: str = "/Rig") -> dict:
    """Author ``rig`` (and ``poses``, else ``rig.clips``) into an open ``stage`` under the SkelRoot ``root_path``.

    Also authors the stage metadata (upAxis, metersPerUnit, timeCodesPerSecond = the first clip's fps,
    startTimeCode 0, endTimeCode = longest clip - 1) and makes the top-level prim of ``root_path`` the
    default prim when none is set.
    Returns the prims: {"root", "skeleton", "mesh" (or None), "animation" (bound, or None),
    "animations" (dict clip name -> prim, in clip order)}.
    """
    clips = {poses.name: poses} if poses is not None else dict(rig.clips)
    for clip in clips.values():
        clip.check_rig(rig.num_joints, f"rig {rig.label}")
    root_path = Sdf.Path(root_path)
    root = UsdSkel.Root.Define(stage, root_path)
    Usd.ModelAPI(root.GetPrim()).SetKind("component")
    skeleton, joint_paths = _author_skeleton(stage, rig, root_path.AppendChild("Skeleton"))
    mesh = _author_mesh(stage, rig, root_path.AppendChild("Mesh"), skeleton) if rig.has_mesh else None

    animations: dict[str, Usd.Prim] = {}
    prim_names = unique_identifiers([*clips], "clip")
    for prim_name, (name, clip) in zip(prim_names, clips.items()):
        anim_path = skeleton.GetPath().AppendChild(prim_name)
        animations[name] = _author_animation(stage, rig, clip, anim_path, joint_paths).GetPrim()
    bound = next(iter(animations.values()), None)
    if bound is not None:
        UsdSkel.BindingAPI(skeleton.GetPrim()).CreateAnimationSourceRel().SetTargets([bound.GetPath()])

    _author_metadata(stage, rig, list(clips.values()), root_path)
    return {
        "root": root.GetPrim(),
        "skeleton": skeleton.GetPrim(),
        "mesh": None if mesh is None else mesh.GetPrim(),
        "animation": bound,
        "animations": animations,
    }


def _author_metadata(stage: Usd.Stage, rig: Rig, clips: list[Poses], root_path: Sdf.Path) -> None:
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if rig.up_axis == "Z" else UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, float(rig.meters_per_unit))
    fps = float(clips[0].fps) if clips else 30.0
    stage.SetTimeCodesPerSecond(fps)
    stage.SetFramesPerSecond(fps)
    stage.SetStartTimeCode(0)
    stage.SetEndTimeCode(max([len(c) for c in clips] + [1]) - 1)
    if not stage.HasDefaultPrim():
        top = root_path.GetPrefixes()[0]
        stage.SetDefaultPrim(stage.GetPrimAtPath(top))


def _author_skeleton(stage: Usd.Stage, rig: Rig, path: Sdf.Path) -> tuple[UsdSkel.Skeleton, list[str]]:
    names = unique_identifiers(rig.joint_names)
    joint_paths: list[str] = []
    for j, p in enumerate(rig.parents):
        joint_paths.append(names[j] if p < 0 else f"{joint_paths[p]}/{names[j]}")
    skel = UsdSkel.Skeleton.Define(stage, path)
    UsdSkel.BindingAPI.Apply(skel.GetPrim())
    skel.CreateJointsAttr().Set(Vt.TokenArray(joint_paths))
    skel.CreateJointNamesAttr().Set(Vt.TokenArray(names))
    skel.CreateBindTransformsAttr().Set(matrices_to_usd(rig.bind_matrices))
    rest = compose_affine(rig.rest_rotations.astype(np.float64), rig.rest_translations.astype(np.float64))
    skel.CreateRestTransformsAttr().Set(matrices_to_usd(rest))
    return skel, joint_paths


def _author_mesh(stage: Usd.Stage, rig: Rig, path: Sdf.Path, skel: UsdSkel.Skeleton) -> UsdGeom.Mesh:
    mesh = UsdGeom.Mesh.Define(stage, path)
    verts = np.ascontiguousarray(rig.vertices, np.float32)
    faces = np.zeros((0, 3), np.int32) if rig.faces is None else np.ascontiguousarray(rig.faces, np.int32)
    mesh.CreatePointsAttr().Set(Vt.Vec3fArray.FromNumpy(verts))
    mesh.CreateFaceVertexCountsAttr().Set(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    mesh.CreateFaceVertexIndicesAttr().Set(Vt.IntArray.FromNumpy(faces.reshape(-1)))
    mesh.CreateSubdivisionSchemeAttr().Set(UsdGeom.Tokens.none)
    mesh.CreateExtentAttr().Set(Vt.Vec3fArray.FromNumpy(np.stack([verts.min(0), verts.max(0)])))

    binding = UsdSkel.BindingAPI.Apply(mesh.GetPrim())
    binding.CreateSkeletonRel().SetTargets([skel.GetPath()])
    K = int(rig.skin_indices.shape[1])
    binding.CreateJointIndicesPrimvar(False, K).Set(
        Vt.IntArray.FromNumpy(np.ascontiguousarray(rig.skin_indices, np.int32).reshape(-1))
    )
    binding.CreateJointWeightsPrimvar(False, K).Set(
        Vt.FloatArray.FromNumpy(np.ascontiguousarray(rig.skin_weights, np.float32).reshape(-1))
    )
    binding.CreateGeomBindTransformAttr().Set(Gf.Matrix4d(1.0))
    return mesh


def _author_animation(
    stage: Usd.Stage, rig: Rig, poses: Poses, path: Sdf.Path, joint_paths: list[str]
) -> UsdSkel.Animation:
    """One SkelAnimation with every joint's full local transform, pose k at time code k."""
    rotations, translations = local_transforms(rig, poses)
    anim = UsdSkel.Animation.Define(stage, path)
    anim.CreateJointsAttr().Set(Vt.TokenArray(joint_paths))
    t_attr, r_attr, s_attr = anim.CreateTranslationsAttr(), anim.CreateRotationsAttr(), anim.CreateScalesAttr()
    scales = Vt.Vec3hArray.FromNumpy(np.ones((rig.num_joints, 3), np.float16))
    for k in range(len(poses)):
        time = Usd.TimeCode(k)
        t_attr.Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(translations[k])), time)
        r_attr.Set(quats_to_usd(rotations[k]), time)
        s_attr.Set(scales, time)
    return anim
