"""Locomotion programs: legged gaits (walk, run, trot, gallop, crawl), slither, swim and flap.

Legs swing about X (upright) or Y (sprawling) with a sinusoid; positive angles swing the foot backward,
so a leg lifts (bends by its limb's ``lift`` pattern) while its swing angle decreases. Leg phases follow
the usual footfall patterns (lateral-sequence walk, diagonal trot, rotary gallop, alternating tripods).
"""

from __future__ import annotations

import numpy as np

from vips.data.creatures.motion_context import MotionContext

TWO_PI = 2 * np.pi
MAX_STEP = 0.3  # radians per frame a periodic joint may move at most (keeps motions smooth at any fps)

# amplitude (rad), lift (rad), stride frequency factor, speed factor
GAITS = {
    "walk": (0.35, 0.55, 1.0, 1.0),
    "run": (0.6, 1.1, 1.5, 1.3),
    "trot": (0.4, 0.8, 1.3, 1.1),
    "gallop": (0.6, 1.0, 1.6, 1.5),
    "crawl": (0.45, 0.6, 0.9, 0.8),
}


def capped_freq(ctx: MotionContext, freq: float, amp: float) -> float:
    """``freq`` (Hz), lowered where a sinusoid of amplitude ``amp`` would move more than MAX_STEP per frame."""
    return min(freq, MAX_STEP * ctx.fps / (TWO_PI * max(amp, 1e-6)))


def relax(ctx: MotionContext, amount=1.0) -> None:
    """The natural resting posture away from the T-pose: arms down, wings folded."""
    c = ctx.creature
    for limb in ctx.limbs("arm"):
        if c.plan == "biped":
            ctx.add(limb.joints[1], 2, -1.25 * np.asarray(amount))
            ctx.add(limb.joints[2], 1, -0.25 * np.asarray(amount))
    for limb in ctx.limbs("wing"):
        if c.plan == "insect":
            ctx.add(limb.joints[0], 1, 1.2 * np.asarray(amount))
            continue
        ctx.add(limb.joints[0], 1, 1.3 * np.asarray(amount))
        ctx.add(limb.joints[0], 2, -0.35 * np.asarray(amount))
        ctx.add(limb.joints[1:], 1, 0.3 * np.asarray(amount))


def leg_phases(ctx: MotionContext, gait: str) -> dict[str, float]:
    """Phase (cycles) of each leg for ``gait``."""
    legs, out = ctx.limbs("leg", "sprawl"), {}
    pairs = max((leg.pair for leg in legs), default=0) + 1
    for leg in legs:
        right = leg.side < 0
        if pairs == 1:
            out[leg.name] = 0.5 * right
        elif pairs == 2:
            front = leg.pair == 0
            if gait == "walk":
                out[leg.name] = {(False, False): 0.0, (True, False): 0.25, (False, True): 0.5, (True, True): 0.75}[
                    (front, right)]
            elif gait == "gallop":
                out[leg.name] = (0.45 if front else 0.0) + 0.1 * right
            else:  # trot, crawl: diagonal pairs together
                out[leg.name] = 0.5 * ((front + right) % 2)
        else:  # alternating tripods / tetrapods
            out[leg.name] = 0.5 * ((leg.pair + right) % 2)
    return out


def legged(ctx: MotionContext, gait: str, heading: np.ndarray | None = None, amp_scale: float = 1.0,
           speed_scale: float = 1.0) -> None:
    """A legged gait moving forward along ``heading`` (F,) (default: a slight random curve)."""
    amp, lift, ffac, sfac = GAITS[gait]
    amp *= ctx.uniform(0.85, 1.15) * amp_scale
    lift *= ctx.uniform(0.85, 1.15) * amp_scale
    S = ctx.scale()
    freq = capped_freq(ctx, ffac * ctx.uniform(0.9, 1.1) * 0.55 * np.sqrt(9.81 / S) / TWO_PI * 1.7, max(amp, lift))
    phase0 = ctx.uniform(0, 1)
    phases = leg_phases(ctx, gait)
    relax(ctx)
    taus = {}
    for leg in ctx.limbs("leg", "sprawl"):
        tau = TWO_PI * (freq * ctx.t + phases[leg.name] + phase0)
        taus[leg.name] = tau
        axis = 0 if leg.kind == "leg" else 1
        ctx.add(leg.joints[0], axis, amp * np.sin(tau))
        up = lift * ((1 - np.cos(tau)) / 2) ** 3
        for k, ax, sign in leg.lift:
            ctx.add(leg.joints[k], ax, sign * up)
    ref = TWO_PI * (freq * ctx.t + phase0)
    if ctx.creature.plan == "biped":
        for arm in ctx.limbs("arm"):
            tau = ref + np.pi * (arm.side < 0)
            ctx.add(arm.joints[1], 0, -0.8 * amp * np.sin(tau))
            ctx.add(arm.joints[2], 1, -0.2 * amp * (1 + np.cos(tau)))
        ctx.add_chain(ctx.part("spine"), 1, 0.12 * amp * np.sin(ref))
    if ctx.creature.plan == "reptile" or gait == "crawl":
        spine = ctx.part("spine")
        ctx.add_chain(spine, 1, 0.5 * amp * np.sin(ref + np.pi / 2))
        _wave(ctx, ctx.part("tail"), 1, 0.25 * amp, freq, ctx.t, phase0 + 0.25, len(ctx.part("tail")) + 2)
    else:
        ctx.add_chain(ctx.part("tail"), 1, 0.3 * np.sin(ref * 0.5 + 1.0))
    if gait == "gallop":
        ctx.add_chain(ctx.part("spine"), 0, 0.2 * np.sin(ref))
        ctx.add_chain(ctx.part("neck"), 0, 0.15 * np.sin(ref + 0.5))
    if ctx.creature.plan == "bird":
        ctx.add_chain(ctx.part("neck"), 0, 0.25 * np.sin(2 * ref))
    stride = 2 * S * np.sin(amp) * (1.0 if ctx.limbs("leg") else 0.8)
    if heading is None:
        heading = ctx.uniform(-0.3, 0.3) + ctx.uniform(-0.2, 0.2) * ctx.t
    ctx.move(heading, sfac * stride * freq * speed_scale)


def _wave(ctx: MotionContext, chain: list[int], axis: int, amp, freq: float, t: np.ndarray, phase: float,
          wavelength: float, first: int = 0) -> np.ndarray:
    """A travelling wave along ``chain``: world bend angle
    ``amp_i sin(2 pi (f t - (i + first) / wavelength) + 2 pi phase)``
    turned into local angles (each joint adds the difference to its parent). Returns the bend of element 0."""
    amp = np.broadcast_to(np.asarray(amp, float), (len(chain) + 1,))
    bend = [amp[i] * np.sin(TWO_PI * (freq * t - (i + first) / wavelength + phase)) for i in range(len(chain) + 1)]
    for i, j in enumerate(chain):
        ctx.add(j, axis, bend[i + 1] - bend[i])
    return bend[0]


def slither(ctx: MotionContext, swim: bool = False, heading: np.ndarray | None = None) -> None:
    """Lateral undulation of a serpent; ``swim`` raises the amplitude and leaves the ground."""
    chain = ctx.part("spine")
    n = len(chain) + 1
    amp = ctx.uniform(0.35, 0.55) * (1.3 if swim else 1.0)
    wavelength = n / ctx.uniform(1.2, 1.8)
    length = ctx.scale()
    freq = capped_freq(ctx, ctx.uniform(0.5, 0.9), 2 * amp * np.sin(np.pi / wavelength))
    phase = ctx.uniform(0, 1)
    amps = amp * np.linspace(0.6, 1.0, n)
    head_bend = _wave(ctx, chain, 1, amps, freq, ctx.t, phase, wavelength)
    ctx.add(ctx.part("head"), 1, -0.5 * head_bend)
    if heading is None:
        heading = np.full(ctx.frames, ctx.uniform(-0.4, 0.4))
    speed = 0.6 * (length * wavelength / n) * freq
    ctx.move(heading, speed)
    ctx.angles[:, 0, 1] += head_bend
    if swim:
        ctx.grounded = False
        ctx.add(ctx.part("head"), 0, -0.2)


def swim(ctx: MotionContext, heading: np.ndarray | None = None) -> None:
    """Fish swimming: a body wave growing towards the tail (or a pitch wave and fin strokes for flat fish);
    cephalopods swim by jet pulses with trailing arms."""
    c = ctx.creature
    ctx.grounded = False
    if c.plan == "cephalopod":
        return _jet(ctx, heading)
    if c.plan == "serpent":
        return slither(ctx, swim=True, heading=heading)
    flat = c.params.get("flat_axis", "x") == "y"
    chain = ctx.part("spine") + ctx.part("tail")
    n = len(chain) + 1
    amp = ctx.uniform(0.25, 0.4) * (0.5 if flat else 1.0)
    freq = capped_freq(ctx, ctx.uniform(1.0, 2.0) * np.sqrt(0.3 / max(ctx.scale(), 0.05)), 1.2 * amp)
    phase = ctx.uniform(0, 1)
    amps = amp * (0.15 + 0.85 * np.linspace(0, 1, n) ** 2)
    head = _wave(ctx, chain, 0 if flat else 1, amps, freq, ctx.t, phase, n / ctx.uniform(0.7, 1.1))
    tau = TWO_PI * (freq * ctx.t + phase)
    fin_amp = 0.5 if flat else 0.2
    for fin in ctx.limbs("fin"):
        ctx.add(fin.joints[0], 2, fin_amp * np.sin(tau * (0.5 if not flat else 1.0)))
    if heading is None:
        heading = np.full(ctx.frames, ctx.uniform(-0.4, 0.4))
    ctx.move(heading, 0.5 * ctx.scale() * freq)
    ctx.angles[:, 0, 0 if flat else 1] += head
    ctx.offset[:, 1] = 0.05 * ctx.scale() * np.sin(0.3 * tau)


def _jet(ctx: MotionContext, heading: np.ndarray | None) -> None:
    freq = capped_freq(ctx, ctx.uniform(0.5, 0.9), 0.8)
    pulse = ((1 - np.cos(TWO_PI * (freq * ctx.t + ctx.uniform(0, 1)))) / 2) ** 2
    for arm in ctx.limbs("tentacle"):
        lift_arm(ctx, arm, -0.5 - 0.35 * pulse, curl=0.4)
    ctx.add_chain(ctx.part("spine"), 0, 0.3 * pulse)
    if heading is None:
        heading = np.full(ctx.frames, ctx.uniform(-0.4, 0.4))
    ctx.move(heading, 0.6 * ctx.creature.rig.height() * freq * (0.3 + pulse))
    ctx.offset[:, 1] = 0.4 * ctx.creature.rig.height() + 0.05 * ctx.creature.rig.height() * pulse


def lift_arm(ctx: MotionContext, limb, angle, curl: float = 0.0, sweep=0.0) -> None:
    """Raise a radially spreading arm (tentacle, sprawled leg) by ``angle`` about the horizontal axis across
    it (negative lowers it), curling the rest of the chain by ``curl`` times that; ``sweep`` turns it about Y."""
    d = ctx.rest[limb.joints[1]] - ctx.rest[limb.joints[0]]
    d = np.array([abs(d[0]), 0.0, d[2]])
    d /= np.linalg.norm(d) + 1e-12
    angle = np.asarray(angle, float)
    axis_x, axis_z = -d[2], d[0]  # d x up: rotating about it lifts d towards +Y
    for i, j in enumerate(limb.joints):
        k = 1.0 if i == 0 else curl
        ctx.add(j, 0, k * axis_x * angle)
        ctx.add(j, 2, k * axis_z * angle)
    ctx.add(limb.joints[0], 1, sweep)


def arm_crawl(ctx: MotionContext, heading: np.ndarray | None = None, amp_scale: float = 1.0,
              speed_scale: float = 1.0) -> None:
    """Cephalopod crawling: arms lift and sweep in a wave round the ring."""
    arms = ctx.limbs("tentacle")
    freq = capped_freq(ctx, ctx.uniform(0.4, 0.7), 0.6)
    phase0 = ctx.uniform(0, 1)
    order = sorted(range(len(arms)), key=lambda i: (arms[i].pair, arms[i].side))
    for rank, i in enumerate(order):
        tau = TWO_PI * (freq * ctx.t + phase0 + rank / len(arms))
        lift_arm(ctx, arms[i], 0.4 * amp_scale * ((1 - np.cos(tau)) / 2) ** 2, curl=0.3,
                 sweep=0.25 * amp_scale * np.sin(tau))
    if heading is None:
        heading = np.full(ctx.frames, ctx.uniform(-0.4, 0.4))
    ctx.move(heading, 0.3 * ctx.creature.rig.height() * freq * speed_scale)


def flap(ctx: MotionContext, heading: np.ndarray | None = None) -> None:
    """Flying: wing strokes with the outer wing folding on the upstroke, legs tucked, body off the ground."""
    c = ctx.creature
    ctx.grounded = False
    amp = ctx.uniform(0.7, 1.0)
    freq = capped_freq(ctx, ctx.uniform(1.5, 3.0) if c.plan != "insect" else 10.0, amp)
    tau = TWO_PI * (freq * ctx.t + ctx.uniform(0, 1))
    for wing in ctx.limbs("wing"):
        ctx.add(wing.joints[0], 2, 0.1 + amp * np.sin(tau))
        if len(wing.joints) > 1:
            ctx.add(wing.joints[1], 2, 0.3 * amp * np.sin(tau - 0.6))
            ctx.add(wing.joints[1:], 1, 0.35 * (1 + np.cos(tau)) / 2)
        ctx.add(wing.joints[0], 0, -0.2 * np.cos(tau))
    tuck = ctx.envelope(0.15, None)
    for leg in ctx.limbs("leg"):
        for k, ax, sign in leg.lift:
            ctx.add(leg.joints[k], ax, 1.0 * sign * tuck)
    for leg in ctx.limbs("sprawl"):
        lift_arm(ctx, leg, 0.4 * tuck, curl=-0.5)
    ctx.add_chain(ctx.part("tail"), 0, -0.1 * np.sin(tau))
    ctx.angles[:, 0, 0] += 0.1 * np.sin(tau + 1)
    H = c.rig.height()
    if heading is None:
        heading = np.full(ctx.frames, ctx.uniform(-0.4, 0.4)) + ctx.uniform(-0.3, 0.3) * ctx.t
    ctx.move(heading, 2.0 * H * ctx.uniform(0.5, 1.0))
    ctx.offset[:, 1] = H * (0.6 + 0.8 * ctx.envelope(0.5, None)) - 0.04 * H * np.cos(tau)
