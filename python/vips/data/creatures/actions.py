"""Non-locomotion programs: idle, look-around, random exploration, turns, jumps, sitting, lying, reaching."""

from __future__ import annotations

import numpy as np

from vips.data.creatures import gaits
from vips.data.creatures.motion_context import MotionContext, smoothstep


def _breathe(ctx: MotionContext, amp: float = 0.03) -> None:
    f = ctx.uniform(0.2, 0.4)
    ctx.add_chain(ctx.part("spine") + ctx.part("abdomen"), 0, amp * np.sin(2 * np.pi * f * ctx.t + ctx.uniform(0, 6)))


def _targets(ctx: MotionContext, lo, hi, hold: tuple[float, float] = (0.6, 1.5)) -> np.ndarray:
    """(F, D) a sequence of random targets in [lo, hi], each held a while, with smooth transitions."""
    lo, hi = np.atleast_1d(lo).astype(float), np.atleast_1d(hi).astype(float)
    out = np.zeros((ctx.frames, len(lo)))
    prev, start = np.zeros(len(lo)), 0.0
    T = ctx.t[-1] + 1 / ctx.fps if ctx.frames else 0
    while start < T:
        target = ctx.rng.uniform(lo, hi)
        move = ctx.uniform(0.4, 0.8)
        s = smoothstep((ctx.t - start) / move)[:, None]
        live = ctx.t >= start
        out[live] = (prev + (target - prev) * s)[live]
        prev, start = target, start + move + ctx.uniform(*hold)
    return out


def idle(ctx: MotionContext) -> None:
    gaits.relax(ctx)
    _breathe(ctx)
    sway = ctx.noise((3,), 1.5) * 0.08
    for k, part in enumerate(("neck", "head", "tail")):
        ctx.add_chain(ctx.part(part), 1, sway[:, k] * (3 if part == "tail" else 1))
    for limb in ctx.limbs("tentacle", "antenna", "palp", "fin"):
        n = ctx.noise((1,), 1.0)[:, 0] * 0.15
        ctx.add(limb.joints, 0, n)
    if ctx.creature.plan in ("fish", "cephalopod"):
        ctx.grounded = ctx.creature.plan == "cephalopod"
    _robot_arm_drift(ctx, 0.1)


def _robot_arm_drift(ctx: MotionContext, scale: float) -> None:
    if ctx.creature.params.get("layout") == "arm":
        for limb in ctx.limbs("arm"):
            ctx.add(limb.joints, 0, ctx.noise((len(limb.joints),), 1.0)[:, 0] * scale)


def look_around(ctx: MotionContext) -> None:
    gaits.relax(ctx)
    _breathe(ctx)
    neck, head = ctx.part("neck"), ctx.part("head")
    look = _targets(ctx, (-0.5, -1.2), (0.4, 1.2))
    ctx.add_chain(neck, 0, look[:, 0] * 0.6)
    ctx.add_chain(neck, 1, look[:, 1] * 0.6)
    ctx.add_chain(head, 0, look[:, 0] * (0.4 if neck else 1.0))
    ctx.add_chain(head, 1, look[:, 1] * (0.4 if neck else 1.0))
    for limb in ctx.limbs("antenna"):
        ctx.add(limb.joints, 1, look[:, 1] * 0.3)
    if ctx.creature.params.get("layout") == "arm":
        arm = ctx.limbs("arm")[0].joints
        ctx.add(arm[0], 1, look[:, 1])
        ctx.add(arm[2], 0, look[:, 0])
    if ctx.creature.plan == "fish":
        ctx.grounded = False


def explore(ctx: MotionContext) -> None:
    """Smooth random motion anywhere inside the joint limits (the whole range, not only natural poses)."""
    lim = ctx.creature.limits
    J = ctx.creature.rig.num_joints
    n = np.tanh(ctx.noise((J, 3), ctx.uniform(0.4, 0.9)) * 0.8)
    centre, half = 0.5 * (lim.upper + lim.lower), 0.5 * (lim.upper - lim.lower)
    raw = centre + 0.9 * half * n
    mirror = np.where(ctx.creature.sides[:, None] < 0, np.array([1.0, -1.0, -1.0]), 1.0)
    ctx.angles[:] = raw * mirror  # written already mirrored: finish() mirrors back
    ctx.angles[:, 0] = 0
    ctx.angles[:, 0, 0] = 0.15 * np.tanh(ctx.noise((1,), 1.0)[:, 0])
    ctx.angles[:, 0, 2] = 0.15 * np.tanh(ctx.noise((1,), 1.0)[:, 0])
    heading = ctx.uniform(-np.pi, np.pi) + np.cumsum(ctx.noise((1,), 1.0)[:, 0]) * 0.5 / ctx.fps
    ctx.move(heading, 0.0)
    ctx.grounded = ctx.creature.plan not in ("fish",)


def turn(ctx: MotionContext) -> None:
    """Turn on the spot (or nearly) by a random angle, stepping, slithering or swimming."""
    total = ctx.uniform(0.5 * np.pi, np.pi) * (1 if ctx.rng.random() < 0.5 else -1)
    start = ctx.uniform(-0.3, 0.3)
    x = np.linspace(0, 1, ctx.frames)
    heading = start + total * smoothstep((x - 0.1) / 0.8)
    plan = ctx.creature.plan
    if ctx.creature.params.get("layout") == "arm":
        gaits.relax(ctx)
        ctx.add(ctx.limbs("arm")[0].joints[0], 1, heading - start)
        return
    if plan == "serpent":
        return gaits.slither(ctx, heading=heading)
    if plan == "fish":
        return gaits.swim(ctx, heading=heading)
    if plan == "cephalopod":
        return gaits.arm_crawl(ctx, heading=heading, speed_scale=0.3)
    gaits.legged(ctx, "crawl" if plan in ("reptile",) else "walk", heading=heading, amp_scale=0.6,
                 speed_scale=0.25)
    look = heading - np.concatenate([[heading[0]], heading[:-1]])
    ctx.add_chain(ctx.part("neck") + ctx.part("head"), 1, np.clip(look * ctx.fps * 0.3, -0.6, 0.6))


def _fold_legs(ctx: MotionContext, amount) -> None:
    for leg in ctx.limbs("leg"):
        for k, ax, sign in leg.lift:
            ctx.add(leg.joints[k], ax, sign * amount)
    for leg in ctx.limbs("sprawl"):
        gaits.lift_arm(ctx, leg, -0.3 * np.asarray(amount), curl=-1.0)


def jump(ctx: MotionContext) -> None:
    """Crouch, take off, fly on a parabola, land and recover; repeated if the clip is long enough."""
    crouch_s, air_h = ctx.uniform(0.35, 0.55), ctx.uniform(0.3, 0.6) * ctx.scale()
    air_s = max(2 * np.sqrt(2 * air_h / 9.81), 0.6)  # small creatures hang a little longer than physics says
    start = ctx.uniform(0.05, 0.3)
    cycle = start + crouch_s + air_s + 1.3
    t = ctx.t % cycle - start
    a, b = crouch_s, crouch_s + air_s  # take-off and landing times (s)
    crouch = smoothstep(t / crouch_s) * (1 - smoothstep((t - a) / 0.3)) + 0.8 * smoothstep((t - b) / 0.3) * (
        1 - smoothstep((t - b - 0.3) / 0.6))
    air = np.clip((t - a) / air_s, 0, 1)
    arc = 4 * air * (1 - air)
    gaits.relax(ctx)
    _fold_legs(ctx, 1.1 * crouch)
    _fold_legs(ctx, 0.4 * np.sin(np.pi * air))
    ctx.add_chain(ctx.part("spine"), 0, 0.2 * crouch)
    ctx.angles[:, 0, 0] += -0.15 * np.sin(np.pi * air) + 0.1 * crouch
    for arm in ctx.limbs("arm"):
        if ctx.creature.plan == "biped":
            ctx.add(arm.joints[1], 0, 0.6 * crouch - 0.9 * np.sin(np.pi * air))
    for wing in ctx.limbs("wing"):
        ctx.add(wing.joints[0], 2, 0.8 * np.sin(np.pi * air) - 0.3 * crouch)
    flying = (air > 0) & (air < 1)
    ctx.move(np.full(ctx.frames, ctx.uniform(-0.3, 0.3)), ctx.uniform(0.0, 1.5) * ctx.scale() / air_s * flying)
    ctx.offset[:, 1] = air_h * arc


def sit(ctx: MotionContext) -> None:
    """Sit down (and maybe stand up again at the end)."""
    e = ctx.envelope(ctx.uniform(0.2, 0.35), ctx.uniform(0.2, 0.3) if ctx.rng.random() < 0.5 else None)
    gaits.relax(ctx)
    _breathe(ctx)
    c = ctx.creature
    if c.plan in ("biped",) or c.params.get("layout") == "walker":
        for leg in ctx.limbs("leg"):
            ctx.add(leg.joints[0], 0, -1.5 * e)
            ctx.add(leg.joints[1], 0, 1.5 * e)
        ctx.add_chain(ctx.part("spine"), 0, 0.2 * e)
        for arm in ctx.limbs("arm"):
            ctx.add(arm.joints[1] if c.plan == "biped" else arm.joints[0], 0, -0.5 * e)
    elif ctx.limbs("leg") and max(leg.pair for leg in ctx.limbs("leg")) >= 1:  # four legs: sit on the haunches
        ctx.angles[:, 0, 0] += -0.7 * e
        for leg in ctx.limbs("leg"):
            if leg.pair == 0:
                ctx.add(leg.joints[0], 0, 0.7 * e)
            else:
                ctx.add(leg.joints[0], 0, -0.6 * e)
                for k, ax, sign in leg.lift[1:]:
                    ctx.add(leg.joints[k], ax, 1.3 * sign * e)
        ctx.add_chain(ctx.part("neck"), 0, 0.4 * e)
        ctx.add_chain(ctx.part("tail"), 0, 0.4 * e)
    else:
        _fold_legs(ctx, 1.3 * e)
    _look_a_little(ctx)


def lie(ctx: MotionContext) -> None:
    """Lie down: fold the legs under the body, or roll onto one side."""
    e = ctx.envelope(ctx.uniform(0.25, 0.4), ctx.uniform(0.2, 0.3) if ctx.rng.random() < 0.3 else None)
    gaits.relax(ctx)
    _breathe(ctx, 0.05)
    c = ctx.creature
    side = ctx.rng.random() < 0.5 or c.plan == "biped"
    if side:
        roll = ctx.uniform(1.2, 1.5) * (1 if ctx.rng.random() < 0.5 else -1)
        ctx.angles[:, 0, 2] += roll * e
        for leg in ctx.limbs("leg"):
            for k, ax, sign in leg.lift:
                ctx.add(leg.joints[k], ax, 0.4 * sign * e)
        for limb in ctx.limbs("sprawl"):
            gaits.lift_arm(ctx, limb, 0.2 * e)
        ctx.add_chain(ctx.part("spine"), 0, 0.15 * e)
    else:
        _fold_legs(ctx, 1.6 * e)
        ctx.add_chain(ctx.part("neck"), 0, 0.3 * e)
        ctx.add_chain(ctx.part("tail"), 1, 0.5 * e * ctx.uniform(-1, 1))
    for limb in ctx.limbs("tentacle"):
        gaits.lift_arm(ctx, limb, -0.3 * e, curl=0.2)
    _look_a_little(ctx)


def _look_a_little(ctx: MotionContext) -> None:
    look = ctx.noise((2,), 1.2) * 0.15
    ctx.add_chain(ctx.part("neck") + ctx.part("head"), 0, look[:, 0])
    ctx.add_chain(ctx.part("neck") + ctx.part("head"), 1, look[:, 1] * 2)


def reach(ctx: MotionContext) -> None:
    """Reach for a sequence of random targets: with an arm (bipeds, robots), the head (quadrupeds, birds,
    reptiles), front legs and palps (arthropods) or one arm (cephalopods)."""
    c = ctx.creature
    gaits.relax(ctx)
    _breathe(ctx)
    if c.params.get("layout") == "arm":
        arm = ctx.limbs("arm")[0].joints
        tgt = _targets(ctx, (-2.0, -1.2, -2.0, -1.5, -2.0), (2.0, 1.2, 2.0, 1.5, 2.0))
        for i, (j, ax) in enumerate(zip(arm, (1, 0, 0, 0, 2))):
            ctx.add(j, ax, tgt[:, i])
        for f in ctx.limbs("palp"):
            ctx.add(f.joints, 1, _targets(ctx, -0.5, 0.15)[:, 0])
        return
    arms = [a for a in ctx.limbs("arm")]
    if arms:
        arm = arms[int(ctx.rng.integers(len(arms)))]
        lo, hi = (-1.6, 0.0, -1.0), (0.3, 0.9, 1.1)
        tgt = _targets(ctx, lo, hi)
        j = arm.joints
        if c.plan == "biped":
            ctx.add(j[1], 0, tgt[:, 0])
            ctx.add(j[1], 2, tgt[:, 2] * 1.0 + 1.25 - 1.25 * (tgt[:, 1] > -1))
            ctx.add(j[2], 1, -1.2 * (1 - tgt[:, 1]))
        else:
            ctx.add(j[0], 0, tgt[:, 0] * 1.3)
            ctx.add(j[1], 2, -0.6 * tgt[:, 1])
            ctx.add(j[2], 0, -1.5 * (1 - tgt[:, 1]))
        ctx.add_chain(ctx.part("spine"), 1, 0.3 * tgt[:, 2] * arm.side)
        ctx.add_chain(ctx.part("head"), 1, 0.4 * tgt[:, 2] * arm.side)
        return
    tentacles = ctx.limbs("tentacle")
    if tentacles:
        arm = tentacles[int(ctx.rng.integers(len(tentacles)))]
        tgt = _targets(ctx, (0.2, -0.5), (0.9, 0.5))
        gaits.lift_arm(ctx, arm, tgt[:, 0], curl=-0.3, sweep=tgt[:, 1])
        return
    front = [leg for leg in ctx.limbs("sprawl") if leg.pair == 0] + ctx.limbs("palp")
    if front and c.plan in ("insect", "arachnid"):
        tgt = _targets(ctx, (0.0, -0.5), (0.8, 0.5))
        for limb in front:
            if limb.kind == "sprawl":
                gaits.lift_arm(ctx, limb, tgt[:, 0], curl=-0.5, sweep=-0.5 * tgt[:, 1] * limb.side)
            else:
                ctx.add(limb.joints, 0, -tgt[:, 0] * 0.5)
        ctx.angles[:, 0, 0] += -0.2 * tgt[:, 0]
        return
    tgt = _targets(ctx, (-0.4, -0.9), (1.0, 0.9))  # head reaches down (grazing, pecking) and round
    ctx.add_chain(ctx.part("neck"), 0, tgt[:, 0])
    ctx.add_chain(ctx.part("neck"), 1, tgt[:, 1])
    ctx.add_chain(ctx.part("head"), 0, 0.5 * tgt[:, 0])
    ctx.add_chain(ctx.part("jaw"), 0, 0.3 * np.clip(tgt[:, 0], 0, None))
    if c.plan == "fish":
        ctx.grounded = False
