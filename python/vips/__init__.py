"""ViPS runtime: learned pose spaces for rigged meshes.

The doors in are :func:`vips.load` (any rigged asset file to a :class:`vips.Rig`) and, with a trained
model, ``vips.PoseSpace(rig)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vips.errors import VipsError
from vips.io import save
from vips.poses import Poses
from vips.rig import Rig, RigWarning
from vips.usd_schema import register_plugin as _register_usd_schema

if TYPE_CHECKING:
    import os

# Before the process opens its first USD stage, so that usd-core knows VipsPoseSetAPI (see vips.usd_schema).
_register_usd_schema()

__version__ = "0.1.0"


def load(path: str | os.PathLike[str]) -> Rig:
    """Read a rigged asset (glTF, RigNet .txt + .obj, UsdSkel, BVH: chosen from the content), or a shipped example
    named ``example:NAME`` (``vips examples`` lists them). See :func:`vips.io.load` for what is read and raised."""
    from vips import io
    from vips.examples import resolve

    return io.load(resolve(path))


__all__ = ["Poses", "Rig", "RigWarning", "VipsError", "__version__", "load", "save"]
