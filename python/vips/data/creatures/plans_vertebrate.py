"""Body plans with a vertebrate skeleton: biped, quadruped, sprawling reptile, bird and dragon.

Every plan takes proportion parameters (lengths as fractions of ``size`` in metres, ``bulk`` scaling
radii) and lays the creature out in its rest pose with a :class:`Builder`: standing on y = 0, facing +Z.
"""

from __future__ import annotations

import numpy as np

from vips.data.creatures.skeleton import Builder

UP_LEG_LIFT = [(0, 0, -0.5), (1, 0, 1.1), (2, 0, -0.3)]


def _p(side: int, x: float, y: float, z: float) -> np.ndarray:
    return np.array([side * x, y, z], np.float64)


def _tail(b: Builder, parent: int, start: np.ndarray, length: float, count: int, r0: float, droop: float = 0.15,
          curl: float = 0.0) -> None:
    pts, d = [], np.array([0.0, -droop, -1.0])
    d /= np.linalg.norm(d)
    pos = start.copy()
    for i in range(count + 1):
        pos = pos + d * length / (count + 1)
        pts.append(pos.copy())
        d = d + np.array([0.0, curl, 0.0]) / (count + 1)
        d /= np.linalg.norm(d)
    radii = [r0 * (1 - 0.85 * (i + 1) / (count + 1)) for i in range(count + 1)]
    b.chain("tail", parent, pts, "tail", radii, part="tail")


def biped(p: dict) -> Builder:
    """Humanoid in a T-pose: pelvis root, 3 spine joints, neck, head, arms along +-X, legs; optional tail."""
    H, k = p["size"], p["bulk"]
    b = Builder()
    hip_y = p["leg"] * H
    head_h = p["head"] * H
    shoulder_y = H - head_h - p["neck"] * H
    torso = shoulder_y - hip_y
    rt = 0.09 * H * k
    root = b.add("pelvis", -1, (0, hip_y, 0), "root")
    b.segment(root, (0, hip_y, 0), (0, hip_y + 0.15 * torso, 0), rt * 0.95, rt * 0.95, 0.7, (0, 0, 1))
    prev, prev_r = root, rt
    for i, f in enumerate((0.3, 0.6, 0.88)):
        r = rt * (0.85 + 0.2 * i) * (p["chest"] if i == 2 else 1.0)
        prev = b.add(f"spine_{i + 1:02d}", prev, (0, hip_y + f * torso, 0), "spine", r=(prev_r, r), squash=0.7,
                     flat=(0, 0, 1), part="spine")
        prev_r = r
    chest = prev
    neck = b.add("neck_01", chest, (0, shoulder_y + 0.01 * H, 0), "neck", r=(0.035 * H * k, 0.035 * H * k),
                 part="neck")
    head = b.add("head", neck, (0, shoulder_y + p["neck"] * H, 0.01 * H), "head", r=(0.035 * H * k, 0.04 * H),
                 part="head")
    b.add("head_end", head, (0, H - 0.45 * head_h, 0.02 * H), r=(0.45 * head_h, 0.45 * head_h))
    b.segment(head, (0, H - 0.6 * head_h, 0.02 * H), (0, H - 0.6 * head_h, 0.05 * H), 0.3 * head_h, 0.2 * head_h)
    arm = p["arm"] * H
    sw = p["shoulders"] * H
    for side in (1, -1):
        cl = b.add("clavicle", chest, _p(side, 0.04 * H, shoulder_y - 0.02 * H, 0), "clavicle", side=side,
                   r=(0.05 * H * k, 0.04 * H * k))
        ua = b.add("upper_arm", cl, _p(side, sw / 2, shoulder_y - 0.03 * H, 0), "shoulder", side=side,
                   r=(0.04 * H * k, 0.042 * H * k))
        fa = b.add("forearm", ua, _p(side, sw / 2 + 0.45 * arm, shoulder_y - 0.03 * H, 0), "elbow", side=side,
                   r=(0.036 * H * k, 0.03 * H * k))
        hand = b.add("hand", fa, _p(side, sw / 2 + 0.83 * arm, shoulder_y - 0.03 * H, 0), "wrist", side=side,
                     r=(0.03 * H * k, 0.022 * H * k))
        b.add("hand_end", hand, _p(side, sw / 2 + arm, shoulder_y - 0.03 * H, 0), side=side,
              r=(0.028 * H * k, 0.018 * H * k), squash=0.5)
        b.limb("arm", "arm", side, [cl, ua, fa, hand])
    hw = p["hips"] * H
    for side in (1, -1):
        th = b.add("thigh", root, _p(side, hw / 2, hip_y - 0.03 * H, 0), "hip", side=side,
                   r=(0.05 * H * k, 0.065 * H * k))
        sh = b.add("shin", th, _p(side, hw / 2, 0.52 * hip_y, 0.005 * H), "knee", side=side,
                   r=(0.055 * H * k, 0.045 * H * k))
        ft = b.add("foot", sh, _p(side, hw / 2, 0.05 * H, -0.01 * H), "ankle", side=side,
                   r=(0.04 * H * k, 0.03 * H * k))
        b.add("toe", ft, _p(side, hw / 2, 0.025 * H, 0.12 * H), side=side, r=(0.03 * H * k, 0.022 * H * k),
              squash=0.6)
        b.limb("leg", "leg", side, [th, sh, ft], lift=UP_LEG_LIFT)
    if p.get("tail", 0) > 0:
        _tail(b, root, np.array([0, hip_y - 0.03 * H, -0.05 * H]), p["tail"] * H, 4, 0.05 * H * k, droop=0.5)
    return b


def quadruped(p: dict, b: Builder | None = None) -> Builder:
    """Four-legged mammal: pelvis root, spine forward to the chest, neck and head, tail, four legs."""
    S, k = p["size"], p["bulk"]
    b = b or Builder()
    L = p["body"] * S
    hy, fy = p["leg"] * S, p["leg"] * S * p.get("front", 1.0)
    rb = 0.2 * L * k
    root = b.add("pelvis", -1, (0, hy + 0.1 * rb, -L / 2), "root")
    prev, prev_r = root, rb * 0.9
    for i in range(3):
        f = (i + 1) / 3
        r = rb * (0.95 + 0.15 * np.sin(np.pi * f))
        prev = b.add(f"spine_{i + 1:02d}", prev, (0, hy + 0.1 * rb + (fy - hy) * f, -L / 2 + L * f), "spine",
                     r=(prev_r, r), squash=0.85, flat=(1, 0, 0), part="spine")
        prev_r = r
    chest = prev
    chest_pos = b.positions[chest]
    ang = p["neck_angle"]
    nd = np.array([0.0, np.sin(ang), np.cos(ang)])
    nl = p["neck"] * S
    rn = 0.45 * rb * p.get("neck_bulk", 1.0)
    pts = [chest_pos + nd * nl * (i + 1) / 2 for i in range(2)]
    n1 = b.add("neck_01", chest, pts[0] - nd * nl * 0.5 + nd * 0.1 * nl, "neck", r=(rb * 0.8, rn), part="neck")
    n2 = b.add("neck_02", n1, pts[0], "neck", r=(rn, rn * 0.9), part="neck")
    head = b.add("head", n2, pts[1], "head", r=(rn * 0.9, rn * 0.8), part="head")
    hl = p["head_len"] * S
    hd = np.array([0.0, -0.45, 1.0])
    hd /= np.linalg.norm(hd)
    hp = b.positions[head]
    rh = 0.3 * hl * p.get("head_bulk", 1.0)
    jaw = b.add("jaw", head, hp + hd * 0.3 * hl + np.array([0, -0.3 * rh, 0]), "jaw", part="jaw")
    b.add("jaw_end", jaw, hp + hd * 0.95 * hl + np.array([0, -0.45 * rh, 0]), r=(0.5 * rh, 0.3 * rh))
    b.add("head_end", head, hp + hd * hl, r=(rh, 0.55 * rh))
    if p.get("ears", 0) > 0:
        for side in (1, -1):
            b.add("ear", head, hp + _p(side, 0.5 * rh, 0.9 * rh + p["ears"] * hl, -0.1 * rh), side=side,
                  r=(0.25 * rh, 0.12 * rh), squash=0.4, flat=(0, 0, 1))
    _tail(b, root, np.array([0, hy + 0.2 * rb, -L / 2 - 0.5 * rb]), p["tail"] * S, max(2, int(p.get("tail_n", 4))),
          0.3 * rb * p.get("tail_bulk", 1.0), droop=p.get("droop", 0.6))
    rl = 0.35 * rb * p.get("leg_bulk", 1.0)
    w = 0.55 * rb
    for side in (1, -1):
        z = L / 2 - 0.1 * rb
        sc = b.add("scapula", chest, _p(side, w * 0.6, fy, z), "spine", side=side, r=(rb * 0.7, rl * 1.2))
        ua = b.add("upper_arm", sc, _p(side, w, fy - 0.2 * fy, z + 0.12 * rb), "quad_shoulder", side=side,
                   r=(rl * 1.3, rl))
        fa = b.add("forearm", ua, _p(side, w, 0.55 * fy, z - 0.1 * rb), "quad_elbow", side=side, r=(rl, rl * 0.8))
        ff = b.add("front_foot", fa, _p(side, w, 0.12 * fy, z - 0.05 * rb), "quad_carpus", side=side,
                   r=(rl * 0.7, rl * 0.6))
        b.add("front_toe", ff, _p(side, w, 0.3 * rl, z + 0.15 * rb + 0.3 * rl), side=side, r=(rl * 0.6, rl * 0.5))
        b.limb("leg_front", "leg", side, [ua, fa, ff], pair=0,
               lift=[(0, 0, -0.3), (1, 0, -0.9), (2, 0, 1.4)])
    for side in (1, -1):
        z = -L / 2
        th = b.add("thigh", root, _p(side, w, hy - 0.15 * hy, z + 0.05 * rb), "quad_hip", side=side,
                   r=(rl * 1.6, rl * 1.2))
        sh = b.add("shin", th, _p(side, w, 0.55 * hy, z + 0.35 * rb), "quad_stifle", side=side, r=(rl * 1.1, rl * 0.8))
        an = b.add("hind_ankle", sh, _p(side, w, 0.3 * hy, z - 0.15 * rb), "hock", side=side, r=(rl * 0.8, rl * 0.6))
        hf = b.add("hind_foot", an, _p(side, w, 0.08 * hy, z - 0.05 * rb), "paw", side=side, r=(rl * 0.6, rl * 0.55))
        b.add("hind_toe", hf, _p(side, w, 0.3 * rl, z + 0.15 * rb), side=side, r=(rl * 0.55, rl * 0.5))
        b.limb("leg_hind", "leg", side, [th, sh, an, hf], pair=1,
               lift=[(0, 0, -0.3), (1, 0, 0.9), (2, 0, -1.0), (3, 0, 0.3)])
    return b


def reptile(p: dict) -> Builder:
    """Sprawling reptile: low body, legs out to the side then down, long tail, head forward."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    rb = 0.16 * L * k
    y = p["leg"] * S + rb * 0.6
    root = b.add("pelvis", -1, (0, y, -L / 2), "root")
    prev, prev_r = root, rb * 0.9
    for i in range(3):
        f = (i + 1) / 3
        r = rb * (1.0 + 0.1 * np.sin(np.pi * f))
        prev = b.add(f"spine_{i + 1:02d}", prev, (0, y, -L / 2 + L * f), "body_chain", r=(prev_r, r), squash=0.7,
                     flat=(0, 1, 0), part="spine")
        prev_r = r
    chest = prev
    nl, hl = p["neck"] * S, p["head_len"] * S
    neck = b.add("neck_01", chest, (0, y + 0.1 * rb, L / 2 + 0.4 * nl), "neck", r=(rb, rb * 0.65), part="neck")
    head = b.add("head", neck, (0, y + 0.2 * rb, L / 2 + nl), "head", r=(rb * 0.65, rb * 0.6), part="head")
    hp = b.positions[head]
    jaw = b.add("jaw", head, hp + (0, -0.25 * rb, 0.1 * hl), "jaw", part="jaw")
    b.add("jaw_end", jaw, hp + (0, -0.3 * rb, 0.9 * hl), r=(0.4 * rb, 0.2 * rb), squash=0.6)
    b.add("head_end", head, hp + (0, 0, hl), r=(0.6 * rb, 0.25 * rb), squash=0.7)
    _tail(b, root, np.array([0, y, -L / 2 - 0.3 * rb]), p["tail"] * S, int(p.get("tail_n", 6)), rb * 0.85,
          droop=0.12)
    lg = p["leg"] * S
    rl = 0.32 * rb * p.get("leg_bulk", 1.0)
    layout = (("leg_front", L / 2 - 0.3 * rb, chest), ("leg_hind", -L / 2 + 0.3 * rb, root))
    for pair, (name, z, parent) in enumerate(layout):
        for side in (1, -1):
            ua = b.add(f"{name}_upper", parent, _p(side, 0.7 * rb, y, z), "sprawl_hip", side=side, r=(rb * 0.5, rl))
            lo = b.add(f"{name}_lower", ua, _p(side, 0.7 * rb + 1.1 * lg, y + 0.1 * lg, z), "sprawl_knee", side=side,
                       r=(rl, rl * 0.9))
            ft = b.add(f"{name}_foot", lo, _p(side, 0.7 * rb + 1.3 * lg, 0.25 * rl, z), "paw", side=side,
                       r=(rl * 0.8, rl * 0.7))
            b.add(f"{name}_toe", ft, _p(side, 0.7 * rb + 1.4 * lg, 0.2 * rl, z + 0.6 * lg), side=side,
                  r=(rl * 0.6, rl * 0.4), squash=0.5)
            b.limb(name, "sprawl", side, [ua, lo, ft], pair=pair, lift=[(0, 2, 0.6), (1, 2, -0.4)])
    return b


def _wing(b: Builder, parent: int, side: int, root: np.ndarray, span: float, chord: float, r: float,
          membrane: bool = False) -> list[int]:
    """A wing spread along +-X from ``root``: shoulder, elbow, wrist and tip, flattened in Y."""
    s = side
    p1 = root + _p(s, 0.32 * span, 0.02 * span, -0.02 * span)
    p2 = root + _p(s, 0.6 * span, 0.03 * span, 0.0)
    p3 = root + _p(s, span, 0.0, -0.12 * span)
    w1 = b.add("wing_01", parent, root, "wing", side=side, r=(r, r))
    w2 = b.add("wing_02", w1, p1, "wing_elbow", side=side, r=(0.7 * chord, 0.6 * chord), squash=0.12)
    w3 = b.add("wing_03", w2, p2, "wing_wrist", side=side, r=(0.6 * chord, 0.55 * chord), squash=0.12)
    b.add("wing_tip", w3, p3, side=side, r=(0.5 * chord, 0.18 * chord), squash=0.12)
    if membrane:
        # Bat-like membrane between the wrist, a finger and the flank.
        b.segment(w3, p2, root + _p(s, 0.75 * span, -0.02 * span, -0.45 * span), 0.35 * chord, 0.1 * chord, 0.12)
        b.segment(w2, p1, root + _p(s, 0.25 * span, -0.03 * span, -0.45 * span), 0.55 * chord, 0.2 * chord, 0.12)
    return [w1, w2, w3]


def bird(p: dict) -> Builder:
    """Bird: body root, curved neck, head with beak, spread wings, fanned tail, two legs with reversed ankles."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    rb = 0.3 * L * k
    hy = p["leg"] * S + 0.6 * rb
    root = b.add("pelvis", -1, (0, hy, -0.3 * L), "root")
    chest = b.add("spine_01", root, (0, hy + 0.15 * L, 0.35 * L), "spine", r=(rb * 0.85, rb), squash=0.85,
                  flat=(1, 0, 0), part="spine")
    nl = p["neck"] * S
    n = max(2, int(p.get("neck_n", 3)))
    rn = 0.35 * rb * p.get("neck_bulk", 1.0)
    prev, cp = chest, b.positions[chest]
    for i in range(n):
        f = (i + 1) / n
        pos = cp + np.array([0, nl * (0.3 * f + 0.7 * f**0.7) / 1.0 * 0.85, 0.35 * nl * f * (1 - f) + 0.2 * rb])
        prev = b.add(f"neck_{i + 1:02d}", prev, pos, "neck", r=(rb * 0.6 if i == 0 else rn, rn), part="neck")
    head = b.add("head", prev, b.positions[prev] + (0, 0.5 * rn, 0.3 * rn), "head", r=(rn, rn * 1.3), part="head")
    hp = b.positions[head]
    rh = rn * 1.15 * p.get("head_bulk", 1.0)
    b.segment(head, hp, hp + (0, 0, 0.3 * rh), rh, rh)
    bk = p["beak"] * S
    beak = b.add("beak", head, hp + (0, -0.2 * rh, 0.9 * rh), r=(0.5 * rh, 0.4 * rh))
    b.add("beak_end", beak, hp + (0, -0.2 * rh - 0.3 * bk * p.get("hook", 0.2), 0.9 * rh + bk),
          r=(0.35 * rh, 0.05 * rh))
    tl = p["tail"] * S
    t1 = b.add("tail_01", root, (0, hy + 0.05 * L, -0.3 * L - 0.5 * rb), "tail", r=(rb * 0.8, rb * 0.35), part="tail")
    b.add("tail_end", t1, (0, hy + 0.05 * L - 0.1 * tl, -0.3 * L - 0.5 * rb - tl), r=(0.25 * tl, 0.4 * tl),
          squash=0.12)
    span, chord = p["wing"] * S / 2, p["chord"] * S
    wings = {}
    for side in (1, -1):
        wings[side] = _wing(b, chest, side, b.positions[chest] + _p(side, 0.6 * rb, 0.2 * rb, 0), span, chord,
                            0.35 * rb)
        b.limb("wing", "wing", side, wings[side])
    lg = p["leg"] * S
    rl = 0.12 * rb + 0.04 * lg
    for side in (1, -1):
        th = b.add("thigh", root, _p(side, 0.45 * rb, hy - 0.3 * rb, -0.05 * L), "quad_hip", side=side,
                   r=(rb * 0.45, rl * 1.6))
        sh = b.add("shin", th, _p(side, 0.45 * rb, hy - 0.3 * rb - 0.45 * lg, 0.05 * L), "quad_stifle", side=side,
                   r=(rl * 1.6, rl))
        ta = b.add("tarsus", sh, _p(side, 0.45 * rb, 0.06 * lg + 0.5 * rl, -0.05 * L), "hock", side=side,
                   r=(rl * 0.8, rl * 0.7))
        ft = b.add("foot", ta, _p(side, 0.45 * rb, 0.5 * rl, 0.0), "paw", side=side, r=(rl * 0.7, rl * 0.6))
        b.add("toe", ft, _p(side, 0.45 * rb, 0.4 * rl, 0.25 * lg + 0.5 * rl), side=side, r=(rl * 0.6, rl * 0.3),
              squash=0.5)
        b.limb("leg", "leg", side, [th, sh, ta, ft], lift=[(0, 0, -0.4), (1, 0, 0.9), (2, 0, -1.2), (3, 0, 0.5)])
    return b


def dragon(p: dict) -> Builder:
    """Dragon: a quadruped with membrane wings at the shoulders and a long tail."""
    b = quadruped(p)
    chest = b.names.index("spine_03")
    rb = 0.2 * p["body"] * p["size"] * p["bulk"]
    span, chord = p["wing"] * p["size"] / 2, p["chord"] * p["size"]
    for side in (1, -1):
        root = b.positions[chest] + _p(side, 0.5 * rb, 0.7 * rb, -0.2 * rb)
        b.limb("wing", "wing", side, _wing(b, chest, side, root, span, chord, 0.3 * rb, membrane=True))
    return b
