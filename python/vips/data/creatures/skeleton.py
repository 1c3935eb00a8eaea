"""A small builder that body plans use to lay out a creature: joints, limits, body parts and mesh primitives.

Coordinates: Y up, facing +Z, metres, ground at y = 0; the creature's left is +X. Every joint's rest local
rotation is the identity, so its local axes are the world axes and a limit "about X" means the same thing
on every joint. Left-side limits are written once; the right side gets them mirrored (a mirror in X keeps
angles about X and negates angles about Y and Z).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vips.data.creatures.limits import MIDDLE_LIMIT, JointLimits, order_for_ranges

PI = np.pi

# Left-canonical limits (lower xyz, upper xyz) by role, radians. Positive X swings a down-pointing limb
# backward; positive Z lifts a +X-pointing limb (or abducts a down-pointing left limb); positive Y sweeps a
# +X-pointing limb backward.
LIMITS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "root": ((-1.2, -PI, -1.6), (1.2, PI, 1.6)),
    "spine": ((-0.35, -0.35, -0.3), (0.35, 0.35, 0.3)),
    "neck": ((-0.8, -0.9, -0.4), (0.7, 0.9, 0.4)),
    "head": ((-0.7, -0.8, -0.3), (0.6, 0.8, 0.3)),
    "jaw": ((0.0, 0.0, 0.0), (0.6, 0.0, 0.0)),
    "tail": ((-0.5, -0.6, -0.3), (0.5, 0.6, 0.3)),
    "body_chain": ((-0.3, -0.75, -0.15), (0.3, 0.75, 0.15)),
    "fish_spine": ((-0.12, -0.55, -0.08), (0.12, 0.55, 0.08)),
    "fin": ((-0.5, -0.6, -0.6), (0.5, 0.6, 0.6)),
    "clavicle": ((-0.3, -0.3, -0.2), (0.3, 0.3, 0.4)),
    "shoulder": ((-2.0, -1.2, -1.5), (1.2, 1.2, 1.4)),
    "elbow": ((0.0, -2.4, 0.0), (0.0, 0.0, 0.0)),
    "wrist": ((-0.9, -0.3, -0.5), (0.9, 0.3, 0.5)),
    "hip": ((-2.0, -0.5, -0.3), (0.8, 0.5, 0.8)),
    "knee": ((0.0, 0.0, 0.0), (2.4, 0.0, 0.0)),
    "ankle": ((-0.8, -0.2, -0.3), (0.8, 0.2, 0.3)),
    "hock": ((-2.0, 0.0, 0.0), (0.4, 0.0, 0.0)),
    "quad_shoulder": ((-1.3, -0.3, -0.3), (1.3, 0.3, 0.4)),
    "quad_elbow": ((-1.8, 0.0, 0.0), (0.3, 0.0, 0.0)),
    "quad_carpus": ((-0.3, -0.1, -0.1), (2.0, 0.1, 0.1)),
    "quad_hip": ((-1.6, -0.3, -0.3), (1.0, 0.3, 0.4)),
    "quad_stifle": ((-0.3, 0.0, 0.0), (1.8, 0.0, 0.0)),
    "paw": ((-0.9, -0.1, -0.1), (0.9, 0.1, 0.1)),
    "sprawl_hip": ((-0.4, -0.9, -0.7), (0.4, 0.9, 0.9)),
    "sprawl_knee": ((-0.2, -0.4, -1.0), (0.2, 0.4, 1.2)),
    "wing": ((-0.6, -0.4, -1.2), (0.6, 1.4, 1.3)),
    "wing_elbow": ((-0.3, -0.2, -0.4), (0.3, 1.4, 0.4)),
    "wing_wrist": ((-0.3, -0.2, -0.4), (0.3, 1.4, 0.4)),
    "insect_wing": ((-0.4, -0.2, -1.0), (0.4, 1.4, 1.0)),
    "antenna": ((-0.6, -0.6, -0.5), (0.6, 0.6, 0.5)),
    "tentacle": ((-0.9, -0.9, -0.9), (0.9, 0.9, 0.9)),
    "fixed": ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
}


def hinge(axis: int, lo: float, hi: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Limits of a one-axis joint (robots)."""
    lower, upper = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    lower[axis], upper[axis] = lo, hi
    return tuple(lower), tuple(upper)


@dataclass
class Primitive:
    """One piece of the implicit body: a tapered capsule (or rounded box) from ``a`` to ``b``.

    ``squash`` < 1 flattens the cross-section along the unit vector ``flat`` (wings, fins, fish bodies);
    a box uses ``radius`` as its half width and ``squash * radius`` as its half thickness along ``flat``.
    """

    joint: int
    a: np.ndarray
    b: np.ndarray
    r0: float
    r1: float
    squash: float = 1.0
    flat: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    box: bool = False


@dataclass
class Limb:
    """A limb the motion programs drive.

    Attributes:
        name: e.g. "l_leg_front".
        kind: "leg" (upright: swings about X), "sprawl" (points sideways: swings about Y, lifts about Z),
            "arm", "wing", "fin", "tentacle", "antenna", "palp".
        side: +1 left, -1 right, 0 middle.
        joints: joint indices proximal to distal, leaf excluded.
        pair: index of the pair from front (0) to back.
        lift: (position in ``joints``, axis, sign): how each joint bends when the limb lifts (left-canonical).
    """

    name: str
    kind: str
    side: int
    joints: list[int]
    pair: int = 0
    lift: list[tuple[int, int, float]] = field(default_factory=list)


class Builder:
    """Collects joints, limits, primitives, body parts and limbs while a body plan lays out a creature."""

    def __init__(self, box: bool = False) -> None:
        self.names: list[str] = []
        self.parents: list[int] = []
        self.positions: list[np.ndarray] = []
        self.sides: list[int] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.kinds: list[str] = []
        self.orders: list[str | None] = []
        self.radii: list[float] = []
        self.prims: list[Primitive] = []
        self.parts: dict[str, list[int]] = {}
        self.limbs: list[Limb] = []
        self.box = box

    def add(
        self,
        name: str,
        parent: int,
        pos,
        limit="fixed",
        *,
        side: int = 0,
        r: tuple[float, float] | None = None,
        squash: float = 1.0,
        flat=(0.0, 1.0, 0.0),
        part: str | None = None,
        kind: str | None = None,
        order: str | None = None,
    ) -> int:
        """Add a joint at world ``pos`` (x already mirrored by the caller); with ``r`` also the body segment
        from the parent to it (radii at the parent and at this joint), driven by the parent."""
        pos = np.asarray(pos, np.float64)
        prefix = {1: "l_", -1: "r_", 0: ""}[side]
        lo, hi = LIMITS[limit] if isinstance(limit, str) else limit
        lo, hi = np.array(lo, np.float64), np.array(hi, np.float64)
        if side < 0:
            lo, hi = lo * (1, -1, -1), hi * (1, -1, -1)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        j = len(self.names)
        self.names.append(prefix + name)
        self.parents.append(parent)
        self.positions.append(pos)
        self.sides.append(side)
        self.lower.append(lo)
        self.upper.append(hi)
        moving = int((hi - lo > 1e-12).sum())
        self.kinds.append(kind or ("fixed" if moving == 0 else "hinge" if moving == 1 else "ball"))
        self.orders.append(order)
        self.radii.append(r[1] if r else 0.0)
        if r is not None and parent >= 0:
            self.segment(parent, self.positions[parent], pos, r[0], r[1], squash, flat)
        if part:
            self.parts.setdefault(part, []).append(j)
        return j

    def segment(self, joint: int, a, b, r0: float, r1: float, squash: float = 1.0, flat=(0.0, 1.0, 0.0)) -> None:
        """A body primitive from ``a`` to ``b`` that moves with ``joint``."""
        flat = np.asarray(flat, np.float64)
        self.prims.append(
            Primitive(joint, np.asarray(a, float), np.asarray(b, float), r0, r1, squash, flat / np.linalg.norm(flat),
                      self.box)
        )
        self.radii[joint] = max(self.radii[joint], r0)

    def chain(self, base: str, parent: int, points, limit, radii, *, part=None, side=0, squash=1.0,
              flat=(0.0, 1.0, 0.0), leaf: str | None = None, start: int = 1) -> list[int]:
        """Joints ``base_01, base_02...`` through ``points`` (the last one a fixed leaf named ``leaf`` or
        ``base_end``); ``radii[i]`` is the body radius at ``points[i]``, segments start at the parent."""
        out, prev, prev_r = [], parent, radii[0]
        for i, p in enumerate(points):
            last = i == len(points) - 1
            name = (leaf or f"{base}_end") if last else f"{base}_{i + start:02d}"
            j = self.add(name, prev, p, "fixed" if last else limit, side=side, r=(prev_r, radii[i]),
                         squash=squash, flat=flat, part=None if last else part)
            out.append(j)
            prev, prev_r = j, radii[i]
        return out

    def limb(self, name: str, kind: str, side: int, joints: list[int], pair: int = 0,
             lift: list[tuple[int, int, float]] | None = None) -> None:
        prefix = {1: "l_", -1: "r_", 0: ""}[side]
        self.limbs.append(Limb(prefix + name, kind, side, list(joints), pair, list(lift or [])))

    def limits(self) -> JointLimits:
        lower, upper = np.array(self.lower), np.array(self.upper)
        orders = []
        for j, o in enumerate(self.orders):
            if j == 0:
                o = "YXZ"  # heading outermost, so a creature lying on its side can still turn
            orders.append(o or order_for_ranges(lower[j], upper[j]))
        kinds = list(self.kinds)
        kinds[0] = "free"
        for j, o in enumerate(orders):
            m = "XYZ".index(o[1])
            lower[j, m] = max(lower[j, m], -MIDDLE_LIMIT)
            upper[j, m] = min(upper[j, m], MIDDLE_LIMIT)
        return JointLimits(lower, upper, orders, kinds)
