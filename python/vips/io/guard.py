"""Reading files nobody vetted: the checks every reader makes before it reads, each in one place.

- **The asset itself** (:func:`read_asset`, :func:`check_asset`) must be a regular file. A FIFO, a device or a
  socket given as an asset is refused from ``stat`` before it is opened (opening a FIFO blocks; ``/dev/zero``
  never ends); the file is then opened non-blocking and checked again, so it cannot be swapped in between.
  Symlinks naming the asset are followed: the user named it.
- **Files an asset refers to** (glTF buffer and image URIs, the other half of a RigNet pair) must resolve,
  percent-decoded and with symlinks followed, to a regular file inside the asset's folder
  (:func:`resolve_reference`, :func:`read_reference`). URIs with a scheme (``file:``, ``http:``), absolute
  paths, ``..`` escapes and symlinks that leave the folder are refused with an :class:`AssetError` naming the
  asset and the URI, before anything is read from the target, so no message can quote what it holds.
- **Sizes** read from a file are checked against the bytes present before anything is allocated; what bytes
  cannot bound has a documented cap:

  ================================ ===========================================================================
  :data:`MAX_TEXT_BYTES`           a text asset (BVH, RigNet rig, OBJ): 256 MiB, far above real files, and
                                   below what splitting it into Python lines costs in memory several times
  :data:`MAX_BINARY_BYTES`         a .glb / .gltf file, one glTF buffer, a ``data:`` URI's decoded bytes: 2 GiB
  :data:`MAX_JOINT_FRAMES`         frames x joints of a file's animation clips, all together: 2^22 (100 joints
                                   x 41,943 frames, 11.6 minutes at 60 fps), so their work arrays stay under ~2 GB
  :data:`MAX_MESH_VERTICES`        skinned vertices of one asset, every mesh together: 2^24 (16.7 million); a
                                   file can list one stored mesh many times, so its bytes do not bound this
  :data:`MIN_FRAME_TIME`,          how long one animation frame may last: 0.1 ms to one hour
  :data:`MAX_FRAME_TIME`
  ================================ ===========================================================================
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import urllib.parse
from pathlib import Path
from typing import BinaryIO, Callable

from vips.errors import AssetError

MAX_TEXT_BYTES = 256 << 20
MAX_BINARY_BYTES = 2 << 30
MAX_JOINT_FRAMES = 1 << 22
MAX_MESH_VERTICES = 1 << 24
# How long one frame of an animation may last, in seconds (10 kHz to one frame an hour): outside this a file's
# frame rate is corrupt, and writing it back would give a rate no format or player keeps (a BVH Frame Time of
# 1e-300 s is 1e300 time codes per second).
MIN_FRAME_TIME = 1e-4
MAX_FRAME_TIME = 3600.0

Fail = Callable[[str], AssetError]  # builds the error for a reason ("is a FIFO (named pipe), not a regular file")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def shown(text: str, limit: int = 120) -> str:
    """``text`` quoted for an error message: control characters escaped, cut to ``limit`` characters."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def _kind(mode: int) -> str | None:
    """What a non-regular file is ('a FIFO (named pipe)', ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


# ----- the asset itself ----------------------------------------------------------------------------------
def check_asset(path: Path) -> os.stat_result:
    """``stat`` of the asset ``path``; AssetError naming it unless it is an existing regular file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AssetError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        reason = _strerror(exc) if isinstance(exc, OSError) else "an invalid path"
        raise AssetError(f"{path}: cannot be read ({reason})") from None
    kind = _kind(info.st_mode)
    if kind == "a folder":
        raise AssetError(f"{path}: is a folder, not an asset file")
    if kind is not None:
        raise AssetError(f"{path}: is {kind}, not an asset file; give a regular file")
    return info


def open_regular(path: str | Path, fail: Fail, flags: int = 0) -> tuple[BinaryIO, int]:
    """(binary file object, size in bytes) of ``path`` opened read-only and non-blocking (plus ``flags``), and
    checked to be a regular file once open, so nothing read from it can block. ``fail(reason)`` builds the
    error raised when it cannot be opened or is not a regular file."""
    flags |= os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot be read ({_strerror(exc) if isinstance(exc, OSError) else 'an invalid path'})") from None
    info = os.fstat(fd)
    kind = _kind(info.st_mode)
    if kind is not None:
        os.close(fd)
        raise fail(f"is {kind}, not a regular file")
    return os.fdopen(fd, "rb"), info.st_size


def _read(fh: BinaryIO, count: int, fail: Fail) -> bytes:
    """Up to ``count`` bytes of ``fh`` (fewer only at the end of the file); closes it."""
    with fh:
        try:
            return fh.read(count)
        except OSError as exc:
            raise fail(f"cannot be read ({_strerror(exc)})") from None


def open_asset(path: Path) -> tuple[BinaryIO, int]:
    """(binary file object, size) of the asset ``path``: AssetError naming it unless it is a regular file,
    refused from ``stat`` before it is opened and checked again once open (see :func:`open_regular`)."""
    check_asset(path)
    return open_regular(path, lambda reason: AssetError(f"{path}: {reason}"))


def read_asset(path: Path, limit: int, head: int | None = None) -> bytes:
    """The bytes of the asset ``path`` (the first ``head`` bytes when given), refusing non-regular files
    before opening them and files larger than ``limit`` bytes before reading them."""
    fh, size = open_asset(path)
    if head is None and size > limit:
        fh.close()
        raise AssetError(f"{path}: the file has {size} bytes, more than the {limit >> 20} MiB this reader takes")
    return _read(fh, size if head is None else min(head, size), lambda reason: AssetError(f"{path}: {reason}"))


# ----- files an asset refers to --------------------------------------------------------------------------
def resolve_reference(asset: Path, uri: str, what: str, must_exist: bool = True) -> Path | None:
    """The file that ``uri`` (a relative, percent-encoded reference in ``asset``, e.g. a glTF buffer URI)
    names, checked by :func:`resolve_inside` once decoded; URIs with a scheme (``file:``, ``http:``) are
    refused with an :class:`AssetError` naming ``asset``, ``what`` and the URI. Nothing is opened."""
    if _SCHEME.match(uri):
        scheme = uri.split(":", 1)[0].lower()
        raise AssetError(
            f"{asset}: {what} refers to {shown(uri)}, a '{scheme}:' URI; only files beside the asset (relative "
            "paths) are read"
        )
    relative = urllib.parse.unquote(uri.split("#", 1)[0].split("?", 1)[0])
    return resolve_inside(asset, relative, what, must_exist, uri)


def resolve_inside(asset: Path, relative: str, what: str, must_exist: bool = True,
                   uri: str | None = None) -> Path | None:
    """The regular file that the path ``relative`` (from ``asset``'s folder) names, symlinks resolved, when it
    lies inside ``asset``'s folder.

    Refused with an :class:`AssetError` naming ``asset``, ``what`` and the reference (``uri`` as written, else
    ``relative``): absolute paths, paths that leave the folder (``..``, symlinks pointing out) and targets that
    are not regular files (FIFOs, devices, sockets, folders). A missing target fails too, unless
    ``must_exist`` is False: then it returns None. Nothing is opened.
    """
    prefix = f"{asset}: {what} refers to {shown(relative if uri is None else uri)}"
    if "\0" in relative or not relative:
        raise AssetError(f"{prefix}, which is not a file name")
    if os.path.isabs(relative):
        raise AssetError(f"{prefix}, an absolute path; references must be relative to the asset's folder")
    here = os.path.dirname(os.path.abspath(asset))
    folder, target = os.path.realpath(here), os.path.realpath(os.path.join(here, relative))
    if os.path.commonpath([folder, target]) != folder:
        raise AssetError(
            f"{prefix}, which lies outside the asset's folder {folder}; only files inside it are read "
            "(copy the file beside the asset)"
        )
    try:
        info = os.stat(target)
    except FileNotFoundError:
        if not must_exist:
            return None
        raise AssetError(f"{prefix}, which cannot be read (no such file)") from None
    except OSError as exc:
        raise AssetError(f"{prefix}, which cannot be read ({_strerror(exc)})") from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise AssetError(f"{prefix}, which is {kind}, not a regular file")
    return Path(target)


def read_reference(asset: Path, uri: str, what: str, length: int) -> bytes:
    """The first ``length`` bytes of the file ``uri`` names (see :func:`resolve_reference`); AssetError when
    it holds fewer or ``length`` exceeds :data:`MAX_BINARY_BYTES`. Reads nothing beyond ``length``."""
    check_size(asset, f"{what} declares byteLength", length, MAX_BINARY_BYTES)
    target = resolve_reference(asset, uri, what)
    prefix = f"{asset}: {what} refers to {shown(uri)}"

    def fail(reason: str) -> AssetError:
        return AssetError(f"{prefix}, which {reason}")

    # The resolved path has no links left; O_NOFOLLOW refuses one that appeared since.
    fh, size = open_regular(target, fail, getattr(os, "O_NOFOLLOW", 0))
    if size < length:
        fh.close()
        raise AssetError(f"{prefix}, which holds {size} bytes, but {what} declares {length} (truncated?)")
    return _read(fh, length, fail)


def decode_data_uri(asset: Path, uri: str, what: str, length: int) -> bytes:
    """The first ``length`` bytes of a base64 ``data:`` URI, after checking (from the text's length, before
    decoding) that it holds at least ``length`` and at most :data:`MAX_BINARY_BYTES` bytes."""
    check_size(asset, f"{what} declares byteLength", length, MAX_BINARY_BYTES)
    header, sep, payload = uri.partition(",")
    if not sep or not header.lower().endswith(";base64"):
        raise AssetError(f"{asset}: {what} has a data URI that is not base64")
    payload = payload.strip()
    decoded = len(payload) // 4 * 3 - payload[-2:].count("=")
    if decoded > MAX_BINARY_BYTES:
        raise AssetError(f"{asset}: {what} has a data URI of {decoded} bytes, more than {MAX_BINARY_BYTES >> 20} MiB")
    if decoded < length:
        raise AssetError(f"{asset}: {what} holds {max(decoded, 0)} bytes but declares byteLength {length} (truncated?)")
    try:
        return base64.b64decode(payload, validate=True)[:length]
    except (binascii.Error, ValueError):
        raise AssetError(f"{asset}: {what} has a corrupt base64 data URI") from None


# ----- sizes ---------------------------------------------------------------------------------------------
def check_size(source: object, what: str, size: int, cap: int, unit: str = "bytes") -> None:
    """AssetError naming ``source`` when ``size`` (declared by the file: ``what``, in ``unit``) exceeds ``cap``."""
    if size > cap:
        raise AssetError(
            f"{source}: {what}: {size:,} {unit}, more than the {cap:,} this reader accepts (corrupt file?)"
        )


def check_joint_frames(source: object, clip: str, frames: int, joints: int, before: int = 0) -> None:
    """AssetError naming ``source`` when clip ``clip`` of ``frames`` frames of ``joints`` joints, with the
    ``before`` joint-frames of the file's clips read so far, exceeds :data:`MAX_JOINT_FRAMES` (checked before
    the clip's arrays are allocated)."""
    if before + frames * joints > MAX_JOINT_FRAMES:
        others = f" (with the file's other clips, {before + frames * joints})" if before else ""
        raise AssetError(
            f"{source}: clip {clip} has {frames} frames of {joints} joints{others}, more than the "
            f"{MAX_JOINT_FRAMES} joint-frames one file's clips may hold; split the clips (or cut their frame rate)"
        )


def check_frame_time(where: str, seconds: float, what: str) -> None:
    """AssetError at ``where`` unless one frame lasting ``seconds`` (``what`` says what the file wrote) is a
    finite time in [:data:`MIN_FRAME_TIME`, :data:`MAX_FRAME_TIME`]."""
    if not MIN_FRAME_TIME <= seconds <= MAX_FRAME_TIME:  # False for NaN too
        raise AssetError(
            f"{where}: {what} is not the frame rate of real motion; one frame must last between "
            f"{MIN_FRAME_TIME:g} and {MAX_FRAME_TIME:g} seconds"
        )
