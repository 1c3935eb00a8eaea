"""Batch processing of asset libraries: every rigged asset of a folder to a scored pose set, on a local
process pool or a Ray cluster; resumable, one bad asset never stopping the run, with a report.

Which files are assets is :mod:`vips.io.discover` (shared with :mod:`vips.data`).

- :mod:`vips.batch.jobs`: one asset's job, its settings and its ``asset.json`` record (for resuming).
- :mod:`vips.batch.outputs`: the files written per asset (USD pose set, glb, keyframe proxies, thumbnail).
- :mod:`vips.batch.engines`: the local pool (memory bounded, dead workers replaced) and Ray.
- :mod:`vips.batch.report`: ``report.json`` and ``report.html``.
"""

from vips.batch.jobs import FORMATS, BatchSettings
from vips.batch.runner import run_batch

__all__ = ["FORMATS", "BatchSettings", "run_batch"]
