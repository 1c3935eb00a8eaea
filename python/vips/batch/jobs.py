"""One batch job: an asset in, its pose set and thumbnail out, in its own output folder.

:func:`run_asset` is what a worker runs (local process or Ray task). It loads and validates the asset,
samples and scores a pose set, writes every requested format into a hidden staging folder, writes the
``asset.json`` record last, and only then swaps the staging folder in as ``OUT/<relative path>/``. So an
asset's output folder is either the complete result of one run or the previous one; a killed run leaves
at most a staging folder, which the next run removes. The record holds the content hash of the inputs and
the settings digest: :func:`finished_record` tells the next run whether the asset can be skipped.

Nothing is written through a symbolic link found inside the output folder: a link on the way to an asset's
folder is replaced by a real folder, a link in the asset's place is replaced by its outputs, and a record
reached through a link never counts as finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vips.batch.outputs import THUMBNAIL, write_outputs
from vips.errors import AssetError, VipsError
from vips.io.discover import Asset

FORMATS = ("usd", "glb", "keyframes")
RECORD = "asset.json"
RECORD_FORMAT = "vips-batch-asset/1"
# Test-only fault injection: a worker processing a file of this name kills itself, as a segfault or the OOM
# killer would. Read by the driver and handed to the job, so it reaches Ray workers too.
CRASH_ENV = "VIPS_TEST_CRASH_ON"


@dataclass(frozen=True)
class BatchSettings:
    """What a batch makes per asset. Changing any field but ``model`` (its content counts, through ``model_id``)
    and ``max_input_mb`` re-does every asset.

    Attributes:
        poses: poses sampled per asset.
        formats: subset of ("usd", "glb", "keyframes").
        seed: batch seed; each asset's sampling seed comes from it and the asset's relative path, so results
            do not depend on which worker ran the asset or in what order.
        steps: DDIM steps per sample.
        model: model folder (None: the default model, ``$VIPS_MODEL`` or the one shipped in the package).
        model_id: content identity of the model (filled in by :func:`vips.batch.run_batch`).
        backend: "onnx" or "torch".
        thumbnail: thumbnail size in pixels (square).
        keyframe_size: keyframe proxy renders' size in pixels (square).
        max_input_mb: assets whose input files are larger fail before loading (not part of the digest).
    """

    poses: int = 64
    formats: tuple[str, ...] = FORMATS
    seed: int = 0
    steps: int = 50
    model: str | None = None
    model_id: str = ""
    backend: str = "onnx"
    thumbnail: int = 256
    keyframe_size: int = 512
    max_input_mb: float = 512.0

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise VipsError(f"unknown output format(s) {', '.join(unknown) or '(none given)'}: "
                            f"choose from {', '.join(FORMATS)}")
        if self.poses < 1:
            raise VipsError(f"--poses must be at least 1, got {self.poses}")

    def digest(self) -> str:
        """Identity of everything that shapes the outputs (the model folder's path is left out: its content
        is in ``model_id``; the limits are left out: they decide whether an asset runs, not what it gives)."""
        from vips import __version__

        fields = asdict(self)
        for volatile in ("model", "max_input_mb"):
            fields.pop(volatile)
        fields["formats"] = sorted(self.formats)
        fields["vips"] = __version__
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def asset_seed(settings: BatchSettings, rel: str) -> int:
    """The sampling seed of one asset: from the batch seed and the asset's relative path."""
    return int.from_bytes(hashlib.sha256(f"{settings.seed}/{rel}".encode()).digest()[:4], "little")


def output_dir(out_dir: str | os.PathLike[str], rel: str) -> Path:
    """``OUT/<relative path of the asset's main file>/`` (the file name stays in, so a.glb and a.usda of one
    folder do not collide)."""
    return Path(out_dir) / rel


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finished_record(asset: Asset, out_dir: str | os.PathLike[str], settings: BatchSettings,
                    input_hash: str | None = None) -> dict | None:
    """The asset's record from an earlier run when it can be skipped (same inputs, same settings, every
    output still there with its size), else None."""
    folder = output_dir(out_dir, asset.rel)
    if _linked(Path(out_dir), folder / RECORD):
        return None
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if record.get("format") != RECORD_FORMAT or record.get("settings") != settings.digest():
        return None
    if record.get("input_hash") != (input_hash or asset.content_hash()):
        return None
    for item in record.get("outputs", []):
        f = Path(out_dir) / item["path"]
        if not f.is_file() or f.stat().st_size != item["bytes"]:
            return None
    return record


def _staging_paths(target: Path) -> tuple[Path, Path]:
    return target.parent / f".{target.name}.staging", target.parent / f".{target.name}.old"


def _linked(out_dir: Path, path: Path) -> bool:
    """Whether ``path`` (inside ``out_dir``) or a folder between them is a symbolic link."""
    current = out_dir
    for part in path.relative_to(out_dir).parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


def _remove(path: Path) -> None:
    """Remove a folder tree, or only the link or file when ``path`` is one (never what a link points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _real_folder(out_dir: Path, folder: Path) -> None:
    """Create ``folder`` inside ``out_dir`` with its parents, replacing any symbolic link on the way by a real
    folder, so nothing is written outside ``out_dir`` through a link planted in it."""
    current = out_dir
    for part in folder.relative_to(out_dir).parts:
        current = current / part
        if current.is_symlink():
            current.unlink()
        if current.exists() and not current.is_dir():
            raise AssetError(f"{current}: a file stands where the output folder should be; move it away")
        current.mkdir(exist_ok=True)


def clear_leftovers(target: Path) -> None:
    """Remove what a killed run may have left beside an asset's output folder."""
    for leftover in _staging_paths(target):
        _remove(leftover)


def remove_stale(out_dir: str | os.PathLike[str], rel: str) -> None:
    """Remove an asset's output folder from an earlier run (only a folder that holds our record, or a link in
    its place), used when the asset was re-done and failed: its old outputs no longer match its inputs or
    settings."""
    target = output_dir(out_dir, rel)
    clear_leftovers(target)
    if target.is_symlink() or (target / RECORD).is_file():
        _remove(target)


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging``: two renames, so the folder is always one run's complete outputs
    (a kill between them leaves no folder, and the asset is re-done). A link at ``target`` is replaced."""
    _, old = _staging_paths(target)
    if os.path.lexists(target):
        os.replace(target, old)
    os.replace(staging, target)
    _remove(old)


def _check_size(asset: Asset, settings: BatchSettings) -> None:
    size = asset.input_bytes()
    if size > settings.max_input_mb * 2**20:
        raise AssetError(f"{asset.path}: the input is {size / 2**20:.1f} MB, over the limit of "
                         f"{settings.max_input_mb:g} MB per asset (raise it with --max-input-mb)")


def run_asset(asset: Asset, out_dir: str, settings: BatchSettings, crash_on: str | None = None) -> dict[str, Any]:
    """Process one asset into ``OUT/<rel>/``. Returns its report entry (also written as ``asset.json``).

    Raises :class:`vips.errors.VipsError` (or anything else) when the asset fails; the caller reports it.
    """
    if crash_on and Path(asset.path).name == crash_on:
        os.kill(os.getpid(), signal.SIGKILL)
    started = time.perf_counter()
    input_hash = asset.content_hash()
    _check_size(asset, settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return _process(asset, out_dir, settings, started, input_hash, caught)


def _process(asset: Asset, out_dir: str, settings: BatchSettings, started: float, input_hash: str,
             caught: list) -> dict[str, Any]:
    import vips
    from vips.posespace import PoseSpace

    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    rig = vips.load(asset.path)
    t = lap("load", started)
    # One ONNX Runtime thread: the pool (or Ray) already runs one job per core; this also makes the numbers
    # independent of the machine's core count, so every engine writes the same bytes.
    space = PoseSpace(rig, model=settings.model, backend=settings.backend, threads=1)
    seed = asset_seed(settings, asset.rel)
    poses = space.sample(settings.poses, seed=seed, steps=settings.steps)
    t = lap("sample", t)
    scores, plausible = space.score(poses)
    t = lap("score", t)

    target = output_dir(out_dir, asset.rel)
    _real_folder(Path(out_dir), target.parent)
    clear_leftovers(target)
    staging, _ = _staging_paths(target)
    staging.mkdir()
    try:
        write_outputs(rig, poses, scores, plausible, seed, staging, settings, space)
        t = lap("write", t)
        entry = {
            "format": RECORD_FORMAT,
            "path": asset.rel,
            "kind": asset.kind,
            "status": "done",
            "input_hash": input_hash,
            "settings": settings.digest(),
            "seed": seed,
            "counts": {
                "joints": rig.num_joints,
                "vertices": rig.num_vertices,
                "poses": len(poses),
                "plausible": int(sum(bool(p) for p in plausible)),
            },
            "warnings": sorted({str(w.message) for w in caught}),
            "outputs": _listing(staging, Path(out_dir), target),
            "thumbnail": f"{asset.rel}/{THUMBNAIL}",
        }
        entry["timings"] = {**timings, "total": round(time.perf_counter() - started, 3)}
        from vips.io.atomic import write_bytes_atomic

        write_bytes_atomic(staging / RECORD, json.dumps(entry, indent=1).encode())
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return entry


def _listing(staging: Path, out_dir: Path, target: Path) -> list[dict[str, Any]]:
    """Every file written for the asset: path relative to OUT (as it will be after the swap), size, sha256."""
    items = []
    for f in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = (target / f.relative_to(staging)).relative_to(out_dir).as_posix()
        items.append({"path": rel, "bytes": f.stat().st_size, "sha256": file_sha256(f)})
    return items
