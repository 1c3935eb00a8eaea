"""A procedural creature: its rig (mesh, skin, skeleton), joint limits and the body layout motions use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vips.data.creatures import plans_other, plans_vertebrate
from vips.data.creatures.limits import JointLimits
from vips.data.creatures.mesh_builder import build_mesh
from vips.data.creatures.skeleton import Builder, Limb
from vips.data.creatures.skinning import skin_weights
from vips.data.creatures.species import SpeciesSpec, get_species, individual_params
from vips.rig import Rig

PLAN_BUILDERS = {
    "biped": plans_vertebrate.biped,
    "quadruped": plans_vertebrate.quadruped,
    "reptile": plans_vertebrate.reptile,
    "bird": plans_vertebrate.bird,
    "dragon": plans_vertebrate.dragon,
    "insect": plans_other.insect,
    "arachnid": plans_other.arachnid,
    "serpent": plans_other.serpent,
    "fish": plans_other.fish,
    "cephalopod": plans_other.cephalopod,
    "robot": plans_other.robot,
}


@dataclass(eq=False)
class Creature:
    """A rigged, skinned procedural creature.

    Attributes:
        rig: the :class:`vips.Rig` (Y up, facing +Z, metres; identity rest rotations, bind = rest pose).
        limits: per-joint rotation limits (:class:`JointLimits`), relative to the rest pose.
        species: the :class:`SpeciesSpec` it was made from.
        individual: the individual index within the species.
        plan: the body plan ("biped", "quadruped", ...).
        parts: body part name ("spine", "neck", "head", "tail", "jaw", "abdomen") -> joint indices, root excluded.
        limbs: the limbs motion programs drive.
        radii: (J,) float64 body radius around each joint (metres), used to keep bodies above the ground.
        sides: (J,) int32 +1 for left joints, -1 for right, 0 in the middle.
        params: the proportions this individual was built from.
    """

    rig: Rig
    limits: JointLimits
    species: SpeciesSpec
    individual: int
    plan: str
    parts: dict[str, list[int]] = field(default_factory=dict)
    limbs: list[Limb] = field(default_factory=list)
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sides: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.rig.name

    @property
    def aquatic(self) -> bool:
        return self.plan == "fish"

    def __repr__(self) -> str:
        return (f"Creature({self.name!r}, plan={self.plan!r}, {self.rig.num_joints} joints, "
                f"{self.rig.num_vertices} vertices)")


def _rig_from_builder(b: Builder, name: str) -> tuple[Rig, JointLimits]:
    positions = np.array(b.positions)
    parents = np.array(b.parents, np.int32)
    translations = positions - np.where(parents[:, None] >= 0, positions[np.maximum(parents, 0)], 0)
    rotations = np.zeros((len(parents), 4))
    rotations[:, 0] = 1
    verts, faces = build_mesh(b.prims)
    idx, w = skin_weights(verts, b.prims, len(parents))
    # Parts thickened to the grid may dip below the ground: stand the whole creature on y = 0.
    lift = np.array([0.0, -verts[:, 1].min(), 0.0])
    verts = verts + lift
    translations[0] += lift
    rig = Rig(list(b.names), parents, translations, rotations, vertices=verts, faces=faces, skin_indices=idx,
              skin_weights=w, up_axis="Y", meters_per_unit=1.0, name=name)
    return rig, b.limits()


def make_creature(species: str | SpeciesSpec, individual: int = 0, generic_names: bool = False) -> Creature:
    """Build individual ``individual`` (>= 0) of ``species`` (a name from :func:`list_species` or a spec).

    ``generic_names=True`` renames the joints ``joint_0 ... joint_{J-1}`` as auto-riggers name them; the
    geometry, skin and limits are unchanged. Deterministic: the same arguments give the same creature.
    """
    spec = get_species(species) if isinstance(species, str) else species
    params = individual_params(spec, int(individual))
    b = PLAN_BUILDERS[spec.plan](params)
    rig, limits = _rig_from_builder(b, f"{spec.name}_{int(individual):03d}")
    if generic_names:
        rig.joint_names = [f"joint_{j}" for j in range(rig.num_joints)]
    return Creature(rig, limits, spec, int(individual), spec.plan, {k: list(v) for k, v in b.parts.items()},
                    list(b.limbs), np.array(b.radii, np.float64), np.array(b.sides, np.int32), params)
