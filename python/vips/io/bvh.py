"""BVH motion capture files: the HIERARCHY becomes a skeleton-only :class:`Rig`, the MOTION one clip.

Conventions (the BVH "spec" is the Biovision/Thingvold description and common practice, e.g. CMU's files):

- Each joint's local rotation is the product of its rotation channels *in the order they are listed*:
  ``CHANNELS 3 Zrotation Xrotation Yrotation`` gives ``R = Rz(z) @ Rx(x) @ Ry(y)`` (column vectors, right-handed,
  angles in degrees), i.e. intrinsic rotations applied in channel order.
- ``OFFSET`` is the joint's rest translation in its parent's frame; rest rotations are the identity.
- Position channels hold the joint's full local translation, replacing its OFFSET (Blender's reading; most
  files have a zero root OFFSET, where adding and replacing agree). The root's become the clip's root offset
  ``position - OFFSET``; position channels on other joints are left out of the pose model's clip (bone lengths
  are fixed by the rig; reported), while the clip's full channels (``rig.clip_channels``) keep every joint's
  rotation and translation for conversion.
- ``End Site`` blocks become leaf joints named ``<parent>_end`` (they give the last bone its length).
- One clip named after the file stem, ``fps = 1 / Frame Time``.

BVH has no units. ``meters_per_unit`` comes from the rest skeleton's height H along Y (see :func:`guess_units`):
H >= 1000: millimetres; 100 <= H < 1000: centimetres; 40 <= H < 100: inches; 10 <= H < 40: CMU ASF units
(1/0.45 inch = 0.05644 m, as in the CMU cgspeed conversions, whose people are ~30 units tall); H < 10: metres.
It assumes a roughly human-sized subject; pass ``meters_per_unit`` when you know better.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vips.errors import AssetError
from vips.io.channels import ClipChannels
from vips.io.guard import check_frame_time, check_joint_frames
from vips.io.names import UniqueNames
from vips.io.obj import parse_float, read_text_lines
from vips.kinematics import joint_positions
from vips.local_poses import poses_from_local
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import matrix_to_quat

CMU_UNIT = 0.0254 / 0.45
# (lowest height, metres per unit, name), checked from the top.
UNIT_GUESSES = ((1000.0, 0.001, "millimetres"), (100.0, 0.01, "centimetres"), (40.0, 0.0254, "inches"),
                (10.0, CMU_UNIT, "CMU units (1/0.45 inch)"), (0.0, 1.0, "metres"))
_COUNT = re.compile(r"[0-9]+")
_CHANNELS = {f"{axis}{kind}": (kind, "xyz".index(axis)) for axis in "xyz" for kind in ("position", "rotation")}


@dataclass
class _Joint:
    name: str
    parent: int
    line: int
    offset: tuple[float, float, float] | None = None
    channels: list[tuple[str, int]] = field(default_factory=list)  # (kind, axis) in file order
    end_site: bool = False


class _Tokens:
    """The hierarchy's whitespace-separated tokens with their line numbers; errors name file:line."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.items = [(tok, n) for n, line in enumerate(lines, start=1) for tok in line.split()]
        self.pos = 0
        self.last_line = max(1, len(lines))

    def error(self, message: str, line: int | None = None) -> AssetError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.last_line
        return AssetError(f"{self.path}:{line}: {message}")

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"the HIERARCHY ends early while reading {what} (truncated file?)")
        self.pos += 1
        return self.items[self.pos - 1]

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def expect(self, word: str, what: str) -> int:
        tok, line = self.next(what)
        if tok != word:
            raise self.error(f"expected '{word}' in {what}, found '{tok}'", line)
        return line

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == line and self.items[self.pos][0] != "{":
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out


def _what(joints: list[_Joint], index: int) -> str:
    joint = joints[index]
    return f"joint '{joint.name}'" if not joint.end_site else f"the End Site of '{joints[joint.parent].name}'"


def _parse_blocks(tokens: _Tokens, joints: list[_Joint]) -> None:
    """The ``{ ... }`` body of the root joint (``joints[0]``) and, nested in it, of every joint below: OFFSET,
    CHANNELS and child joints. Iterative (an open block waits on a stack while its children are read), so a
    hierarchy thousands of levels deep needs no recursion."""
    tokens.expect("{", _what(joints, 0))
    stack = [0]
    while stack:
        index = stack[-1]
        joint, what = joints[index], _what(joints, index)
        tok, line = tokens.next(what)
        if tok == "}":
            if joint.offset is None:
                raise tokens.error(f"{what} has no OFFSET", joint.line)
            stack.pop()
        elif tok == "OFFSET":
            where = f"{tokens.path}:{line}"
            x, y, z = (parse_float(tokens.next(what)[0], where, f"OFFSET of {what}") for _ in range(3))
            joint.offset = (x, y, z)
        elif tok == "CHANNELS" and not joint.end_site:
            joint.channels = _parse_channels(tokens, what, line)
        elif tok in ("JOINT", "End") and not joint.end_site:
            joints.append(_child(tokens, index, tok, line))
            tokens.expect("{", _what(joints, len(joints) - 1))
            stack.append(len(joints) - 1)
        else:
            raise tokens.error(f"unexpected '{tok}' in {what}", line)


def _parse_channels(tokens: _Tokens, what: str, line: int) -> list[tuple[str, int]]:
    count_tok, _ = tokens.next(what)
    if not _COUNT.fullmatch(count_tok):
        raise tokens.error(f"CHANNELS of {what} must start with a count, found '{count_tok}'", line)
    count, channels = int(count_tok), []
    for k in range(count):
        name, name_line = tokens.next(what)
        if name.lower() not in _CHANNELS:
            raise tokens.error(
                f"CHANNELS of {what} declares {count} channels but '{name}' (number {k + 1}) is not a channel "
                "name (Xposition ... Zrotation)", name_line)
        channels.append(_CHANNELS[name.lower()])
    return channels


def _child(tokens: _Tokens, parent: int, keyword: str, line: int) -> _Joint:
    """The joint that ``JOINT name`` or ``End Site`` (``keyword`` on ``line``) starts below joint ``parent``."""
    if keyword == "End":
        site = tokens.rest_of_line(line)
        if not site or site[0] != "Site":
            raise tokens.error("expected 'End Site'", line)
        return _Joint("", parent, line, end_site=True)
    name = " ".join(tokens.rest_of_line(line))
    if not name:
        raise tokens.error("JOINT without a name", line)
    return _Joint(name, parent, line)


def _parse_hierarchy(path: Path, lines: list[str]) -> list[_Joint]:
    tokens = _Tokens(path, lines)
    tokens.expect("HIERARCHY", "the file header")
    line = tokens.expect("ROOT", "the HIERARCHY")
    name = " ".join(tokens.rest_of_line(line))
    if not name:
        raise tokens.error("ROOT without a name", line)
    joints = [_Joint(name, -1, line)]
    _parse_blocks(tokens, joints)
    if tokens.peek() is not None:
        tok, extra = tokens.next("the HIERARCHY")
        hint = " (only one ROOT per file is supported)" if tok == "ROOT" else ""
        raise tokens.error(f"unexpected '{tok}' after the root joint's closing brace{hint}", extra)
    _name_joints(path, joints)
    return joints


def _name_joints(path: Path, joints: list[_Joint]) -> None:
    seen: dict[str, int] = {}
    for j in joints:
        if not j.end_site:
            if j.name in seen:
                raise AssetError(f"{path}:{j.line}: joint name '{j.name}' is used twice (first at line {seen[j.name]})")
            seen[j.name] = j.line
    unique = UniqueNames(seen, sep="")
    for j in joints:
        if j.end_site:
            j.name = unique(f"{joints[j.parent].name}_end")


# ----- MOTION --------------------------------------------------------------------------------------
def _header_value(path: Path, lines: list[str], n: int, pattern: str, what: str) -> tuple[str, int]:
    """The value of the next non-blank line (from index ``n``) matching ``pattern``; (value, next index)."""
    while n < len(lines) and not lines[n].strip():
        n += 1
    if n >= len(lines):
        raise AssetError(f"{path}:{len(lines)}: the MOTION section ends before its '{what}' line (truncated file?)")
    match = re.fullmatch(pattern, lines[n].strip(), flags=re.IGNORECASE)
    if match is None:
        raise AssetError(f"{path}:{n + 1}: expected '{what} ...', found '{lines[n].strip()[:40]}'")
    return match.group(1), n + 1


def _parse_motion(path: Path, lines: list[str], start: int, num_channels: int,
                  num_joints: int) -> tuple[np.ndarray, float, list[str]]:
    """Frames (F, C) float64 from the lines after MOTION (index ``start``), the frame time in seconds and notes.

    The frame count is checked against the lines present (one per frame, empty when there are no channels)
    and frames x ``num_joints`` against :data:`~vips.io.guard.MAX_JOINT_FRAMES` before anything is allocated.
    """
    value, n = _header_value(path, lines, start, r"Frames\s*:\s*(\S+)", "Frames:")
    if not _COUNT.fullmatch(value):
        raise AssetError(f"{path}:{n}: the frame count '{value[:40]}' is not a non-negative integer")
    num_frames = int(value)
    value, n = _header_value(path, lines, n, r"Frame\s+Time\s*:\s*(\S+)", "Frame Time:")
    frame_time = parse_float(value, f"{path}:{n}", "Frame Time")
    if frame_time <= 0:
        raise AssetError(f"{path}:{n}: Frame Time must be positive seconds per frame, got {value}")
    check_frame_time(f"{path}:{n}", frame_time, f"Frame Time {value[:40]}")
    if num_channels == 0:  # no values: each frame is an empty line
        rows = [(k + 1, line) for k, line in enumerate(lines[n:], start=n)]
    else:
        rows = [(k + 1, line) for k, line in enumerate(lines[n:], start=n) if line.strip()]
    if len(rows) < num_frames:
        raise AssetError(
            f"{path}:{len(lines)}: the header promises {num_frames} frames but only {len(rows)} frame lines follow "
            "(truncated file?)"
        )
    check_joint_frames(path, f"'{path.stem}'", num_frames, num_joints)
    if num_channels == 0:
        return np.zeros((num_frames, 0)), frame_time, []
    notes = []
    if len(rows) > num_frames:
        notes.append(f"{len(rows) - num_frames} lines after the {num_frames} declared frames were ignored")
    frames = np.empty((num_frames, num_channels))
    for f, (number, line) in enumerate(rows[:num_frames]):
        values = line.split()
        if len(values) != num_channels:
            raise AssetError(
                f"{path}:{number}: frame {f} has {len(values)} values; the HIERARCHY declares {num_channels} channels"
            )
        try:
            frames[f] = np.array(values, dtype=np.float64)
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise AssetError(f"{path}:{number}: frame {f} holds '{bad[:40]}', which is not a number") from None
        if not np.isfinite(frames[f]).all():
            raise AssetError(f"{path}:{number}: frame {f} holds a NaN or infinite value")
    return frames, frame_time, notes


def _is_float(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _axis_rotations(axis: int, degrees: np.ndarray) -> np.ndarray:
    """(F,) angles in degrees -> (F, 3, 3) float64 right-handed rotations about x, y or z."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    i, k = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the rotation turns, in right-handed order
    m[:, axis, axis] = 1
    m[:, i, i], m[:, i, k], m[:, k, i], m[:, k, k] = c, -s, s, c
    return m


def _local_transforms(joints: list[_Joint], frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full local rotations (F, J, 3, 3) and translations (F, J, 3), float64, from the channel values."""
    F, J = frames.shape[0], len(joints)
    rotations = np.tile(np.eye(3), (F, J, 1, 1))
    translations = np.tile(np.asarray([j.offset for j in joints], np.float64), (F, 1, 1))
    column = 0
    for j, joint in enumerate(joints):
        for kind, axis in joint.channels:
            if kind == "rotation":
                rotations[:, j] = rotations[:, j] @ _axis_rotations(axis, frames[:, column])
            else:
                translations[:, j, axis] = frames[:, column]
            column += 1
    return rotations, translations


def _rest_height(joints: list[_Joint]) -> float:
    """Extent along Y of the rest skeleton (identity rotations: positions are summed OFFSETs)."""
    positions = np.zeros((len(joints), 3))
    for j, joint in enumerate(joints):
        positions[j] = joint.offset if joint.parent < 0 else positions[joint.parent] + joint.offset
    return float(np.ptp(positions[:, 1]))


def guess_units(height: float) -> tuple[float, str]:
    """(metres per unit, unit name) for a skeleton ``height`` units tall (see the module docstring)."""
    for lowest, meters, name in UNIT_GUESSES:
        if height >= lowest:
            return meters, name
    return 1.0, "metres"


#: The quantile of a clip's per-frame lowest joint heights taken as its floor (low, so jumps and lifted feet do
#: not count, above the minimum, so one glitched frame does not either).
FLOOR_QUANTILE = 0.05


def clip_floor(rig: Rig, clip: Poses) -> float:
    """The height of the floor ``clip`` moves on: the :data:`FLOOR_QUANTILE` quantile over frames of each frame's
    lowest joint along the rig's up axis (asset units)."""
    axis = 1 if rig.up_axis == "Y" else 2
    return float(np.quantile(joint_positions(rig, clip)[:, :, axis].min(axis=1), FLOOR_QUANTILE))


def _on_the_floor(rig: Rig, clip: Poses) -> tuple[Rig, Poses]:
    """``rig`` with its rest skeleton raised (or lowered) onto ``clip``'s floor, and the clip re-expressed so every
    frame keeps its joint positions."""
    shift = clip_floor(rig, clip) - float(rig.rest_joint_positions()[:, 1].min())
    if abs(shift) <= 1e-6 * rig.height():
        return rig, clip
    rest = rig.rest_translations.copy()
    rest[0, 1] += shift
    root = clip.root_translation.copy()
    root[:, 1] -= shift
    moved = Rig(joint_names=rig.joint_names, parents=rig.parents, rest_translations=rest,
                rest_rotations=rig.rest_rotations, up_axis=rig.up_axis, meters_per_unit=rig.meters_per_unit,
                name=rig.name, source=rig.source)
    return moved, Poses(clip.rotations, root, clip.fps, clip.name)


def read_bvh(path: str | os.PathLike[str], meters_per_unit: float | None = None) -> Rig:
    """Read a BVH file as a skeleton-only :class:`Rig` with one clip (named after the file stem).

    The rig has J joints (ROOT, JOINTs and End Sites, in file order, parents first), rest translations
    (J, 3) float32 = OFFSETs, identity rest rotations, no mesh, Y up, and ``meters_per_unit`` guessed from
    its height unless given. The clip holds F poses: rotations (F, J, 4) from the Euler channels, root
    translation (F, 3) = root position channels - root rest translation, ``fps = 1 / Frame Time``.

    Motion capture moves the root in absolute coordinates over a floor at its own height, while the zero pose
    hangs from the root's OFFSET (often the origin, the feet below it): the rest skeleton is set on the clip's
    floor (:func:`clip_floor`), by raising the root's rest translation, so the rest pose and the frames stand
    on one ground. Every frame's joint positions stay exactly those of the file.
    Raises :class:`AssetError` with file:line for malformed or truncated files.
    """
    path = Path(path)
    lines = read_text_lines(path)
    motion = next((n for n, line in enumerate(lines) if line.split()[:1] == ["MOTION"]), None)
    joints = _parse_hierarchy(path, lines if motion is None else lines[:motion])
    if motion is None:
        raise AssetError(f"{path}:{len(lines)}: no MOTION section after the HIERARCHY (truncated file?)")
    num_channels = sum(len(j.channels) for j in joints)
    frames, frame_time, notes = _parse_motion(path, lines, motion + 1, num_channels, len(joints))
    J = len(joints)
    identity = np.zeros((J, 4), np.float32)
    identity[:, 0] = 1
    if meters_per_unit is None:
        meters_per_unit = guess_units(_rest_height(joints))[0]
    rig = Rig(
        joint_names=[j.name for j in joints],
        parents=np.array([j.parent for j in joints], np.int32),
        rest_translations=np.asarray([j.offset for j in joints], np.float64),
        rest_rotations=identity,
        up_axis="Y",
        meters_per_unit=meters_per_unit,
        name=path.stem,
        source=str(path),
    )
    if len(frames):
        rotations, translations = _local_transforms(joints, frames)
        quats = matrix_to_quat(rotations)
        clip, clip_notes = poses_from_local(rig, quats, translations, 1.0 / frame_time, path.stem)
        rig, clip = _on_the_floor(rig, clip)
        rig.clips[path.stem] = clip
        # The file's own local transforms: the rest OFFSETs moved onto the floor do not enter them.
        rig.clip_channels[path.stem] = ClipChannels(quats, translations, np.ones_like(translations), clip.fps,
                                                    path.stem, clip)
        notes += clip_notes
    for note in notes:
        rig.warn(note)
    return rig
