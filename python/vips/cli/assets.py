"""Asset commands: ``vips info`` (a rig's summary and joint tree), ``convert`` (between formats, clips
included), ``examples`` (the shipped assets) and ``usd-plugin-path`` (our USD schema for other tools)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from vips.cli.checks import asset_inputs, check_int
from vips.cli.common import ASSET_HELP, fail, load_asset
from vips.errors import VipsError

#: ``vips info`` finds mirror partners (:func:`vips.features.rig_conditioning`, quadratic in the joints) on rigs up
#: to this many joints; larger ones are listed without them, with a note.
MIRROR_LIMIT = 1000
#: Joints ``vips info`` lists in its text tree by default (``--tree-limit``); ``--json`` lists every one.
TREE_LIMIT = 400
#: Tree levels indented in text; deeper joints start with their depth instead of more indentation.
TREE_INDENT = 24


def _skeleton(rig) -> dict:  # noqa: ANN001 - vips.Rig
    """:meth:`vips.Rig.joint_tree` plus the body root (:func:`vips.body.body_root`), the ground and control bones
    above it (``control``), the helper joints the pose model leaves out (``helper``: twist, share and zero-length
    end bones, :mod:`vips.helper_joints`), mirror partners (``mirror``: the partner's index, the joint's own on the
    midline, -1 unpaired; None on rigs over :data:`MIRROR_LIMIT` joints) and ``notes`` on what was left out."""
    from vips.body import above_body, body_root
    from vips.helper_joints import helper_joints

    tree = rig.joint_tree()
    body = body_root(rig)
    tree["body_root"] = rig.joint_names[body]
    tree["control"] = above_body(rig.parents, body).tolist()
    tree["helper"] = helper_joints(rig, body).tolist()
    tree["mirror"], tree["notes"] = None, []
    if rig.num_joints <= MIRROR_LIMIT:
        from vips.features import rig_conditioning

        tree["mirror"] = [int(m) for m in rig_conditioning(rig).mirror]
    else:
        tree["notes"].append(f"mirror partners are not searched on rigs of more than {MIRROR_LIMIT} joints")
    return tree


def _joint_tags(skel: dict, j: int) -> str:
    tags = []
    if skel["names"][j] == skel["body_root"]:
        tags.append("body root")
    if skel["control"][j]:
        tags.append("ground/control bone")
    if skel["helper"][j]:
        tags.append("helper")
    if skel["leaf"][j]:
        tags.append("leaf")
    if skel["moves_skin"] is not None and not skel["moves_skin"][j] and not skel["control"][j]:
        tags.append("moves no skin")
    mirror = skel["mirror"][j] if skel["mirror"] is not None else -1
    if mirror >= 0 and mirror != j:
        tags.append(f"mirror {skel['names'][mirror]}")
    return ", ".join(tags)


def _tree_lines(rig, skel: dict, limit: int) -> list[str]:  # noqa: ANN001 - vips.Rig
    """The joint tree, one indented line per joint, depth first, the first ``limit`` joints and a note."""
    order = rig.preorder()
    rows = []
    for j, depth in order[:limit]:
        lead = "  " * min(depth, TREE_INDENT) + (f"[{depth}] " if depth > TREE_INDENT else "")
        rows.append((lead + skel["names"][j], _joint_tags(skel, j)))
    width = min(max((len(name) for name, _ in rows), default=0), 48)
    lines = [f"    {name:{width}s}  {tags}".rstrip() for name, tags in rows]
    if len(order) > limit:
        lines.append(f"    ... {len(order) - limit} more joints (--tree-limit N shows more; --json lists every joint)")
    return lines


def info(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON, with the whole skeleton under "
                                 "'skeleton': names, parents (indices, -1 for the root), rest_positions (world, asset "
                                 "units), leaf, body_root, control (ground/control bones above it), helper (twist, "
                                 "share and zero-length end bones the pose model leaves out), moves_skin, mirror "
                                 "(partner indices: own index on the midline, -1 unpaired)."),
    tree_limit: int = typer.Option(TREE_LIMIT, "--tree-limit", help="Joints listed in the text tree, at least 0 (the "
                                   "rest are counted)."),
) -> None:
    """Print a rig summary and its joint tree: the names `vips ik` takes.

    The summary: joints, hierarchy depth, vertices, clips, height, units and load warnings. The tree: joint names
    indented under their parents, depth first, marking the body root, the ground/control bones above it, helper
    joints (twist, share and zero-length end bones: the pose model leaves them out and keeps them at rest relative
    to their parent), leaves, joints that move no skin (IK and pole targets) and left/right mirror partners. These
    are the names `vips ik --handle/--pin/--look-at` take.
    """
    try:
        check_int(tree_limit, "--tree-limit", 0)
        rig = load_asset(asset)
    except VipsError as exc:
        fail(str(exc))
    summary = rig.summary()
    skel = _skeleton(rig)
    if as_json:
        # One line per skeleton list, so that a person can read it too and a 20,000-joint rig stays short.
        rows = ",\n".join(f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in skel.items())
        typer.echo(json.dumps(summary, indent=2)[:-2] + f',\n  "skeleton": {{\n{rows}\n  }}\n}}')
        return
    typer.echo(f"{asset}")
    typer.echo(f"  joints          {summary['joints']} (root '{summary['root']}', depth {summary['hierarchy_depth']})")
    if summary["vertices"]:
        typer.echo(f"  mesh            {summary['vertices']} vertices, {summary['faces']} triangles, "
                   f"up to {summary['max_influences']} influences per vertex")
    else:
        typer.echo("  mesh            none (skeleton only)")
    unit = summary["meters_per_unit"]
    typer.echo(f"  height          {summary['height']:.4g} units ({summary['height'] * unit:.4g} m)")
    typer.echo(f"  units           {unit:g} m per unit, {summary['up_axis']} up")
    if summary["clips"]:
        for name, clip in summary["clips"].items():
            typer.echo(f"  clip            {name}: {clip['frames']} frames at {clip['fps']:g} fps")
    else:
        typer.echo("  clips           none")
    for w in summary["warnings"]:
        typer.echo(f"  warning         {w}")
    pairs = sum(1 for j, m in enumerate(skel["mirror"] or []) if m > j)
    mirror = f"{pairs} mirror pairs" if skel["mirror"] is not None else "mirror pairs not searched"
    leaves = sum(skel["leaf"])
    typer.echo(f"  joint tree      body root '{skel['body_root']}', {sum(skel['control'])} ground/control bones above "
               f"it, {sum(skel['helper'])} helper joints, {leaves} {'leaf' if leaves == 1 else 'leaves'}, {mirror}")
    for line in _tree_lines(rig, skel, tree_limit):
        typer.echo(line)
    for note in skel["notes"]:
        typer.echo(f"  note            {note}")


def _check_first_frame_is_a_pose(rig, name: str, source: str) -> None:  # noqa: ANN001 - vips.Rig
    """Refuse ``--rest first-frame`` when clip ``name``'s first frame moves a joint other than by turning it (a
    non-root translation or a scale): a rest holds rotations and bone lengths only, so that frame could not be
    bound exactly, and the conversion would no longer be lossless."""
    channels = rig.clip_channels.get(name)
    if channels is None:
        return
    h = max(float(rig.height()), 1e-12)
    moved = np.abs(channels.translations[0, 1:] - rig.rest_translations[1:]).max(initial=0.0) / h
    scaled = np.abs(channels.scales[0] - 1.0).max(initial=0.0)
    if moved > 1e-6 or scaled > 1e-6:
        fail(f"{source}: clip '{name}' moves joints by translation or scale in its first frame (up to "
             f"{max(moved * h, scaled):.4g}); --rest first-frame binds rotations and bone lengths only, so this "
             "file would not convert exactly: convert it without --rest")


def convert(
    source: str = typer.Argument(..., help=ASSET_HELP),
    target: Path = typer.Argument(..., help="Output file: .usd/.usda/.usdc (UsdSkel) or .glb (glTF binary); its "
                                  "folder must exist, and it may not be the source."),
    clip: Optional[str] = typer.Option(None, help="Write only this animation clip (default: every clip)."),
    rest: str = typer.Option("file", "--rest", help="The rest (bind) pose written: 'file', the source's own, or "
                             "'first-frame', the first frame of the clip written (of the first clip without --clip): "
                             "for BVH exports whose zero pose is not a pose of the body (Character Creator / iClone "
                             "ones put the legs up), so that the pose model reads the rig in a real pose. The "
                             "animation plays the same either way."),
) -> None:
    """Convert a rigged asset between formats, animation clips included: joint and clip names, every animated
    channel (rotation, translation, scale) and pose-set metadata are kept. The output is written atomically."""
    from vips.io import save
    from vips.io.atomic import check_outputs
    from vips.io.channels import clips_to_write
    from vips.kinematics import rerested

    if rest not in ("file", "first-frame"):
        fail(f"--rest must be 'file' or 'first-frame', got '{rest}'")
    try:
        check_outputs({"TARGET": target}, asset_inputs(source))
        rig = load_asset(source)
        poses = None
        if clip is not None:
            if clip not in rig.clips and clip not in rig.clip_channels:
                known = ", ".join(dict.fromkeys([*rig.clips, *rig.clip_channels])) or "none"
                fail(f"{source}: no clip named '{clip}' (clips: {known})")
            poses = rig.clips.get(clip)
            if poses is None:  # a clip the pose model cannot hold (a spawn effect): its channels alone
                rig.clips, rig.clip_channels = {}, {clip: rig.clip_channels[clip]}
        if rest == "first-frame":
            first = poses if poses is not None else next(iter(rig.clips.values()), None)
            if first is None or len(first) == 0:
                fail(f"{source}: --rest first-frame needs a clip with frames"
                     + (f" (clip '{clip}' has none the pose model holds)" if clip is not None else
                        " (the file has none the pose model holds)"))
            name = next(n for n, c in rig.clips.items() if c is first)
            _check_first_frame_is_a_pose(rig, name, source)
            rig = rerested(rig, first[:1])
            poses = rig.clips[name] if poses is not None else None
        written = 1 if clip is not None else len(clips_to_write(rig))
        save(rig, target, poses)
    except VipsError as exc:
        fail(str(exc))
    typer.echo(f"wrote {target} ({rig.num_joints} joints, {rig.num_vertices} vertices, {written} clip(s))")



def usd_plugin_path() -> None:
    """Print the USD schema plugin's folder, for PXR_PLUGINPATH_NAME.

    Other USD tools (usdview, Omniverse, Unreal, plain pxr scripts) recognize our pose sets' VipsPoseSetAPI schema
    when this folder is on PXR_PLUGINPATH_NAME; a process that imports vips needs nothing. In a POSIX shell:

    export PXR_PLUGINPATH_NAME="$(vips usd-plugin-path)${PXR_PLUGINPATH_NAME:+:$PXR_PLUGINPATH_NAME}"
    """
    from vips.usd_schema import schema_dir

    try:
        typer.echo(str(schema_dir()))
    except VipsError as exc:
        fail(str(exc))


def examples() -> None:
    """List the example assets shipped with vips (use them as example:NAME)."""
    from vips.examples import list_examples

    for name, path in list_examples().items():
        typer.echo(f"example:{name}\t{path}")
