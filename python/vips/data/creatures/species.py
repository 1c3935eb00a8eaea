"""The species table: body plans with named proportion sets, and per-individual variation from a seed.

Each archetype (a horse, a scorpion, a robot arm...) gives ``VARIANTS`` species: variant 01 is the
archetype itself, the others perturb its proportions by up to ``SPECIES_SPREAD``. Individuals of a species
vary by up to ``INDIVIDUAL_SPREAD`` (individual 0 is the species' own proportions).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

VARIANTS = 2
SPECIES_SPREAD = 0.12
INDIVIDUAL_SPREAD = 0.06
INDIVIDUALS_PER_SPECIES = 4  # nominal count used by dataset builders; any index >= 0 works
DISCRETE = {"tail_n", "neck_n", "segments", "arms", "arm_n"}

PLANS = ("biped", "quadruped", "reptile", "bird", "insect", "arachnid", "serpent", "fish", "cephalopod", "dragon",
         "robot")

DEFAULTS: dict[str, dict] = {
    "biped": dict(size=1.75, bulk=1.0, leg=0.5, head=0.13, neck=0.04, arm=0.38, shoulders=0.22, hips=0.11, chest=1.0,
                  tail=0.0),
    "quadruped": dict(size=1.0, bulk=1.0, body=1.0, leg=1.0, front=1.0, neck=0.5, neck_angle=0.6, head_len=0.4,
                      tail=0.6, tail_n=4, ears=0.1, droop=0.6),
    "reptile": dict(size=1.0, bulk=1.0, body=0.6, leg=0.15, neck=0.12, head_len=0.18, tail=1.0, tail_n=6),
    "bird": dict(size=0.5, bulk=1.0, body=0.4, leg=0.25, neck=0.25, neck_n=3, beak=0.1, tail=0.3, wing=1.2,
                 chord=0.15, hook=0.2),
    "insect": dict(size=0.05, bulk=1.0, body=1.0, leg_height=0.25, leg=0.9, antenna=0.4, abdomen=0.5,
                   abdomen_bulk=1.2, wing=0.0),
    "arachnid": dict(size=0.05, bulk=1.0, body=1.0, leg_height=0.3, leg=1.5, abdomen=0.6, abdomen_bulk=1.4, palp=0.3,
                     pincer=1.0, tail=0.0),
    "serpent": dict(size=1.5, bulk=1.0, body=1.0, girth=0.025, head_len=0.05, segments=14),
    "fish": dict(size=0.3, bulk=1.0, body=1.0, girth=0.1, segments=6, tail_fin=0.12, dorsal=0.1, pectoral=0.1,
                 squash=0.55),
    "cephalopod": dict(size=0.5, bulk=1.0, mantle=0.15, mantle_len=0.35, arm=0.6, arm_height=0.15, arms=8, arm_n=5,
                       tentacle=1.0),
    "dragon": dict(size=2.5, bulk=1.1, body=1.0, leg=0.7, front=1.0, neck=0.9, neck_angle=0.7, head_len=0.45,
                   tail=1.8, tail_n=7, droop=0.2, ears=0.12, wing=3.0, chord=0.4),
    "robot": dict(size=1.7, bulk=1.0, layout="walker", leg=0.48, torso=0.28, arm=0.35, head=0.08, body=0.8,
                  upper=0.5, fore=0.45),
}

ARCHETYPES: dict[str, dict[str, dict]] = {
    "biped": {
        "human": {}, "athlete": dict(bulk=0.9, leg=0.52), "child": dict(size=1.1, head=0.18, leg=0.45),
        "ogre": dict(size=2.4, bulk=1.5, head=0.11, chest=1.3, leg=0.45, arm=0.42),
        "goblin": dict(size=1.0, head=0.2, leg=0.4, arm=0.42, bulk=1.1),
        "alien": dict(size=1.9, bulk=0.7, head=0.16, arm=0.45, leg=0.55),
        "lizardfolk": dict(size=1.9, bulk=1.1, tail=0.6), "dwarf": dict(size=1.3, bulk=1.4, leg=0.38, head=0.15),
        "giant": dict(size=3.5, bulk=1.2),
    },
    "quadruped": {
        "horse": dict(neck=0.75, neck_angle=0.85, head_len=0.6, tail=0.8),
        "dog": dict(size=0.6, body=0.9, leg=0.8, neck=0.35, neck_angle=0.7, tail=0.6, ears=0.2),
        "cat": dict(size=0.3, body=1.1, leg=0.75, neck=0.25, head_len=0.3, tail=1.2, tail_n=5, ears=0.15, droop=0.2),
        "giraffe": dict(size=2.0, body=0.7, leg=1.2, front=1.15, neck=1.2, neck_angle=1.1, head_len=0.3, tail=0.5,
                        bulk=0.9),
        "elephant": dict(size=1.6, leg=0.85, bulk=1.6, neck=0.2, neck_angle=0.4, head_len=0.5, head_bulk=1.8,
                         tail=0.5, leg_bulk=1.5, ears=0.3),
        "deer": dict(size=0.9, leg=1.1, neck=0.6, neck_angle=0.9, tail=0.2, ears=0.2, bulk=0.85),
        "bear": dict(size=0.9, body=1.1, leg=0.8, bulk=1.5, neck=0.3, neck_angle=0.3, head_len=0.45, tail=0.1,
                     tail_n=2, leg_bulk=1.4),
        "rat": dict(size=0.1, leg=0.5, tail=1.5, tail_n=6, neck=0.2, ears=0.15, droop=0.1),
        "rhino": dict(size=1.5, bulk=1.5, leg=0.6, head_len=0.6, neck=0.25, neck_angle=0.3, tail=0.3, leg_bulk=1.4),
        "wolf": dict(size=0.75, body=1.0, leg=0.85, neck=0.4, neck_angle=0.5, tail=0.7, ears=0.2, bulk=0.9),
    },
    "reptile": {
        "lizard": dict(size=0.3), "iguana": dict(size=1.2, tail=1.3),
        "crocodile": dict(size=3.0, body=0.55, leg=0.12, head_len=0.25, tail=0.9, bulk=1.3),
        "gecko": dict(size=0.15, leg=0.2, head_len=0.2), "komodo": dict(size=2.5, bulk=1.4, leg=0.14),
        "salamander": dict(size=0.2, leg=0.1, tail=0.8, bulk=0.9),
        "tortoise": dict(size=0.5, bulk=2.6, tail=0.15, tail_n=2, neck=0.2, leg=0.14),
    },
    "bird": {
        "sparrow": dict(size=0.15), "crow": dict(size=0.45),
        "eagle": dict(size=0.9, wing=2.2, chord=0.3, hook=0.8, beak=0.07),
        "ostrich": dict(size=2.2, body=0.5, leg=0.45, neck=0.4, neck_n=4, wing=0.6, beak=0.04),
        "flamingo": dict(size=1.2, leg=0.5, neck=0.45, neck_n=5, body=0.3),
        "duck": dict(size=0.5, leg=0.12, neck=0.2, wing=1.3), "owl": dict(size=0.5, neck=0.08, neck_n=2, head_bulk=1.8,
                                                                          beak=0.03, hook=0.9, wing=1.8),
        "heron": dict(size=1.0, leg=0.45, neck=0.5, neck_n=5, beak=0.15, wing=1.6),
        "parrot": dict(size=0.4, tail=0.5, beak=0.06, hook=1.0, head_bulk=1.3),
        "chicken": dict(size=0.5, wing=0.8, tail=0.2),
    },
    "insect": {
        "beetle": dict(abdomen=0.7, abdomen_bulk=1.6, leg=0.7, leg_height=0.2),
        "ant": dict(size=0.01, leg=1.0, antenna=0.6, bulk=0.8, abdomen_bulk=1.1),
        "stick_insect": dict(size=0.1, bulk=0.5, abdomen=2.0, abdomen_bulk=0.6, leg=1.8, antenna=1.0),
        "grasshopper": dict(leg=1.2, abdomen=1.0), "fly": dict(size=0.01, wing=0.8),
        "bee": dict(size=0.015, wing=0.6, abdomen_bulk=1.5),
        "cockroach": dict(leg_height=0.15, abdomen=0.8, bulk=1.2, antenna=1.2),
    },
    "arachnid": {
        "tarantula": dict(size=0.1, bulk=1.3, leg=1.3), "house_spider": dict(size=0.02, leg=1.6),
        "harvestman": dict(leg=3.0, bulk=0.7, abdomen=0.3, leg_height=0.6),
        "jumping_spider": dict(size=0.01, leg=0.9, bulk=1.2, abdomen=0.5),
        "scorpion": dict(size=0.1, tail=1.2, palp=0.8, pincer=3.0, palp_bulk=1.5, abdomen=0.7, abdomen_bulk=0.9,
                         leg=0.9, leg_height=0.2),
        "wolf_spider": dict(size=0.04, leg=1.4),
    },
    "serpent": {
        "python": dict(size=4.0, girth=0.03), "viper": dict(size=0.8, girth=0.04, head_bulk=1.4),
        "cobra": dict(size=1.8), "garter_snake": dict(size=0.6, girth=0.018), "sea_snake": dict(size=1.2, girth=0.02),
        "anaconda": dict(size=5.0, girth=0.04), "worm": dict(size=0.2, head_len=0.02, girth=0.03, segments=12),
    },
    "fish": {
        "trout": {}, "tuna": dict(size=1.5, girth=0.14, tail_fin=0.18),
        "shark": dict(size=2.5, girth=0.09, dorsal=0.15, pectoral=0.15, squash=0.8),
        "goldfish": dict(size=0.1, girth=0.16, tail_fin=0.2),
        "eel": dict(size=0.8, girth=0.04, segments=9, dorsal=0.03, tail_fin=0.05, pectoral=0.04),
        "flounder": dict(flat_axis="y", squash=0.35, girth=0.2, dorsal=0.0),
        "ray": dict(size=1.2, flat_axis="y", squash=0.25, pectoral=0.45, girth=0.18, tail_fin=0.05, dorsal=0.0),
        "pike": dict(size=0.8, girth=0.07, segments=7),
    },
    "cephalopod": {
        "octopus": {}, "giant_octopus": dict(size=3.0),
        "squid": dict(arms=10, tentacle=1.6, mantle_len=0.8, mantle=0.1),
        "cuttlefish": dict(arms=10, mantle_len=0.5, mantle=0.16, arm=0.3, tentacle=1.3),
        "nautilus": dict(arm=0.25, mantle=0.2, arm_n=4),
    },
    "dragon": {
        "drake": dict(wing=2.0, bulk=1.4), "wyrm": dict(body=1.4, leg=0.5, tail=2.5),
        "fairy_dragon": dict(size=0.4, wing=3.5, bulk=0.9), "great_dragon": dict(size=6.0),
        "wyvern": dict(front=0.9, wing=3.6, neck=1.1),
    },
    "robot": {
        "humanoid_robot": {}, "mech": dict(size=4.0, bulk=1.5), "small_walker": dict(size=0.6),
        "robot_dog": dict(layout="dog", size=0.7, leg=0.55, head=0.2),
        "heavy_robot_dog": dict(layout="dog", size=1.0, leg=0.5, head=0.2, bulk=1.4),
        "robot_arm": dict(layout="arm", size=1.0), "long_arm": dict(layout="arm", size=1.2, upper=0.7, fore=0.6),
    },
}


@dataclass(frozen=True)
class SpeciesSpec:
    """One named species: a body plan and its proportion parameters (lengths relative to ``size`` metres)."""

    name: str
    plan: str
    archetype: str
    params: dict = field(default_factory=dict, hash=False, compare=False)

    def __repr__(self) -> str:
        return f"SpeciesSpec({self.name!r}, plan={self.plan!r})"


def _seed(*parts: str | int) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def _perturb(params: dict, rng: np.random.Generator, spread: float) -> dict:
    out = {}
    for key in sorted(params):
        value = params[key]
        if isinstance(value, str) or key in DISCRETE:
            out[key] = value
        else:
            out[key] = float(value) * (1 + spread * rng.uniform(-1, 1))
    return out


def _build_table() -> list[SpeciesSpec]:
    table = []
    for plan in PLANS:
        for arch, overrides in ARCHETYPES[plan].items():
            base = {**DEFAULTS[plan], **overrides}
            for v in range(VARIANTS):
                params = base if v == 0 else _perturb(base, np.random.default_rng(_seed(plan, arch, v)), SPECIES_SPREAD)
                table.append(SpeciesSpec(f"{arch}_{v + 1:02d}", plan, arch, dict(params)))
    return table


_TABLE = _build_table()
_BY_NAME = {s.name: s for s in _TABLE}


def list_species() -> list[SpeciesSpec]:
    """Every species in the table (deterministic order, unique names)."""
    return list(_TABLE)


def get_species(name: str) -> SpeciesSpec:
    """The species called ``name``; ``KeyError`` listing close names if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_BY_NAME), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"no species named '{name}'{hint}") from None


def individual_params(spec: SpeciesSpec, individual: int) -> dict:
    """The proportions of individual ``individual`` (>= 0) of ``spec``; individual 0 is the species itself."""
    if individual < 0:
        raise ValueError(f"individual must be >= 0, got {individual}")
    if individual == 0:
        return dict(spec.params)
    return _perturb(spec.params, np.random.default_rng(_seed(spec.name, individual)), INDIVIDUAL_SPREAD)
