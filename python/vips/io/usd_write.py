"""UsdSkel writer: a :class:`vips.Rig` and its poses as a SkelRoot that engines and DCCs import.

Layout written under ``root_path`` (``/<Name>``, the default prim; Name is :attr:`Rig.root_name`, else the rig's
name)::

    SkelRoot  /<Name>                          kind = component
      Skeleton  /<Name>/Skeleton               SkelBindingAPI; joints, jointNames, bindTransforms (world),
                                               restTransforms (local), skel:animationSource -> first clip;
                                               vips:jointNames (string[]) where a name is not identifier-safe
        SkelAnimation /<Name>/Skeleton/<clip>  translations float3[], rotations quatf[], scales half3[] (a
                                               default where constant), one time sample per frame (frame k at
                                               time code k * timeCodesPerSecond / fps); displayName = the clip's
                                               name where it is not identifier-safe; VipsPoseSetAPI and its
                                               vips:poseSet:* attributes for a pose set
      Mesh  /<Name>/Mesh                       SkelBindingAPI; skel:skeleton, jointIndices / jointWeights
                                               (vertex, elementSize K), geomBindTransform = identity

Vertices and bind transforms are in the rig's world space and the Skeleton and Mesh carry no transform of
their own, so skeleton space is world space (USD_NOTES.md: never fold a Skeleton transform twice). Animations are
written from each clip's full channels (:func:`vips.io.channels.clips_to_write`): every joint's rotation,
translation and scale. UsdSkel stores scales as half3, so an animated scale keeps about three decimal digits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, UsdSkel, Vt

from vips.errors import AssetError
from vips.io.atomic import atomic_path
from vips.io.channels import ClipChannels, clips_to_write
from vips.limb_targets import in_file_hierarchy
from vips.io.pose_set_meta import author_usd_meta
from vips.io.usd_common import describe_error, identifier, matrices_to_usd, quats_to_usd, unique_identifiers
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import compose_affine

#: Custom Skeleton attribute holding the rig's joint names where ``jointNames`` (identifiers) cannot spell them.
JOINT_NAMES_ATTR = "vips:jointNames"


def write_usd(rig: Rig, path: Path, poses: Poses | None = None,
              decorate: Callable[[dict], None] | None = None, clips: list[ClipChannels] | None = None) -> None:
    """Write ``rig`` as UsdSkel to ``path`` (.usda text, .usdc or .usd binary), atomically.

    ``poses`` (F poses) become one SkelAnimation with pose k at time code k (the full channels the rig keeps for
    that clip, else the poses); when None, every clip of the rig is written as its own SkelAnimation (the first
    one bound to the skeleton); ``clips``, when given, are the animations to write instead.
    ``decorate(prims)``, when given, may author more on the prims :func:`author_rig` returns before the file is
    written.
    Raises :class:`AssetError` when the file cannot be written; an existing file is then left untouched.
    """
    path = Path(path)
    if path.suffix.lower() not in (".usd", ".usda", ".usdc"):
        raise AssetError(f"{path}: a UsdSkel file must end in .usd, .usda or .usdc")
    with atomic_path(path) as tmp:
        stage = Usd.Stage.CreateInMemory()
        prims = author_rig(stage, rig, poses, "/" + identifier(rig.root_name or rig.name or path.stem, "Rig"),
                           clips)
        if decorate is not None:
            decorate(prims)
        try:
            ok = stage.GetRootLayer().Export(str(tmp))
        except Exception as exc:  # Tf.ErrorException from the file format plugin
            raise AssetError(f"{path}: USD could not write the file ({describe_error(exc)})") from None
        if not ok:
            raise AssetError(f"{path}: USD could not write the file")


def author_rig(stage: Usd.Stage, rig: Rig, poses: Poses | None = None, root_path: str = "/Rig",
               clips: list[ClipChannels] | None = None) -> dict:
    """Author ``rig`` (and ``poses``, else every clip of the rig, or ``clips`` when given) into an open ``stage``
    under the SkelRoot ``root_path``.

    Also authors the stage metadata (upAxis, metersPerUnit, timeCodesPerSecond = the first clip's fps,
    startTimeCode 0, endTimeCode = the last time code of the longest clip) and makes the top-level prim of
    ``root_path`` the default prim when none is set.
    Returns the prims: {"root", "skeleton", "mesh" (or None), "animation" (bound, or None),
    "animations" (dict clip name -> prim, in clip order)}.
    """
    if clips is None:
        clips = clips_to_write(rig, poses)
    for clip in clips:
        clip.check(rig)
    rig, clips = in_file_hierarchy(rig, clips)  # limb-end IK targets back under their file parent
    root_path = Sdf.Path(root_path)
    root = UsdSkel.Root.Define(stage, root_path)
    Usd.ModelAPI(root.GetPrim()).SetKind("component")
    own_name = rig.root_name or rig.name
    if own_name and own_name != root_path.name:
        root.GetPrim().SetDisplayName(own_name)  # the asset's own name, which a prim name cannot spell
    skeleton, joint_paths = _author_skeleton(stage, rig, root_path.AppendChild("Skeleton"))
    mesh = _author_mesh(stage, rig, root_path.AppendChild("Mesh"), skeleton) if rig.has_mesh else None

    animations: dict[str, Usd.Prim] = {}
    prim_names = unique_identifiers([c.name for c in clips], "clip")
    codes_per_second = float(clips[0].fps) if clips else 30.0
    for prim_name, clip in zip(prim_names, clips):
        anim = _author_animation(stage, clip, skeleton.GetPath().AppendChild(prim_name), joint_paths,
                                 codes_per_second).GetPrim()
        if prim_name != clip.name:
            anim.SetDisplayName(clip.name)  # the clip's own name, which a prim name cannot spell
        if clip.pose_set is not None:
            author_usd_meta(anim, clip.pose_set)
        animations[clip.name if clip.name not in animations else prim_name] = anim
    bound = next(iter(animations.values()), None)
    if bound is not None:
        UsdSkel.BindingAPI(skeleton.GetPrim()).CreateAnimationSourceRel().SetTargets([bound.GetPath()])

    _author_metadata(stage, rig, clips, root_path)
    return {
        "root": root.GetPrim(),
        "skeleton": skeleton.GetPrim(),
        "mesh": None if mesh is None else mesh.GetPrim(),
        "animation": bound,
        "animations": animations,
    }


def _author_metadata(stage: Usd.Stage, rig: Rig, clips: list[ClipChannels], root_path: Sdf.Path) -> None:
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if rig.up_axis == "Z" else UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, float(rig.meters_per_unit))
    fps = float(clips[0].fps) if clips else 30.0
    stage.SetTimeCodesPerSecond(fps)
    stage.SetFramesPerSecond(fps)
    stage.SetStartTimeCode(0)
    stage.SetEndTimeCode(max([(len(c) - 1) * fps / float(c.fps) for c in clips] + [0]))
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
    if names != list(rig.joint_names):  # the rig's own names, which jointNames (identifiers) cannot spell
        skel.GetPrim().CreateAttribute(JOINT_NAMES_ATTR, Sdf.ValueTypeNames.StringArray, custom=True,
                                       variability=Sdf.VariabilityUniform).Set(Vt.StringArray(rig.joint_names))
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
    stage: Usd.Stage, clip: ClipChannels, path: Sdf.Path, joint_paths: list[str], codes_per_second: float
) -> UsdSkel.Animation:
    """One SkelAnimation with every joint's full local transform, frame k at time code k * codes/s / fps."""
    anim = UsdSkel.Animation.Define(stage, path)
    anim.CreateJointsAttr().Set(Vt.TokenArray(joint_paths))
    t_attr, r_attr, s_attr = anim.CreateTranslationsAttr(), anim.CreateRotationsAttr(), anim.CreateScalesAttr()
    scales = clip.scales.astype(np.float16)
    constant_scale = len(scales) > 0 and bool((scales == scales[:1]).all())
    if constant_scale:
        s_attr.Set(Vt.Vec3hArray.FromNumpy(np.ascontiguousarray(scales[0])))
    step = codes_per_second / float(clip.fps)
    for k in range(len(clip)):
        time = Usd.TimeCode(k * step)
        t_attr.Set(Vt.Vec3fArray.FromNumpy(clip.translations[k]), time)
        r_attr.Set(quats_to_usd(clip.rotations[k]), time)
        if not constant_scale:
            s_attr.Set(Vt.Vec3hArray.FromNumpy(np.ascontiguousarray(scales[k])), time)
    return anim
