"""Procedural creatures: species table, rigs, meshes, skin, limits and motion programs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from vips.data.creatures import (
    PLANS,
    euler_to_quat,
    list_species,
    make_creature,
    motion,
    programs_for,
    quat_to_euler,
)
from vips.data.creatures.species import INDIVIDUALS_PER_SPECIES, individual_params
from vips.kinematics import joint_positions, skin
from vips.poses import Poses
from vips.rotations import quat_conjugate, quat_multiply, quat_to_matrix

REQUIRED_PLANS = {"biped", "quadruped", "reptile", "bird", "insect", "arachnid", "serpent", "fish", "cephalopod",
                  "dragon", "robot"}


def _sample_species() -> list[str]:
    """The first species of every plan plus variants that build differently (robot layouts, a scorpion's tail,
    a flat fish, a squid's long tentacles, a winged insect)."""
    picked, plans = [], set()
    for s in list_species():
        if s.plan not in plans:
            picked.append(s.name)
            plans.add(s.plan)
    return picked + ["robot_dog_01", "robot_arm_01", "scorpion_01", "ray_01", "squid_02", "bee_02"]


SAMPLE = _sample_species()


@pytest.fixture(scope="module")
def creatures():
    return {name: make_creature(name, individual=1) for name in SAMPLE}


# ----- species table -------------------------------------------------------------------------------------
def test_species_table_size_plans_and_unique_names():
    species = list_species()
    assert len(species) >= 100
    assert len({s.name for s in species}) == len(species)
    assert REQUIRED_PLANS <= {s.plan for s in species} == set(PLANS)
    assert len(species) * INDIVIDUALS_PER_SPECIES >= 200
    assert Counter(s.plan for s in species).most_common()[-1][1] >= 5


def test_individuals_differ_and_are_deterministic():
    spec = list_species()[0]
    a, b = individual_params(spec, 1), individual_params(spec, 2)
    assert a != b and a == individual_params(spec, 1)
    assert individual_params(spec, 0) == spec.params
    c1, c2 = make_creature(spec, 3), make_creature(spec.name, 3)
    np.testing.assert_array_equal(c1.rig.vertices, c2.rig.vertices)
    assert not np.array_equal(make_creature(spec, 4).rig.rest_translations, c1.rig.rest_translations)


def test_unknown_species_names_close_matches():
    with pytest.raises(KeyError, match="horse_01"):
        make_creature("hrse_01")


# ----- rigs, meshes, skin ----------------------------------------------------------------------------------
def test_sample_covers_every_plan():
    assert {make_creature(n).plan for n in SAMPLE} == REQUIRED_PLANS


@pytest.mark.parametrize("name", SAMPLE)
def test_rig_is_valid_and_sensible(creatures, name):
    c = creatures[name]
    rig = c.rig
    assert not rig.warnings, rig.warnings  # nothing had to be repaired
    assert len(set(rig.joint_names)) == rig.num_joints
    assert (rig.parents[1:] < np.arange(1, rig.num_joints)).all() and rig.parents[0] == -1
    assert rig.up_axis == "Y" and rig.meters_per_unit == 1.0
    assert rig.height() > 0
    # Bones have length (no two joints on top of each other), and every leaf is a fixed end joint.
    lengths = np.linalg.norm(rig.rest_translations[1:], axis=1)
    assert lengths.min() > 1e-4 * rig.height()
    kids = rig.children()
    for j in range(rig.num_joints):
        if not kids[j]:
            assert c.limits.kinds[j] == "fixed", rig.joint_names[j]
    # Skin: rows sum to one, every non-leaf joint with a body segment drives some vertices.
    np.testing.assert_allclose(rig.skin_weights.sum(1), 1, atol=1e-5)
    driven = set(rig.skin_indices[rig.skin_weights > 0.3].ravel())
    assert 0.5 * sum(1 for k in kids if k) <= len(driven)
    # Standing on the ground (lowest vertex near y = 0), mesh of a sensible size.
    assert abs(rig.vertices[:, 1].min()) < 0.05 * rig.height() + 1e-3
    assert 200 < rig.num_vertices < 12000


@pytest.mark.parametrize("name", SAMPLE)
def test_mesh_is_closed_and_oriented(creatures, name):
    rig = creatures[name].rig
    f = rig.faces.astype(np.int64)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    # Closed: every undirected edge is used by exactly two faces; oriented: in opposite directions.
    undirected, counts = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    assert (counts == 2).all()
    assert len(np.unique(directed, axis=0)) == len(directed)
    v = rig.vertices.astype(np.float64)
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6
    assert volume > 0  # outward normals
    assert set(np.unique(f)) == set(range(rig.num_vertices))  # no stray vertices


@pytest.mark.parametrize("name", SAMPLE)
def test_faces_plus_z(creatures, name):
    c = creatures[name]
    pos = c.rig.rest_joint_positions()
    names = c.rig.joint_names
    front = [n for n in ("head_end", "beak_end", "head", "gripper", "finger_tip") if n in names]
    if c.params.get("layout") == "arm":
        front = ["l_finger_tip"]
    if c.plan == "biped" or c.params.get("layout") == "walker":  # upright: the feet point forward
        toe = names.index("l_toe" if "l_toe" in names else "l_leg_foot")
        assert pos[toe, 2] > pos[c.rig.parents[toe], 2] + 0.02 * c.rig.height()
        assert pos[names.index("head_end" if "head_end" in names else "head"), 2] >= pos[0, 2]
    elif "mantle_end" in names:  # cephalopods: arms all round, the mantle trails behind the head
        assert pos[names.index("head"), 2] > pos[names.index("mantle_end"), 2] + 0.05 * c.rig.height()
    else:
        assert pos[names.index(front[0]), 2] > np.median(pos[:, 2]) + 0.05 * c.rig.height(), front[0]
    # Left side joints sit at +X.
    left = [j for j, n in enumerate(names) if n.startswith("l_")]
    assert (pos[left, 0] > 0).all()


def test_generic_names_keep_geometry():
    a = make_creature("horse_01", 2)
    b = make_creature("horse_01", 2, generic_names=True)
    assert b.rig.joint_names == [f"joint_{j}" for j in range(a.rig.num_joints)]
    np.testing.assert_array_equal(a.rig.vertices, b.rig.vertices)
    np.testing.assert_array_equal(a.rig.faces, b.rig.faces)
    np.testing.assert_array_equal(a.rig.skin_weights, b.rig.skin_weights)
    np.testing.assert_array_equal(a.rig.rest_translations, b.rig.rest_translations)
    np.testing.assert_array_equal(a.limits.lower, b.limits.lower)
    pa, pb = motion(a, "trot", 20, seed=4), motion(b, "trot", 20, seed=4)
    np.testing.assert_array_equal(pa.rotations, pb.rotations)


@pytest.mark.parametrize("name", SAMPLE)
def test_rest_skin_is_bind_mesh(creatures, name):
    rig = creatures[name].rig
    out = skin(rig, Poses.identity(1, rig.num_joints))[0]
    np.testing.assert_allclose(out, rig.vertices, atol=1e-5 * rig.height())


# ----- limits ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_against_matrix_product(order):
    rng = np.random.default_rng(7)
    angles = rng.uniform(-np.pi, np.pi, (200, 3))
    angles[:, "XYZ".index(order[1])] = rng.uniform(-1.45, 1.45, 200)
    q = euler_to_quat(angles, order)

    def axis_matrix(a, i):
        c, s = np.cos(a), np.sin(a)
        m = np.zeros(a.shape + (3, 3))
        j, k = (i + 1) % 3, (i + 2) % 3
        m[..., i, i] = 1
        m[..., j, j], m[..., j, k], m[..., k, j], m[..., k, k] = c, -s, s, c
        return m

    ref = np.eye(3)
    for ax in order:  # intrinsic: first axis outermost
        i = "XYZ".index(ax)
        ref = ref @ axis_matrix(angles[:, i], i)
    np.testing.assert_allclose(quat_to_matrix(q), ref, atol=1e-12)
    np.testing.assert_allclose(quat_to_euler(q, order), angles, atol=1e-9)


def test_limits_are_well_formed(creatures):
    for c in creatures.values():
        lim = c.limits
        assert lim.kinds[0] == "free" and lim.num_joints == c.rig.num_joints
        assert (lim.lower <= lim.upper).all()
        if c.plan == "robot":
            moving = (lim.upper - lim.lower > 0).sum(1)
            assert set(lim.kinds[1:]) <= {"hinge", "fixed"}
            assert (moving[1:] <= 1).all()


# ----- motions -------------------------------------------------------------------------------------------------
def _angular_step(rot: np.ndarray) -> np.ndarray:
    """(F, J, 4) -> (F-1, J) float64 rotation angle between consecutive frames."""
    r = rot.astype(np.float64)
    d = quat_multiply(quat_conjugate(r[:-1]), r[1:])
    return 2 * np.arccos(np.clip(np.abs(d[..., 0]), 0, 1))


@pytest.mark.parametrize("name", SAMPLE)
def test_every_program_stays_in_limits_and_skins(creatures, name):
    c = creatures[name]
    programs = programs_for(c)
    assert {"idle", "look_around", "explore", "turn"} <= set(programs) or c.params.get("layout") == "arm"
    for program in programs:
        poses = motion(c, program, 48, fps=30, seed=11)
        assert poses.rotations.shape == (48, c.rig.num_joints, 4)
        # Inside the limits, checked by decomposing the float32 output in float64.
        assert c.limits.violation(poses.rotations).max() < 2e-3, program
        # Smooth: no joint turns more than 0.5 rad between frames at 30 fps.
        assert _angular_step(poses.rotations).max() < 0.5, program
        assert np.abs(np.diff(poses.root_translation, axis=0)).max() < 0.5 * c.rig.height() + 0.2, program
        verts = skin(c.rig, poses[::8])
        assert np.isfinite(verts).all()


def test_limits_violation_detects_out_of_range():
    c = make_creature("human_01")
    poses = motion(c, "idle", 4, seed=0)
    knee = c.rig.joint_index("l_shin")
    bad = poses.rotations.copy()
    bad[:, knee] = euler_to_quat(np.array([-0.5, 0.0, 0.0]), "XYZ")  # a knee bent backwards
    assert (c.limits.violation(bad)[:, knee] > 0.4).all()
    assert c.limits.violation(poses.rotations).max() < 1e-3


@pytest.mark.parametrize("name,program", [("human_01", "walk"), ("horse_01", "gallop"), ("crocodile_01", "crawl"),
                                          ("beetle_01", "walk"), ("python_01", "slither"), ("trout_01", "swim"),
                                          ("eagle_01", "flap"), ("octopus_01", "crawl"), ("robot_dog_01", "trot")])
def test_gaits_are_deterministic_periodic_and_move(name, program):
    c = make_creature(name, 2)
    a = motion(c, program, 120, seed=5)
    np.testing.assert_array_equal(a.rotations, motion(c, program, 120, seed=5).rotations)
    np.testing.assert_array_equal(a.root_translation, motion(c, program, 120, seed=5).root_translation)
    assert not np.array_equal(a.rotations, motion(c, program, 120, seed=6).rotations)
    # Periodic: after the start-up, some lag brings every joint back close to where it was, much closer
    # than lags do on average.
    r = a.rotations.astype(np.float64)[30:]
    errors = [
        float(np.mean(2 * np.arccos(np.clip(np.abs((r[lag:] * r[:-lag]).sum(-1)), 0, 1))[:, 1:]))
        for lag in range(6, 60)
    ]
    assert min(errors) < 0.3 * np.median(errors), (min(errors), np.median(errors))
    assert _angular_step(a.rotations).max() < 0.35
    travelled = np.linalg.norm(a.root_translation[-1, [0, 2]] - a.root_translation[0, [0, 2]])
    assert travelled > 0.05 * c.rig.height()


def test_grounded_programs_keep_feet_on_the_ground():
    c = make_creature("dog_01", 1)
    for program in ("walk", "sit", "lie"):
        poses = motion(c, program, 60, seed=2)
        lowest = skin(c.rig, poses[::6])[..., 1].min(axis=1)
        assert np.abs(lowest).max() < 0.08 * c.rig.height(), program


def test_flying_leaves_the_ground_and_bad_program_is_refused():
    c = make_creature("crow_01")
    poses = motion(c, "flap", 60, seed=1)
    assert skin(c.rig, poses[-1:])[..., 1].min() > 0.2 * c.rig.height()
    with pytest.raises(ValueError, match="slither"):
        motion(c, "slither", 10)
    with pytest.raises(ValueError, match="frames"):
        motion(c, "idle", 0)


def test_joint_positions_finite_for_long_explore():
    c = make_creature("scorpion_01", 1)
    poses = motion(c, "explore", 300, fps=24, seed=9)
    assert np.isfinite(joint_positions(c.rig, poses)).all()
    assert c.limits.violation(poses.rotations).max() < 2e-3
