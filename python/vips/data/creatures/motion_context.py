"""The scratch state motion programs write into, and how it becomes :class:`vips.Poses`.

Programs write Euler angles in the *left-canonical* convention (what the left side of the body does);
right-side joints get them mirrored at the end (angles about Y and Z negated). The root's angles are
(pitch about X, heading about Y, roll about Z). Everything is clipped into the joint limits last, and
grounded creatures are lifted so their lowest point rests on y = 0 in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vips.data.creatures.creature import Creature
from vips.data.creatures.skeleton import Limb
from vips.poses import Poses


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


@dataclass(eq=False)
class MotionContext:
    """Time base and buffers of one motion being generated.

    Attributes:
        creature: the creature.
        t: (F,) seconds.
        fps: frames per second.
        rng: the program's random generator (from the seed).
        angles: (F, J, 3) left-canonical Euler angles being written.
        offset: (F, 3) root translation offset (x, z move the creature; y is added on top of grounding).
        grounded: keep the lowest point on the ground.
    """

    creature: Creature
    t: np.ndarray
    fps: float
    rng: np.random.Generator
    angles: np.ndarray
    offset: np.ndarray
    grounded: bool = True
    notes: dict = field(default_factory=dict)

    @classmethod
    def new(cls, creature: Creature, frames: int, fps: float, seed: int) -> "MotionContext":
        J = creature.rig.num_joints
        return cls(creature, np.arange(frames) / fps, fps, np.random.default_rng(seed),
                   np.zeros((frames, J, 3)), np.zeros((frames, 3)))

    # ----- what the creature is made of ----------------------------------------------------------------
    @property
    def frames(self) -> int:
        return len(self.t)

    def part(self, name: str) -> list[int]:
        return self.creature.parts.get(name, [])

    def limbs(self, *kinds: str) -> list[Limb]:
        return [limb for limb in self.creature.limbs if limb.kind in kinds]

    def joint(self, name: str) -> int | None:
        names = self.creature.rig.joint_names
        return names.index(name) if name in names else None

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    @property
    def rest(self) -> np.ndarray:
        """(J, 3) rest joint positions (computed once)."""
        if "rest" not in self.notes:
            self.notes["rest"] = self.creature.rig.rest_joint_positions().astype(np.float64)
        return self.notes["rest"]

    def scale(self) -> float:
        """Leg length, or a body length for legless creatures (metres): sets step lengths and speeds."""
        rest = self.rest
        legs = self.limbs("leg", "sprawl")
        if legs:
            return float(max(rest[legs[0].joints[0], 1], 0.2 * np.ptp(rest[:, 2])))
        return float(np.ptp(rest[:, 2]) or self.creature.rig.height())

    # ----- writing -------------------------------------------------------------------------------------
    def add(self, joints, axis: int, values) -> None:
        """Add ``values`` ((F,) or scalar) to the angle about ``axis`` of each joint in ``joints``."""
        for j in np.atleast_1d(joints):
            self.angles[:, int(j), axis] += values

    def add_chain(self, joints: list[int], axis: int, total) -> None:
        """Spread ``total`` ((F,) or scalar) evenly over a chain, so the chain curls by that much in all."""
        if joints:
            self.add(joints, axis, np.asarray(total) / len(joints))

    def noise(self, shape: tuple[int, ...], seconds: float) -> np.ndarray:
        """(F, *shape) smooth unit-variance noise with correlation time ``seconds``."""
        F = self.frames
        sigma = max(seconds * self.fps, 1.0)
        pad = int(3 * sigma) + 1
        white = self.rng.normal(size=(F + 2 * pad,) + shape)
        k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / sigma) ** 2)
        k /= np.sqrt((k**2).sum())
        out = np.apply_along_axis(lambda s: np.convolve(s, k, mode="valid"), 0, white)
        return out[:F]

    def envelope(self, rise: float, fall: float | None) -> np.ndarray:
        """(F,) 0 -> 1 over the first ``rise`` of the clip, back to 0 over the last ``fall`` (None: stay)."""
        x = np.linspace(0, 1, self.frames)
        e = smoothstep(x / max(rise, 1e-6))
        if fall:
            e = e * smoothstep((1 - x) / fall)
        return e

    def move(self, heading: np.ndarray, speed) -> None:
        """Set the root heading (F,) and integrate a forward ``speed`` (m/s, (F,) or scalar) along it."""
        self.angles[:, 0, 1] = heading
        step = np.broadcast_to(np.asarray(speed, float), heading.shape) / self.fps
        self.offset[:, 0] = np.concatenate([[0], np.cumsum(step * np.sin(heading))[:-1]])
        self.offset[:, 2] = np.concatenate([[0], np.cumsum(step * np.cos(heading))[:-1]])

    # ----- result --------------------------------------------------------------------------------------
    def finish(self, name: str) -> Poses:
        from vips.kinematics import joint_positions

        c = self.creature
        mirror = np.where(c.sides[:, None] < 0, np.array([1.0, -1.0, -1.0]), 1.0)
        angles = c.limits.clip(self.angles * mirror)
        quats = c.limits.to_quats(angles).astype(np.float32)
        offset = self.offset.copy()
        if self.grounded:
            flat = offset.copy()
            flat[:, 1] = 0
            pos = joint_positions(c.rig, Poses(quats, flat.astype(np.float32)))
            lowest = (pos[..., 1] - c.radii[None]).min(axis=1)
            offset[:, 1] += (self.rest[:, 1] - c.radii).min() - lowest
        return Poses(quats, offset.astype(np.float32), self.fps, name)
