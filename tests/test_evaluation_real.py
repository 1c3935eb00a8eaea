"""Evaluation on real motion: the "few joints turned" corruption, coverage and rest bias against brute-force
float64 references, the report section on a tiny clip dataset built here with the toy model, and `vips eval`
end to end on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runtime_support import toy_model_dir, toy_pairs

from vips.evaluation.corruptions import CORRUPTIONS, PROCEDURAL_CORRUPTIONS
from vips.evaluation.metrics import auroc, pose_features
from vips.evaluation.real_motion import (
    REAL_MOTION_CORRUPTIONS,
    body_group,
    covered_frames,
    dataset_families,
    evaluate_real_motion,
    even_frames,
    rest_bias,
    rest_distances,
)
from vips.poses import Poses
from vips.rig import Rig
from vips.rotations import quat_conjugate, quat_multiply, quat_normalize

STEPS = 8


def _chain_rig(names: list[str]) -> Rig:
    J = len(names)
    trans = np.tile([0.0, 1.0, 0.0], (J, 1))
    trans[0] = 0
    return Rig(names, np.arange(-1, J - 1), trans, np.tile([1.0, 0, 0, 0], (J, 1)), name="chain")


# ----- the corruption -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", [0, 3])
def test_turned_joints_turns_two_or_three_boned_joints_by_90_to_120_degrees(which):
    rig, poses = toy_pairs()[which]
    rng = np.random.default_rng(5)
    poses = Poses(quat_normalize(rng.normal(size=(60, rig.num_joints, 4))).astype(np.float32),
                  rng.normal(size=(60, 3)).astype(np.float32))
    out = CORRUPTIONS["turned_joints"](rig, poses, seed=3)
    again = CORRUPTIONS["turned_joints"](rig, poses, seed=3)
    np.testing.assert_array_equal(out.poses.rotations, again.poses.rotations)
    np.testing.assert_array_equal(out.poses.root_translation, poses.root_translation)
    before = poses.rotations.astype(np.float64)
    after = out.poses.rotations.astype(np.float64)
    change = quat_multiply(after, quat_conjugate(before))
    angle = np.degrees(2 * np.arccos(np.clip(np.abs(change[..., 0]), 0, 1)))  # (N, J)
    has_bone = np.linalg.norm(rig.bone_axes(), axis=1) > 0
    counts = []
    for i in range(len(poses)):
        turned = angle[i] > 1.0
        counts.append(int(turned.sum()))
        assert 2 <= turned.sum() <= 3, out.descriptions[i]
        assert not turned[0] and has_bone[turned].all()
        assert ((angle[i, turned] >= 90 - 0.01) & (angle[i, turned] <= 120 + 0.01)).all(), angle[i, turned]
        np.testing.assert_allclose(after[i, ~turned], before[i, ~turned], atol=1e-6)
        assert out.joints[i] in np.flatnonzero(turned)
    assert set(counts) == {2, 3}  # both counts are drawn
    assert out.descriptions[0].startswith("turn '")


def test_turned_joints_is_a_real_motion_kind_and_the_procedural_default_is_unchanged():
    assert REAL_MOTION_CORRUPTIONS[0] == "turned_joints" and set(REAL_MOTION_CORRUPTIONS) <= set(CORRUPTIONS)
    assert PROCEDURAL_CORRUPTIONS == ("twist", "random_rotation", "hyperextension", "through_body")
    with pytest.raises(ValueError, match="min_joints"):
        CORRUPTIONS["turned_joints"](*toy_pairs()[0], min_joints=3, max_joints=2)


# ----- coverage and rest bias against brute force -----------------------------------------------------------------
def _brute_covered(samples, frames, radius):
    out = []
    for f in np.asarray(frames, np.float64):
        best = min(np.mean([np.sqrt(np.sum((f[j] - s[j]) ** 2)) for j in range(len(f))]) for s in samples)
        out.append(best <= radius)
    return np.array(out)


def _brute_rest_bias(samples, frames, rest):
    def dist(x):
        return [np.mean([np.sqrt(np.sum((p[j] - rest[j]) ** 2)) for j in range(len(rest))]) for p in x]

    return float(np.median(dist(samples)) / np.median(dist(frames)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coverage_and_rest_bias_match_a_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    J = int(rng.integers(3, 12))
    samples = rng.normal(size=(int(rng.integers(5, 40)), J, 3)) * 0.1
    frames = rng.normal(size=(int(rng.integers(5, 30)), J, 3)) * 0.1
    rest = rng.normal(size=(J, 3)) * 0.05
    nearest = np.array([min(np.linalg.norm(f - s, axis=-1).mean() for s in samples) for f in frames])
    ranked = np.sort(nearest)
    radius = float(ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2  # half covered, no ties
    want = _brute_covered(samples, frames, radius)
    assert 0 < want.sum() < len(want)
    np.testing.assert_array_equal(covered_frames(samples, frames, radius), want)
    assert rest_bias(samples, frames, rest) == pytest.approx(_brute_rest_bias(samples, frames, rest), rel=1e-12)
    np.testing.assert_allclose(rest_distances(frames, rest), np.linalg.norm(frames - rest, axis=-1).mean(axis=-1))


def test_coverage_and_rest_bias_hand_made_cases():
    rng = np.random.default_rng(7)
    frames = rng.normal(size=(20, 6, 3))
    rest = rng.normal(size=(6, 3))
    assert covered_frames(frames, frames, 1e-12).all()  # samples equal to the frames cover every frame
    assert covered_frames(frames[:10], frames, 1e-9).sum() == 10
    assert not covered_frames(frames[:0], frames).any()  # no samples cover nothing
    assert rest_bias(np.repeat(rest[None], 5, axis=0), frames, rest) == 0.0  # samples at rest
    assert rest_bias(frames, frames, rest) == pytest.approx(1.0)
    assert rest_bias(frames, np.repeat(rest[None], 4, axis=0), rest) is None  # real frames at rest: no ratio


def test_pose_features_relative_to_another_joint_drop_its_position_and_heading():
    from vips.body import body_root
    from vips.kinematics import turn_root

    rig, poses = toy_pairs()[2]
    poses = poses[:20]
    k = int(np.argmax(np.bincount(rig.parents[1:], minlength=rig.num_joints)))  # a joint with children
    f = pose_features(rig, poses, root=k)
    np.testing.assert_allclose(f[:, k], 0, atol=1e-12)
    turned = turn_root(rig, poses, np.linspace(-3, 3, len(poses)))
    np.testing.assert_allclose(pose_features(rig, turned, root=k), f, atol=2e-5)
    np.testing.assert_allclose(pose_features(rig, poses, root=0), pose_features(rig, poses), atol=0)
    assert 0 <= body_root(rig) < rig.num_joints


def test_humans_and_others_follow_the_documented_rule():
    daz = ["hip", "abdomen", "chest", "lShldr", "lForeArm", "lHand", "lThigh", "lShin", "lFoot"]
    cmu = ["hip", "lfemur", "ltibia", "lhumerus", "lradius", "lwrist"]
    horse = ["AnimalArmature", "Body", "FrontUpperLeg.L", "FrontLowerLeg.L", "BackUpperLeg.L", "Tail1"]
    kaykit = ["root", "hips", "upperarm.l", "lowerarm.l", "hand.l", "upperleg.l", "lowerleg.l", "foot.l"]
    generic = [f"joint_{j}" for j in range(6)]
    assert body_group(_chain_rig(daz)) == body_group(_chain_rig(cmu)) == body_group(_chain_rig(kaykit)) == "humans"
    assert body_group(_chain_rig(horse)) == body_group(_chain_rig(generic)) == "others"
    assert body_group(_chain_rig(generic), "cmu_daz") == "humans"
    assert body_group(_chain_rig(horse), "quaternius") == "others"


def test_even_frames():
    np.testing.assert_array_equal(even_frames(5, 40), np.arange(5))
    idx = even_frames(317, 40)
    assert len(idx) == 40 and idx[0] == 0 and idx[-1] == 316 and (np.diff(idx) > 0).all()
    assert np.ptp(np.diff(idx)) <= 1


# ----- a tiny real-clip dataset -------------------------------------------------------------------------------
def _skeleton_only(rig: Rig, name: str) -> Rig:
    return Rig(list(rig.joint_names), rig.parents, rig.rest_translations, rig.rest_rotations, name=name)


def _build_tiny(root: Path) -> dict:
    """Shards of toy rigs as the clip builder writes them: two shards of family 'fam_a' (one rig, three clips),
    a skeleton-only rig whose row has no family (its species is its family), and a training shard (left out).
    Rows are stored out of frame order, as near-duplicate removal may leave them, to check frames are sorted."""
    from vips.io.shards import Shard, write_shard

    (root / "shards").mkdir(parents=True)
    pairs = toy_pairs()
    rows, kept = [], {}

    def add(name, rig, poses, lengths, **meta):
        clip = np.concatenate([np.full(n, c, np.int32) for c, n in enumerate(lengths)])
        frame = np.concatenate([np.arange(n, dtype=np.int32) for n in lengths])
        order = np.random.default_rng(len(rows)).permutation(len(poses))
        meta = {"source": "clip", "species": name, "plan": "clip", "individual": 0, "split": "val",
                "asset": f"/motion/{name}.glb", "clips": [{"clip": f"take{c}", "frames": n} for c, n in
                                                          enumerate(lengths)], **meta}
        write_shard(root / "shards" / f"{name}.npz", Shard(rig, poses[order], clip[order], frame[order], meta))
        rows.append({**meta, "file": f"shards/{name}.npz", "poses": len(poses)})
        kept[name] = (poses, lengths)

    add("fam_a_walks", pairs[0][0], pairs[0][1][:30], [20, 10], family="fam_a", collection="toys", licence="CC0")
    add("fam_a_runs", pairs[0][0], pairs[0][1][30:45], [15], family="fam_a", collection="toys", licence="CC0")
    add("bare", _skeleton_only(pairs[1][0], "bare"), pairs[1][1][:12], [12])
    add("seen", pairs[2][0], pairs[2][1][:10], [10], split="train")
    (root / "manifest.json").write_text(json.dumps({"shards": rows}))
    return kept


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_real")
    return root, _build_tiny(root)


@pytest.fixture(scope="module")
def model():
    from vips.posespace import PoseSpace

    spaces = {}

    def space(rig):
        if id(rig) not in spaces:
            spaces[id(rig)] = PoseSpace(rig, model=toy_model_dir())
        return spaces[id(rig)]

    return space


def test_dataset_families_group_clip_shards_of_the_split(tiny):
    root, kept = tiny
    fams = {f.name: f for f in dataset_families(root, "val", frames_per_clip=6)}
    assert set(fams) == {"fam_a", "bare"}  # training shard left out; species stands in for a missing family
    a = fams["fam_a"]
    assert a.collection == "toys" and a.licence == "CC0" and a.group == "others" and len(a.rigs) == 2
    assert [c.name for r in a.rigs for c in r.clips] == ["fam_a_walks:take0", "fam_a_walks:take1",
                                                        "fam_a_runs:take0"]
    poses, lengths = kept["fam_a_walks"]
    first = a.rigs[0].clips[1]
    np.testing.assert_array_equal(first.frames, even_frames(10, 6))
    np.testing.assert_allclose(first.poses.rotations, poses.rotations[20:30][even_frames(10, 6)], atol=1e-7)
    assert first.total_frames == 10 and not fams["bare"].rigs[0].rig.has_mesh
    # Procedural rows are not read at all (this one names a missing file); shard paths may be absolute.
    manifest = json.loads((root / "manifest.json").read_text())
    for row in manifest["shards"]:
        row["file"] = str(root / row["file"])
    manifest["shards"].append({"source": "procedural", "species": "x", "split": "val", "file": "missing.npz"})
    other = root.parent / "tiny_with_procedural"
    other.mkdir(exist_ok=True)
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert {f.name for f in dataset_families(other, "val", 6)} == {"fam_a", "bare"}


def test_real_motion_section_matches_direct_posespace_calls(tiny, model, tmp_path):
    from vips.body import body_root

    root, _ = tiny
    families = dataset_families(root, "val", frames_per_clip=6)
    sampler = lambda rig, n, s: model(rig).sample(n, seed=s, steps=STEPS)  # noqa: E731
    scorer = lambda rig, poses: model(rig).score(poses)  # noqa: E731
    sec = evaluate_real_motion(families, sampler, scorer, n_samples=24, seed=4, out_dir=tmp_path)
    assert set(sec["families"]) == {"fam_a", "bare"}
    a = sec["families"]["fam_a"]
    assert a["frames"] == 18 and a["clips_evaluated"] == 3 and [c["frames"] for c in a["clips"].values()] == [6] * 3
    assert sec["families"]["bare"]["frames"] == 6 and sec["families"]["bare"]["rigs"][0]["mesh"] is False
    for fam in sec["families"].values():
        for key in ("plausible", "coverage", "rest_bias"):
            assert fam[key] is not None and 0 <= fam[key] <= (1 if key != "rest_bias" else 10)
        assert set(fam["corruptions"]) == set(REAL_MOTION_CORRUPTIONS)
        for c in fam["corruptions"].values():
            if "error" not in c:
                assert 0 <= c["caught"] <= 1 and 0 <= c["auroc"] <= 1 and c["n"] == fam["frames"]
        assert fam["coverage_worst_clip"] <= fam["coverage"] + 1e-12 or len(fam["clips"]) == 1

    # The skeleton-only family, recomputed from PoseSpace directly.
    fam = next(f for f in families if f.name == "bare")
    rig = fam.rigs[0].rig
    frames = Poses.concatenate([c.poses for c in fam.rigs[0].clips])
    scores, flags = model(rig).score(frames)
    got = sec["families"]["bare"]
    assert got["plausible"] == pytest.approx(float(np.mean(flags)))
    bad = CORRUPTIONS["turned_joints"](rig, frames, seed=4 + 1000, reference=frames).poses
    bad_scores, bad_flags = model(rig).score(bad)
    assert got["corruptions"]["turned_joints"]["caught"] == pytest.approx(float(np.mean(~bad_flags)))
    assert got["corruptions"]["turned_joints"]["auroc"] == pytest.approx(auroc(scores, bad_scores))
    body = body_root(rig)
    samples = pose_features(rig, model(rig).sample(24, seed=4, steps=STEPS), root=body)
    feats = pose_features(rig, frames, root=body)
    rest = pose_features(rig, Poses.identity(1, rig.num_joints), root=body)[0]
    assert got["coverage"] == pytest.approx(float(covered_frames(samples, feats, 0.08).mean()))
    assert got["rest_bias"] == pytest.approx(rest_bias(samples, feats, rest))

    # Means over families, groups, targets and plots.
    fams = sec["families"].values()
    assert sec["mean"]["plausible"] == pytest.approx(np.mean([f["plausible"] for f in fams]))
    assert sec["mean"]["corruptions"]["twist"]["auroc"] == pytest.approx(
        np.mean([f["corruptions"]["twist"]["auroc"] for f in fams]))
    assert sec["groups"]["others"]["families"] == ["fam_a", "bare"] and "humans" not in sec["groups"]
    t = sec["targets"]
    assert t["plausible"]["met"] == all(f["plausible"] >= 0.9 for f in fams) and t["plausible"]["checked"] == 2
    assert t["coverage"]["checked"] == 4 and t["coverage"]["worst"] == min(
        c["coverage"] for f in fams for c in f["clips"].values())
    assert t["auroc"]["met"] == all(c["auroc"] >= 0.95 for f in fams for c in f["corruptions"].values()
                                    if "error" not in c)
    for name in ("plausible", "caught", "auroc", "coverage", "rest_bias"):
        assert (tmp_path / f"real_{name}.png").is_file()
    json.dumps(sec)


# ----- the command line ----------------------------------------------------------------------------------------
BVH = """HIERARCHY
ROOT hip
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT head
    {
      OFFSET 0 10 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 5 0
      }
    }
  }
  JOINT lThigh
  {
    OFFSET 4 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT lShin
    {
      OFFSET 0 -12 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 -10 0
      }
    }
  }
  JOINT rThigh
  {
    OFFSET -4 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT rShin
    {
      OFFSET 0 -12 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 -10 0
      }
    }
  }
}
MOTION
Frames: 12
Frame Time: 0.033333
"""


def test_cli_eval_real_motion_end_to_end(tiny, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from vips.cli import app

    root, _ = tiny
    bvh = tmp_path / "kick.bvh"
    # hip (6 channels), spine, head, lThigh, lShin, rThigh, rShin (3 each): a slow kick of the left leg.
    frames = [[0, 22, 0, 0, 0, 0] + [0, 2 * k, 0] * 2 + [0, -8 * k, 0, 0, 10 * k, 0] + [0] * 6 for k in range(12)]
    bvh.write_text(BVH + "".join(" ".join(str(v) for v in f) + "\n" for f in frames))
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["eval", "--data", str(root), "--split", "val", "--model", str(toy_model_dir()),
                                 "--assets", str(bvh), "--sheet", str(bvh), "--out", str(out), "--frames-per-clip",
                                 "4", "--cover-samples", "16", "--samples", "16", "--steps", str(STEPS)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    real = report["real motion"]
    assert set(real["families"]) == {"fam_a", "bare", "kick"}
    assert real["families"]["kick"]["source"] == "asset" and real["families"]["kick"]["frames"] == 4
    assert real["settings"]["frames_per_clip"] == 4 and real["settings"]["samples_per_rig"] == 16
    assert "assets" in report["groups"]  # the split-in-time table of --assets is still made
    (sheet,) = report["sheets"]
    assert sheet["samples"] == 16 and len(sheet["scores"]) == 16 and 0 <= sheet["plausible"] <= 16
    assert sheet["mesh"] is False
    img = Image.open(sheet["file"])
    assert img.size == (8 * 192, 2 * 192)
    assert np.asarray(img).std() > 5  # the skeletons are drawn, not an empty canvas
    for name in ("plausible", "caught", "auroc", "coverage", "rest_bias"):
        assert (out / f"real_{name}.png").is_file()
    printed = json.loads(r.stdout[r.stdout.index("{"):])
    assert set(printed["real motion"]["targets"]) >= {"plausible", "caught", "auroc", "coverage", "rest_bias"}
    helped = CliRunner().invoke(app, ["eval", "--help"])
    assert "--frames-per-clip" in helped.output and "--sheet" in helped.output and "rest bias" in helped.output
    empty = CliRunner().invoke(app, ["eval", "--out", str(tmp_path / "none")])
    assert empty.exit_code == 1 and "nothing to evaluate" in empty.output
