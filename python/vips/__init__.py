"""ViPS runtime: learned pose spaces for rigged meshes.

The doors in are :func:`vips.load` (any rigged asset file to a :class:`vips.Rig`) and, with a trained
model, ``vips.PoseSpace(rig)``.
"""

from vips.errors import VipsError
from vips.io import load, save
from vips.poses import Poses
from vips.rig import Rig, RigWarning
from vips.usd_schema import register_plugin as _register_usd_schema

# Before the process opens its first USD stage, so that usd-core knows VipsPoseSetAPI (see vips.usd_schema).
_register_usd_schema()

__version__ = "0.1.0"

__all__ = ["Poses", "Rig", "RigWarning", "VipsError", "__version__", "load", "save"]
