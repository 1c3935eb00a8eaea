"""Where batch jobs run: a local process pool (the machine's cores, bounded memory) or Ray tasks.

Both run :func:`vips.batch.jobs.run_asset` through :mod:`vips.parallel` and yield ``(asset, entry or
exception)``, so the runner and the report do not know which engine ran.

Memory on the local engine is bounded twice: before loading, an asset whose input files exceed
``max_input_mb`` fails with that reason; while it runs, each worker has an address-space limit
(``RLIMIT_AS``, default an equal share of 90 % of the machine's memory), so an asset that still needs
too much fails with ``MemoryError`` in its own worker instead of the kernel's OOM killer picking a victim.
On Ray, the input-size check applies and memory is Ray's business (its memory monitor kills the task,
which is then reported failed); the address-space limit is not set, because Ray reuses worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from vips.batch.jobs import CRASH_ENV, BatchSettings, run_asset
from vips.errors import VipsError
from vips.io.discover import Asset
from vips.parallel import run_local, run_ray

ENGINES = ("local", "ray")


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_memory_limit(workers: int) -> int | None:
    """An equal share of 90 % of the machine's memory per worker, at least 4 GiB (None when unknown)."""
    total = machine_memory()
    return max(int(0.9 * total / max(workers, 1)), 4 * 2**30) if total else None


def run_jobs(assets: list[Asset], out_dir: str, settings: BatchSettings, engine: str = "local",
             workers: int | None = None, memory_limit: int | None = None, timeout: float | None = None,
             ) -> Iterator[tuple[Asset, object]]:
    """Run every asset's job on ``engine``; yields ``(asset, entry dict or exception)`` as jobs finish.

    Args:
        workers: local worker processes (default: the machine's cores).
        memory_limit: bytes per local worker; None picks :func:`default_memory_limit`, 0 disables it.
        timeout: seconds one asset may take on the local engine before its worker is stopped.
    """
    if not assets:
        return iter(())
    args = (str(out_dir), settings, os.environ.get(CRASH_ENV) or None)
    if engine == "local":
        count = max(1, min(workers or os.cpu_count() or 1, len(assets)))
        limit = default_memory_limit(count) if memory_limit is None else (memory_limit or None)
        return run_local(run_asset, assets, args, workers=count, memory_limit=limit, timeout=timeout)
    if engine == "ray":
        return run_ray(run_asset, assets, args, retries=0)
    raise VipsError(f"unknown engine '{engine}': use one of {', '.join(ENGINES)}")
