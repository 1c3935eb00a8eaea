"""Artist clips as a dataset source: shards hold the assets' own clip poses, with provenance; assets without
animation are skipped, corrupt ones fail alone; resume and near-duplicate removal as for creatures; the auto
split holds out whole skeletons (every asset of one rig in one split)."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vips.cli import app
from vips.data.clips import ClipJob, SplitRule, skeleton_signature, skeleton_split
from vips.data.dataset import BuildSettings, build_dataset
from vips.data.shards import read_shard

CLIPS_ONLY = BuildSettings(species=0, seed=1)
ANIMATED = ("gltf/CesiumMan.glb", "gltf/RiggedSimple.glb", "gltf/SimpleSkin.gltf", "bvh/walk.bvh",
            "usd/lbs.usda", "usd/skinnedArm.usda")


def _load(path: str | Path):  # noqa: ANN202 - a vips.Rig
    from vips.io import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (q / np.linalg.norm(q, axis=-1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def _joint_positions64(rig, rotations: np.ndarray, root_translation: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(N, J, 3) float64 forward kinematics, written here independently of vips.kinematics."""
    n, J = rotations.shape[:2]
    rest = _quat_matrix(rig.rest_rotations.astype(np.float64))
    delta = _quat_matrix(rotations.reshape(-1, 4).astype(np.float64)).reshape(n, J, 3, 3)
    rot = np.zeros((n, J, 3, 3))
    pos = np.zeros((n, J, 3))
    for j, p in enumerate(rig.parents):
        local_r = rest[j] @ delta[:, j]
        t = rig.rest_translations[j].astype(np.float64) + (root_translation if p < 0 else 0.0)
        if p < 0:
            rot[:, j], pos[:, j] = local_r, np.broadcast_to(t, (n, 3))
        else:
            rot[:, j] = rot[:, p] @ local_r
            pos[:, j] = pos[:, p] + np.einsum("nab,b->na", rot[:, p], t)
    return pos


def _shards_by_asset(manifest: dict) -> dict[str, dict]:
    return {Path(s["asset"]).name: s for s in manifest["shards"] if s["source"] == "clip"}


@pytest.fixture(scope="module")
def built(assets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clips")
    manifest = build_dataset(out, CLIPS_ONLY, workers=2, clips=[assets_dir], clips_split="train")
    return out, manifest


def test_shards_hold_each_assets_clip_poses_with_provenance(assets_dir: Path, built: tuple[Path, dict]) -> None:
    out, manifest = built
    assert manifest["failures"] == [] and manifest["skipped"] == []
    shards = _shards_by_asset(manifest)
    assert sorted(shards) == sorted(Path(a).name for a in ANIMATED)
    for rel in ANIMATED:
        rig = _load(assets_dir / rel)
        meta = shards[Path(rel).name]
        assert meta["asset"] == str((assets_dir / rel).resolve())
        assert meta["species"].startswith(f"clip_{Path(rel).stem}_") and meta["plan"] == "clip"
        assert meta["split"] == "train" and meta["has_mesh"] == rig.has_mesh
        assert [(c["clip"], c["frames"]) for c in meta["clips"]] == [(n, len(p)) for n, p in rig.clips.items()]
        assert meta["poses"] + meta["near_duplicates_removed"] == sum(len(p) for p in rig.clips.values())

        shard = read_shard(out / meta["file"])
        assert shard.rig.joint_names == rig.joint_names
        np.testing.assert_array_equal(shard.rig.parents, rig.parents)
        np.testing.assert_array_equal(shard.rig.rest_translations, rig.rest_translations)
        assert shard.rig.has_mesh == rig.has_mesh and shard.rig.num_vertices == rig.num_vertices
        assert len(shard.poses) == meta["poses"] == len(shard.clip) == len(shard.frame) > 0
        # Every shard pose is the asset's own pose at the recorded clip and frame.
        names = [c["clip"] for c in meta["clips"]]
        for i, (c, f) in enumerate(zip(shard.clip, shard.frame)):
            source = rig.clips[names[c]]
            np.testing.assert_allclose(shard.poses.rotations[i], source.rotations[f], atol=1e-6)
            np.testing.assert_allclose(shard.poses.root_translation[i], source.root_translation[f], atol=1e-6)


def test_near_duplicates_are_removed_like_the_creatures(assets_dir: Path, built: tuple[Path, dict]) -> None:
    out, manifest = built
    eps = CLIPS_ONLY.dedupe_eps
    removed = 0
    for meta in _shards_by_asset(manifest).values():
        rig = _load(meta["asset"])
        clips = [rig.clips[c["clip"]] for c in meta["clips"]]
        rot = np.concatenate([p.rotations for p in clips])
        trans = np.concatenate([p.root_translation for p in clips])
        pos = _joint_positions64(rig, rot, trans)
        pos = (pos - pos[:, :1]) / rig.height()
        offsets = np.cumsum([0] + [len(p) for p in clips])
        shard = read_shard(out / meta["file"])
        kept = offsets[shard.clip] + shard.frame
        assert np.all(np.diff(kept) > 0), "kept poses must stay in clip and frame order"
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1).max(-1)  # pose distance: max over joints
        for a in range(len(kept)):  # kept poses are pairwise apart...
            assert np.all(dist[kept[a], kept[:a]] >= eps - 1e-5)
        for i in np.setdiff1d(np.arange(len(pos)), kept):  # ...and each dropped one is close to an earlier kept one
            assert dist[i, kept[kept < i]].min(initial=np.inf) < eps + 1e-5
        removed += len(pos) - len(kept)
    assert removed == manifest["near_duplicates_removed"] > 0


def test_meshless_bvh_rig_is_a_training_group(built: tuple[Path, dict]) -> None:
    from vips.data.training_groups import load_training_groups

    out, manifest = built
    walk = _shards_by_asset(manifest)["walk.bvh"]
    assert walk["has_mesh"] is False and walk["clips"][0]["fps"] == pytest.approx(120.0, rel=1e-4)
    groups = {g.name: g for g in load_training_groups(out, "train")}
    assert len(groups) == len(ANIMATED)
    assert groups["walk"].poses.shape[:2] == (walk["poses"], walk["joints"])


def _library(assets_dir: Path, folder: Path) -> Path:
    """A folder of two animated assets, one still asset, two corrupt ones and a file that is not an asset."""
    folder.mkdir()
    shutil.copy(assets_dir / "gltf/SimpleSkin.gltf", folder / "SimpleSkin.gltf")
    (folder / "mocap").mkdir()
    shutil.copy(assets_dir / "bvh/walk.bvh", folder / "mocap" / "walk.bvh")
    from vips.io import save

    still = _load(assets_dir / "gltf/RiggedSimple.glb")
    still.clips = {}
    save(still, folder / "still.glb")
    (folder / "broken.glb").write_bytes((assets_dir / "gltf/CesiumMan.glb").read_bytes()[:3000])
    (folder / "empty.usda").write_text("")
    (folder / "notes.txt").write_text("not an asset")
    return folder


def test_skipped_and_corrupt_assets_are_reported_and_the_others_land(assets_dir: Path, tmp_path: Path) -> None:
    lib = _library(assets_dir, tmp_path / "lib")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["dataset", "build", "--out", str(out), "--species", "0", "--clips", str(lib),
                                      "--clips-split", "val"])
    assert result.exit_code == 1, result.output  # failures make the build exit 1, after the others landed
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(_shards_by_asset(manifest)) == ["SimpleSkin.gltf", "walk.bvh"]
    assert all(s["split"] == "val" for s in manifest["shards"])
    assert manifest["poses_per_split"]["val"] == manifest["poses"] > 0
    for s in manifest["shards"]:
        assert (out / s["file"]).is_file()
    still = str((lib / "still.glb").resolve())
    assert manifest["skipped"] == [{"asset": still, "reason": "the asset has no animation clips"}]
    failed = {Path(f["asset"]).name: f["reason"] for f in manifest["failures"]}
    assert sorted(failed) == ["broken.glb", "empty.usda"]
    assert "broken.glb" in failed["broken.glb"] and "truncated" in failed["broken.glb"]
    assert "empty.usda" in failed["empty.usda"] and "empty" in failed["empty.usda"]
    assert manifest["clips"] | {"paths": None} == {"paths": None, "split": "val", "assets": 5, "shards": 2,
                                                    "poses": manifest["poses"], "skipped": 1, "failed": 2}
    assert "broken.glb" in result.output and "2 failed" in result.output


def test_resume_skips_finished_assets_and_adds_new_ones(assets_dir: Path, tmp_path: Path) -> None:
    lib = _library(assets_dir, tmp_path / "lib")
    (lib / "broken.glb").unlink()
    (lib / "empty.usda").unlink()
    out = tmp_path / "out"
    first = build_dataset(out, CLIPS_ONLY, workers=1, clips=[lib])
    assert first["failures"] == [] and first["clips"]["shards"] == 2 and len(first["skipped"]) == 1
    mtimes = {f.name: f.stat().st_mtime_ns for f in (out / "shards").iterdir()}
    assert len(mtimes) == 5  # two shards with sidecars, one skip record

    seen: list[str] = []
    again = build_dataset(out, CLIPS_ONLY, workers=1, clips=[lib], progress=lambda d, t, name: seen.append(name))
    assert seen == [""], "a resumed build redid finished assets (skipped ones included)"
    assert {f.name: f.stat().st_mtime_ns for f in (out / "shards").iterdir()} == mtimes
    assert again["shards"] == first["shards"] and again["skipped"] == first["skipped"]

    shutil.copy(assets_dir / "usd/lbs.usda", lib / "lbs.usda")
    seen.clear()
    third = build_dataset(out, CLIPS_ONLY, workers=1, clips=[lib], progress=lambda d, t, name: seen.append(name))
    assert [n for n in seen if n] == [_shards_by_asset(third)["lbs.usda"]["file"][len("shards/"):-len(".npz")]]
    assert {f.name: f.stat().st_mtime_ns for f in (out / "shards").iterdir() if f.name in mtimes} == mtimes
    assert third["clips"]["shards"] == 3


def test_clips_join_procedural_creatures_without_changing_them(assets_dir: Path, tmp_path: Path) -> None:
    small = BuildSettings(species=2, individuals=1, sequences=1, frames=8, seed=4)
    alone = build_dataset(tmp_path / "alone", small, workers=1)
    mixed = build_dataset(tmp_path / "mixed", small, workers=1, clips=[assets_dir / "bvh" / "walk.bvh"])
    assert "clips" not in alone and "skipped" not in alone
    assert [s["source"] for s in mixed["shards"]] == ["procedural", "procedural", "clip"]
    assert mixed["species"] == 3 and mixed["poses"] == alone["poses"] + mixed["shards"][2]["poses"]
    for meta in alone["shards"]:
        with np.load(tmp_path / "alone" / meta["file"]) as a, np.load(tmp_path / "mixed" / meta["file"]) as b:
            assert a.files == b.files
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])


def test_auto_split_follows_asset_content_not_path(assets_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b" / "deeper"
    b.mkdir(parents=True)
    a.mkdir()
    for d in (a, b):
        shutil.copy(assets_dir / "gltf/CesiumMan.glb", d / "CesiumMan.glb")
    ma = build_dataset(tmp_path / "out_a", CLIPS_ONLY, workers=1, clips=[a])
    mb = build_dataset(tmp_path / "out_b", CLIPS_ONLY, workers=1, clips=[b / "CesiumMan.glb"])
    (sa,), (sb,) = ma["shards"], mb["shards"]
    assert sa["species"] == sb["species"] and sa["split"] == sb["split"]
    # Over many assets, auto gives the settings' val and test fractions.
    rng = np.random.default_rng(0)
    splits = [skeleton_split(rng.bytes(8).hex(), "auto", 0, 0.1, 0.1) for _ in range(4000)]
    for name, share in (("test", 0.1), ("val", 0.1), ("train", 0.8)):
        assert abs(splits.count(name) / len(splits) - share) < 0.02
    with pytest.raises(Exception, match="unknown clips split"):
        skeleton_split("00", "holdout", 0, 0.1, 0.1)
    with pytest.raises(Exception, match="no such file or folder"):
        build_dataset(tmp_path / "out_c", CLIPS_ONLY, workers=1, clips=[tmp_path / "missing"])


# Skeletons as (joint name, children) trees. HUMAN_REORDERED is HUMAN with its siblings in another file order;
# RENAMED and REPARENTED differ from HUMAN in one joint's name or parent only.
HUMAN = ("Hips", (("Spine", (("Head", ()),)), ("LeftLeg", (("LeftFoot", ()),)), ("RightLeg", (("RightFoot", ()),))))
HUMAN_REORDERED = ("Hips", (("RightLeg", (("RightFoot", ()),)), ("LeftLeg", (("LeftFoot", ()),)),
                            ("Spine", (("Head", ()),))))
RENAMED = ("Hips", (("Spine", (("Skull", ()),)), ("LeftLeg", (("LeftFoot", ()),)), ("RightLeg", (("RightFoot", ()),))))
REPARENTED = ("Hips", (("Spine", ()), ("Head", ()), ("LeftLeg", (("LeftFoot", ()),)),
                       ("RightLeg", (("RightFoot", ()),))))
BIRD = ("Body", (("Neck", (("Head", ()),)), ("LeftWing", ()), ("RightWing", ()), ("Tail", ())))

# A Mixamo-style library: one file per animation of a character. file -> (skeleton, bone length scale); the
# expected species (skeleton) of each file is its first word, except Giant, a Knight rig with other proportions.
BVH_LIBRARY = {
    "Knight_Walk.bvh": (HUMAN, 1.0),
    "Knight_Run.bvh": (HUMAN, 1.0),
    "mocap/Knight_Jump.bvh": (HUMAN_REORDERED, 1.0),
    "Giant_Walk.bvh": (HUMAN, 1.7),
    "Troll_Walk.bvh": (RENAMED, 1.0),
    "Troll_Idle.bvh": (RENAMED, 1.0),
    "Odd_Walk.bvh": (REPARENTED, 1.0),
    "Odd_Crawl.bvh": (REPARENTED, 1.0),
    "birds/Bird_Fly.bvh": (BIRD, 1.0),
    "birds/Bird_Hop.bvh": (BIRD, 1.0),
}
GLB_LIBRARY = {"Cesium_Walk.glb": slice(0, 25), "Cesium_Wave.glb": slice(25, 49)}  # CesiumMan's clip, cut in two
EXPECTED_SKELETON = {"Knight": "Knight", "Giant": "Knight", "Troll": "Troll", "Odd": "Odd", "Bird": "Bird",
                     "Cesium": "Cesium"}


def _expected_skeleton(rel: str) -> str:
    return EXPECTED_SKELETON[Path(rel).name.split("_")[0]]


def _write_bvh(path: Path, tree: tuple, seed: int, scale: float = 1.0, frames: int = 6) -> None:
    """A BVH file of skeleton ``tree``: each joint's OFFSET comes from its name (one body per skeleton, whatever
    the file order), times ``scale``; the motion is random from ``seed`` (every file its own animation)."""
    lines, joints = ["HIERARCHY"], 0

    def write(node: tuple, indent: str, keyword: str) -> None:
        nonlocal joints
        name, children = node
        h = hashlib.sha256(name.encode()).digest()
        offset = (0.0, 0.0, 0.0) if keyword == "ROOT" else tuple(scale * (1 + b / 64) for b in h[:3])
        channels = "6 Xposition Yposition Zposition" if keyword == "ROOT" else "3"
        lines.extend([f"{indent}{keyword} {name}", f"{indent}{{", f"{indent}  OFFSET {' '.join(map(str, offset))}",
                      f"{indent}  CHANNELS {channels} Zrotation Xrotation Yrotation"])
        joints += 1
        for child in children:
            write(child, indent + "  ", "JOINT")
        if not children:
            lines.extend([f"{indent}  End Site", f"{indent}  {{", f"{indent}    OFFSET 0 {scale} 0", f"{indent}  }}"])
        lines.append(f"{indent}}}")

    write(tree, "", "ROOT")
    rng = np.random.default_rng(seed)
    motion = rng.uniform(-40, 40, (frames, 3 + 3 * joints))
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0333333"]
    lines += [" ".join(f"{v:.4f}" for v in row) for row in motion]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _clip_library(assets_dir: Path, folder: Path) -> Path:
    for i, (rel, (tree, scale)) in enumerate(BVH_LIBRARY.items()):
        _write_bvh(folder / rel, tree, seed=i, scale=scale)
    from vips.io import save

    cesium = _load(assets_dir / "gltf/CesiumMan.glb")
    (clip,) = cesium.clips.values()
    for name, frames in GLB_LIBRARY.items():
        cesium.clips = {Path(name).stem: clip[frames]}
        save(cesium, folder / name)
    return folder


def _file_split(content_hash: str, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """The split the old rule (one asset file, one split) gave: a seeded hash of the asset's content hash."""
    u = int.from_bytes(hashlib.sha256(f"{seed}/{content_hash}".encode()).digest()[:8], "little") / 2.0**64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def _by_rel(manifest: dict, root: Path) -> dict[str, dict]:
    return {Path(s["asset"]).relative_to(root.resolve()).as_posix(): s for s in manifest["shards"]}


def test_auto_split_holds_out_whole_skeletons(assets_dir: Path, tmp_path: Path) -> None:
    from vips.batch.discover import Asset

    lib = _clip_library(assets_dir, tmp_path / "lib")
    files = [*BVH_LIBRARY, *GLB_LIBRARY]
    groups: dict[str, list[str]] = {}
    for rel in files:
        groups.setdefault(_expected_skeleton(rel), []).append(rel)
    content = {rel: Asset(Path(rel).name, "bvh" if rel.endswith(".bvh") else "gltf", (str((lib / rel).resolve()),))
               .content_hash() for rel in files}
    signature = {g: skeleton_signature(_load(lib / rels[0])) for g, rels in groups.items()}

    def file_rule_leaks(seed: int) -> bool:
        return any(len({_file_split(content[r], seed) for r in rels}) > 1 for rels in groups.values())

    # A seed where the old per-file rule puts one character in two splits, and skeletons spread over 2+ splits.
    seed = next(s for s in range(200) if file_rule_leaks(s)
                and len({skeleton_split(sig, "auto", s, 0.1, 0.1) for sig in signature.values()}) > 1)
    settings = BuildSettings(species=0, seed=seed)
    out = tmp_path / "out"
    manifest = build_dataset(out, settings, workers=2, clips=[lib])
    assert manifest["failures"] == [] and manifest["skipped"] == []
    shards = _by_rel(manifest, lib)
    assert sorted(shards) == sorted(files)
    assert all(shards[r]["asset_hash"] == content[r] for r in files)  # the hashes the old rule split by

    split_of: dict[str, str] = {}
    for g, rels in groups.items():
        assert {shards[r]["skeleton"] for r in rels} == {signature[g]}, g
        assert {shards[r]["split"] for r in rels} == {skeleton_split(signature[g], "auto", seed, 0.1, 0.1)}, g
        split_of[g] = shards[rels[0]]["split"]
    assert len(set(signature.values())) == len(groups)  # a renamed or reparented joint is another skeleton
    assert len(set(split_of.values())) > 1
    for r in files:
        assert shards[r]["species"] in manifest["species_per_split"][split_of[_expected_skeleton(r)]]
    for s in manifest["shards"]:
        assert (out / s["file"]).is_file() and read_shard(out / s["file"]).meta["skeleton"] == s["skeleton"]

    # Resumed: nothing is loaded again and the dataset is the same.
    seen: list[str] = []
    again = build_dataset(out, settings, workers=2, clips=[lib], progress=lambda d, t, name: seen.append(name))
    assert seen == [""] and again["shards"] == manifest["shards"]

    # The split follows the skeleton, not the file: renamed copies elsewhere, built alone, land with their kin.
    other = tmp_path / "other" / "deeper"
    other.mkdir(parents=True)
    for rel, new in (("Knight_Run.bvh", "Hero.bvh"), ("birds/Bird_Hop.bvh", "Sparrow_Peck.bvh"),
                     ("Cesium_Wave.glb", "man.glb")):
        shutil.copy(lib / rel, other / new)
    alone = build_dataset(tmp_path / "out_alone", settings, workers=1, clips=[other])
    moved = {Path(s["asset"]).name: s for s in alone["shards"]}
    for new, g in (("Hero.bvh", "Knight"), ("Sparrow_Peck.bvh", "Bird"), ("man.glb", "Cesium")):
        assert moved[new]["skeleton"] == signature[g] and moved[new]["split"] == split_of[g], new


def test_skeleton_signature_is_names_and_hierarchy(assets_dir: Path, tmp_path: Path) -> None:
    rigs = {}
    for name, tree, scale in (("a", HUMAN, 1.0), ("b", HUMAN_REORDERED, 1.0), ("c", HUMAN, 3.0),
                              ("d", RENAMED, 1.0), ("e", REPARENTED, 1.0)):
        _write_bvh(tmp_path / f"{name}.bvh", tree, seed=0, scale=scale)
        rigs[name] = _load(tmp_path / f"{name}.bvh")
    assert rigs["a"].joint_names != rigs["b"].joint_names  # the file order really differs...
    sig = {k: skeleton_signature(r) for k, r in rigs.items()}
    assert sig["a"] == sig["b"] == sig["c"]  # ...but not the skeleton; proportions do not count
    assert len({sig["a"], sig["d"], sig["e"]}) == 3
    assert all(len(s) == 16 and int(s, 16) >= 0 for s in sig.values())
    # The documented formula, a hash of strings only (so the same on every machine), recomputed here.
    pairs = sorted((n, rigs["a"].joint_names[p] if p >= 0 else "") for n, p in zip(rigs["a"].joint_names,
                                                                                   rigs["a"].parents))
    assert sig["a"] == hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]
    cesium = _load(assets_dir / "gltf/CesiumMan.glb")
    assert skeleton_signature(cesium) != sig["a"]


def test_resume_key_is_the_split_rule(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _write_bvh(lib / "Knight_Walk.bvh", HUMAN, seed=0)
    _write_bvh(lib / "Bird_Fly.bvh", BIRD, seed=1)
    out = tmp_path / "out"

    def build(mode: str, seed: int) -> tuple[dict, list[str]]:
        seen: list[str] = []
        manifest = build_dataset(out, BuildSettings(species=0, seed=seed), workers=1, clips=[lib], clips_split=mode,
                                 progress=lambda d, t, name: seen.append(name))
        return manifest, [n for n in seen if n]

    first, redone = build("val", 0)
    assert len(redone) == 2 and {s["split"] for s in first["shards"]} == {"val"}
    assert build("val", 5)[1] == []  # an explicit split does not depend on the seed: nothing to redo
    for seed in (0, 1):  # auto with another seed may move a skeleton: every asset is redone
        auto, redone = build("auto", seed)
        assert len(redone) == 2
        assert all(s["split"] == skeleton_split(s["skeleton"], "auto", seed, 0.1, 0.1) for s in auto["shards"])
    assert build("auto", 1)[1] == []
    job = ClipJob("/a.bvh", "bvh", "0" * 64, SplitRule("auto", 1), 0.01)
    assert job.split == "auto" and job.shard_name == "clip_a_00000000__000"
    with pytest.raises(Exception, match="unknown clips split"):
        SplitRule("holdout")
