"""Running a batch over a library: lock the output folder, discover, skip what an earlier run finished, run the
rest, report.

An interrupt (Ctrl-C, or SIGTERM under :func:`vips.parallel.signals_interrupt`) stops the workers, removes what
unfinished assets left behind, writes the report of what finished (``interrupted`` names the signal and the
unfinished assets) and raises :class:`BatchInterrupted` carrying that report.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vips.batch.engines import run_jobs
from vips.batch.jobs import RECORD, BatchSettings, clear_leftovers, finished_record, output_dir, remove_stale
from vips.batch.lock import describe_holder, locked_output
from vips.batch.report import build_report, failed_entry, skipped_entry, write_report
from vips.errors import VipsError
from vips.io.atomic import make_output_folder
from vips.io.discover import discover
from vips.parallel import describe_failure, interrupt_signal

MODEL_FILE_SUFFIXES = (".onnx", ".json", ".safetensors")


class BatchInterrupted(KeyboardInterrupt):
    """A batch run was interrupted; ``report`` is what finished (also written as report.json), ``signum`` the
    signal."""

    def __init__(self, report: dict[str, Any], signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.report = report
        self.signum = signum


def check_model(model: str | os.PathLike[str] | None) -> None:
    """Load the model folder's description and graphs once in the parent, so a missing or broken model is one
    error before any asset starts instead of the same failure for every asset."""
    from vips.posespace import default_model_dir
    from vips.runtime.model_dir import read_model_dir
    from vips.runtime.onnx_backend import OnnxDenoiser

    info = read_model_dir(model if model is not None else default_model_dir())
    OnnxDenoiser(info.encoder_path, info.denoiser_path, providers=["CPUExecutionProvider"], threads=1)


def _check_folders(library: Path, out: Path) -> None:
    if not library.is_dir():
        raise VipsError(f"{library}: no such library folder")
    if out == library or out in library.parents:
        raise VipsError(f"--out {out}: is the library folder or a folder above it; the outputs would mix with the "
                        "assets (an output folder inside the library is fine: it is not searched)")
    make_output_folder(out, "--out")


def model_identity(model: str | os.PathLike[str] | None) -> str:
    """A short content hash of the model folder's files (the default model's folder when ``model`` is None),
    so a retrained model re-does every asset while a moved folder does not. Raises :class:`VipsError` when
    there is no model, before any asset is started."""
    if model is None:
        from vips.posespace import default_model_dir

        folder = default_model_dir()
    else:
        folder = Path(model)
        if not folder.is_dir():
            raise VipsError(f"{model}: no such model folder")
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in MODEL_FILE_SUFFIXES):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_batch(
    library: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: BatchSettings = BatchSettings(),
    engine: str = "local",
    workers: int | None = None,
    memory_limit: int | None = None,
    timeout: float | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Process every asset of ``library`` into ``out_dir``; returns the report (also written as
    ``report.json`` and ``report.html`` in ``out_dir``).

    Assets finished by an earlier run with the same inputs and settings are skipped; failed or changed ones
    are re-done. A failing asset is listed with its reason and never stops the run. The run holds the lock of
    ``out_dir`` (:mod:`vips.batch.lock`): a second run on the same folder raises
    :class:`vips.batch.lock.OutputLocked` naming the holder. An interrupt raises :class:`BatchInterrupted` after
    the report of what finished is written (module docstring).

    Args:
        engine: "local" (process pool) or "ray" (``RAY_ADDRESS``, else a local cluster).
        workers, memory_limit, timeout: local engine only; see :func:`vips.batch.engines.run_jobs`.
        progress: called as ``progress(done, total, asset path)`` after each asset.
    """
    started = time.perf_counter()
    library, out = Path(library).resolve(), Path(out_dir).resolve()
    _check_folders(library, out)
    with locked_output(out) as stale:
        return _run_locked(library, out, settings, engine, workers, memory_limit, timeout, progress, started, stale)


def _run_locked(library: Path, out: Path, settings: BatchSettings, engine: str, workers: int | None,
                memory_limit: int | None, timeout: float | None, progress: Callable[[int, int, str], None] | None,
                started: float, stale: dict[str, Any]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    assets: list = []
    ignored: list[str] = []
    interrupted: KeyboardInterrupt | None = None
    jobs = None
    try:
        if not settings.model_id:
            settings = replace(settings, model_id=model_identity(settings.model))
        if settings.backend == "onnx":
            check_model(settings.model)
        assets, ignored = discover(library, exclude=out)
        todo = []
        for asset in assets:
            record = finished_record(asset, out, settings)
            if record is not None:
                entries.append(skipped_entry(record))
            else:
                todo.append(asset)
        if progress:
            progress(len(entries), len(assets), "")
        jobs = run_jobs(todo, str(out), settings, engine, workers, memory_limit, timeout)
        for asset, result in jobs:
            if isinstance(result, BaseException):
                entries.append(failed_entry(asset, describe_failure(result)))
                remove_stale(out, asset.rel)
            else:
                entries.append({k: v for k, v in result.items() if k != "format"})
            if progress:
                progress(len(entries), len(assets), asset.rel)
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        if hasattr(jobs, "close"):
            jobs.close()  # stops the workers still running (an interrupt or an error)
    stop = None
    if interrupted is not None:
        entries += _finished_in_flight(assets, entries, out, settings)
        finished = {e["path"] for e in entries}
        stop = {"signal": signal.Signals(interrupt_signal(interrupted)).name,
                "unfinished": [a.rel for a in assets if a.rel not in finished]}
        for rel in stop["unfinished"]:
            clear_leftovers(output_dir(out, rel))
    meta = {**_meta(library, out, engine, settings, started, entries), "interrupted": stop}
    if stale:
        meta["took_over_lock_of"] = describe_holder(stale)
    report = build_report(entries, ignored, meta)
    write_report(out, report)
    if interrupted is not None:
        raise BatchInterrupted(report, interrupt_signal(interrupted)) from None
    return report


def _finished_in_flight(assets: list, entries: list[dict[str, Any]], out: Path,
                        settings: BatchSettings) -> list[dict[str, Any]]:
    """Entries of the assets whose job completed its outputs and record just before an interrupt stopped its
    worker (so the parent never heard of it): they are done, and the report says so."""
    known = {e["path"] for e in entries}
    found = []
    for asset in assets:
        if asset.rel not in known and (output_dir(out, asset.rel) / RECORD).is_file():
            record = finished_record(asset, out, settings)
            if record is not None:
                found.append({k: v for k, v in record.items() if k != "format"})
    return found


def _meta(library: Path, out: Path, engine: str, settings: BatchSettings, started: float,
          entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's run description; throughput counts the assets processed in this run (done or failed),
    never the skipped ones."""
    seconds = time.perf_counter() - started
    processed = sum(e["status"] != "skipped" for e in entries)
    return {
        "library": str(library),
        "out": str(out),
        "engine": engine,
        "settings": {k: v for k, v in asdict(settings).items()},
        "settings_digest": settings.digest(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "processed": processed,
        "assets_per_minute": round(60.0 * processed / seconds, 2) if processed else None,
    }
