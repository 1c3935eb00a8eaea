"""Finding the rigged assets of a library folder.

What counts as one asset:

- a glTF file (``.glb``, ``.gltf``; the buffers a ``.gltf`` names are part of its input);
- a USD file (``.usd``, ``.usda``, ``.usdc``);
- a RigNet rig text file (``.txt`` whose content is RigNet's ``joints``/``root``/``hier``/``skin`` lines) with
  its ``.obj`` mesh: the pair is one asset, named by the rig file, and the ``.obj`` is not listed again;
- a BVH file, as a skeleton-only asset: its skeleton gets a pose set like any rig (no mesh, so the outputs
  hold the skeleton only and proxies draw bones); its motion clip is not used.

Everything else is ignored and listed as such in the report: ``.txt`` files that are not RigNet rigs,
``.obj`` meshes without a rig file, images, documents. Hidden files and folders (``.name``) are not
searched. A file with an asset suffix that turns out to be corrupt is still an asset: it fails with a reason.

Discovery stays inside the library and never blocks: symlinked folders are not followed; a symlinked file
counts only when it points to a regular file inside the library; FIFOs, devices and sockets are listed as
ignored without being opened (whatever their suffix); a .gltf's buffers and images count only when they are
regular files inside its folder (:func:`vips.io.guard.resolve_reference`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vips.errors import AssetError
from vips.io.guard import MAX_BINARY_BYTES, MAX_TEXT_BYTES, open_asset, read_asset, resolve_reference

GLTF_SUFFIXES = (".glb", ".gltf")
USD_SUFFIXES = (".usd", ".usda", ".usdc")
RIG_SUFFIXES = GLTF_SUFFIXES + USD_SUFFIXES + (".bvh", ".txt")
RIGNET_KEYWORDS = {"joints", "root", "hier", "skin"}


@dataclass(frozen=True)
class Asset:
    """One asset of a library.

    Attributes:
        rel: the main file's path relative to the library, with '/' separators; names the asset and its
            output folder.
        kind: 'gltf', 'usd', 'rignet' or 'bvh'.
        files: every input file, main file first, as absolute paths (a RigNet pair: rig text, then mesh).
    """

    rel: str
    kind: str
    files: tuple[str, ...]

    @property
    def path(self) -> str:
        """The main file, the one :func:`vips.load` reads."""
        return self.files[0]

    def input_bytes(self) -> int:
        return sum(os.path.getsize(f) for f in self.files if os.path.isfile(f))

    def content_hash(self) -> str:
        """sha256 over every input file's relative name and bytes; unreadable files (and files that are no
        longer regular, which are never opened) hash as missing."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(os.path.basename(f).encode() + b"\0")
            try:
                fh, _ = open_asset(Path(f))
                with fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
            except (OSError, AssetError):
                h.update(b"<missing>")
            h.update(b"\0")
        return h.hexdigest()


def is_rignet_text(path: Path) -> bool:
    """Whether a .txt file holds RigNet rig lines (the same test :func:`vips.io.sniff_format` makes); False for
    anything but a readable regular file, which is never opened."""
    try:
        head = read_asset(path, MAX_TEXT_BYTES, head=4096).decode("utf-8", errors="replace")
    except AssetError:
        return False
    words = {line.split(maxsplit=1)[0] for line in head.splitlines()[:50] if line.split()}
    return bool(words & RIGNET_KEYWORDS)


def gltf_buffers(path: Path) -> list[Path]:
    """External files a .gltf names (buffers, images) that are regular files inside its folder: they change
    the asset too. References that leave the folder, name FIFOs or devices, or are missing are left out (the
    reader refuses the asset with the reason)."""
    try:
        doc = json.loads(read_asset(path, MAX_BINARY_BYTES).decode("utf-8"))
        items = doc.get("buffers", []) + doc.get("images", [])
    except (AssetError, ValueError, TypeError, AttributeError, RecursionError):
        return []
    out = []
    for item in items:
        uri = item.get("uri") if isinstance(item, dict) else None
        if isinstance(uri, str) and uri and not uri.startswith("data:"):
            try:
                found = resolve_reference(path, uri, "a buffer or image", must_exist=False)
            except AssetError:
                continue
            if found is not None:
                out.append(found)
    return out


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (found under ``root`` without following links) is a regular file, or a symlink to a
    regular file inside ``root``, so reading it neither leaves the library nor blocks."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if os.path.commonpath([str(root), target]) != str(root):
                return False
            info = os.stat(target)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(info.st_mode)


def discover(library: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None,
             ) -> tuple[list[Asset], list[str]]:
    """Every asset under ``library``, sorted by relative path, and the relative paths of ignored files.

    ``exclude``: a folder not to search (the output folder, when it lies inside the library).
    """
    from vips.io.rignet import rignet_pair

    root = Path(library).resolve()
    skip = Path(exclude).resolve() if exclude is not None else None
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or here / d != skip))
        files.extend(here / n for n in sorted(names) if not n.startswith("."))
    assets: list[Asset] = []
    claimed: set[Path] = set()
    ignored: list[Path] = []
    for path in files:
        suffix = path.suffix.lower()
        rel = path.relative_to(root).as_posix()
        if not _inside(path, root):
            ignored.append(path)
        elif suffix in GLTF_SUFFIXES:
            extra = gltf_buffers(path) if suffix == ".gltf" else []
            assets.append(Asset(rel, "gltf", (str(path), *map(str, extra))))
        elif suffix in USD_SUFFIXES:
            assets.append(Asset(rel, "usd", (str(path),)))
        elif suffix == ".bvh":
            assets.append(Asset(rel, "bvh", (str(path),)))
        elif suffix == ".txt" and is_rignet_text(path):
            try:
                _, mesh, _ = rignet_pair(path)
            except AssetError:  # its mesh is a link out of the folder or not a file: loading says so
                mesh = None
            if mesh is not None:
                claimed.add(mesh.resolve())
            assets.append(Asset(rel, "rignet", (str(path),) + ((str(mesh.resolve()),) if mesh else ())))
        else:
            ignored.append(path)
    ignored_rel = [p.relative_to(root).as_posix() for p in ignored if _resolved(p) not in claimed]
    return sorted(assets, key=lambda a: a.rel), ignored_rel


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path
