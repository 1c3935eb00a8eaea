"""Artist clips as a dataset source: shards hold the assets' own clip poses, with provenance; assets without
animation are skipped, corrupt ones fail alone; resume and near-duplicate removal as for creatures; splits hold
out whole rig families (every asset of one rig template in one split), explicit PATH=SPLIT splits follow the
families; collections and licences come from a sources file or the licence files beside the assets."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import MOTION_DIR, requires_motion
from typer.testing import CliRunner

from vips.cli import app
from vips.data.clips import (ClipsPath, family_split, is_generic_joint, joint_key, plan_clip_jobs, rig_families,
                             same_template, skeleton_signature)
from vips.data.dataset import BuildSettings, build_dataset
from vips.errors import VipsError
from vips.io.shards import read_shard

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
        # Every shard pose is the asset's own pose at the recorded clip and frame, set on the rest pose's ground
        # by the clip's recorded vertical shift.
        names = [c["clip"] for c in meta["clips"]]
        up = 1 if rig.up_axis == "Y" else 2
        for i, (c, f) in enumerate(zip(shard.clip, shard.frame)):
            source = rig.clips[names[c]]
            np.testing.assert_allclose(shard.poses.rotations[i], source.rotations[f], atol=1e-6)
            want = source.root_translation[f].astype(np.float64).copy()
            want[up] += meta["clips"][c]["ground_shift"]
            np.testing.assert_allclose(shard.poses.root_translation[i], want, atol=1e-5)


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
    from vips.model.training_groups import load_training_groups

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
    assert manifest["clips"] | {"paths": None} == {"paths": None, "split": "val", "sources": None, "assets": 5,
                                                    "families": len(manifest["families"]), "shards": 2,
                                                    "poses": manifest["poses"], "skipped": 1, "failed": 2}
    # Every file is accounted for: the one that is no asset too; families list the assets read (not the broken).
    assert manifest["ignored"] == [{"file": str((lib / "notes.txt").resolve()),
                                    "reason": "not an animation file (--clips reads .glb, .gltf, .bvh, .usd, .usda, "
                                              ".usdc)"}]
    members = sorted(m for f in manifest["families"].values() for m in f["members"])
    assert members == ["SimpleSkin.gltf", "still.glb", "walk.bvh"]
    assert all(f["split"] == "val" and f["split_by"] == "--clips-split val" for f in manifest["families"].values())
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
    splits = [family_split(rng.bytes(8).hex(), "auto", 0, 0.1, 0.1) for _ in range(4000)]
    for name, share in (("test", 0.1), ("val", 0.1), ("train", 0.8)):
        assert abs(splits.count(name) / len(splits) - share) < 0.02
    with pytest.raises(Exception, match="unknown clips split"):
        family_split("00", "holdout", 0, 0.1, 0.1)
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

# A Mixamo-style library: one file per animation of a character. file -> (skeleton, bone length scale). The
# expected rig family of each file: Knight, Giant (a Knight rig with other proportions), Troll (one joint renamed)
# and Odd (one joint reparented) are one human template; Bird and Cesium are two others.
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
EXPECTED_FAMILY = {"Knight": "Human", "Giant": "Human", "Troll": "Human", "Odd": "Human", "Bird": "Bird",
                   "Cesium": "Cesium"}


def _expected_family(rel: str) -> str:
    return EXPECTED_FAMILY[Path(rel).name.split("_")[0]]


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


def test_auto_split_holds_out_whole_rig_families(assets_dir: Path, tmp_path: Path) -> None:
    from vips.io.discover import Asset

    lib = _clip_library(assets_dir, tmp_path / "lib")
    files = [*BVH_LIBRARY, *GLB_LIBRARY]
    groups: dict[str, list[str]] = {}
    for rel in sorted(files, key=lambda r: str((lib / r).resolve())):
        groups.setdefault(_expected_family(rel), []).append(rel)
    content = {rel: Asset(Path(rel).name, "bvh" if rel.endswith(".bvh") else "gltf", (str((lib / rel).resolve()),))
               .content_hash() for rel in files}
    signature = {rel: skeleton_signature(_load(lib / rel)) for rel in files}
    skeletons = {g: {signature[r] for r in rels} for g, rels in groups.items()}
    key = {g: min(sigs) for g, sigs in skeletons.items()}  # a family's key: its smallest skeleton signature
    assert len(skeletons["Human"]) == 3  # renamed and reparented joints make other skeletons, of one template

    def file_rule_leaks(seed: int) -> bool:
        return any(len({_file_split(content[r], seed) for r in rels}) > 1 for rels in groups.values())

    def skeleton_rule_leaks(seed: int) -> bool:
        return len({family_split(sig, "auto", seed, 0.1, 0.1) for sig in skeletons["Human"]}) > 1

    # A seed where a split per file and a split per skeleton both put the human in two splits, and the families
    # spread over 2+ splits.
    seed = next(s for s in range(500) if file_rule_leaks(s) and skeleton_rule_leaks(s)
                and len({family_split(k, "auto", s, 0.1, 0.1) for k in key.values()}) > 1)
    settings = BuildSettings(species=0, seed=seed)
    out = tmp_path / "out"
    manifest = build_dataset(out, settings, workers=2, clips=[lib])
    assert manifest["failures"] == [] and manifest["skipped"] == []
    shards = _by_rel(manifest, lib)
    assert sorted(shards) == sorted(files)
    assert all(shards[r]["asset_hash"] == content[r] and shards[r]["skeleton"] == signature[r] for r in files)

    split_of: dict[str, str] = {}
    for g, rels in groups.items():
        (family,) = {shards[r]["family"] for r in rels}
        assert family == f"{Path(rels[0]).stem}-{key[g][:8]}", g  # its first asset's name and its key
        assert {shards[r]["split"] for r in rels} == {family_split(key[g], "auto", seed, 0.1, 0.1)}, g
        split_of[g] = shards[rels[0]]["split"]
        row = manifest["families"][family]
        assert row["split"] == split_of[g] and row["split_by"] == "--clips-split auto"
        assert row["members"] == [Path(r).name for r in rels] and row["skeletons"] == len(skeletons[g])
        assert row["assets"] == row["shards"] == len(rels) and row["poses"] == sum(shards[r]["poses"] for r in rels)
    assert len(manifest["families"]) == len(groups) and len(set(split_of.values())) > 1
    for r in files:
        assert shards[r]["species"] in manifest["species_per_split"][split_of[_expected_family(r)]]
    for s in manifest["shards"]:
        assert (out / s["file"]).is_file() and read_shard(out / s["file"]).meta["family"] == s["family"]

    # Resumed: nothing is loaded again and the dataset is the same.
    seen: list[str] = []
    again = build_dataset(out, settings, workers=2, clips=[lib], progress=lambda d, t, name: seen.append(name))
    assert seen == [""] and again["shards"] == manifest["shards"]

    # The split follows the family, not the files: renamed copies of every skeleton elsewhere, built alone, land
    # with their kin.
    other = tmp_path / "other" / "deeper"
    other.mkdir(parents=True)
    copies = {"Knight_Run.bvh": "Hero.bvh", "Troll_Idle.bvh": "Ogre.bvh", "Odd_Walk.bvh": "Weird.bvh",
              "birds/Bird_Hop.bvh": "Sparrow_Peck.bvh", "Cesium_Wave.glb": "man.glb"}
    for rel, new in copies.items():
        shutil.copy(lib / rel, other / new)
    alone = build_dataset(tmp_path / "out_alone", settings, workers=1, clips=[other])
    moved = {Path(s["asset"]).name: s for s in alone["shards"]}
    for rel, new in copies.items():
        g = _expected_family(rel)
        assert moved[new]["family"].endswith(key[g][:8]) and moved[new]["split"] == split_of[g], new


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



# Rig templates as joint-name lists. A quadruped pack's template, a variant of it with ears and a horn but
# without the last tail joint, and the variant's own variant with other extras: neighbours in the chain are one
# template, its ends alone are not.
QUADRUPED = ["AnimalArmature", "Body", "Hips", "Spine", "Chest", "Neck", "Head", "Jaw", "Tail1", "Tail2", "Tail3",
             "FrontUpLeg.L", "FrontLeg.L", "FrontFoot.L", "FrontUpLeg.R", "FrontLeg.R", "FrontFoot.R",
             "BackUpLeg.L", "BackLeg.L", "BackFoot.L", "BackUpLeg.R", "BackLeg.R", "BackFoot.R"]
QUADRUPED_EARS = [n for n in QUADRUPED if n != "Tail3"] + ["Ear.L", "Ear.R", "Horn"]
QUADRUPED_FAR = [n for n in QUADRUPED_EARS if n not in ("Tail1", "Tail2", "Jaw", "Chest")] + \
    ["Antler1.L", "Antler1.R", "Antler2.L", "Antler2.R", "Snout"]
HUMANOID = ["Hips", "Spine", "Chest", "Neck", "Head", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
            "RightShoulder", "RightArm", "RightForeArm", "RightHand", "LeftUpLeg", "LeftLeg", "LeftFoot",
            "RightUpLeg", "RightLeg", "RightFoot"]


def test_rig_families_gather_one_template_and_keep_others_apart() -> None:
    assert joint_key("mixamorig:LeftArm") == joint_key("Armature|LeftArm") == "leftarm"
    assert joint_key("CC_Base_L_Thigh") == "l_thigh" and joint_key("DEF-spine.001") == "spine.001"
    for generic in ("joint_12", "Bone.001", "bone", "j5", "12", "Root", "node_3", "Armature"):
        assert is_generic_joint(joint_key(generic)), generic
    for named in ("Spine1", "Tail", "L_Thigh", "AnimalArmature", "FrontLeg.L", "Head_end"):
        assert not is_generic_joint(joint_key(named)), named

    assert same_template(QUADRUPED, QUADRUPED_EARS) and same_template(QUADRUPED_EARS, QUADRUPED_FAR)
    assert not same_template(QUADRUPED, QUADRUPED_FAR)
    assert same_template(QUADRUPED, [f"mixamorig:{n}" for n in QUADRUPED])  # namespaces do not count
    assert not same_template(QUADRUPED, HUMANOID)  # five shared names (Hips ... Head) of 37
    auto = [f"joint_{i}" for i in range(30)]
    named_auto_a = ["head", "neck", "tail", "spine"] + [f"bone.{i:03d}" for i in range(25)]
    named_auto_b = ["Head", "Neck", "Tail", "Spine"] + [f"Bone_{i}" for i in range(20)]
    assert not same_template(auto, auto)  # an auto-rigger's names are no template
    assert not same_template(named_auto_a, named_auto_b)  # four names shared among 49
    assert not same_template(["Hips", "Spine", "Head"], ["Hips", "Spine", "Head"])  # too few to tell

    skeletons = {"c3": QUADRUPED, "a7": QUADRUPED_EARS, "f0": QUADRUPED_FAR,
                 "b2": [f"mixamorig:{n}" for n in QUADRUPED], "d1": HUMANOID, "d4": HUMANOID[:-1], "e5": auto,
                 "e6": list(reversed(auto)), "e8": named_auto_a, "e9": named_auto_b}
    families = rig_families(skeletons)
    # Keys are the smallest signature of each family: the chain of quadrupeds is one family, the humanoid with
    # one joint less is the humanoid's, every generic rig is alone.
    assert families == {"a7": "a7", "b2": "a7", "c3": "a7", "f0": "a7", "d1": "d1", "d4": "d1", "e5": "e5",
                        "e6": "e6", "e8": "e8", "e9": "e9"}
    assert rig_families({}) == {}


def _family_library(folder: Path) -> Path:
    """Knight and Troll (one joint renamed): one family; two birds in birds/: another."""
    _write_bvh(folder / "Knight_Walk.bvh", HUMAN, seed=0)
    _write_bvh(folder / "Troll_Idle.bvh", RENAMED, seed=1)
    _write_bvh(folder / "birds" / "Bird_Fly.bvh", BIRD, seed=2)
    _write_bvh(folder / "birds" / "Bird_Hop.bvh", BIRD, seed=3)
    return folder


def test_explicit_splits_take_whole_families_and_conflicts_are_errors(tmp_path: Path) -> None:
    lib = _family_library(tmp_path / "lib")
    birds = lib / "birds"

    def splits(*clips: str | Path) -> dict[str, str]:
        plan = plan_clip_jobs(clips, "train", 0, 0.1, 0.1, 0.01)
        assert all(f["split"] == j.split for j in plan.jobs for f in [plan.families[j.family]])
        return {Path(j.asset).stem: j.split for j in plan.jobs}

    # One file given a split takes its whole family there; the other families follow --clips-split.
    assert splits(lib, f"{lib}/Knight_Walk.bvh=test") == {"Knight_Walk": "test", "Troll_Idle": "test",
                                                          "Bird_Fly": "train", "Bird_Hop": "train"}
    # An explicit folder wins over a folder that also holds it, in either order; the most specific split wins.
    for clips in ((lib, f"{birds}=val"), (f"{birds}=val", lib)):
        assert splits(*clips) == {"Knight_Walk": "train", "Troll_Idle": "train", "Bird_Fly": "val", "Bird_Hop": "val"}
    assert splits(f"{lib}=test", f"{birds}=val") == {"Knight_Walk": "test", "Troll_Idle": "test", "Bird_Fly": "val",
                                                     "Bird_Hop": "val"}
    plan = plan_clip_jobs([lib, f"{birds}=val"], "auto", 0, 0.1, 0.1, 0.01)
    (bird_family,) = {j.family for j in plan.jobs if "Bird" in j.asset}
    assert plan.families[bird_family]["split_by"] == f"--clips {birds}=val"

    # Two assets of one family given two splits: an error naming both, through the CLI as one line.
    with pytest.raises(VipsError) as err:
        plan_clip_jobs([lib, f"{lib}/Troll_Idle.bvh=test", f"{lib}/Knight_Walk.bvh=val"], "auto", 0, 0.1, 0.1, 0.01)
    message = str(err.value)
    assert message.startswith("rig family Knight_Walk-")
    assert "Knight_Walk.bvh is val" in message and "Troll_Idle.bvh is test" in message
    result = CliRunner().invoke(app, ["dataset", "build", "--out", str(tmp_path / "out"), "--species", "0",
                                      "--clips", str(lib), "--clips", f"{lib}/Troll_Idle.bvh=test",
                                      "--clips", f"{lib}/Knight_Walk.bvh=val"])
    assert result.exit_code == 1 and result.output.startswith("error: rig family Knight_Walk-"), result.output
    assert not (tmp_path / "out" / "manifest.json").exists()

    with pytest.raises(VipsError, match="give it two splits"):
        plan_clip_jobs([f"{birds}=val", f"{birds}=test"], "auto", 0, 0.1, 0.1, 0.01)
    with pytest.raises(VipsError, match="unknown split 'holdout'"):
        ClipsPath.parse(f"{lib}=holdout")
    assert ClipsPath.parse(f"{lib}=val") == ClipsPath(lib, "val") and ClipsPath.parse(lib) == ClipsPath(lib)
    odd = tmp_path / "take=val"
    odd.mkdir()
    assert ClipsPath.parse(str(odd)) == ClipsPath(odd)  # an existing path is taken whole


def test_resume_rebuilds_what_a_new_split_rule_moves(tmp_path: Path) -> None:
    lib = _family_library(tmp_path / "lib")
    out = tmp_path / "out"
    human = min(skeleton_signature(_load(lib / n)) for n in ("Knight_Walk.bvh", "Troll_Idle.bvh"))
    bird = skeleton_signature(_load(lib / "birds" / "Bird_Fly.bvh"))

    def build(mode: str, seed: int, *extra: str) -> tuple[dict[str, str], list[str]]:
        seen: list[str] = []
        manifest = build_dataset(out, BuildSettings(species=0, seed=seed), workers=1, clips=[lib, *extra],
                                 clips_split=mode, progress=lambda d, t, name: seen.append(name))
        stem = {s["file"][len("shards/"):-len(".npz")]: Path(s["asset"]).stem for s in manifest["shards"]}
        return {stem[n]: s["split"] for n, s in zip(stem, manifest["shards"])}, sorted(stem[n] for n in seen if n)

    splits, redone = build("val", 0)
    assert len(redone) == 4 and set(splits.values()) == {"val"}
    assert build("val", 5)[1] == []  # an explicit split does not depend on the seed: nothing to redo
    # auto with a seed that keeps the humans in val and moves the birds: only the birds are redone.
    seed = next(s for s in range(2000) if family_split(human, "auto", s, 0.1, 0.1) == "val"
                and family_split(bird, "auto", s, 0.1, 0.1) != "val")
    splits, redone = build("auto", seed)
    assert redone == ["Bird_Fly", "Bird_Hop"] and splits["Knight_Walk"] == splits["Troll_Idle"] == "val"
    assert build("auto", seed)[1] == []
    # An explicit split for one file moves its family, and only its family.
    target = next(s for s in ("train", "test") if s != splits["Bird_Fly"])
    splits, redone = build("auto", seed, f"{lib}/birds/Bird_Hop.bvh={target}")
    assert redone == ["Bird_Fly", "Bird_Hop"] and splits["Bird_Fly"] == splits["Bird_Hop"] == target
    assert splits["Knight_Walk"] == "val"
    assert build("auto", seed, f"{lib}/birds/Bird_Hop.bvh={target}")[1] == []


MIT_TEXT = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy...\n"
CC0_TEXT = "Creative Commons Legal Code\n\nCC0 1.0 Universal\n\nhttps://creativecommons.org/publicdomain/zero/1.0/\n"


def test_sources_file_and_licence_files_give_each_shard_its_provenance(tmp_path: Path) -> None:
    from vips.data.sources import recognise_licence

    top = tmp_path / "top"
    lib = top / "lib"
    _write_bvh(lib / "packA" / "sub" / "a.bvh", HUMAN, seed=0)
    _write_bvh(lib / "packA" / "b.bvh", HUMAN, seed=1)
    (lib / "packA" / "COPYING.txt").write_text(MIT_TEXT)
    _write_bvh(lib / "packB" / "deep" / "c.bvh", BIRD, seed=2)
    (lib / "packB" / "LICENSE.md").write_text(CC0_TEXT)
    _write_bvh(lib / "d.bvh", BIRD, seed=3)
    (top / "LICENSE").write_text(MIT_TEXT)  # above the --clips folder: not the assets' licence
    sources = tmp_path / "sources.json"
    entries = {"packA/": {"collection": "Pack A", "licence": "CC-BY-4.0", "credit": "Pack A by Ann",
                          "source_url": "https://example.org/a", "source_commit": "abc1234"},
               "./packA/sub": {"collection": "Pack A sub", "licence": "CC0-1.0", "credit": "Sub by Bo",
                               "description": "for people, not copied"}}
    sources.write_text(json.dumps({"format": "vips-clip-sources/1", "sources": entries}))

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["dataset", "build", "--out", str(out), "--species", "0", "--seed", "1",
                                      "--clips", str(lib), "--clips-sources", str(sources)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    by = _shards_by_asset(manifest)
    fields = ("collection", "licence", "credit", "licence_file")
    assert {n: tuple(s[k] for k in fields) for n, s in by.items()} == {
        "a.bvh": ("Pack A sub", "CC0-1.0", "Sub by Bo", "packA/COPYING.txt"),  # the longest key wins
        "b.bvh": ("Pack A", "CC-BY-4.0", "Pack A by Ann", "packA/COPYING.txt"),
        "c.bvh": ("packB", "CC0-1.0", None, "packB/LICENSE.md"),  # no key: the licence file beside it
        "d.bvh": ("lib", "unknown", None, None),
    }
    assert by["b.bvh"]["source_url"] == "https://example.org/a" and by["b.bvh"]["source_commit"] == "abc1234"
    assert "description" not in by["a.bvh"] and by["a.bvh"]["source_url"] is None
    assert manifest["clips"]["sources"] == str(sources.resolve())
    human = by["a.bvh"]["family"]
    assert by["b.bvh"]["family"] == human != by["c.bvh"]["family"]
    row = manifest["families"][human]
    assert row["collections"] == ["Pack A", "Pack A sub"] and row["licences"] == ["CC-BY-4.0", "CC0-1.0"]
    assert row["assets"] == row["shards"] == row["clips"] == 2
    assert row["poses"] == by["a.bvh"]["poses"] + by["b.bvh"]["poses"] and row["split"] == by["a.bvh"]["split"]
    pack_a = manifest["collections"]["Pack A"]
    assert pack_a == {"licences": ["CC-BY-4.0"], "credit": "Pack A by Ann", "source_url": "https://example.org/a",
                      "families": [human], "assets": 1, "shards": 1, "clips": 1, "poses": by["b.bvh"]["poses"],
                      "poses_per_split": {s: by["b.bvh"]["poses"] if s == by["b.bvh"]["split"] else 0
                                          for s in ("train", "val", "test")}}
    assert sorted(manifest["collections"]) == ["Pack A", "Pack A sub", "lib", "packB"]
    licence_files = {Path(f["file"]).name: f["reason"] for f in manifest["ignored"]}
    assert sorted(licence_files) == ["COPYING.txt", "LICENSE.md"] and "licence file" in licence_files["LICENSE.md"]

    # Without a sources file the licence files speak for every asset below them, up to the --clips folder.
    bare = build_dataset(tmp_path / "bare", CLIPS_ONLY, workers=1, clips=[lib])
    assert {n: tuple(s[k] for k in fields) for n, s in _shards_by_asset(bare).items()} == {
        "a.bvh": ("packA", "MIT", None, "packA/COPYING.txt"),
        "b.bvh": ("packA", "MIT", None, "packA/COPYING.txt"),
        "c.bvh": ("packB", "CC0-1.0", None, "packB/LICENSE.md"),
        "d.bvh": ("lib", "unknown", None, None),
    }
    # Keys written for lib still match when a folder inside it is given.
    inner = build_dataset(tmp_path / "inner", CLIPS_ONLY, workers=1, clips=[lib / "packA"], clips_sources=sources)
    assert {n: (s["collection"], s["licence_file"]) for n, s in _shards_by_asset(inner).items()} == {
        "a.bvh": ("Pack A sub", "COPYING.txt"), "b.bvh": ("Pack A", "COPYING.txt")}

    # A changed credit rebuilds the shards it is recorded in, and only them.
    entries["./packA/sub"]["credit"] = "Sub by Bo and Cy"
    sources.write_text(json.dumps({"format": "vips-clip-sources/1", "sources": entries}))
    seen: list[str] = []
    again = build_dataset(out, CLIPS_ONLY, workers=1, clips=[lib], clips_sources=sources,
                          progress=lambda d, t, name: seen.append(name))
    assert [n for n in seen if n] == [by["a.bvh"]["file"][len("shards/"):-len(".npz")]]
    assert _shards_by_asset(again)["a.bvh"]["credit"] == "Sub by Bo and Cy"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "vips-clip-sources/1", "sources": {"x/": {"collection": "X"}}}))
    with pytest.raises(VipsError, match="sources entry 'x/' needs a \"licence\" string"):
        build_dataset(tmp_path / "out_bad", CLIPS_ONLY, workers=1, clips=[lib], clips_sources=bad)
    texts = {"CC-BY-SA-4.0": "Attribution-ShareAlike 4.0 International", "CC-BY-4.0": "CC BY: Attribution 4.0 "
             "International", "CC-BY-NC-4.0": "Attribution-NonCommercial 4.0 International", "unknown": "All rights "
             "reserved.", "Apache-2.0": "Apache License\nVersion 2.0, January 2004"}
    for spdx, text in texts.items():
        (tmp_path / "L.txt").write_text(text)
        assert recognise_licence(tmp_path / "L.txt") == spdx, spdx


SOURCES_FILE = Path(__file__).resolve().parents[1] / "training" / "real_motion_sources.json"


def test_shipped_sources_file_credits_every_real_motion_collection() -> None:
    from vips.data.sources import load_sources

    table = load_sources(SOURCES_FILE)
    assert sorted(table.entries) == ["cmu_daz", "cmu_iclone", "kaykit", "quaternius"]
    for prefix, entry in table.entries.items():
        assert entry["credit"] and entry["terms"] and entry["source_commit"], prefix
        assert entry["source_url"].startswith("https://github.com/") and entry["source_commit"] in entry["source_url"]
    for cmu in ("cmu_daz", "cmu_iclone"):
        assert table.entries[cmu]["credit"] == ("The data used in this project was obtained from mocap.cs.cmu.edu. "
                                                "The database was created with funding from NSF EIA-0196217.")
    assert table.entries["kaykit"]["licence"] == table.entries["quaternius"]["licence"] == "CC0-1.0"


@requires_motion
def test_real_motion_plans_into_rig_families_with_credits() -> None:
    from vips.parallel import run_local

    plan = plan_clip_jobs([MOTION_DIR, f"{MOTION_DIR / 'cmu_iclone'}=val"], "auto", 0, 0.1, 0.1, 0.01,
                          sources=SOURCES_FILE, run=lambda fn, items: run_local(fn, items, workers=2))
    jobs = {Path(j.asset).relative_to(MOTION_DIR).as_posix(): j for j in plan.jobs}
    # Every file is a job, an identical copy, a failure with the reader's reason, or ignored with a reason.
    accounted = {*(j.asset for j in plan.jobs), *(f["asset"] for f in plan.failures),
                 *(s["asset"] for s in plan.skipped), *(i["file"] for i in plan.ignored)}
    on_disk = {str(p) for p in MOTION_DIR.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(MOTION_DIR).parts)}
    assert accounted == on_disk
    assert all(f["reason"] for f in plan.failures)

    def families(prefix: str) -> set[str]:
        return {j.family for rel, j in jobs.items() if rel.startswith(prefix)}

    def members(family: str) -> set[str]:
        return {rel for rel, j in jobs.items() if j.family == family}

    (animals,) = families("quaternius/animals_pack/")  # eight species on one AnimalArmature template, 39-52 joints
    assert members(animals) == {r for r in jobs if r.startswith("quaternius/animals_pack/")}
    assert len({jobs[r].skeleton for r in members(animals)}) >= 5
    assert len(families("quaternius/dinosaurs_pack/")) == 1
    (iclone,) = families("cmu_iclone/")
    assert members(iclone) == {r for r in jobs if r.startswith("cmu_iclone/")}
    assert plan.families[iclone]["split"] == "val"
    assert plan.families[iclone]["split_by"] == f"--clips {MOTION_DIR / 'cmu_iclone'}=val"
    daz = families("cmu_daz/")
    assert len(daz) == 2 and families("cmu_daz/16_") == {jobs["cmu_daz/16_01.bvh"].family}
    assert len(families("kaykit/Character_Animations_1.1/Rig_") | families("kaykit/Adventurers_2.0/")) == 1
    collections = {rel.split("/")[0]: set() for rel in jobs}
    for rel, j in jobs.items():
        collections[rel.split("/")[0]].add(j.family)
    assert all(not (a & b) for x, a in collections.items() for y, b in collections.items() if x < y)

    cmu = jobs["cmu_daz/07_01.bvh"].provenance
    assert cmu["credit"] == ("The data used in this project was obtained from mocap.cs.cmu.edu. The database was "
                             "created with funding from NSF EIA-0196217.")
    assert cmu["source_commit"] == "c200c31" and "Przestr/motion-capture" in cmu["source_url"]
    kay = jobs["kaykit/Adventurers_2.0/Characters/Knight.glb"].provenance
    assert kay["licence"] == "CC0-1.0" and kay["licence_file"] == "kaykit/Adventurers_2.0/License.txt"
    assert {j.provenance["licence"] for r, j in jobs.items() if r.startswith("quaternius/")} == {"CC0-1.0"}


def test_ground_clip_sets_a_clip_on_the_rest_ground():
    """A clip whose root moves on a floor 3 units below the rest pose's lowest joint is raised by 3; a clip
    already on it is left alone (the shift is measured on the joints, at the 5 % quantile of each frame's
    lowest one)."""
    from test_pose_encoding import _random_poses, biped

    from vips.data.clips import ground_clip
    from vips.kinematics import joint_positions
    from vips.poses import Poses

    rig = biped()
    rng = np.random.default_rng(0)
    still = Poses(np.repeat(np.array([[[1.0, 0, 0, 0]]]), 30, axis=0).repeat(rig.num_joints, axis=1),
                  np.zeros((30, 3)))
    grounded, shift = ground_clip(rig, still)
    assert shift == pytest.approx(0.0, abs=1e-6)
    sunk = Poses(still.rotations, still.root_translation - np.array([0.0, 3.0, 0.0]))
    grounded, shift = ground_clip(rig, sunk)
    assert shift == pytest.approx(3.0, abs=1e-5)
    np.testing.assert_allclose(joint_positions(rig, grounded), joint_positions(rig, still), atol=1e-5)
    # Random motion: the 5 % quantile of the frames' lowest joints ends at the rest pose's lowest joint.
    moving = _random_poses(rng, 200, rig.num_joints, 0.3)
    grounded, _ = ground_clip(rig, moving)
    low = joint_positions(rig, grounded)[:, :, 1].min(axis=1)
    assert np.quantile(low, 0.05) == pytest.approx(rig.rest_joint_positions()[:, 1].min(), abs=1e-4)
