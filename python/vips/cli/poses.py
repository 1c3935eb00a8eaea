"""The pose-space commands of the ``vips`` CLI: sample, interpolate, animate, ik, score, limits and keyframes.
Each is a thin layer over :class:`vips.posespace.PoseSpace` and :mod:`vips.export`.

``POSES`` arguments name a pose set file these commands write (USD or .glb); ``POSES:I`` its I-th pose.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
import typer

from vips.animation import CONTACT_TOLERANCE, SMOOTHING, STEPS as ANIMATION_STEPS, STRENGTH
from vips.cli.checks import (
    HANDLE_REACH,
    IMAGE_SIZE,
    MAX_POSES,
    MAX_STEPS,
    SEED_HELP,
    asset_inputs,
    check_float,
    check_int,
    check_joints,
    check_reach,
    check_seed,
    check_suffix,
    pose_inputs,
)
from vips.cli.common import ASSET_HELP, busy, fail, load_asset
from vips.errors import VipsError
from vips.io.atomic import check_output_location, check_outputs, make_output_folder
from vips.limits import DEFAULT_CLIP_MARGIN
from vips.posespace import IK_TOLERANCE

MODEL_HELP = "Pose-space model folder (default: $VIPS_MODEL, else the model shipped with vips)."
BACKEND_HELP = "onnx (ONNX Runtime, default) or torch."
OUT_HELP = ("Output pose set: .usda/.usdc/.usd (UsdSkel with the VipsPoseSetAPI schema) or .glb; its folder must "
            "exist, and it may not be an input.")
STEPS_HELP = f"DDIM steps (1-{MAX_STEPS})."
POSE_SET_SUFFIXES = (".usda", ".usdc", ".usd", ".glb")


def _check_pose_set_output(out: Path, inputs: list[Path], pictures: Optional[dict[str, Optional[Path]]] = None,
                           ) -> None:
    """The pose set ``-o`` and optional PNG pictures (option name -> path) may be written: right suffixes, folders
    that exist and are writable, none of them an input or the same file as another."""
    pictures = pictures or {}
    check_suffix(out, "-o", POSE_SET_SUFFIXES, "a pose set")
    for option, path in pictures.items():
        check_suffix(path, option, (".png",), "a picture")
    check_outputs({"-o": out, **pictures}, inputs)


def _space(rig, model: Optional[Path], backend: str):  # noqa: ANN001, ANN202 - PoseSpace
    from vips.posespace import PoseSpace

    return PoseSpace(rig, model, backend=backend)


def _scores(space, poses):  # noqa: ANN001, ANN202
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return space.score(poses)


def _write(rig, space, poses, out: Path, kind: str, seeds=None, scores=None, plausible=None):  # noqa: ANN001, ANN202
    from vips.io.pose_set import write_pose_set

    if scores is None:
        scores, plausible = _scores(space, poses)
    write_pose_set(rig, out, poses, scores=scores, plausible=plausible, seeds=seeds, kind=kind,
                   model_id=space.model_id, threshold=space.threshold)
    return scores, plausible


def _summary(out: Path, poses, scores, plausible, as_json: bool, **extra) -> None:  # noqa: ANN001, ANN003
    info = {"output": str(out), "poses": len(poses), "plausible": int(np.sum(plausible)),
            "scores": [float(s) for s in scores], "plausible_flags": [bool(p) for p in plausible], **extra}
    if as_json:
        typer.echo(json.dumps(info, indent=1))
    else:
        typer.echo(f"wrote {out}: {len(poses)} poses, {info['plausible']} plausible")


def sample_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    n: int = typer.Option(16, "-n", "--num", help=f"Number of poses (1-{MAX_POSES})."),
    seed: int = typer.Option(0, "--seed", help=f"Random seed ({SEED_HELP}; same seed, same poses)."),
    out: Path = typer.Option(..., "-o", "--out", help=OUT_HELP),
    steps: int = typer.Option(50, help=STEPS_HELP),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    contact_sheet: Optional[Path] = typer.Option(None, help="Also write a contact sheet PNG of the poses (.png)."),
    pose_map: Optional[Path] = typer.Option(None, "--map", help="Also write a 2D map PNG (implausible in red)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Sample N plausible poses of an asset and write them as a scored pose set.

    Every output is checked before the first is written (folder exists and is writable, not an input, not
    another output); each is written atomically, so a failure (a full disk) leaves no partial file.
    """
    try:
        check_int(n, "-n", 1, MAX_POSES)
        check_seed(seed)
        check_int(steps, "--steps", 1, MAX_STEPS)
        _check_pose_set_output(out, asset_inputs(asset), {"--contact-sheet": contact_sheet, "--map": pose_map})
        rig = load_asset(asset)
        space = _space(rig, model, backend)
        with busy(f"sampling {n} poses", as_json):
            poses = space.sample(n, seed=seed, steps=steps)
            scores, plausible = _write(rig, space, poses, out, "samples", seeds=np.full(n, seed, np.int64))
        _pictures(rig, poses, scores, plausible, contact_sheet, pose_map)
    except VipsError as exc:
        fail(str(exc))
    _summary(out, poses, scores, plausible, as_json, seed=seed, model_id=space.model_id)


def _pictures(rig, poses, scores, plausible, sheet: Optional[Path], pose_map: Optional[Path]) -> None:  # noqa: ANN001
    from vips.evaluation.plots import write_pose_map
    from vips.render import write_contact_sheet

    if sheet is not None:
        write_contact_sheet(rig, poses, sheet, scores, plausible)
    if pose_map is not None:
        write_pose_map(rig, poses, plausible, pose_map)


def interpolate_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    source: str = typer.Option(..., "--from", help="Start pose: POSES:I (a pose set file and a pose index)."),
    target: str = typer.Option(..., "--to", help="End pose: POSES:J."),
    n: int = typer.Option(16, "-n", "--num", help=f"Number of poses on the path, ends included (2-{MAX_POSES})."),
    out: Path = typer.Option(..., "-o", "--out", help=OUT_HELP),
    steps: int = typer.Option(50, help=f"DDIM steps for inversion and decoding (1-{MAX_STEPS})."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """A smooth on-manifold traversal between two poses (spherical interpolation of their DDIM latents)."""
    from vips.io.pose_set import load_poses

    try:
        check_int(n, "-n", 2, MAX_POSES)
        check_int(steps, "--steps", 1, MAX_STEPS)
        _check_pose_set_output(out, asset_inputs(asset) + pose_inputs([source, target]))
        rig = load_asset(asset)
        a, b = load_poses(source, rig)[0], load_poses(target, rig)[0]
        space = _space(rig, model, backend)
        with busy(f"interpolating {n} poses", as_json):
            poses = space.interpolate(a, b, n, steps=steps)
            scores, plausible = _write(rig, space, poses, out, "traversal", seeds=np.full(n, -1, np.int64))
    except VipsError as exc:
        fail(str(exc))
    _summary(out, poses, scores, plausible, as_json, model_id=space.model_id)


def _parse_seconds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise VipsError(f"--at '{text}' must be comma-separated seconds, one per key (say 0,1.2,2)") from None
    if not all(np.isfinite(values)):
        raise VipsError(f"--at '{text}': the times must be finite seconds")
    return values


def _load_keys(text: str, rig):  # noqa: ANN001, ANN202 - vips.Poses
    """The key poses of ``--keys POSES:I,POSES:J,...`` (a bare POSES: all its poses), each file read once."""
    from vips.io.pose_set import load_poses, parse_pose_ref
    from vips.poses import Poses

    refs = [r.strip() for r in text.split(",") if r.strip()]
    files: dict[Path, Poses] = {}
    keys = []
    for ref in refs:
        path, index = parse_pose_ref(ref)
        if path not in files:
            files[path] = load_poses(str(path), rig)
        poses = files[path]
        if index is not None and not -len(poses) <= index < len(poses):
            raise VipsError(f"--keys {ref}: {path} holds {len(poses)} poses; index {index} is out of range")
        keys.append(poses if index is None else poses[index])
    if not keys:
        raise VipsError("--keys: name at least two poses, as POSES:I,POSES:J,...")
    return Poses.concatenate(keys, name="keys")


def animate_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    keys_ref: str = typer.Option(..., "--keys", help="Key poses, comma-separated: POSES:I (a pose set file and a pose "
                                 "index) or POSES (all its poses), at least two in all."),
    at: str = typer.Option(..., "--at", help="Comma-separated increasing seconds, one per key (say 0,1.2,2)."),
    fps: float = typer.Option(30.0, "--fps", help="Frames per second of the clip (above 0, at most 1000); key k "
                              "lands on frame round((t_k - t_0) * fps)."),
    contact: List[str] = typer.Option([], "--contact", help="A joint (foot, hand) that stays put between two "
                                      "neighbouring keys that both plant it, by manifold IK; repeatable."),
    out: Path = typer.Option(..., "-o", "--out", help="Output clip: .usda/.usdc/.usd (a UsdSkel SkelAnimation, time "
                             "codes at --fps) or .glb (a glTF animation); its folder must exist."),
    strength: float = typer.Option(STRENGTH, help="Noise level of the projection onto the manifold, in [0, 1] "
                                   "(0: the C2 joint-space spline through the keys)."),
    steps: int = typer.Option(ANIMATION_STEPS, help=f"DDIM steps of the projection (1-{MAX_STEPS})."),
    smoothing: float = typer.Option(SMOOTHING, help="Seconds (0-60) below which the projection's move is "
                                    "filtered out: higher is smoother and closer to the spline."),
    seed: int = typer.Option(0, "--seed", help=f"The projection's shared noise draw ({SEED_HELP})."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Motion between keyframes: a clip at --fps through the key poses at --at seconds, on the manifold and smooth.

    Prints the frames, the clip's jerk beside the C2 joint-space spline's through the same keys (largest third
    difference of joint positions per frame, a fraction of the rig's height), the plausible share of frames and
    each planted contact's largest error. The clip's pose-set metadata (kind "clip") holds every frame's score.
    """
    from vips.animation import clip_jerk, frame_times, spline_poses

    try:
        check_float(fps, "--fps", 0.0, 1000.0, lo_open=True)
        check_float(strength, "--strength", 0.0, 1.0)
        check_int(steps, "--steps", 1, MAX_STEPS)
        check_float(smoothing, "--smoothing", 0.0, 60.0)
        check_seed(seed)
        times = _parse_seconds(at)
        refs = [r.strip() for r in keys_ref.split(",") if r.strip()]
        _check_pose_set_output(out, asset_inputs(asset) + pose_inputs(refs))
        rig = load_asset(asset)
        check_joints(rig, contact, "--contact", asset)
        keys = _load_keys(keys_ref, rig)
        frame_times(times, fps, len(keys))
        space = _space(rig, model, backend)
        with busy("animating", as_json):
            clip, report = space.animate(keys, times, fps, contacts=contact, strength=strength, steps=steps,
                                         smoothing=smoothing, seed=seed, return_report=True)
            _write(rig, space, clip, out, "clip", scores=report.scores, plausible=report.plausible)
        spline_jerk = float(clip_jerk(rig, spline_poses(keys, times, fps)).max(initial=0.0))
    except VipsError as exc:
        fail(str(exc))
    info = {"output": str(out), "frames": len(clip), "fps": fps, "seconds_of_animation": (len(clip) - 1) / fps,
            "key_frames": [int(k) for k in report.key_frames], "max_jerk": report.max_jerk,
            "spline_max_jerk": spline_jerk, "plausible_fraction": report.plausible_fraction,
            "contacts": {n: [list(s) for s in spans] for n, spans in report.contacts.items()},
            "contact_error": report.contact_error, "seconds": report.seconds, "model_id": space.model_id}
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    typer.echo(f"wrote {out}: {len(clip)} frames at {fps:g} fps, keys at frames "
               f"{', '.join(map(str, info['key_frames']))}; {report.plausible_fraction:.0%} of frames plausible; "
               f"max jerk {report.max_jerk:.3g} of the height per frame (C2 joint-space spline {spline_jerk:.3g})")
    for name, err in report.contact_error.items():
        typer.echo(f"  contact {name}: planted on {len(report.contacts[name])} segment(s), largest error "
                   f"{err:.2%} of the rig's height")
    for name in contact:
        if name not in report.contacts:
            typer.echo(f"  contact {name}: no two neighbouring keys plant it (within {CONTACT_TOLERANCE:.0%} of the "
                       "rig's height)")


def _parse_point(text: str, what: str) -> tuple[str, list[float]]:
    name, sep, xyz = text.partition("=")
    try:
        values = [float(v) for v in xyz.split(",")]
    except ValueError:
        values = []
    if not sep or not name or len(values) != 3:
        raise VipsError(f"{what} '{text}' must look like JOINT=x,y,z (asset space and units)")
    if not all(np.isfinite(values)):
        raise VipsError(f"{what} '{text}': the target must be three finite numbers")
    return name, values


def ik_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    handle: List[str] = typer.Option(
        [], "--handle", help=f"JOINT=x,y,z target (asset space and units, finite, within {HANDLE_REACH:g} rig heights "
        "of the rig); repeatable."),
    pin: List[str] = typer.Option([], "--pin", help="A joint that keeps its current world position; repeatable."),
    look_at: List[str] = typer.Option([], "--look-at", help="JOINT=x,y,z: aim the joint's bone at a point (within "
                                      "the range of --handle); repeatable."),
    init: Optional[str] = typer.Option(None, "--init", help="Start pose POSES:I (default: the rest pose)."),
    out: Path = typer.Option(..., "-o", "--out", help=OUT_HELP),
    steps: int = typer.Option(5, help=f"Guided DDIM steps, 1-{MAX_STEPS} (inverting the start pose adds "
                                       "max(2, steps // 3) denoiser calls)."),
    noise_level: float = typer.Option(0.5, help="How far the start pose is inverted, in (0, 1]: lower keeps more."),
    tolerance: float = typer.Option(IK_TOLERANCE, help="Warn when a handle or pin ends farther than this fraction of "
                                    "the rig's height from its target (at least 0)."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Manifold IK: a plausible pose that meets joint handles, pins and look-at targets.

    Prints each handle's and pin's distance to its target (asset units and % of the rig's height) and, when one
    ends farther than --tolerance, a `warning:` line on stderr naming it. `vips info ASSET` lists the joints.
    """
    import warnings

    from vips.errors import IKWarning
    from vips.io.pose_set import load_poses

    try:
        check_int(steps, "--steps", 1, MAX_STEPS)
        check_float(noise_level, "--noise-level", 0.0, 1.0, lo_open=True)
        check_float(tolerance, "--tolerance", 0.0)
        handles = dict(_parse_point(h, "--handle") for h in handle)
        aims = dict(_parse_point(h, "--look-at") for h in look_at)
        _check_pose_set_output(out, asset_inputs(asset) + pose_inputs([init]))
        rig = load_asset(asset)
        for option, names in (("--handle", handles), ("--pin", pin), ("--look-at", aims)):
            check_joints(rig, names, option, asset)
        start = load_poses(init, rig)[0] if init else None
        check_reach(rig, handles, "--handle", start)
        check_reach(rig, aims, "--look-at", start)
        space = _space(rig, model, backend)
        with busy("solving", as_json), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IKWarning)
            poses, report = space.solve_ik(handles, init=start, steps=steps, pins=pin, look_at=aims or None,
                                           noise_level=noise_level, return_report=True, tolerance=tolerance)
            scores, plausible = _write(rig, space, poses, out, "ik", seeds=np.full(1, -1, np.int64))
    except VipsError as exc:
        fail(str(exc))
    misses = [str(w.message) for w in caught if issubclass(w.category, IKWarning)]
    errors = {name: float(e) for name, e in zip(report.joints, report.error[0])}
    _summary(out, poses, scores, plausible, as_json, handle_error=errors,
             max_relative_error=report.max_relative_error,
             aim_error_degrees=[float(a) for a in report.aim_error_degrees[0]], tolerance=tolerance,
             missed=[report.joints[h] for h in report.missed(tolerance)], warnings=misses)
    if not as_json:
        for name, kind, e, rel in zip(report.joints, report.kinds, report.error[0], report.relative_error[0]):
            flag = "  MISSED" if rel > tolerance else ""
            typer.echo(f"  {kind:6s} {name:24s} error {e:.4g} units ({rel:.2%} of the rig's height){flag}")
    for message in misses:
        typer.echo(f"warning: {message}", err=True)


def score_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    poses_ref: str = typer.Argument(..., metavar="POSES", help="A pose set file (or POSES:I for one pose)."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help='Print {"scores": [...], "plausible": [...], ...}.'),
) -> None:
    """Score poses: a plausibility score per pose (higher is more plausible) and the calibrated flag."""
    from vips.io.pose_set import load_poses

    try:
        rig = load_asset(asset)
        poses = load_poses(poses_ref, rig)
        space = _space(rig, model, backend)
        with busy("scoring", as_json):
            scores, plausible = _scores(space, poses)
    except VipsError as exc:
        fail(str(exc))
    result = {"scores": [float(s) for s in scores], "plausible": [bool(p) for p in plausible],
              "threshold": space.threshold, "model_id": space.model_id}
    if as_json:
        typer.echo(json.dumps(result))
        return
    for i, (s, p) in enumerate(zip(scores, plausible)):
        typer.echo(f"{i:5d}  {s: .5f}  {'plausible' if p else 'IMPLAUSIBLE'}")
    typer.echo(f"{int(np.sum(plausible))}/{len(scores)} plausible (threshold {space.threshold})")


def _check_keyframe_options(out: Path, count: Optional[int], size: int, azimuth: float, elevation: float) -> None:
    if count is not None:
        check_int(count, "--count", 1)
    check_int(size, "--size", *IMAGE_SIZE)
    check_float(azimuth, "--azimuth", -360.0, 360.0)
    check_float(elevation, "--elevation", -89.0, 89.0)
    if not out.is_dir():
        if out.exists():
            raise VipsError(f"--out {out}: is a file; keyframes go into a folder")
        check_output_location(out, "--out")


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """Create the folder ``out`` (its parent must exist) for the block; when the block fails, a folder this
    command created is removed again, so a failed run leaves nothing behind."""
    created = not out.exists()
    make_output_folder(out, "--out", parents=False)
    try:
        yield
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def keyframes_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    poses_ref: str = typer.Option(..., "--poses", help="A pose set file (traversal, IK edit, samples)."),
    out: Path = typer.Option(..., "--out", help="Output folder: frame_NNNN.png and keyframes.json (created if "
                             "missing, in a folder that exists)."),
    count: Optional[int] = typer.Option(None, help="Keyframes spread evenly over the poses, at least 1 (default: "
                                        "every pose)."),
    size: int = typer.Option(512, help=f"Image width and height in pixels ({IMAGE_SIZE[0]}-{IMAGE_SIZE[1]})."),
    azimuth: float = typer.Option(30.0, help="Camera turn about the up axis from the asset's front, degrees "
                                  "(-360 to 360)."),
    elevation: float = typer.Option(12.0, help="Camera elevation, degrees (-89 to 89)."),
    labels: bool = typer.Option(False, "--labels", help="Write each joint's name beside it (for picking IK handles)."),
    as_json: bool = typer.Option(False, "--json", help="Print keyframes.json's path and frames as JSON."),
) -> None:
    """Keyframe proxies for video models: renders of mesh + skeleton and a keyframes.json (pose, camera).

    One camera frames the body (skinned mesh and body joints, without the ground and control bones) over every
    keyframe, so the character fills most of the image; ground and control bones are drawn thin and grey.
    """
    from vips.export.keyframes import JSON_FILE, frame_file, keyframe_indices, write_keyframes
    from vips.io.pose_set import load_poses, parse_pose_ref, read_pose_set
    from vips.render import framing_camera, framing_points

    try:
        _check_keyframe_options(out, count, size, azimuth, elevation)
        inputs = asset_inputs(asset) + pose_inputs([poses_ref])
        rig = load_asset(asset)
        poses = load_poses(poses_ref, rig)
        _, _, meta = read_pose_set(parse_pose_ref(poses_ref)[0])
        idx = keyframe_indices(len(poses), count)
        with _output_folder(out):
            check_outputs([("--out", out / name) for name in [JSON_FILE, *map(frame_file, idx)]], inputs)
            image = (size, size)
            camera = framing_camera(rig, framing_points(rig, poses[np.asarray(idx)]), azimuth, elevation,
                                    aspect=image[0] / image[1])
            full = meta.scores is not None and len(meta.scores) == len(poses)
            with busy(f"rendering {len(idx)} keyframes", as_json):
                path = write_keyframes(rig, poses, out, frames=idx, camera=camera, size=image, labels=labels,
                                       scores=meta.scores if full else None,
                                       plausible=meta.plausible if full else None)
    except VipsError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"keyframes_json": str(path), "frames": idx}))
    else:
        typer.echo(f"wrote {path} and {len(idx)} images")


LIMITS_OUT_HELP = ("Output file, repeatable (one run, several formats): .json (the limits), .usda/.usdc/.usd (the rig "
                   "as UsdSkel with VipsJointLimitsAPI on the Skeleton) or .glb (the rig with the limits in the skin's "
                   "and joints' extras); its folder must exist, and it may not be an input.")


def limits_command(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    out: List[Path] = typer.Option(..., "-o", "--out", help=LIMITS_OUT_HELP),
    coverage: float = typer.Option(0.99, help="Share of plausible poses each joint's limits hold, in (0, 1]; "
                                   "bounds are quantiles of the poses (1: their minima and maxima)."),
    samples: int = typer.Option(512, "-n", "--samples", help=f"Model samples to estimate from (1-{MAX_POSES})."),
    steps: int = typer.Option(25, help=STEPS_HELP),
    seed: int = typer.Option(0, "--seed", help=f"Random seed of the samples ({SEED_HELP})."),
    clips: bool = typer.Option(True, "--clips/--no-clips", help="Let the asset's own animation, if it has any, set "
                               "the limits (the model widens them by at most --clip-margin); --no-clips: the model's "
                               "limits alone."),
    clip_margin: float = typer.Option(DEFAULT_CLIP_MARGIN, help="How far the limits may reach beyond the animation's range, as a share "
                                      "of it (>= 0; 0.2: at most 20 percent wider, where the model goes further)."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    backend: str = typer.Option("onnx", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Joint limits read off the pose space: per joint a twist range, swing ranges and a swing cone, in the joint's
    rest frame (see vips.limits), that hold --coverage of the model's samples; for an animated asset, of its own
    frames, widened toward the model's limits by at most --clip-margin.

    Example: vips limits example:CesiumMan -o limits.json -o limits.usda
    """
    from vips.io.limits_io import LIMITS_SUFFIXES

    try:
        check_float(coverage, "--coverage", 0.0, 1.0, lo_open=True)
        check_int(samples, "--samples", 1, MAX_POSES)
        check_int(steps, "--steps", 1, MAX_STEPS)
        check_seed(seed)
        check_float(clip_margin, "--clip-margin", 0.0)
        for path in out:
            check_suffix(path, "-o", LIMITS_SUFFIXES, "joint limits")
        check_outputs([("-o", path) for path in out], asset_inputs(asset))
        rig = load_asset(asset)
        space = _space(rig, model, backend)
        with busy(f"estimating joint limits from {samples} samples", as_json):
            limits = space.joint_limits(n_samples=samples, coverage=coverage, clips=clips, seed=seed, steps=steps,
                                        clip_margin=clip_margin)
        for path in out:
            limits.save(path, rig)
    except VipsError as exc:
        fail(str(exc))
    widths = limits.widths()
    if as_json:
        typer.echo(json.dumps({"outputs": [str(p) for p in out], "joints": limits.num_joints, "coverage": coverage,
                               **limits.info, "limits": [
                                   {"name": n, "twist_deg": float(np.degrees(widths["twist"][j])),
                                    "swing_cone_deg": float(np.degrees(limits.cone[j]))}
                                   for j, n in enumerate(limits.joint_names)]}, indent=1))
        return
    typer.echo(f"{'joint':24s} {'twist deg':>17s} {'swing u deg':>17s} {'swing v deg':>17s} {'cone':>6s}")
    for j, name in enumerate(limits.joint_names):
        lo_hi = [np.degrees(limits.twist[j]), np.degrees(limits.swing[j, 0]), np.degrees(limits.swing[j, 1])]
        cells = " ".join(f"{lo:7.1f} .. {hi:6.1f}" for lo, hi in lo_hi)
        typer.echo(f"{name[:24]:24s} {cells} {np.degrees(limits.cone[j]):6.1f}")
    frames = limits.info.get("clip_frames", 0)
    typer.echo(f"wrote {', '.join(map(str, out))}: {limits.num_joints} joints, coverage {coverage:g} of "
               f"{samples} samples" + (f" and {frames} clip frames" if frames else ""))
