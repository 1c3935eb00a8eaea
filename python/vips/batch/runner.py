"""Running a batch over a library: discover, skip what an earlier run finished, run the rest, report."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vips.batch.discover import discover
from vips.batch.engines import run_jobs
from vips.batch.jobs import BatchSettings, finished_record, remove_stale
from vips.batch.report import build_report, failed_entry, skipped_entry, write_report
from vips.errors import VipsError
from vips.parallel import describe_failure

MODEL_FILE_SUFFIXES = (".onnx", ".json", ".safetensors")


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
    are re-done. A failing asset is listed with its reason and never stops the run.

    Args:
        engine: "local" (process pool) or "ray" (``RAY_ADDRESS``, else a local cluster).
        workers, memory_limit, timeout: local engine only; see :func:`vips.batch.engines.run_jobs`.
        progress: called as ``progress(done, total, asset path)`` after each asset.
    """
    started = time.perf_counter()
    library, out = Path(library).resolve(), Path(out_dir).resolve()
    if not library.is_dir():
        raise VipsError(f"{library}: no such library folder")
    out.mkdir(parents=True, exist_ok=True)
    if not settings.model_id:
        settings = replace(settings, model_id=model_identity(settings.model))
    assets, ignored = discover(library, exclude=out)
    entries: list[dict[str, Any]] = []
    todo = []
    for asset in assets:
        record = finished_record(asset, out, settings)
        if record is not None:
            entries.append(skipped_entry(record))
        else:
            todo.append(asset)
    if progress:
        progress(len(entries), len(assets), "")
    for asset, result in run_jobs(todo, str(out), settings, engine, workers, memory_limit, timeout):
        if isinstance(result, BaseException):
            entries.append(failed_entry(asset, describe_failure(result)))
            remove_stale(out, asset.rel)
        else:
            entries.append({k: v for k, v in result.items() if k != "format"})
        if progress:
            progress(len(entries), len(assets), asset.rel)
    seconds = time.perf_counter() - started
    processed = sum(e["status"] != "skipped" for e in entries)
    meta = {
        "library": str(library),
        "out": str(out),
        "engine": engine,
        "settings": {k: v for k, v in asdict(settings).items()},
        "settings_digest": settings.digest(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "assets_per_minute": round(60.0 * processed / seconds, 2) if processed else None,
    }
    report = build_report(entries, ignored, meta)
    write_report(out, report)
    return report
