"""Motion programs: ``motion(creature, program, frames)`` -> :class:`vips.Poses` inside the joint limits.

Which programs a creature has depends on its body plan (``programs_for``). Every program is
deterministic for a given seed; rotations are deltas from the rest pose, ``root_translation`` moves the
creature over the ground (legged creatures are kept standing on y = 0).
"""

from __future__ import annotations

from typing import Callable

from vips.data.creatures import actions, gaits
from vips.data.creatures.creature import Creature
from vips.data.creatures.motion_context import MotionContext
from vips.poses import Poses

PROGRAMS: dict[str, Callable[[MotionContext], None]] = {
    "idle": actions.idle,
    "look_around": actions.look_around,
    "explore": actions.explore,
    "turn": actions.turn,
    "walk": lambda ctx: gaits.legged(ctx, "walk"),
    "run": lambda ctx: gaits.legged(ctx, "run"),
    "trot": lambda ctx: gaits.legged(ctx, "trot"),
    "gallop": lambda ctx: gaits.legged(ctx, "gallop"),
    "crawl": lambda ctx: (gaits.arm_crawl(ctx) if ctx.creature.plan == "cephalopod" else gaits.legged(ctx, "crawl")),
    "slither": lambda ctx: gaits.slither(ctx),
    "swim": gaits.swim,
    "flap": gaits.flap,
    "jump": actions.jump,
    "sit": actions.sit,
    "lie": actions.lie,
    "reach": actions.reach,
}

GAIT_PROGRAMS = ("walk", "run", "trot", "gallop", "crawl", "slither", "swim", "flap")

_BY_PLAN = {
    "biped": ["walk", "run", "turn", "jump", "sit", "lie", "reach"],
    "quadruped": ["walk", "trot", "gallop", "turn", "jump", "sit", "lie", "reach"],
    "reptile": ["crawl", "walk", "turn", "lie", "reach", "jump"],
    "bird": ["walk", "flap", "turn", "jump", "sit", "lie", "reach"],
    "insect": ["walk", "turn", "jump", "reach", "lie"],
    "arachnid": ["walk", "turn", "jump", "reach", "lie"],
    "serpent": ["slither", "swim", "turn"],
    "fish": ["swim", "turn", "reach"],
    "cephalopod": ["crawl", "swim", "turn", "reach", "lie"],
    "dragon": ["walk", "trot", "gallop", "flap", "turn", "jump", "sit", "lie", "reach"],
}
_ROBOT = {
    "walker": ["walk", "turn", "sit", "reach", "jump"],
    "dog": ["walk", "trot", "turn", "sit", "lie", "jump", "reach"],
    "arm": ["reach", "turn"],
}


def programs_for(creature: Creature) -> list[str]:
    """The motion programs that fit ``creature``'s body plan, gaits first."""
    if creature.plan == "robot":
        specific = list(_ROBOT[creature.params["layout"]])
    else:
        specific = list(_BY_PLAN[creature.plan])
    if creature.plan == "insect" and creature.params.get("wing", 0) > 0:
        specific.insert(1, "flap")
    return specific + ["idle", "look_around", "explore"]


def motion(creature: Creature, program: str, frames: int, fps: float = 30.0, seed: int = 0) -> Poses:
    """Run motion program ``program`` for ``frames`` frames at ``fps``.

    Returns :class:`vips.Poses` with rotations (frames, J, 4) (deltas from the rest pose, inside
    ``creature.limits``) and root_translation (frames, 3) in metres. Same arguments, same poses.
    """
    allowed = programs_for(creature)
    if program not in allowed:
        raise ValueError(f"creature {creature.name} ({creature.plan}) has no motion program '{program}'; "
                         f"it has: {', '.join(allowed)}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ctx = MotionContext.new(creature, int(frames), float(fps), seed)
    PROGRAMS[program](ctx)
    return ctx.finish(f"{creature.name}:{program}:{seed}")
