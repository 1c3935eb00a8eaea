"""The lock a batch run holds on its output folder, so two runs never write into one folder at once.

The lock is ``OUT/.vips-batch.lock``, held with ``fcntl.flock`` for the whole run and holding the holder's pid,
host and start time. The kernel releases a flock when its process dies, so the lock of a killed run (kill -9, a
crash) is stale and the next run takes it over; a finished run removes the file. On platforms without
``fcntl`` (Windows) runs are not locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vips.errors import VipsError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".vips-batch.lock"


class OutputLocked(VipsError):
    """Another run holds the output folder's lock."""


def _holder(fd: int) -> dict[str, Any]:
    """What a lock file says about its holder (empty when it says nothing readable)."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(info: dict[str, Any]) -> str:
    """``pid 123 on host, started 2025-01-01T10:00:00+00:00`` (or what of it is known)."""
    who = f"pid {info.get('pid', '?')}" + (f" on {info['host']}" if info.get("host") else "")
    return who + (f", started {info['started']}" if info.get("started") else "")


def _open_locked(path: Path) -> tuple[int, dict[str, Any]]:
    """Open and lock ``path``; returns the descriptor and what the file said before (a stale holder)."""
    for _ in range(20):  # retried only while finishing runs remove the file under us
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                         0o644)
        except OSError as exc:
            raise VipsError(f"{path.parent}: cannot create the lock file {path.name} "
                            f"({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            info = _holder(fd)
            os.close(fd)
            raise OutputLocked(f"{path.parent}: another vips batch is writing into this folder "
                               f"({describe_holder(info)}); wait for it to finish or choose another --out") from None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, _holder(fd)
        os.close(fd)
    raise OutputLocked(f"{path.parent}: the lock file {path.name} keeps changing; is another vips batch starting?")


@contextlib.contextmanager
def locked_output(out_dir: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Hold the lock of ``out_dir`` (which must exist) while the block runs. Yields what the lock file said
    about an earlier holder whose run died without releasing it (empty when there was none). Raises
    :class:`OutputLocked` naming the holder's pid and start time when another run holds it."""
    if fcntl is None:
        yield {}
        return
    path = Path(out_dir) / LOCK_FILE
    fd, stale = _open_locked(path)
    try:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield stale
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
