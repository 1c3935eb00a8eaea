"""glTF 2.0 input and output: :func:`read_gltf` (.glb / .gltf to a :class:`vips.Rig`) and :func:`write_glb`.

The parser is our own (json + struct + numpy); see :mod:`vips.io.gltf_read` for how glTF nodes, skins and
animations map onto a rig, and :mod:`vips.io.gltf_write` for what is written.
"""

from vips.io.gltf_read import read_gltf
from vips.io.gltf_write import write_glb

__all__ = ["read_gltf", "write_glb"]
