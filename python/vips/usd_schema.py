"""Registration of our codeless USD schema (``VipsPoseSetAPI``) with usd-core's plugin system.

usd-core builds its schema registry on first use, so :func:`register` must run before the first stage or
``Usd.SchemaRegistry()`` of the process; ``vips.io.usd`` calls it on import. Files we write stay readable
where the plugin is not registered: the values are kept, the schema name is just not recognized.
"""

from __future__ import annotations

import functools
from pathlib import Path

from vips.errors import VipsError

API_NAME = "VipsPoseSetAPI"
KINDS = ("samples", "traversal", "ik", "fitted", "clip")


def schema_dir() -> Path:
    """The folder holding plugInfo.json: inside the installed package, or ``usd_schemas/`` of a source tree."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "usd_schemas", package.parents[1] / "usd_schemas"):
        if (candidate / "plugInfo.json").is_file():
            return candidate
    raise VipsError(f"the ViPS USD schema plugin is missing (looked in {package / 'usd_schemas'}); reinstall vips")


@functools.cache
def register() -> bool:
    """Register the schema plugin once per process. Returns True when ``VipsPoseSetAPI`` is usable."""
    from pxr import Plug

    Plug.Registry().RegisterPlugins(str(schema_dir()))
    from pxr import Usd

    return Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(API_NAME) is not None
