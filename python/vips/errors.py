"""Exceptions raised for bad input. Every message names the file, joint or argument and what would fix it.

All derive from :class:`VipsError`, so ``except vips.errors.VipsError`` catches every user-facing problem
while programming errors (bugs) still surface as ordinary Python exceptions.
"""

from __future__ import annotations


class VipsError(Exception):
    """Base class of every error ViPS raises for bad input or an unusable file."""


class AssetError(VipsError):
    """A file cannot be read: missing, unreadable, truncated, corrupt or of an unknown format."""


class UnsupportedFormatError(AssetError):
    """The file's content matches none of the formats ViPS reads or writes."""


class RigError(VipsError):
    """A rig is invalid: a cycle, several roots, NaN values, bad skin weights, duplicate names..."""


class PoseError(VipsError):
    """Poses do not fit the rig they are used with (wrong joint count, NaN rotations...)."""


class NativeError(VipsError, ValueError):
    """The native kernels cannot run on the given arrays (wrong device, dtype or shape)."""


class MissingExtra(VipsError):
    """An optional dependency is not installed. The message is one line naming what needs it, the missing
    module and the extra of ``vips-runtime`` (pyproject.toml's optional-dependencies) that installs it:
    ``vips fit needs torch: pip install "vips-runtime[train]"``."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        super().__init__(f'{what} needs {module}: pip install "vips-runtime[{extra}]"')
        self.module, self.extra = module, extra


class IKWarning(UserWarning):
    """:meth:`vips.posespace.PoseSpace.solve_ik` left a handle farther from its target than its tolerance (the
    target may be out of reach, or the pose model cannot bend the rig that far). A warning, not an error: the
    pose is still the plausible one closest to the handles that the solver found."""
