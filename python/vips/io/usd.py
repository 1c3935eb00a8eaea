"""UsdSkel input and output (usd-core): :func:`read_usd`, :func:`write_usd` and :func:`author_rig`.

The reader lives in :mod:`vips.io.usd_read`, the writer in :mod:`vips.io.usd_write`; this module is the
public face. The UsdSkel facts both follow are in ``docs/usd_notes.md`` of the repository.
"""

from vips.usd_schema import register

register()  # our schema plugin must be known before the first stage of the process (docs/usd_notes.md)

from vips.io.usd_read import read_usd  # noqa: E402
from vips.io.usd_write import author_rig, write_usd  # noqa: E402

__all__ = ["author_rig", "read_usd", "write_usd"]
