"""Atomic file output: write to a temporary file beside the target, rename over it only on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vips.errors import AssetError


def _default_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give: mkstemp's 0600 is not what users expect."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder with the target's suffix; rename it onto ``target``
    when the block succeeds, delete it when the block raises. A failed write never leaves half a file,
    and an existing file at ``target`` is kept untouched until the new one is complete.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise AssetError(f"{target}: the output folder {folder} does not exist")
    # The suffix is kept because some writers (USD) pick the file format from it.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
