"""Registration of our codeless USD schema (``VipsPoseSetAPI``) with usd-core's plugin system.

usd-core builds its schema registry on first use, and a plugin registered after that is not seen (USD_NOTES.md).
So ``import vips`` registers the plugin folder (:func:`register_plugin`: cheap, it loads no schema), and a
process that imports vips before it opens its first stage sees the schema in ``GetAppliedSchemas()``.

Other USD tools (usdview, Omniverse, Unreal, a plain ``pxr`` script) find it through ``PXR_PLUGINPATH_NAME``;
this module prints the folder to put there::

    export PXR_PLUGINPATH_NAME="$(python -m vips.usd_schema)${PXR_PLUGINPATH_NAME:+:$PXR_PLUGINPATH_NAME}"

Files we write stay readable where the plugin is not registered: the values are kept, the schema name is just
not recognized.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

from vips.errors import VipsError

API_NAME = "VipsPoseSetAPI"
KINDS = ("samples", "traversal", "ik", "fitted", "clip")

# ``import vips`` imports this module, so ``python -m vips.usd_schema`` finds it already imported and runpy warns
# that this "may result in unpredictable behaviour". It may not here (the module has no state to lose), so that
# one warning is silenced; the one-liner above then prints the folder and nothing else.
warnings.filterwarnings("ignore", message=r"'vips\.usd_schema' found in sys\.modules", category=RuntimeWarning)


def schema_dir() -> Path:
    """The folder holding plugInfo.json: inside the installed package, or ``usd_schemas/`` of a source tree."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "usd_schemas", package.parents[1] / "usd_schemas"):
        if (candidate / "plugInfo.json").is_file():
            return candidate
    raise VipsError(f"the ViPS USD schema plugin is missing (looked in {package / 'usd_schemas'}); reinstall vips")


@functools.cache
def register_plugin() -> None:
    """Add :func:`schema_dir` to usd-core's plugin registry, once per process (``import vips`` does it).

    Loads only ``pxr.Plug``; the schema registry is built later, by the first stage, with our schema in it.
    """
    try:
        from pxr import Plug
    except ImportError:  # usd-core missing: every USD path of vips says so when it is used
        return
    Plug.Registry().RegisterPlugins(str(schema_dir()))


@functools.cache
def register() -> bool:
    """Register the schema plugin (:func:`register_plugin`) and say whether ``VipsPoseSetAPI`` is usable.

    False (with a warning naming the fix) where the process built usd-core's schema registry before the plugin
    was registered, that is, used USD before importing vips.
    """
    register_plugin()
    from pxr import Usd

    known = Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(API_NAME) is not None
    if not known:
        warnings.warn(f"USD schema {API_NAME} is unknown to usd-core in this process: it used USD before importing "
                      "vips. Import vips before pxr's Usd, or set PXR_PLUGINPATH_NAME to the output of "
                      "`python -m vips.usd_schema`", stacklevel=2)
    return known


def main() -> int:
    """``python -m vips.usd_schema``: print the folder to add to ``PXR_PLUGINPATH_NAME``."""
    try:
        print(schema_dir())
    except VipsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
