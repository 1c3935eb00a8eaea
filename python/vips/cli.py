"""The ``vips`` command line. Each command is a thin layer over the Python API.

User errors (a missing file, a corrupt asset, an invalid rig) print one line on stderr and exit with code 1;
no traceback. Bugs still show a traceback, so they can be reported. Arguments are checked against their ranges
(stated in each option's help, :mod:`vips.cli_checks`) and outputs against the inputs and each other before any
work; every output is written atomically.

Nothing is written outside the paths a user names: no cache, no settings file, and ONNX Runtime's telemetry is
off (see :mod:`vips.runtime.onnx_backend`). ``--engine ray`` is the exception: Ray keeps its session files
under its own temporary folder.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from vips.cli_checks import (
    MAX_POSES,
    MAX_STEPS,
    MAX_WORKERS,
    SEED_HELP,
    asset_inputs,
    check_int,
    check_seed,
    fail,
)
from vips.errors import VipsError

app = typer.Typer(
    name="vips",
    help="ViPS runtime: learned pose spaces for rigged meshes. Run `vips COMMAND --help` for each command. "
    "Writes nothing but the files you name (no caches; ONNX Runtime telemetry is off).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


ASSET_HELP = "A rigged asset (.glb/.gltf, RigNet .txt + .obj, .usd/.usda/.usdc, .bvh), or example:NAME for a shipped one."


def _load_quiet(path: str):  # noqa: ANN202 - returns vips.Rig
    """Load an asset (``example:NAME`` names a shipped one); repairs are reported from rig.warnings."""
    from vips.examples import resolve
    from vips.io import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(resolve(path))


#: ``vips info`` finds mirror partners (:func:`vips.features.rig_conditioning`, quadratic in the joints) on rigs up
#: to this many joints; larger ones are listed without them, with a note.
MIRROR_LIMIT = 1000
#: Joints ``vips info`` lists in its text tree by default (``--tree-limit``); ``--json`` lists every one.
TREE_LIMIT = 400
#: Tree levels indented in text; deeper joints start with their depth instead of more indentation.
TREE_INDENT = 24


def _skeleton(rig) -> dict:  # noqa: ANN001 - vips.Rig
    """:meth:`vips.Rig.joint_tree` plus the body root (:func:`vips.body.body_root`), the ground and control bones
    above it (``control``), mirror partners (``mirror``: the partner's index, the joint's own on the midline, -1
    unpaired; None on rigs over :data:`MIRROR_LIMIT` joints) and ``notes`` on what was left out."""
    from vips.body import above_body, body_root

    tree = rig.joint_tree()
    body = body_root(rig)
    tree["body_root"] = rig.joint_names[body]
    tree["control"] = above_body(rig.parents, body).tolist()
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


@app.command()
def info(
    asset: str = typer.Argument(..., help=ASSET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON, with the whole skeleton under "
                                 "'skeleton': names, parents (indices, -1 for the root), rest_positions (world, asset "
                                 "units), leaf, body_root, control (ground/control bones above it), moves_skin, mirror "
                                 "(partner indices: own index on the midline, -1 unpaired)."),
    tree_limit: int = typer.Option(TREE_LIMIT, "--tree-limit", help="Joints listed in the text tree, at least 0 (the "
                                   "rest are counted)."),
) -> None:
    """Print a rig summary and its joint tree: the names `vips ik` takes.

    The summary: joints, hierarchy depth, vertices, clips, height, units and load warnings. The tree: joint names
    indented under their parents, depth first, marking the body root, the ground/control bones above it, leaves,
    joints that move no skin (IK and pole targets) and left/right mirror partners. These are the names
    `vips ik --handle/--pin/--look-at` take.
    """
    try:
        check_int(tree_limit, "--tree-limit", 0)
        rig = _load_quiet(asset)
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
               f"it, {leaves} {'leaf' if leaves == 1 else 'leaves'}, {mirror}")
    for line in _tree_lines(rig, skel, tree_limit):
        typer.echo(line)
    for note in skel["notes"]:
        typer.echo(f"  note            {note}")


@app.command()
def convert(
    source: str = typer.Argument(..., help=ASSET_HELP),
    target: Path = typer.Argument(..., help="Output file: .usd/.usda/.usdc (UsdSkel) or .glb (glTF binary); its "
                                  "folder must exist, and it may not be the source."),
    clip: Optional[str] = typer.Option(None, help="Write only this animation clip (default: every clip)."),
) -> None:
    """Convert a rigged asset between formats, animation clips included: joint and clip names, every animated
    channel (rotation, translation, scale) and pose-set metadata are kept. The output is written atomically."""
    from vips.io import save
    from vips.io.atomic import check_outputs
    from vips.io.channels import clips_to_write

    try:
        check_outputs({"TARGET": target}, asset_inputs(source))
        rig = _load_quiet(source)
        poses = None
        if clip is not None:
            if clip not in rig.clips and clip not in rig.clip_channels:
                known = ", ".join(dict.fromkeys([*rig.clips, *rig.clip_channels])) or "none"
                fail(f"{source}: no clip named '{clip}' (clips: {known})")
            poses = rig.clips.get(clip)
            if poses is None:  # a clip the pose model cannot hold (a spawn effect): its channels alone
                rig.clips, rig.clip_channels = {}, {clip: rig.clip_channels[clip]}
        written = 1 if clip is not None else len(clips_to_write(rig))
        save(rig, target, poses)
    except VipsError as exc:
        fail(str(exc))
    typer.echo(f"wrote {target} ({rig.num_joints} joints, {rig.num_vertices} vertices, {written} clip(s))")


dataset_app = typer.Typer(help="Build pose datasets for training.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


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


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="A dataset folder from `vips dataset build` (its train split is used)."),
    out: Path = typer.Option(..., "--out", help="Run folder: config.json, log.jsonl, checkpoint and weights (resumed if present)."),
    steps: int = typer.Option(15000, help="Training steps (the learning-rate schedule spans them)."),
    width: int = typer.Option(64, help="Transformer width."),
    layers: int = typer.Option(4, help="Denoiser layers."),
    mlp_ratio: int = typer.Option(2, help="Hidden width of each transformer MLP, in multiples of the width."),
    schedule_shift: float = typer.Option(
        1.0, min=0.01, help="Raise the noise schedule's signal-to-noise ratio by this factor squared: about one over "
        "the spread of the pose vectors (see vips.diffusion.alpha_bar)."),
    rigs_per_batch: int = typer.Option(8, help="Rigs per batch."),
    poses_per_rig: int = typer.Option(8, help="Poses drawn from each rig per batch."),
    lr: float = typer.Option(1.5e-3, help="Peak learning rate (AdamW, warmup then cosine)."),
    warmup: int = typer.Option(300, help="Warmup steps of the learning rate."),
    threads: int = typer.Option(1, help="Torch threads per process (1 is fastest on a small, busy CPU)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help=f"Seed of weights and batches ({SEED_HELP})."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", help="Fine-tune: start from 'default' (the shipped model), a model folder or a "
        "model.safetensors of the same architecture instead of random weights."),
) -> None:
    """Train a pose diffusion model (torch); the defaults are the shipped model's recipe
    (training/default_model.json). Under `torchrun --nproc_per_node N $(which vips) train ...` it runs DDP."""
    try:
        check_seed(seed)
    except VipsError as exc:
        fail(str(exc))
    try:
        from vips.model.network import ModelConfig
        from vips.model.train import TrainConfig
        from vips.model.train import train as run_training
    except ImportError as exc:
        fail(f"training needs torch ({exc.name} is missing): pip install 'vips-runtime[train]'")
    model = ModelConfig(width=width, layers=layers, mlp_ratio=mlp_ratio, schedule_shift=schedule_shift)
    config = TrainConfig(out=str(out), data=str(data), model=model, steps=steps, rigs_per_batch=rigs_per_batch,
                         poses_per_rig=poses_per_rig, lr=lr, warmup=warmup, threads=threads, device=device,
                         seed=seed, log_every=50, checkpoint_every=500,
                         init_from=init_from)
    try:
        run = run_training(config)
    except (VipsError, FileNotFoundError) as exc:
        fail(str(exc))
    typer.echo(f"trained {run}")


@app.command("eval")
def evaluate(
    out: Path = typer.Option(..., "--out", help="Report folder: report.json and PNG plots."),
    model: Optional[Path] = typer.Option(None, help="Model folder (default: the model shipped with vips)."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="A dataset from `vips dataset build`: its procedural species and real clip families "
        "of --split."),
    assets: list[str] = typer.Option(
        [], "--assets", help="Animated assets to evaluate on too, each its own real-motion family (repeatable)."),
    split: str = typer.Option("test", help="Dataset split: test (held-out species) or val."),
    max_rigs: int = typer.Option(12, help="Held-out individuals to evaluate, spread over body plans."),
    samples: int = typer.Option(128, help=f"Samples per rig (1-{MAX_POSES})."),
    steps: int = typer.Option(30, help=f"DDIM steps per sample (1-{MAX_STEPS})."),
    seed: int = typer.Option(0, help=f"Seed of samples and corruptions ({SEED_HELP})."),
    frames_per_clip: int = typer.Option(
        40, "--frames-per-clip", min=1, help="Real motion: evenly spaced frames evaluated per clip."),
    cover_samples: int = typer.Option(
        256, "--cover-samples", min=1, help="Real motion: samples per rig for coverage and rest bias."),
    sheet: list[str] = typer.Option(
        [], "--sheet", metavar="ASSET", help="Write a contact sheet of 16 samples (scores on the tiles, implausible "
        "ones red) of this asset into the report folder (repeatable)."),
) -> None:
    """Evaluate a pose-space model.

    Procedural held-out species: plausibility AUROC per corruption, 1-NNA, COV, MMD, APD, self-intersection,
    against baselines (per-joint Gaussian, nearest neighbour, uniform in joint limits) fitted to the training
    poses of species with the same skeleton; a second draw of held-out poses ("heldout_data") shows each
    metric's floor.

    Real motion ("real motion" in report.json, real_*.png): the dataset's real clip families of --split (rigs
    never trained on) and each --assets file. On --frames-per-clip frames per clip: the share flagged plausible;
    per corruption (turned_joints: 2-3 joints turned 90-120 deg; twist, random_rotation, hyperextension,
    through_body) the share caught and the AUROC of real against corrupted; coverage (a frame is covered by one
    of --cover-samples samples within a mean joint distance of 8 % of the height, joints relative to the body
    joint and facing one way); rest bias (samples' median distance from the rest pose over the real frames').
    Targets: plausible >= 0.9, caught >= 0.9, AUROC >= 0.95 per family and kind; coverage >= 0.8 and rest
    bias >= 0.7 per clip."""
    from vips.evaluation.run_model import evaluate_model
    from vips.examples import resolve

    try:
        check_int(samples, "--samples", 1, MAX_POSES)
        check_int(steps, "--steps", 1, MAX_STEPS)
        check_seed(seed)
        report = evaluate_model(model, data, [resolve(a) for a in assets], out, split, max_rigs, samples, steps,
                                seed, progress=lambda msg: typer.echo(msg, err=True),
                                frames_per_clip=frames_per_clip, cover_samples=cover_samples,
                                sheets=[resolve(a) for a in sheet])
    except VipsError as exc:
        fail(str(exc))
    summary = {k: report[k] for k in ("aggregate", "targets") if k in report}
    if "real motion" in report:
        real = report["real motion"]
        summary["real motion"] = {"mean": real["mean"], "groups": {g: v["families"] for g, v in real["groups"].items()},
                                  "targets": real["targets"]}
    if "sheets" in report:
        summary["sheets"] = {r["file"]: f"{r['plausible']} of {r['samples']} plausible" for r in report["sheets"]}
    typer.echo(json.dumps(summary, indent=1, default=float))


@app.command()
def bench(
    quick: bool = typer.Option(False, "--quick", help="Smaller sizes and fewer repeats (about a minute)."),
    only: Optional[str] = typer.Option(None, help="Comma-separated suites to run (default: all)."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Also write the results to this JSON file."),
) -> None:
    """Benchmark the native kernels side by side with their peers (scipy cKDTree, numpy, torch) and print ratios."""
    from vips.bench import SUITES, run_suites
    from vips.io.atomic import check_outputs, write_bytes_atomic

    try:
        check_outputs({"--json": as_json})
    except VipsError as exc:
        fail(str(exc))
    names = [n.strip() for n in only.split(",")] if only else None
    try:
        results = run_suites(names, quick)
    except ValueError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"a benchmark peer is not installed ({exc.name}); pip install 'vips-runtime[train,test]' "
              f"(suites: {', '.join(SUITES)})")
    if as_json is not None:
        try:
            write_bytes_atomic(as_json, json.dumps(results, indent=2, default=float).encode())
        except VipsError as exc:
            fail(str(exc))


@app.command("usd-plugin-path")
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


@app.command()
def examples() -> None:
    """List the example assets shipped with vips (use them as example:NAME)."""
    from vips.examples import list_examples

    for name, path in list_examples().items():
        typer.echo(f"example:{name}\t{path}")


# Pose-space commands (python/vips/cli_runtime.py).
from vips import cli_runtime as _rt  # noqa: E402 - registered after the core commands

app.command("sample")(_rt.sample_command)
app.command("interpolate")(_rt.interpolate_command)
app.command("animate")(_rt.animate_command)
app.command("ik")(_rt.ik_command)
app.command("score")(_rt.score_command)
app.command("limits")(_rt.limits_command)
app.command("keyframes")(_rt.keyframes_command)
app.command("export-onnx")(_rt.export_onnx_command)

# Pose fitting to per-frame meshes (python/vips/cli_fit.py).
from vips.cli_fit import fit_command  # noqa: E402

app.command("fit")(fit_command)

# Asset-library batch processing (python/vips/cli_batch.py).
from vips.cli_batch import batch_command  # noqa: E402

app.command("batch")(batch_command)


def main() -> None:
    """Entry point of the ``vips`` script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
