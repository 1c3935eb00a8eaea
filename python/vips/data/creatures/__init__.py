"""Procedural creatures: rigged, skinned creatures from body plans, with joint limits and motion programs.

    >>> from vips.data.creatures import list_species, make_creature, motion, programs_for
    >>> c = make_creature("horse_01", individual=2)
    >>> poses = motion(c, "trot", frames=120, seed=7)     # vips.Poses, deltas from the rest pose

Creatures stand on y = 0, face +Z with Y up, in metres. ``make_creature(..., generic_names=True)`` names
the joints ``joint_<i>`` as auto-riggers do.
"""

from vips.data.creatures.creature import Creature, make_creature
from vips.data.creatures.limits import JointLimits, euler_to_quat, quat_to_euler
from vips.data.creatures.motions import PROGRAMS, motion, programs_for
from vips.data.creatures.species import INDIVIDUALS_PER_SPECIES, PLANS, SpeciesSpec, get_species, list_species

__all__ = [
    "INDIVIDUALS_PER_SPECIES",
    "PLANS",
    "PROGRAMS",
    "Creature",
    "JointLimits",
    "SpeciesSpec",
    "euler_to_quat",
    "get_species",
    "list_species",
    "make_creature",
    "motion",
    "programs_for",
    "quat_to_euler",
]
