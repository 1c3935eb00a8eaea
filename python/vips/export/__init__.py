"""Outputs of a pose space for other tools.

- :mod:`vips.export.pose_set`: USD pose sets (UsdSkel + our ``VipsPoseSetAPI`` schema) and glTF .glb pose sets,
  and :func:`read_pose_set` for both.
- :mod:`vips.export.keyframes`: keyframe proxy renders (PNG, mesh + skeleton) with ``keyframes.json`` for video
  models.
- :mod:`vips.export.pictures`: a contact sheet of poses and a 2D map of the pose space (implausible in red).
"""

from vips.export.pose_set import PoseSetMeta, read_pose_set, write_pose_set

__all__ = ["PoseSetMeta", "read_pose_set", "write_pose_set"]
