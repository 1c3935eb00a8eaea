"""Motion sources of the pose dataset: what one build job yields, whatever made the motion.

A job of a source (a procedural creature individual, an artist's animated asset...) is a picklable object
with the :class:`MotionJob` attributes. Its :meth:`MotionJob.motion` gives one rig and its sequences of poses
with provenance; :func:`vips.data.dataset.run_job` turns every source's motion into a shard the same way
(near-duplicates removed, sidecar written), so shards, manifest, resume and splits have one code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


@dataclass(eq=False)
class Motion:
    """One job's rig and motion, or the reason it has none.

    Attributes:
        rig: the rig every sequence poses (None when skipped).
        sequences: the S pose sequences; sequence s holds poses (F_s, J, 4) and is clip index s in the shard.
        meta: provenance that heads the shard's sidecar (source, species, plan, individual, split, ...,
            "clips": one JSON entry per sequence). The build appends pose counts, settings digest and time.
        skipped: why the job has nothing to learn from (an asset without animation); None for real motion.
    """

    rig: Rig | None
    sequences: list[Poses] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


class MotionJob(Protocol):
    """One unit of a dataset build; one shard (or one skip record) in ``DIR/shards/``."""

    @property
    def shard_name(self) -> str:
        """Unique file stem of the job's shard."""
        ...

    @property
    def split(self) -> str:
        """'train', 'val' or 'test'; or 'auto' for a job that decides it from what it loads (a clip asset, by
        skeleton), in which case its motion's meta (and so the sidecar) holds the split."""
        ...

    @property
    def dedupe_eps(self) -> float:
        """Near-duplicate radius, in rig heights (see :func:`vips.data.dedupe.near_duplicate_mask`)."""
        ...

    def digest(self) -> str:
        """Identity of what the job makes: a finished shard whose sidecar holds another digest is rebuilt."""
        ...

    def motion(self) -> Motion:
        """Make (or load) the rig and its sequences. Raises on unreadable input; the build reports it."""
        ...
