"""``vips fit``: fit a rig's pose to every frame of a reconstructed motion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from vips.cli.checks import SEED_HELP, asset_inputs, check_float, check_int, check_seed, check_suffix
from vips.cli.common import fail, load_asset, needs_extra
from vips.errors import VipsError

# A sequence whose median frame fits worse than this (fraction of the rig height) is not of this rig.
MISMATCH_ERROR = 0.05
# A frame fitting worse than max(FRAME_ERROR, 3 x the median) is reported as failed and left out.
FRAME_ERROR = 0.04
# Below this fraction of the (visible) model surface explained by frame points, a frame did not fit.
MIN_COVERAGE = 0.5
# Ranges of the options (stated in --help).
MAX_FPS = 1000.0
MAX_POINTS = 100_000
OUTPUT_SUFFIXES = (".usd", ".usda", ".usdc", ".glb")


def _read_frames(files: list[Path], points: int, seed: int) -> tuple[list[np.ndarray], list[int], list[dict]]:
    from vips.fitting.frames import frame_points, read_frame

    clouds, kept, failed = [], [], []
    for i, path in enumerate(files):
        try:
            verts, faces = read_frame(path)
        except VipsError as exc:
            failed.append({"frame": i, "file": path.name, "reason": str(exc)})
            continue
        clouds.append(frame_points(verts, faces, points, seed + i))
        kept.append(i)
    return clouds, kept, failed


def fit_command(
    frames_dir: Path = typer.Argument(..., help="Folder of per-frame meshes (.obj/.ply/.glb/.gltf), taken in "
                                                 "natural file-name order; no vertex correspondence needed."),
    rig: str = typer.Option(..., "--rig", help="The rigged first frame (.glb/.gltf, RigNet, .usd, or example:NAME)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output animation: .usd/.usda/.usdc or .glb; its folder "
                                "must exist, and it may not be an input."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (per-frame errors, failures) as JSON."),
    fps: float = typer.Option(30.0, help=f"Frame rate of the sequence (above 0, up to {MAX_FPS:g})."),
    points: int = typer.Option(3000, help=f"Points sampled from each frame's surface (1-{MAX_POINTS})."),
    seed: int = typer.Option(0, help=f"Seed of the point sampling ({SEED_HELP})."),
) -> None:
    """Fit the rig's pose to every frame (Chamfer fitting with alignment), one time sample per fitted frame.

    Frames that cannot be read, are empty or do not fit are reported and left out; the others are kept.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with needs_extra("fit", "train"):
        from vips.fitting.fit import FitSettings, fit_poses
    from vips.fitting.frames import list_frames
    from vips.io import save
    from vips.io.atomic import check_outputs

    try:
        check_float(fps, "--fps", 0.0, MAX_FPS, lo_open=True)
        check_int(points, "--points", 1, MAX_POINTS)
        check_seed(seed)
        check_suffix(output, "-o", OUTPUT_SUFFIXES, "an animation")
        inputs = asset_inputs(rig)
        rigged = load_asset(rig)
        if not rigged.has_mesh or rigged.faces is None or len(rigged.faces) == 0:
            fail(f"{rig}: the rig has no triangle mesh; fitting matches the skinned mesh to the frames")
        files = list_frames(frames_dir)
        check_outputs({"-o": output}, inputs + list(files))
    except VipsError as exc:
        fail(str(exc))
    clouds, kept, failed = _read_frames(files, points, seed)
    if not clouds:
        fail(f"{frames_dir}: none of the {len(files)} frames could be read (first problem: {failed[0]['reason']})")

    settings = FitSettings(seed=seed)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), transient=True, disable=as_json) as bar:
        task = bar.add_task("fitting frames", total=len(clouds))

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{stage} frames")

        try:
            result = fit_poses(rigged, clouds, settings, progress=progress, fps=fps)
        except VipsError as exc:
            fail(str(exc))
    errors = result.errors
    fitted = np.isfinite(errors)
    median = float(np.median(errors[fitted])) if fitted.any() else float("inf")
    coverage = result.coverage
    median_cov = float(np.nanmedian(coverage)) if np.isfinite(coverage).any() else 0.0
    if median_cov < MIN_COVERAGE:
        fail(f"the rig {rig} does not match the frames in {frames_dir}: the frames explain only "
              f"{100 * median_cov:.0f}% of the rig's surface (a matching rig: ~100%); is --rig the rigged first "
              "frame of this sequence?")
    if median > MISMATCH_ERROR:
        fail(f"the rig {rig} does not match the frames in {frames_dir}: the median frame fits to within "
              f"{100 * median:.1f}% of the rig height (a matching rig fits to ~1%); is --rig the rigged first "
              "frame of this sequence?")
    limit = max(FRAME_ERROR, 3 * median)
    keep = []
    for k, i in enumerate(kept):
        if k in result.failed or not np.isfinite(errors[k]):
            failed.append({"frame": i, "file": files[i].name, "reason": "too few points to fit"})
        elif coverage[k] < MIN_COVERAGE:
            failed.append({"frame": i, "file": files[i].name,
                           "reason": f"only {100 * coverage[k]:.0f}% of the rig's surface matches the frame"})
        elif errors[k] > limit:
            failed.append({"frame": i, "file": files[i].name,
                           "reason": f"fit error {100 * errors[k]:.1f}% of the rig height (limit {100 * limit:.1f}%)"})
        else:
            keep.append(k)
    if not keep:
        fail(f"{frames_dir}: no frame could be fitted")
    poses = result.poses[np.asarray(keep)]
    poses.name = "fitted"
    try:
        save(rigged, output, poses)
    except VipsError as exc:
        fail(str(exc))
    failed.sort(key=lambda f: f["frame"])
    report = {
        "output": str(output),
        "rig": rig,
        "frames": len(files),
        "fitted": len(keep),
        "failed": failed,
        "fps": fps,
        "time_samples": [{"time": t, "frame": kept[k], "file": files[kept[k]].name, "fit_error": float(errors[k])}
                         for t, k in enumerate(keep)],
        "median_fit_error": median,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"wrote {output}: {len(keep)} of {len(files)} frames fitted "
               f"(median error {100 * median:.2f}% of the rig height)")
    for f in failed:
        typer.echo(f"  skipped frame {f['frame']} ({f['file']}): {f['reason']}")
