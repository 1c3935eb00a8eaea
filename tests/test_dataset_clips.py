"""Artist clips as a dataset source: shards hold the assets' own clip poses, with provenance; assets without
animation are skipped, corrupt ones fail alone; resume, splits and near-duplicate removal as for creatures."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vips.cli import app
from vips.data.clips import asset_split
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
    splits = [asset_split(rng.bytes(16).hex(), "auto", 0, 0.1, 0.1) for _ in range(4000)]
    for name, share in (("test", 0.1), ("val", 0.1), ("train", 0.8)):
        assert abs(splits.count(name) / len(splits) - share) < 0.02
    with pytest.raises(Exception, match="unknown clips split"):
        asset_split("00", "holdout", 0, 0.1, 0.1)
    with pytest.raises(Exception, match="no such file or folder"):
        build_dataset(tmp_path / "out_c", CLIPS_ONLY, workers=1, clips=[tmp_path / "missing"])
