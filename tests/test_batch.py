"""Batch processing of an asset library: outputs for good assets, reasons for broken ones, resume without
repeated work, a killed run that finishes with the same outputs, Ray = local, and USD files engines accept.

The library is the test assets (tests/data/assets) plus deliberately broken files: a truncated glb, garbage usda,
a RigNet rig with a cycle, and a glb whose worker kills itself (the test-only ``VIPS_TEST_CRASH_ON`` hook)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vips.batch import BatchSettings, run_batch
from vips.batch.jobs import CRASH_ENV
from vips.io.discover import discover
from vips.parallel import JobFailed, JobTimeout, WorkerDied, run_local

CRASHER = "crashme.glb"
BROKEN = {
    "broken/truncated.glb": ("AssetError", "truncated"),
    "broken/garbage.usda": ("AssetError", "not a readable USD file"),
    "broken/cycle_rig.txt": ("RigError", "cycle"),
    f"broken/{CRASHER}": ("WorkerDied", "worker process died"),
}
GOOD_KINDS = {"gltf": 3, "usd": 2, "rignet": 2, "bvh": 1}


# ----- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model() -> Path:
    """The runtime tests' small trained pose-space model (tests/runtime_support.py), calibrated threshold."""
    from runtime_support import toy_model_dir

    return toy_model_dir()


@pytest.fixture(scope="module")
def library(tmp_path_factory, assets_dir: Path) -> Path:
    lib = tmp_path_factory.mktemp("library")
    for sub in ("gltf", "usd", "rignet", "bvh"):
        shutil.copytree(assets_dir / sub, lib / sub)
    shutil.copy(assets_dir.parent / "README.md", lib / "README.md")
    for f in lib.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    broken = lib / "broken"
    broken.mkdir()
    glb = (assets_dir / "gltf" / "CesiumMan.glb").read_bytes()
    (broken / "truncated.glb").write_bytes(glb[: len(glb) // 3])
    (broken / "garbage.usda").write_text("#usda 1.0\n(\n  this is {{ not usd ]]\n")
    (broken / "cycle_rig.txt").write_text(
        "joints a 0 0 0\njoints b 0 1 0\njoints c 0 2 0\nroot a\nhier b c\nhier c b\n")
    shutil.copy(assets_dir / "gltf" / "RiggedSimple.glb", broken / CRASHER)
    (broken / "mesh_only.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (broken / "notes.txt").write_text("not a rig\n")
    return lib


@pytest.fixture(scope="module")
def settings(tiny_model: Path) -> BatchSettings:
    return BatchSettings(poses=4, steps=4, seed=7, model=str(tiny_model), thumbnail=96, keyframe_size=96)


@pytest.fixture(scope="module")
def crash_hook():
    old = os.environ.get(CRASH_ENV)
    os.environ[CRASH_ENV] = CRASHER
    yield
    if old is None:
        os.environ.pop(CRASH_ENV, None)
    else:
        os.environ[CRASH_ENV] = old


@pytest.fixture(scope="module")
def local_run(library: Path, settings: BatchSettings, crash_hook, tmp_path_factory):  # noqa: ANN001
    out = tmp_path_factory.mktemp("out_local")
    return out, run_batch(library, out, settings, engine="local", workers=2)


def _by_path(report: dict) -> dict[str, dict]:
    return {e["path"]: e for e in report["assets"]}


def _hashes(entry: dict) -> dict[str, str]:
    return {o["path"]: o["sha256"] for o in entry.get("outputs", [])}


# ----- discovery -------------------------------------------------------------------------------------
def test_discovery_counts_rignet_pairs_once_and_lists_ignored_files(library: Path) -> None:
    assets, ignored = discover(library)
    kinds = {}
    for a in assets:
        if not a.rel.startswith("broken/"):
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
    assert kinds == GOOD_KINDS
    assert not any(a.rel.endswith(".obj") for a in assets)
    fox = next(a for a in assets if a.rel == "rignet/fox_auto_rig.txt")
    assert [Path(f).name for f in fox.files] == ["fox_auto_rig.txt", "fox_auto.obj"]
    assert set(ignored) == {"README.md", "broken/mesh_only.obj", "broken/notes.txt"}
    assert {a.rel for a in assets if a.rel.startswith("broken/")} == set(BROKEN)


# ----- one run ---------------------------------------------------------------------------------------
def test_good_assets_produce_outputs_and_broken_ones_have_reasons(local_run, settings: BatchSettings) -> None:
    out, report = local_run
    entries = _by_path(report)
    assert report["counts"]["failed"] == len(BROKEN)
    assert report["counts"]["done"] == sum(GOOD_KINDS.values())
    for path, (kind, words) in BROKEN.items():
        e = entries[path]
        assert e["status"] == "failed" and e["outputs"] == []
        assert e["reason"].startswith(kind) and words in e["reason"], e["reason"]
        assert not (out / path).exists()
    assert "SIGKILL" in entries[f"broken/{CRASHER}"]["reason"]
    for path, e in entries.items():
        if path in BROKEN:
            continue
        assert e["status"] == "done", (path, e.get("reason"))
        names = {o["path"].removeprefix(path + "/") for o in e["outputs"]}
        pngs = {n for n in names if n.startswith("keyframes/") and n.endswith(".png")}
        assert {"poses.usda", "poses.glb", "thumbnail.png"} <= names and len(pngs) == settings.poses, names
        for o in e["outputs"]:
            f = out / o["path"]
            assert f.stat().st_size == o["bytes"]
        assert e["counts"]["poses"] == settings.poses and 0 <= e["counts"]["plausible"] <= settings.poses
        assert set(e["timings"]) >= {"load", "sample", "score", "write", "total"}
    # Nothing half-written or left over anywhere in the output folder.
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith((".staging", ".old"))]


def test_glb_outputs_load_back_with_one_frame_per_pose(local_run, settings: BatchSettings) -> None:
    import vips

    out, report = local_run
    for e in report["assets"]:
        if e["status"] != "done":
            continue
        rig = vips.load(out / e["path"] / "poses.glb")
        assert rig.num_joints == e["counts"]["joints"]
        (clip,) = rig.clips.values()
        assert clip.num_poses == settings.poses


def test_report_html_shows_every_asset_with_relative_thumbnails(local_run) -> None:
    out, report = local_run
    page = (out / "report.html").read_text()
    saved = json.loads((out / "report.json").read_text())
    assert saved["counts"] == report["counts"] and len(saved["assets"]) == len(report["assets"])
    for e in report["assets"]:
        assert e["path"] in page
        if e["status"] == "done":
            assert f'src="{e["thumbnail"]}"' in page
            assert (out / e["thumbnail"]).is_file()
    for e in report["assets"]:
        if e["status"] == "failed":
            assert e["reason"].split(":")[0] in page
    assert str(out) not in page.split("<table>")[1], "links must be relative"


def test_usd_pose_sets_pass_engine_handoff_checks(local_run, settings: BatchSettings) -> None:
    from vips.usd_schema import API_NAME, register

    assert register()
    from pxr import Usd, UsdGeom, UsdSkel, UsdValidation

    out, report = local_run
    validator = UsdValidation.ValidationContext(UsdValidation.ValidationRegistry().GetOrLoadAllValidators())
    checked = 0
    for e in report["assets"]:
        if e["status"] != "done":
            continue
        stage = Usd.Stage.Open(str(out / e["path"] / "poses.usda"))
        assert stage is not None
        for key in ("upAxis", "metersPerUnit", "timeCodesPerSecond", "startTimeCode", "endTimeCode"):
            assert stage.HasAuthoredMetadata(key), (e["path"], key)
        assert stage.GetDefaultPrim()
        errors = [err for err in validator.Validate(stage) if err.GetType() == UsdValidation.ValidationErrorType.Error]
        assert not errors, (e["path"], [err.GetMessage() for err in errors])
        roots = [p for p in stage.Traverse() if p.IsA(UsdSkel.Root)]
        assert len(roots) == 1
        cache = UsdSkel.Cache()
        root = UsdSkel.Root(roots[0])
        cache.Populate(root, Usd.TraverseInstanceProxies())
        bindings = cache.ComputeSkelBindings(root, Usd.TraverseInstanceProxies())
        # A skinned mesh gives one binding; a skeleton-only asset (BVH) has none, so its Skeleton is queried.
        assert len(bindings) == (1 if e["counts"]["vertices"] else 0), e["path"]
        (skeleton,) = [UsdSkel.Skeleton(p) for p in stage.Traverse() if p.IsA(UsdSkel.Skeleton)]
        query = cache.GetSkelQuery(skeleton)
        assert query and query.GetAnimQuery()
        anim_prim = query.GetAnimQuery().GetPrim()
        assert API_NAME in anim_prim.GetAppliedSchemas()
        scores = anim_prim.GetAttribute("vips:poseSet:scores").Get()
        plausible = anim_prim.GetAttribute("vips:poseSet:plausible").Get()
        assert len(scores) == len(plausible) == settings.poses
        assert sum(bool(p) for p in plausible) == e["counts"]["plausible"]
        assert np.isfinite(np.array(scores)).all()
        targets = bindings[0].GetSkinningTargets() if bindings else []
        assert len(targets) == (1 if e["counts"]["vertices"] else 0)
        moved = []
        for t in range(settings.poses):
            xf = query.ComputeSkinningTransforms(t)
            assert len(xf) == e["counts"]["joints"]
            for target in targets:
                points = UsdGeom.Mesh(target.GetPrim()).GetPointsAttr().Get()
                rest = np.array(points)
                assert target.ComputeSkinnedPoints(xf, points, t)
                skinned = np.array(points)
                assert np.isfinite(skinned).all()
                moved.append(np.abs(skinned - rest).max())
        if moved:
            assert max(moved) > 0, f"{e['path']}: skinning leaves every pose at rest"
        checked += 1
    assert checked == sum(GOOD_KINDS.values())


# ----- resuming --------------------------------------------------------------------------------------
def test_second_run_does_no_repeated_work_and_redoes_changed_assets(local_run, library: Path,
                                                                     settings: BatchSettings, tmp_path) -> None:
    out, first = local_run
    # A copy of the finished output folder, so this test leaves the module's run untouched.
    out2 = tmp_path / "out"
    shutil.copytree(out, out2)
    mtimes = {p: p.stat().st_mtime_ns for p in out2.rglob("*") if p.is_file() and not p.name.startswith("report.")}
    second = run_batch(library, out2, settings, workers=2)
    entries = _by_path(second)
    for path, e in _by_path(first).items():
        want = "failed" if path in BROKEN else "skipped"
        assert entries[path]["status"] == want, (path, entries[path].get("reason"))
        if want == "skipped":
            assert _hashes(entries[path]) == _hashes(e)
    assert mtimes == {p: p.stat().st_mtime_ns for p in mtimes}, "a finished asset was written again"

    # A changed input is re-done; other settings re-do everything.
    changed = tmp_path / "library"
    shutil.copytree(library, changed)
    with open(changed / "rignet" / "fox_auto_rig.txt", "a") as fh:
        fh.write("\n")
    third = _by_path(run_batch(changed, out2, settings, workers=2))
    assert third["rignet/fox_auto_rig.txt"]["status"] == "done"
    assert sum(e["status"] == "done" for e in third.values()) == 1


def _wait_until_gone(group: int, timeout: float = 10.0) -> None:
    """Wait until no process of the process group ``group`` is left (a zombie nobody reaps counts as left: then
    give up after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def _write_runner(path: Path) -> None:
    path.write_text(
        "import sys\n"
        "from vips.batch import BatchSettings, run_batch\n"
        "if __name__ == '__main__':\n"
        "    lib, out, model = sys.argv[1:4]\n"
        "    settings = BatchSettings(poses=4, steps=4, seed=7, model=model, thumbnail=96, keyframe_size=96)\n"
        "    run_batch(lib, out, settings, workers=1)\n"
    )


def test_killed_run_resumes_to_the_same_outputs(local_run, library: Path, settings: BatchSettings,
                                                 tmp_path) -> None:
    out_full, full = local_run
    lib = tmp_path / "lib"
    subset = ["gltf/RiggedSimple.glb", "gltf/SimpleSkin.gltf", "usd/skinnedArm.usda", "rignet/fox_auto_rig.txt",
              "rignet/fox_auto.obj"]
    for rel in subset:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library / rel, lib / rel)
    out = tmp_path / "out"
    runner = tmp_path / "runner.py"
    _write_runner(runner)
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    proc = subprocess.Popen([sys.executable, str(runner), str(lib), str(out), settings.model], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(out.rglob("asset.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    finished_before_kill = len(list(out.rglob("asset.json")))
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, as a killed job would be
    proc.wait()
    _wait_until_gone(proc.pid)  # the worker may die after the driver: look only once nothing of the run writes
    assert finished_before_kill >= 1, proc.stderr.read().decode()[-2000:]
    assert not (out / "report.json").exists(), "the run finished before it was killed; nothing was tested"
    visible = [p for p in out.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts)]
    for f in visible:  # whatever the killed run left in sight is a complete, recorded output
        if f.name != "asset.json":
            record = json.loads((f.parent if f.parent.name != "keyframes" else f.parent.parent)
                                .joinpath("asset.json").read_text())
            assert f.relative_to(out).as_posix() in _hashes(record)

    resumed = run_batch(lib, out, settings, workers=1)
    statuses = [e["status"] for e in resumed["assets"]]
    assert statuses.count("skipped") >= 1 and "failed" not in statuses
    want = _by_path(full)
    for path, e in _by_path(resumed).items():
        assert _hashes(e) == _hashes(want[path]), path
        for rel, digest in _hashes(e).items():
            from vips.batch.jobs import file_sha256

            assert file_sha256(out / rel) == digest == file_sha256(out_full / rel)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith((".staging", ".old"))]


# ----- Ray ---------------------------------------------------------------------------------------------
def test_ray_engine_gives_the_same_results_as_local(local_run, library: Path, settings: BatchSettings,
                                                     crash_hook, tmp_path) -> None:
    ray = pytest.importorskip("ray")
    out_local, local = local_run
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_batch(library, tmp_path / "out", settings, engine="ray")
    finally:
        ray.shutdown()
    a, b = _by_path(local), _by_path(remote)
    assert a.keys() == b.keys()
    for path in a:
        assert a[path]["status"] == b[path]["status"], (path, b[path].get("reason"))
        assert _hashes(a[path]) == _hashes(b[path]), path
        if a[path]["status"] == "failed":
            assert a[path]["reason"].split(":")[0] == b[path]["reason"].split(":")[0]


# ----- the pool and the memory bounds -------------------------------------------------------------------
def _job(x: str) -> str:
    if x == "exit":
        os._exit(3)
    if x == "sleep":
        time.sleep(60)
    if x == "raise":
        raise ValueError("bad job")
    if x == "allocate":
        return str(np.ones(2**30, np.float64).sum())  # 8 GiB
    return x.upper()


def test_pool_replaces_dead_workers_and_reports_every_job() -> None:
    jobs = ["a", "exit", "b", "raise", "sleep", "c", "allocate", "d"]
    results = dict(run_local(_job, jobs, workers=2, timeout=5, memory_limit=3 * 2**30))
    assert [results[k] for k in "abcd"] == ["A", "B", "C", "D"]
    assert isinstance(results["exit"], WorkerDied) and "exit code 3" in str(results["exit"])
    assert isinstance(results["raise"], JobFailed) and results["raise"].type_name == "ValueError"
    assert isinstance(results["sleep"], JobTimeout)
    assert isinstance(results["allocate"], JobFailed) and results["allocate"].type_name == "MemoryError"
    assert "memory limit is 3.0 GiB" in str(results["allocate"])


def test_oversized_input_fails_before_loading(library: Path, settings: BatchSettings, tmp_path) -> None:
    from dataclasses import replace

    lib = tmp_path / "lib"
    (lib / "gltf").mkdir(parents=True)
    for name in ("CesiumMan.glb", "SimpleSkin.gltf"):
        shutil.copy(library / "gltf" / name, lib / "gltf" / name)
    report = _by_path(run_batch(lib, tmp_path / "out", replace(settings, max_input_mb=0.1), workers=1))
    assert report["gltf/SimpleSkin.gltf"]["status"] == "done"
    big = report["gltf/CesiumMan.glb"]
    assert big["status"] == "failed" and "over the limit of 0.1 MB" in big["reason"]


# ----- one run per output folder, interrupts ---------------------------------------------------------------
def test_output_lock_refuses_a_second_holder_and_takes_over_a_stale_one(tmp_path) -> None:
    from vips.batch.lock import LOCK_FILE, OutputLocked, locked_output

    (tmp_path / LOCK_FILE).write_text('{"pid": 4000000, "started": "earlier"}')  # its run was killed
    with locked_output(tmp_path) as stale:
        assert stale["pid"] == 4000000
        with pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):
            with locked_output(tmp_path):
                pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_output_folder_may_not_hold_the_library(library: Path, settings: BatchSettings) -> None:
    from vips.errors import VipsError

    for out in (library, library.parent):
        with pytest.raises(VipsError, match="is the library folder or a folder above it"):
            run_batch(library, out, settings)


def test_an_interrupted_run_reports_what_finished(library: Path, settings: BatchSettings, tmp_path) -> None:
    from vips.batch.runner import BatchInterrupted

    def interrupt(done: int, total: int, name: str) -> None:
        if name:  # after the first asset finished
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(BatchInterrupted) as stop:
        run_batch(library, out, settings, workers=1, progress=interrupt)
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(json.dumps(stop.value.report)) and stop.value.signum == signal.SIGINT
    assert report["interrupted"]["signal"] == "SIGINT" and report["counts"]["total"] == 1
    assert len(report["interrupted"]["unfinished"]) == len(discover(library)[0]) - 1
    assert report["processed"] == 1 and report["assets_per_minute"] > 0
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith((".staging", ".old", ".lock"))]
