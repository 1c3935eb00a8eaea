"""Body plans without a vertebrate limb layout: insect, arachnid, serpent, fish, cephalopod and robots."""

from __future__ import annotations

import numpy as np

from vips.data.creatures.skeleton import Builder, hinge

SPRAWL_LIFT = [(1, 2, 0.7), (2, 2, -0.4)]


def _p(side: int, x: float, y: float, z: float) -> np.ndarray:
    return np.array([side * x, y, z], np.float64)


def _arthropod_leg(b: Builder, parent: int, side: int, name: str, base: np.ndarray, reach: float, height: float,
                   sweep: float, r: float, segments: int = 3) -> list[int]:
    """A jointed leg from ``base``: out and up to a knee above the body, then down to the ground.
    ``sweep`` turns the leg towards +Z (front legs) or -Z (hind legs), radians."""
    d = np.array([side * np.cos(sweep), 0.0, np.sin(sweep)])
    knee = base + d * 0.4 * reach + np.array([0, height, 0])
    foot = base + d * reach
    foot[1] = 0.4 * r
    coxa = b.add(f"{name}_coxa", parent, base, "sprawl_hip", side=side, r=(1.6 * r, 1.3 * r))
    femur = b.add(f"{name}_femur", coxa, base + d * 0.08 * reach, "sprawl_knee", side=side, r=(1.3 * r, r))
    mids = [knee + (foot - knee) * f for f in np.linspace(0, 1, segments)[1:]]
    tibia = b.add(f"{name}_tibia", femur, knee, "sprawl_knee", side=side, r=(r, r))
    joints = [coxa, femur, tibia]
    prev = tibia
    for i, m in enumerate(mids[:-1]):
        prev = b.add(f"{name}_tarsus_{i + 1:02d}", prev, m, "sprawl_knee", side=side, r=(r, 0.8 * r))
        joints.append(prev)
    b.add(f"{name}_tip", prev, mids[-1], side=side, r=(0.8 * r, 0.5 * r))
    return joints


def insect(p: dict) -> Builder:
    """Six-legged insect: thorax root, head with antennae, abdomen chain, three leg pairs, optional wings."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    rt = 0.12 * L * k
    y = p["leg_height"] * S
    root = b.add("thorax", -1, (0, y, 0), "root")
    b.segment(root, (0, y, -0.1 * L), (0, y, 0.12 * L), rt, rt * 0.9)
    head = b.add("head", root, (0, y + 0.2 * rt, 0.16 * L), "head", r=(rt * 0.8, rt * 0.8), part="head")
    hp = b.positions[head]
    b.add("head_end", head, hp + (0, -0.1 * rt, 0.12 * L), r=(rt * 0.9 * p.get("head_bulk", 1.0), rt * 0.6))
    al = p["antenna"] * S
    for side in (1, -1):
        a1 = b.add("antenna_01", head, hp + _p(side, 0.3 * rt, 0.6 * rt, 0.08 * L), "antenna", side=side,
                   r=(0.15 * rt, 0.12 * rt))
        a2 = b.add("antenna_02", a1, hp + _p(side, 0.3 * rt + 0.3 * al, 0.6 * rt + 0.35 * al, 0.08 * L + 0.3 * al),
                   "antenna", side=side, r=(0.12 * rt, 0.1 * rt))
        b.add("antenna_end", a2, hp + _p(side, 0.3 * rt + 0.5 * al, 0.6 * rt + 0.5 * al, 0.08 * L + 0.8 * al),
              side=side, r=(0.1 * rt, 0.08 * rt))
        b.limb("antenna", "antenna", side, [a1, a2])
    ab = p["abdomen"] * S
    ra = rt * p.get("abdomen_bulk", 1.2)
    pts = [(0, y + 0.1 * rt * i, -0.1 * L - ab * (i + 1) / 3) for i in range(3)]
    b.chain("abdomen", root, pts, "spine", [ra * 0.8, ra * 1.05, ra * 0.5], part="abdomen")
    reach, r = p["leg"] * S, 0.1 * rt + 0.012 * p["leg"] * S
    for pair, (name, z, sweep) in enumerate((("leg_front", 0.08 * L, 0.6), ("leg_mid", 0.0, 0.0),
                                            ("leg_hind", -0.08 * L, -0.7))):
        for side in (1, -1):
            joints = _arthropod_leg(b, root, side, name, _p(side, 0.7 * rt, y - 0.3 * rt, z), reach,
                                    0.35 * reach, sweep, r)
            b.limb(name, "sprawl", side, joints, pair=pair, lift=SPRAWL_LIFT)
    if p.get("wing", 0) > 0:
        span = p["wing"] * S
        for side in (1, -1):
            w = b.add("wing", root, _p(side, 0.4 * rt, y + 0.8 * rt, 0.0), "insect_wing", side=side)
            b.add("wing_tip", w, _p(side, 0.4 * rt + span, y + 0.9 * rt, -0.25 * span), side=side,
                  r=(0.25 * span, 0.15 * span), squash=0.06)
            b.limb("wing", "wing", side, [w])
    return b


def arachnid(p: dict) -> Builder:
    """Eight-legged arachnid: cephalothorax root, abdomen, pedipalps, four leg pairs; optionally a scorpion's
    raised tail and pincers."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    rc = 0.18 * L * k
    y = p["leg_height"] * S
    root = b.add("cephalothorax", -1, (0, y, 0), "root")
    b.segment(root, (0, y, -0.05 * L), (0, y, 0.15 * L), rc, rc * 0.8, 0.8, (0, 1, 0))
    front = b.add("head", root, (0, y + 0.1 * rc, 0.22 * L), "head", r=(rc * 0.8, rc * 0.5), part="head")
    b.add("head_end", front, (0, y + 0.1 * rc, 0.28 * L), r=(rc * 0.5, rc * 0.3))
    ab = p["abdomen"] * S
    ra = rc * p.get("abdomen_bulk", 1.4)
    pts = [(0, y + 0.2 * rc, -0.1 * L - 0.3 * ab), (0, y + 0.3 * rc, -0.1 * L - 0.8 * ab),
           (0, y + 0.3 * rc, -0.1 * L - ab)]
    ab_j = b.chain("abdomen", root, pts, "spine", [rc * 0.7, ra, ra * 0.4], part="abdomen")
    if p.get("tail", 0) > 0:
        tl, prev = p["tail"] * S, ab_j[-2]
        pos = np.array(pts[1], float)
        d = np.array([0.0, 0.3, -1.0])
        for i in range(5):
            d = d + np.array([0, 0.45, 0.45])
            d /= np.linalg.norm(d)
            pos = pos + d * tl / 5
            prev = b.add(f"tail_{i + 1:02d}" if i < 4 else "stinger", prev, pos, "tail" if i < 4 else "fixed",
                         r=(0.35 * ra, 0.3 * ra), part="tail" if i < 4 else None)
    palp = p["palp"] * S
    rp = 0.2 * rc * p.get("palp_bulk", 1.0)
    for side in (1, -1):
        base = _p(side, 0.4 * rc, y, 0.22 * L)
        p1 = b.add("palp_01", root, base, "antenna", side=side, r=(rp, rp))
        p2 = b.add("palp_02", p1, base + _p(side, 0.3 * palp, 0.15 * palp, 0.4 * palp), "antenna", side=side,
                   r=(rp, rp))
        b.add("palp_end", p2, base + _p(side, 0.35 * palp, 0.0, palp), side=side,
              r=(rp * p.get("pincer", 1.0), rp * 0.6 * p.get("pincer", 1.0)), squash=0.6)
        b.limb("palp", "palp", side, [p1, p2])
    reach, r = p["leg"] * S, 0.08 * rc + 0.01 * p["leg"] * S
    for pair, sweep in enumerate((0.8, 0.25, -0.25, -0.8)):
        for side in (1, -1):
            z = 0.15 * L - 0.1 * L * pair
            joints = _arthropod_leg(b, root, side, f"leg_{pair + 1}", _p(side, 0.6 * rc, y, z), reach,
                                    0.45 * reach, sweep, r, segments=4)
            b.limb(f"leg_{pair + 1}", "sprawl", side, joints, pair=pair, lift=SPRAWL_LIFT)
    return b


def serpent(p: dict) -> Builder:
    """Snake: head root chain along -Z, lying on the ground."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    r = p["girth"] * S * k
    n = int(p.get("segments", 14))
    root = b.add("spine_01", -1, (0, r, 0), "root")
    hl = p["head_len"] * S
    head = b.add("head", root, (0, r, 0.3 * hl), "head", r=(r, r * 0.9), part="head")
    jaw = b.add("jaw", head, (0, 0.7 * r, 0.4 * hl), "jaw", part="jaw")
    b.add("jaw_end", jaw, (0, 0.5 * r, 1.1 * hl), r=(0.6 * r, 0.3 * r), squash=0.5)
    b.add("head_end", head, (0, r * 1.05, 1.2 * hl), r=(r * 1.1 * p.get("head_bulk", 1.0), 0.4 * r), squash=0.6)
    prev = root
    for i in range(1, n):
        f = i / (n - 1)
        radius = r * (1.0 if f < 0.6 else 1 - 0.8 * (f - 0.6) / 0.4)
        last = i == n - 1
        name = "tail_end" if last else f"spine_{i + 1:02d}"
        prev = b.add(name, prev, (0, r, -L * f), "fixed" if last else "body_chain",
                     r=(b.radii[prev] or r, max(radius, 0.15 * r)), squash=0.85, part=None if last else "spine")
    return b


def fish(p: dict) -> Builder:
    """Fish: spine chain from behind the head to the tail fin, dorsal and pectoral fins; bodies flattened
    sideways (or downwards for flat fish)."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    L = p["body"] * S
    r = p["girth"] * S * k
    y = 2.0 * r
    flat = (1, 0, 0) if p.get("flat_axis", "x") == "x" else (0, 1, 0)
    sq = p.get("squash", 0.55)
    n = int(p.get("segments", 6))
    root = b.add("spine_01", -1, (0, y, 0), "root")
    head = b.add("head", root, (0, y, 0.12 * L), "head", r=(r, 0.95 * r), squash=sq, flat=flat, part="head")
    jaw = b.add("jaw", head, (0, y - 0.3 * r, 0.15 * L), "jaw", part="jaw")
    b.add("jaw_end", jaw, (0, y - 0.3 * r, 0.25 * L), r=(0.3 * r, 0.25 * r), squash=sq, flat=flat)
    b.add("head_end", head, (0, y, 0.25 * L), r=(0.9 * r, 0.3 * r), squash=sq, flat=flat)
    prev, body = root, []
    for i in range(1, n):
        f = i / (n - 1)
        radius = r * (1 - 0.85 * f**1.5)
        prev = b.add(f"spine_{i + 1:02d}", prev, (0, y, -0.75 * L * f), "fish_spine", r=(b.radii[prev] or r, radius),
                     squash=sq, flat=flat, part="spine")
        body.append(prev)
    tf = p["tail_fin"] * S
    fin_flat = (1, 0, 0)
    top = b.add("tail_fin", prev, (0, y, -0.75 * L - 0.05 * L), "fin", r=(0.25 * r, 0.2 * r), part="tail")
    tp = b.positions[top]
    b.add("tail_fin_upper", top, tp + (0, 0.8 * tf, -0.7 * tf), r=(0.25 * tf, 0.12 * tf), squash=0.1, flat=fin_flat)
    b.add("tail_fin_lower", top, tp + (0, -0.8 * tf, -0.7 * tf), r=(0.25 * tf, 0.12 * tf), squash=0.1, flat=fin_flat)
    df = p["dorsal"] * S
    if df > 0:
        anchor = body[0]
        d = b.add("dorsal_fin", anchor, b.positions[anchor] + (0, 0.8 * r * (sq if flat[1] else 1), 0), "fin")
        b.add("dorsal_fin_end", d, b.positions[d] + (0, df, -0.8 * df), r=(0.5 * df, 0.15 * df), squash=0.1,
              flat=fin_flat)
    pf = p["pectoral"] * S
    for side in (1, -1):
        base = _p(side, 0.6 * r, y - 0.4 * r, 0.02 * L)
        f1 = b.add("pectoral_fin", root, base, "fin", side=side)
        b.add("pectoral_fin_end", f1, base + _p(side, pf, -0.3 * pf, -0.6 * pf), side=side, r=(0.35 * pf, 0.2 * pf),
              squash=0.12, flat=(0, 1, 0))
        b.limb("pectoral_fin", "fin", side, [f1])
    return b


def cephalopod(p: dict) -> Builder:
    """Octopus or squid: a mantle above a ring of arms that spread out and rest on the ground."""
    S, k = p["size"], p["bulk"]
    b = Builder()
    R = p["mantle"] * S * k
    y = p["arm_height"] * S + 0.6 * R
    root = b.add("head", -1, (0, y, 0), "root")
    ml = p["mantle_len"] * S
    m1 = b.add("mantle_01", root, (0, y + 0.4 * ml, -0.2 * ml), "spine", r=(R, R * 1.05), part="spine")
    m2 = b.add("mantle_02", m1, (0, y + 0.8 * ml, -0.45 * ml), "spine", r=(R * 1.05, R * 0.8), part="spine")
    b.add("mantle_end", m2, (0, y + ml, -0.6 * ml), r=(R * 0.8, R * 0.3))
    b.segment(root, (0, y, 0), (0, y - 0.2 * R, 0.3 * R), R * 0.8, R * 0.6)
    n_pairs = int(p.get("arms", 8)) // 2
    al = p["arm"] * S
    ra = 0.28 * R * p.get("arm_bulk", 1.0)
    for i in range(n_pairs):
        ang = np.pi * (i + 0.5) / n_pairs  # from the front (+Z) round to the back
        for side in (1, -1):
            d = np.array([side * np.sin(ang), 0.0, np.cos(ang)])
            base = np.array([0, y - 0.5 * R, 0]) + d * 0.6 * R
            seg = int(p.get("arm_n", 5))
            pts = []
            for s in range(1, seg + 1):
                f = s / seg
                pts.append(base + d * al * f + np.array([0, -(y - 0.5 * R - 0.8 * ra) * min(1, 2.5 * f), 0]))
            length = al * (p.get("tentacle", 1.0) if i == 0 else 1.0)
            if i == 0 and p.get("tentacle", 1.0) > 1:
                pts = [base + (q - base) * length / al for q in pts]
            radii = [ra * (1 - 0.8 * s / seg) for s in range(seg)]
            joints = b.chain(f"arm_{i + 1}", root, pts, "tentacle", radii, side=side)
            b.limb(f"arm_{i + 1}", "tentacle", side, joints[:-1], pair=i)
    return b


def robot(p: dict) -> Builder:
    """Mechanical creatures with one-axis hinge joints and box links: a walker (two legs), a dog (four legs)
    or an arm on a fixed base, chosen by ``p["layout"]``."""
    return {"walker": _robot_walker, "dog": _robot_dog, "arm": _robot_arm}[p["layout"]](p)


def _robot_leg(b: Builder, parent: int, side: int, name: str, hip: np.ndarray, length: float, r: float,
               knee_sign: float) -> list[int]:
    x, y, z = hip
    roll = b.add(f"{name}_hip_roll", parent, hip, hinge(2, -0.4, 0.5), side=side, r=(1.2 * r, 1.2 * r))
    pitch = b.add(f"{name}_hip_pitch", roll, (x, y - 0.6 * r, z), hinge(0, -1.6, 1.0), side=side, r=(1.2 * r, 1.2 * r))
    kl = (-0.05, 2.2) if knee_sign > 0 else (-2.2, 0.05)
    knee = b.add(f"{name}_knee", pitch, (x, y - 0.5 * length, z + 0.04 * knee_sign * length), hinge(0, *kl),
                 side=side, r=(r, r))
    ankle = b.add(f"{name}_ankle", knee, (x, 1.2 * r, z), hinge(0, -0.9, 0.9), side=side, r=(0.9 * r, 0.8 * r))
    b.add(f"{name}_foot", ankle, (x, 0.4 * r, z + 2.2 * r), side=side, r=(r, 0.9 * r), squash=0.4)
    return [roll, pitch, knee, ankle]


def _robot_walker(p: dict) -> Builder:
    H = p["size"]
    b = Builder(box=True)
    leg = p["leg"] * H
    r = 0.04 * H * p["bulk"]
    root = b.add("hips", -1, (0, leg + r, 0), "root")
    waist = b.add("waist_yaw", root, (0, leg + 3 * r, 0), hinge(1, -1.2, 1.2), r=(2.2 * r, 2.0 * r), part="spine")
    torso_top = leg + 3 * r + p["torso"] * H
    chest = b.add("torso_pitch", waist, (0, leg + 4 * r, 0), hinge(0, -0.5, 0.8), r=(2.0 * r, 2.0 * r), part="spine")
    neck = b.add("neck_yaw", chest, (0, torso_top, 0), hinge(1, -1.4, 1.4), r=(3.0 * r, 2.5 * r), squash=0.6,
                 flat=(0, 0, 1), part="neck")
    head = b.add("head_pitch", neck, (0, torso_top + r, 0), hinge(0, -0.6, 0.6), r=(0.6 * r, 0.6 * r), part="head")
    b.add("head_end", head, (0, torso_top + r + p["head"] * H, 0.2 * r), r=(1.5 * r, 1.5 * r))
    arm = p["arm"] * H
    sw = 3.2 * r
    for side in (1, -1):
        sh_p = b.add("shoulder_pitch", chest, (side * sw, torso_top - r, 0), hinge(0, -2.5, 1.0), side=side,
                     r=(r, r))
        sh_r = b.add("shoulder_roll", sh_p, (side * (sw + 1.2 * r), torso_top - r, 0), hinge(2, -1.5, 0.2),
                     side=side, r=(r, r))
        el = b.add("elbow", sh_r, (side * (sw + 1.2 * r), torso_top - r - 0.5 * arm, 0), hinge(0, -2.2, 0.0),
                   side=side, r=(0.9 * r, 0.8 * r))
        b.add("gripper", el, (side * (sw + 1.2 * r), torso_top - r - arm, 0), side=side, r=(0.8 * r, 0.7 * r))
        b.limb("arm", "arm", side, [sh_p, sh_r, el])
        legj = _robot_leg(b, root, side, "leg", np.array([side * 1.6 * r, leg, 0.0]), leg, r, 1.0)
        b.limb("leg", "leg", side, legj[1:], lift=[(0, 0, -0.6), (1, 0, 1.2), (2, 0, -0.4)])
    return b


def _robot_dog(p: dict) -> Builder:
    S = p["size"]
    b = Builder(box=True)
    L, leg = p["body"] * S, p["leg"] * S
    r = 0.05 * S * p["bulk"]
    root = b.add("body", -1, (0, leg + r, -L / 2), "root")
    front = b.add("body_front", root, (0, leg + r, L / 2), hinge(1, -0.3, 0.3), r=(2.5 * r, 2.5 * r), squash=0.6,
                  flat=(0, 1, 0), part="spine")
    ny = b.add("neck_yaw", front, (0, leg + 2.5 * r, L / 2 + r), hinge(1, -1.0, 1.0), r=(r, r), part="neck")
    hp = b.add("head_pitch", ny, (0, leg + 3.5 * r, L / 2 + 2 * r), hinge(0, -0.7, 0.5), r=(r, r), part="head")
    b.add("head_end", hp, (0, leg + 3.5 * r, L / 2 + 2 * r + p["head"] * S), r=(1.3 * r, 1.1 * r))
    for pair, (name, z, parent) in enumerate((("leg_front", L / 2, front), ("leg_hind", -L / 2, root))):
        for side in (1, -1):
            joints = _robot_leg(b, parent, side, name, np.array([side * 2.0 * r, leg, z]), leg, 0.8 * r,
                                -1.0 if pair == 0 else 1.0)
            sign = -1.0 if pair == 0 else 1.0
            b.limb(name, "leg", side, joints[1:], pair=pair, lift=[(0, 0, -0.4), (1, 0, sign * 1.0), (2, 0, -0.2)])
    return b


def _robot_arm(p: dict) -> Builder:
    S = p["size"]
    b = Builder(box=True)
    r = 0.06 * S * p["bulk"]
    base = b.add("base", -1, (0, r, 0), "root")
    yaw = b.add("base_yaw", base, (0, 2 * r, 0), hinge(1, -2.8, 2.8), r=(3 * r, 2.5 * r), squash=0.4, flat=(0, 1, 0))
    lens = [p["upper"] * S, p["fore"] * S, 0.15 * S]
    sh = b.add("shoulder_pitch", yaw, (0, 3 * r, 0), hinge(0, -1.5, 1.5), r=(1.5 * r, 1.3 * r), part="spine")
    el = b.add("elbow_pitch", sh, (0, 3 * r + lens[0], 0), hinge(0, -2.4, 2.4), r=(1.1 * r, r), part="spine")
    wr = b.add("wrist_pitch", el, (0, 3 * r + lens[0], lens[1]), hinge(0, -2.0, 2.0), r=(0.9 * r, 0.8 * r),
               part="spine")
    roll = b.add("wrist_roll", wr, (0, 3 * r + lens[0], lens[1] + 0.8 * r), hinge(2, -2.8, 2.8), r=(0.7 * r, 0.7 * r),
                 part="head")
    tool = np.array([0, 3 * r + lens[0], lens[1] + 0.8 * r + lens[2]])
    for side in (1, -1):
        f = b.add("finger", roll, tool + _p(side, 0.6 * r, 0, 0), hinge(1, -0.6, 0.2), side=side,
                  r=(0.6 * r, 0.4 * r))
        b.add("finger_tip", f, tool + _p(side, 0.5 * r, 0, 1.5 * r), side=side, r=(0.3 * r, 0.25 * r))
        b.limb("finger", "palp", side, [f])
    b.limb("arm", "arm", 0, [yaw, sh, el, wr, roll])
    return b
