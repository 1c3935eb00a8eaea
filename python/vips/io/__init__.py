"""Reading and writing rigged assets and pose sets.

:func:`load` reads glTF 2.0 (.glb / .gltf), RigNet-style rig text files (with their .obj mesh), UsdSkel
(.usd / .usda / .usdc) and BVH, choosing the reader from the file's content (its extension only breaks ties).
:func:`save` writes UsdSkel or glTF binary, atomically. Every other file format lives here too:
:mod:`vips.io.pose_set` (pose sets with their metadata, written in one pass and read in one),
:mod:`vips.io.frames` (folders of per-frame meshes: OBJ, :mod:`vips.io.ply`, :mod:`vips.io.gltf_mesh`),
:mod:`vips.io.discover` (which files of a library are assets) and :mod:`vips.io.limits_io` (joint limits).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from vips.errors import AssetError, UnsupportedFormatError
from vips.io.guard import MAX_BINARY_BYTES, read_asset

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

READ_FORMATS = ("gltf", "rignet", "usd", "bvh")
WRITE_SUFFIXES = {".usd": "usd", ".usda": "usd", ".usdc": "usd", ".glb": "gltf"}


def sniff_format(path: Path) -> str:
    """The reader for ``path``: 'gltf', 'rignet', 'usd' or 'bvh', from the first bytes of the file.

    AssetError for a missing file, a folder, or anything that is not a regular file (a FIFO or a device is
    refused before it is opened, so it never blocks)."""
    head = read_asset(path, MAX_BINARY_BYTES, head=4096)  # refuses FIFOs and devices before opening them
    if not head:
        raise AssetError(f"{path}: the file is empty")
    if head.startswith(b"glTF"):
        return "gltf"
    if head.startswith(b"PXR-USDC") or head.startswith(b"#usda"):
        return "usd"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("HIERARCHY"):
        return "bvh"
    if text.startswith("{") and '"asset"' in head.decode("utf-8", errors="replace") or path.suffix.lower() == ".gltf":
        return "gltf"
    first_words = {line.split(maxsplit=1)[0] for line in text.splitlines()[:50] if line.split()}
    if first_words & {"joints", "root", "hier", "skin"}:
        return "rignet"
    if path.suffix.lower() == ".obj":
        return "rignet"  # the mesh half of a RigNet pair: the reader finds its rig file
    suffix = path.suffix.lower()
    if suffix in (".usd", ".usda", ".usdc", ".usdz"):
        return "usd"
    raise UnsupportedFormatError(
        f"{path}: not a format ViPS reads (glTF .glb/.gltf, RigNet rig .txt + .obj, UsdSkel .usd/.usda/.usdc, BVH)"
    )


def _reader(fmt: str) -> Callable[[Path], "Rig"]:
    if fmt == "gltf":
        from vips.io.gltf import read_gltf

        return read_gltf
    if fmt == "rignet":
        from vips.io.rignet import read_rignet

        return read_rignet
    if fmt == "usd":
        from vips.io.usd import read_usd

        return read_usd
    from vips.io.bvh import read_bvh

    return read_bvh


def load(path: str | os.PathLike[str]) -> "Rig":
    """Read a rigged asset: its skeleton, rest and bind pose, mesh, skin weights and animation clips.

    Limb-end IK targets (skinned feet parented to a ground bone, :mod:`vips.limb_targets`) are hung under their
    limb; the writers put them back under their file parent.

    Raises :class:`vips.errors.AssetError` for unreadable or corrupt files and
    :class:`vips.errors.RigError` for rigs that fail validation; both name the file.
    """
    from vips.limb_targets import with_targets_on_limbs

    path = Path(path)
    return with_targets_on_limbs(_reader(sniff_format(path))(path))


def save(rig: "Rig", path: str | os.PathLike[str], poses: "Poses | None" = None) -> Path:
    """Write ``rig`` (and ``poses`` as an animation, one time sample per pose) to ``path``, atomically.

    The format comes from the suffix: .usd / .usda / .usdc (UsdSkel) or .glb (glTF binary). Without ``poses``
    every clip of the rig is written. A clip read from a file (``poses`` one of ``rig.clips``, or every clip) is
    written from its full channels, so every animated rotation, translation and scale survives; other poses are
    written as the pose model holds them (see :mod:`vips.io.channels`).
    Returns the path written.
    """
    path = Path(path)
    fmt = WRITE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormatError(
            f"{path}: cannot write '{path.suffix}' files; use one of {', '.join(sorted(WRITE_SUFFIXES))}"
        )
    if poses is not None:
        poses.check_rig(rig.num_joints, f"rig {rig.label}")
    if fmt == "usd":
        from vips.io.usd import write_usd

        write_usd(rig, path, poses)
    else:
        from vips.io.gltf import write_glb

        write_glb(rig, path, poses)
    return path
