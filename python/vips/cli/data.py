"""``vips dataset build``: procedural creatures and real clips in motion, to a pose dataset for training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vips.cli.checks import MAX_WORKERS, SEED_HELP, check_int, check_seed
from vips.cli.common import fail
from vips.errors import VipsError

#: ``vips dataset``: registered on the app by :mod:`vips.cli`.
dataset_app = typer.Typer(help="Build pose datasets for training.", no_args_is_help=True)


@dataset_app.command("build")
def dataset_build(
    out: Path = typer.Option(..., "--out", help="Output folder (shards/ and manifest.json); resumed if it exists."),
    species: int = typer.Option(
        162, help="Number of procedural species (162 exist, over 11 body plans; 0 for --clips only)."),
    individuals: int = typer.Option(2, help="Individuals per species."),
    sequences: int = typer.Option(12, help="Motion sequences per individual (every program at least once)."),
    frames: int = typer.Option(90, help="Frames per sequence."),
    engine: str = typer.Option("local", help="local (process pool) or ray (RAY_ADDRESS, else a local cluster)."),
    workers: Optional[int] = typer.Option(None, help=f"Local worker processes, 1-{MAX_WORKERS} (default: all cores)."),
    seed: int = typer.Option(0, help=f"Dataset seed ({SEED_HELP})."),
    clips: Optional[list[str]] = typer.Option(
        None, "--clips", metavar="PATH[=SPLIT]",
        help="Real motion: an animated asset file, or a folder searched for .glb, .gltf, .bvh, .usd, .usda, .usdc "
             "(repeatable); each asset with animation is one more species (source 'clip'; BVH skeletons without "
             "mesh included). PATH=train|val|test puts the assets under PATH, and their whole rig families, in "
             "that split; the most specific PATH wins (--clips lib --clips lib/mocap=val). Pass the same --clips "
             "again to resume.",
    ),
    clips_split: str = typer.Option(
        "auto", "--clips-split", metavar="auto|train|val|test",
        help="Split of the rig families that no PATH=SPLIT names: auto (a seeded hash of the family, val/test "
             "10% each) or train, val, test for all of them.",
    ),
    clips_sources: Optional[Path] = typer.Option(
        None, "--clips-sources", metavar="FILE",
        help="Sources file naming each asset's collection, licence and credit by its path under the --clips "
             "folder (the longest matching key wins): JSON {\"format\": \"vips-clip-sources/1\", \"sources\": "
             "{\"cmu_daz/\": {\"collection\": ..., \"licence\": ..., \"credit\": ..., \"source_url\": ...}}}; "
             "training/real_motion_sources.json covers ../shared/motion. Without it, or where no key matches, the "
             "licence comes from a License.txt, LICENSE* or COPYING* file beside the asset or in a folder above it "
             "up to the --clips folder (CC0-1.0, CC-BY-*, MIT... recognised), else 'unknown'.",
    ),
) -> None:
    """Build the pose dataset: procedural creatures (and --clips real motion) in motion, near-duplicates
    removed, split by species.

    Creatures are split by archetype, clip assets by rig family: the assets whose skeletons are the same or
    clearly one template share a split. Two skeletons are one template when at least 4 joint names are shared
    and the shared names are at least 60% of the names of both (compared in lower case, without namespaces
    such as 'mixamorig:' or 'CC_Base_'; numbered auto-rig names such as 'joint_12', and 'root', never count as
    shared); templates linked in a chain are one family. A family's split is the one a --clips PATH=SPLIT gives
    any of its assets (two different ones are an error naming both), else --clips-split.

    Example: vips dataset build --out data --clips ../shared/motion --clips ../shared/motion/cmu_iclone=val
    --clips-sources training/real_motion_sources.json

    Every file under --clips lands in manifest.json: as a shard, or under skipped (no animation, an identical
    copy), failures (the reader's error) or ignored (not an animation file). Its 'families' and 'collections'
    tables give each one's split, assets, clips, poses and licences; each shard records its family, skeleton,
    collection, licence and credit.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vips.data.clips import CLIP_SPLITS
    from vips.data.dataset import BuildSettings, build_dataset

    try:
        check_seed(seed)
        if workers is not None:
            check_int(workers, "--workers", 1, MAX_WORKERS)
    except VipsError as exc:
        fail(str(exc))
    if clips_split not in CLIP_SPLITS:
        fail(f"--clips-split must be one of {', '.join(CLIP_SPLITS)}, not '{clips_split}'")
    settings = BuildSettings(species=species, individuals=individuals, sequences=sequences, frames=frames, seed=seed)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("building", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=f"building {name}")

        try:
            manifest = build_dataset(out, settings, engine=engine, workers=workers, progress=update,
                                     clips=clips or (), clips_split=clips_split, clips_sources=clips_sources)
        except VipsError as exc:
            fail(str(exc))
    typer.echo(f"{out}: {manifest['poses']} poses, {manifest['species']} species, {manifest['individuals']} "
               f"individuals ({manifest['poses_per_split']}); {len(manifest['failures'])} failed; "
               f"{manifest['seconds_this_run']} s")
    if "clips" in manifest:
        c = manifest["clips"]
        per_split = {s: sum(f["split"] == s for f in manifest["families"].values()) for s in ("train", "val", "test")}
        typer.echo(f"clips: {c['assets']} assets in {c['families']} rig families {per_split}, {c['shards']} with "
                   f"animation ({c['poses']} poses), {c['skipped']} skipped, {c['failed']} failed, "
                   f"{len(manifest['ignored'])} other files ignored (see manifest.json)")
    for f in manifest["failures"]:
        typer.echo(f"failed {f.get('asset', f['shard'])}: {f['reason']}", err=True)
    if manifest["failures"]:
        raise typer.Exit(code=1)
