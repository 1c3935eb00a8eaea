"""Fitting pipeline: simulated reconstruction, alignment, pose fitting, tracking, validators, `vips fit`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vips.fitting.alignment import Similarity, align_frames, initial_alignment, umeyama
from vips.fitting.fit import FitSettings, fit_poses
from vips.fitting.accuracy import pose_errors, summarize, to_ground_truth_world
from vips.fitting.reconstruction import random_similarity, rigged_first_frame, simulate_reconstruction
from vips.fitting.tracking import track_poses
from vips.fitting.validators import JointRanges, hyperextension, self_intersections, triangles_intersect
from vips.kinematics import skin
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import axis_angle_to_quat


@pytest.fixture(scope="module")
def walk():
    """A procedural human's walk, re-rigged so that its first frame is the rest pose (as the pipeline sees it)."""
    creatures = pytest.importorskip("vips.data.creatures")
    c = creatures.make_creature("human_01", individual=0)
    rig, poses = rigged_first_frame(c.rig, creatures.motion(c, "walk", 8, seed=3))
    return rig, poses


def test_rigged_first_frame_keeps_the_motion(walk):
    rig, poses = walk
    assert np.allclose(poses.rotations[0], [1, 0, 0, 0], atol=1e-5)
    assert np.allclose(skin(rig, poses[0])[0], rig.vertices, atol=1e-4)


def test_fit_recovers_joints_under_simulated_reconstruction(walk):
    rig, truth = walk
    sim = simulate_reconstruction(rig, truth, seed=5)
    assert 0.2 < sim.visible_fraction.mean() < 0.6  # one view sees about half the surface
    result = fit_poses(rig, sim.clouds, FitSettings(seed=1))
    poses, errors = result  # unpacks like a tuple
    assert poses.num_poses == len(truth) and np.isfinite(errors).all()
    summary = summarize(pose_errors(rig, poses, truth, to_ground_truth_world(result.alignments, sim.misalignment)))
    assert summary["median_position"] < 0.02, summary
    assert summary["median_rotation_deg"] < 8.0, summary
    # The same fit against wrong alignments is far worse: the metric can fail.
    wrong = [Similarity(1.2) for _ in sim.misalignment]
    bad = summarize(pose_errors(rig, poses, truth, to_ground_truth_world(result.alignments, wrong)))
    assert bad["median_position"] > 0.05


def test_umeyama_and_alignment_recover_a_known_similarity():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(400, 3)) * [1.0, 0.5, 0.3]
    sim = random_similarity(rng, 0.3, 40.0, 2.0)
    est = umeyama(pts, sim.apply(pts))
    assert np.allclose(est.matrix(), sim.matrix(), atol=1e-9)
    # ICP without correspondences: shuffled, noisy copies of one cloud, each frame misaligned.
    frames, truth = [pts], [Similarity()]
    for _ in range(4):
        s = random_similarity(rng, 0.15, 15.0, 0.2)
        moved = s.apply(pts)[rng.permutation(len(pts))] + rng.normal(scale=0.005, size=pts.shape)
        frames.append(moved)
        truth.append(s)
    sims = align_frames(frames, trim=0.9)
    for s, t in zip(sims, truth):
        composite = s.compose(t)  # should be the identity
        assert abs(composite.scale - 1) < 0.01
        assert composite.rotation_angle() < np.deg2rad(1.0)
        assert np.abs(composite.translation).max() < 0.02
    big = Similarity(0.5, axis_angle_to_quat_matrix([0, np.pi * 0.6, 0]), np.array([3.0, 0, 0]))
    found, _ = initial_alignment(big.apply(pts), pts)
    assert found.compose(big).rotation_angle() < np.deg2rad(2.0)


def axis_angle_to_quat_matrix(aa):
    from vips.rotations import quat_to_matrix

    return quat_to_matrix(axis_angle_to_quat(np.asarray(aa, np.float64)))


def test_tracking_baseline_runs_and_drifts_more_than_fitting(walk):
    rig, truth = walk
    sim = simulate_reconstruction(rig, truth, seed=2)
    result = fit_poses(rig, sim.clouds)
    tracked, used = track_poses(rig, sim.clouds, result.alignments, result.poses[0])
    assert tracked.num_poses == len(truth) and len(used) == len(truth)
    fit_err = pose_errors(rig, result.poses, truth, to_ground_truth_world(result.alignments, sim.misalignment))
    trk_err = pose_errors(rig, tracked, truth, to_ground_truth_world(used, sim.misalignment))
    obs = fit_err["observable"]
    assert np.median(trk_err["position"][-3:, obs]) > np.median(fit_err["position"][-3:, obs])


def _chain_rig(segments: int = 5) -> Rig:
    """A straight chain of box segments along x, each rigidly skinned to its joint."""
    J = segments + 1
    verts, faces, skin_i = [], [], []
    box_faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
                 (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    for s in range(segments):
        base = len(verts)
        for x in (s + 0.02, s + 0.98):
            for y in (-0.1, 0.1):
                for z in (-0.1, 0.1):
                    verts.append((x, y, z))
        faces += [(a + base, b + base, c + base) for a, b, c in box_faces]
        skin_i += [s] * 8
    trans = np.zeros((J, 3), np.float32)
    trans[1:, 0] = 1.0
    bind = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
    bind[:, 0, 3] = np.arange(J)
    return Rig(
        joint_names=[f"j{j}" for j in range(J)], parents=np.arange(-1, J - 1, dtype=np.int32),
        rest_translations=trans, rest_rotations=np.tile(np.float32([1, 0, 0, 0]), (J, 1)), bind_matrices=bind,
        vertices=np.asarray(verts, np.float32), faces=np.asarray(faces, np.int32),
        skin_indices=np.asarray(skin_i, np.int32)[:, None], skin_weights=np.ones((len(verts), 1), np.float32),
    )


def test_self_intersection_detects_a_fold_and_not_the_rest_pose():
    rig = _chain_rig()
    rest = Poses.identity(1, rig.num_joints)
    assert self_intersections(rig, rest, min_hops=3).pairs[0] == 0
    folded = Poses.identity(2, rig.num_joints)
    axis = np.array([0.03, 0.05, 1.0])
    folded.rotations[1, 2] = axis_angle_to_quat(axis / np.linalg.norm(axis) * np.deg2rad(176))
    result = self_intersections(rig, folded, min_hops=3)
    assert result.pairs[0] == 0 and result.pairs[1] > 0
    assert result.flags().tolist() == [False, True]
    # A mild bend brings no far-apart parts together.
    bent = Poses.identity(1, rig.num_joints)
    bent.rotations[0, 2] = axis_angle_to_quat(np.array([0, 0, np.deg2rad(60)]))
    assert self_intersections(rig, bent, min_hops=3).pairs[0] == 0


def test_triangle_intersection_exact_cases():
    a = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], float)
    through = np.array([[[0.2, 0.2, -1], [0.2, 0.2, 1], [0.3, 0.9, 0.5]]], float)
    beside = through + [5, 0, 0]
    assert triangles_intersect(a, through).tolist() == [True]
    assert triangles_intersect(a, beside).tolist() == [False]


def test_hyperextension_flags_twist_beyond_the_motion_range(walk):
    rig, poses = walk
    ranges = JointRanges.from_poses(rig, poses)
    assert not hyperextension(rig, poses, ranges).flags.any()
    twisted = Poses(poses.rotations[:1].copy(), poses.root_translation[:1].copy())
    j = rig.joint_index("l_forearm")
    axis = rig.rest_translations[rig.children()[j][0]].astype(np.float64)
    twisted.rotations[0, j] = axis_angle_to_quat(axis / np.linalg.norm(axis) * np.deg2rad(120))
    result = hyperextension(rig, twisted, reference=poses)
    assert result.flags.tolist() == [True] and result.joint_flags[0, j]


# ----- the CLI --------------------------------------------------------------------------------------
def _app() -> typer.Typer:
    from vips.cli.fit import fit_command

    app = typer.Typer()
    app.command("fit")(fit_command)
    app.command("noop")(lambda: None)  # two commands keep "fit" a subcommand, as in the real CLI
    return app


def _write_frames(folder: Path, rig: Rig, poses: Poses, seed: int = 0) -> list[Path]:
    from vips.io.obj import write_obj

    rng = np.random.default_rng(seed)
    verts = skin(rig, poses)
    paths = []
    for f in range(len(poses)):
        perm = rng.permutation(rig.num_vertices)  # a different vertex order in every frame
        inverse = np.argsort(perm)
        paths.append(write_obj(folder / f"frame_{f + 1}.obj", verts[f][perm], inverse[rig.faces]))
    return paths


def _write_frames_named(folder: Path, rig: Rig, poses: Poses, names: list[str]) -> None:
    from vips.io.obj import write_obj

    verts = skin(rig, poses)
    for f, name in enumerate(names):
        write_obj(folder / name, verts[f], rig.faces)


def test_vips_fit_cli_end_to_end_with_bad_frames(walk, tmp_path):
    import vips

    rig, truth = walk
    rig_path = vips.save(rig, tmp_path / "rig.glb")
    frames = tmp_path / "frames"
    frames.mkdir()
    _write_frames(frames, rig, truth)  # frame_1 .. frame_8
    _write_frames_named(frames, rig, truth[-2:], ["frame_10.obj", "frame_11.obj"])  # natural order: 10 after 8
    (frames / "frame_4.obj").write_text("v 1 2\nthis is not an OBJ\n")
    (frames / "frame_7.obj").write_text("# an empty frame\n")
    out = tmp_path / "poses.usda"
    res = CliRunner().invoke(_app(), ["fit", str(frames), "--rig", str(rig_path), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert [f["file"] for f in report["failed"]] == ["frame_4.obj", "frame_7.obj"]
    assert report["fitted"] == 8
    order = [s["file"] for s in report["time_samples"]]
    assert order == [f"frame_{i}.obj" for i in (1, 2, 3, 5, 6, 8, 10, 11)]
    back = vips.load(out)
    assert back.joint_names == rig.joint_names
    (clip,) = back.clips.values()
    assert len(clip) == 8
    # The written poses are the fitted ones: the joints land where the frames put them.
    kept = np.array([0, 1, 2, 4, 5, 7, 6, 7])  # frame_10 / frame_11 repeat the last two poses
    errors = pose_errors(rig, Poses(clip.rotations, clip.root_translation), truth[kept])
    assert np.median(errors["position"][:, errors["observable"]]) < 0.02


def test_vips_fit_cli_rejects_a_rig_that_does_not_match(walk, tmp_path):
    import vips
    from vips.data.creatures import make_creature

    rig, truth = walk
    frames = tmp_path / "frames"
    frames.mkdir()
    _write_frames(frames, rig, truth[:3])
    other = make_creature("cat_02", individual=0).rig  # a cat's rig for a human's frames
    other_path = vips.save(other, tmp_path / "other.glb")
    out = tmp_path / "poses.usda"
    res = CliRunner().invoke(_app(), ["fit", str(frames), "--rig", str(other_path), "-o", str(out)])
    assert res.exit_code == 1
    assert "does not match" in res.output and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(_app(), ["fit", str(empty), "--rig", str(other_path), "-o", str(out)])
    assert res.exit_code == 1 and "no frame meshes" in res.output


def test_frame_readers_and_natural_order(tmp_path, assets_dir):
    from vips.errors import AssetError
    from vips.io.frames import list_frames, read_frame

    rng = np.random.default_rng(0)
    verts = rng.normal(size=(5, 3)).astype("<f4")
    header = ("ply\nformat {fmt} 1.0\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
              "element face 1\nproperty list uchar int vertex_indices\nend_header\n")
    with open(tmp_path / "f_10.ply", "wb") as fh:
        fh.write(header.format(fmt="binary_little_endian").encode())
        fh.write(verts.tobytes() + bytes([4]) + np.array([0, 1, 2, 3], "<i4").tobytes())
    text = "\n".join(" ".join(repr(float(x)) for x in v) for v in verts) + "\n4 0 1 2 3\n"
    (tmp_path / "f_9.ply").write_text(header.format(fmt="ascii") + text)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_frames(tmp_path)] == ["f_9.ply", "f_10.ply"]
    for name in ("f_9.ply", "f_10.ply"):
        v, f = read_frame(tmp_path / name)
        assert np.allclose(v, verts, atol=1e-6) and f.tolist() == [[0, 1, 2], [0, 2, 3]]
    (tmp_path / "bad.ply").write_bytes(header.format(fmt="binary_little_endian").encode() + b"\x00" * 7)
    with pytest.raises(AssetError, match="bad.ply"):
        read_frame(tmp_path / "bad.ply")
    v, f = read_frame(assets_dir / "gltf" / "CesiumMan.glb")
    assert v.shape == (3273, 3) and f.max() < len(v)
