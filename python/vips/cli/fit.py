"""``vips fit``: fit a rig's pose to every frame of a reconstructed motion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from vips.cli.checks import SEED_HELP, asset_inputs, check_float, check_int, check_seed, check_suffix
from vips.cli.common import fail, load_asset, needs_extra
from vips.errors import VipsError

if TYPE_CHECKING:
    from vips.fitting.acceptance import FitReport

# Ranges of the options (stated in --help).
MAX_FPS = 1000.0
MAX_POINTS = 100_000
OUTPUT_SUFFIXES = (".usd", ".usda", ".usdc", ".glb")


def _read_frames(files: list[Path], points: int, seed: int) -> tuple[list[np.ndarray], list[int], list[dict]]:
    from vips.fitting.frames import frame_points
    from vips.io.frames import read_frame

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
    from vips.fitting.acceptance import judge_fit
    from vips.io import save
    from vips.io.atomic import check_outputs
    from vips.io.frames import list_frames

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
    report = judge_fit(result, kept, [f.name for f in files], failed)
    if report.mismatch is not None:
        fail(f"the rig {rig} does not match the frames in {frames_dir}: {report.mismatch}; is --rig the rigged "
             "first frame of this sequence?")
    if not report.keep:
        fail(f"{frames_dir}: no frame could be fitted")
    poses = result.poses[np.asarray(report.keep)]
    poses.name = "fitted"
    try:
        save(rigged, output, poses)
    except VipsError as exc:
        fail(str(exc))
    _print_report(report, output, rig, fps, as_json)


def _print_report(report: "FitReport", output: Path, rig: str, fps: float, as_json: bool) -> None:
    """The report as JSON (``--json``) or text: one time sample per kept frame, and the frames left out."""
    if as_json:
        typer.echo(json.dumps({
            "output": str(output),
            "rig": rig,
            "frames": report.frames,
            "fitted": len(report.keep),
            "failed": report.failed,
            "fps": fps,
            "time_samples": [{"time": t, **kept} for t, kept in enumerate(report.kept)],
            "median_fit_error": report.median_error,
        }, indent=2))
        return
    typer.echo(f"wrote {output}: {len(report.keep)} of {report.frames} frames fitted "
               f"(median error {100 * report.median_error:.2f}% of the rig height)")
    for f in report.failed:
        typer.echo(f"  skipped frame {f['frame']} ({f['file']}): {f['reason']}")
