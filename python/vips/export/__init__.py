"""Outputs of a pose space for other tools (pose-set files themselves are :mod:`vips.io.pose_set`).

- :mod:`vips.export.keyframes`: keyframe proxy renders (PNG, mesh + skeleton) with ``keyframes.json`` for video
  models.
- :mod:`vips.export.pictures`: a contact sheet of poses and a 2D map of the pose space (implausible in red).
"""
