"""Safe file output: check every output before the first is written, then write each one atomically.

- :func:`check_outputs`: before a command writes anything, each output's folder exists and is writable, no
  output is an existing folder or special file (device, FIFO, socket), none is one of the command's inputs
  (compared by resolved path and by device and inode, so symbolic and hard links count) and no two outputs
  are the same file.
- :func:`atomic_path`: write to a temporary file in the target's folder, rename it onto the target only on
  success. An existing file is untouched until the new one is complete; a symbolic link at the target is
  replaced by the new file (its target is never written through). A failed write (read-only folder, full
  disk, Ctrl-C) removes the temporary file and raises :class:`AssetError` naming the path.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from vips.errors import AssetError

PathLike = str | os.PathLike[str]


def _default_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give: mkstemp's 0600 is not what users expect."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()


def _reason(exc: OSError) -> str:
    """A short reason for an OS error: 'No space left on device', 'Permission denied'..."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _folder_of(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def check_output_location(target: PathLike, what: str = "") -> Path:
    """Check that ``target`` can be written: its folder exists and is writable, and it is not an existing
    folder or special file. Returns the folder; raises :class:`AssetError` naming ``what`` (an argument
    name such as ``-o``) and the path otherwise."""
    target = Path(target)
    label = f"{what} {target}" if what else str(target)
    folder = _folder_of(target)
    if not folder.is_dir():
        raise AssetError(f"{label}: the output folder {folder} does not exist (create it first)")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise AssetError(f"{label}: cannot be written ({_reason(exc)})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise AssetError(f"{label}: is a folder; name a file to write")
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise AssetError(f"{label}: is not a regular file (a device, FIFO or socket); refusing to replace it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AssetError(f"{label}: cannot write into the folder {folder} (permission denied or read-only)")
    return folder


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """(resolved path, (device, inode) of the file it leads to, or None when there is none)."""
    try:
        st = os.stat(path)
        ino = (st.st_dev, st.st_ino)
    except OSError:
        ino = None
    return os.path.realpath(path), ino


def check_outputs(outputs: Mapping[str, PathLike | None] | Iterable[tuple[str, PathLike | None]],
                  inputs: Iterable[PathLike] = ()) -> None:
    """Check a command's outputs before it writes the first one (see the module docstring).

    Args:
        outputs: argument name (for the message, e.g. ``-o``, ``--contact-sheet``) -> output path, as a mapping
            or ``(name, path)`` pairs; None paths (an option not given) are skipped.
        inputs: every file the command reads.
    Raises :class:`AssetError` naming the argument and the path.
    """
    sources = [(Path(p), *_identity(Path(p))) for p in inputs]
    seen: list[tuple[str, Path, str, tuple[int, int] | None]] = []
    pairs = outputs.items() if isinstance(outputs, Mapping) else outputs
    for what, path in pairs:
        if path is None:
            continue
        path = Path(path)
        check_output_location(path, what)
        real, ino = _identity(path)
        for src, src_real, src_ino in sources:
            if real == src_real or (ino is not None and ino == src_ino):
                raise AssetError(f"{what} {path}: is the input {src} (directly or through a link); writing it "
                                 "would destroy the input, so name another output file")
        for other_what, other, other_real, other_ino in seen:
            if real == other_real or (ino is not None and ino == other_ino):
                raise AssetError(f"{what} {path}: is the same file as {other_what} {other}; give each output "
                                 "its own file")
        seen.append((what, path, real, ino))


def make_output_folder(folder: PathLike, what: str = "", parents: bool = True) -> Path:
    """Create an output folder (and, with ``parents``, missing parents) unless it exists; :class:`AssetError`
    naming ``what`` and the path when it is a file or cannot be created. A symbolic link to a folder counts as
    the folder."""
    folder = Path(folder)
    label = f"{what} {folder}" if what else str(folder)
    if folder.exists() and not folder.is_dir():
        raise AssetError(f"{label}: is a file, not a folder")
    if not parents and not _folder_of(folder).is_dir():
        raise AssetError(f"{label}: the folder {_folder_of(folder)} it goes in does not exist (create it first)")
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise AssetError(f"{label}: the output folder cannot be created ({_reason(exc)})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AssetError(f"{label}: cannot write into the folder (permission denied or read-only)")
    return folder


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder with the target's suffix; rename it onto ``target``
    when the block succeeds, delete it when the block raises. A failed write never leaves half a file,
    and an existing file at ``target`` is kept untouched until the new one is complete. An ``OSError`` of
    the block (full disk, read-only folder) becomes an :class:`AssetError` naming ``target``.
    """
    target = Path(target)
    folder = check_output_location(target)
    # The suffix is kept because some writers (USD) pick the file format from it.
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=folder)
    except OSError as exc:
        raise AssetError(f"{target}: cannot write into the folder {folder} ({_reason(exc)})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise AssetError(f"{target}: cannot be written ({_reason(exc)}); nothing was written") from None
    except BaseException:
        _discard(tmp)
        raise


def write_bytes_atomic(target: PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
