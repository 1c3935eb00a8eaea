"""Outputs of a pose space for other tools (pose-set files themselves are :mod:`vips.io.pose_set`).

- :mod:`vips.export.keyframes`: keyframe proxy renders (PNG, mesh + skeleton) with ``keyframes.json`` for video
  models.

Contact sheets are :func:`vips.render.write_contact_sheet`; the 2D map of a pose space is
:func:`vips.evaluation.plots.write_pose_map`.
"""
