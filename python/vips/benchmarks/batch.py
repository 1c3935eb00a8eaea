"""Batch throughput: assets per minute through `vips batch` with the local engine, on a library made of the
shared assets (``../shared/assets`` beside the checkout: glTF, USD, RigNet pairs, BVH), copied ``copies`` times.

    vips bench --only batch

Every asset goes the whole way: load and validate, sample and score ``poses`` poses with ``steps`` DDIM steps,
write the USD pose set, the glb, the keyframe proxies and the thumbnail. Measured with 1 worker and with one
worker per core, plus a resumed run (everything skipped). Without a ``model`` argument to ``run``, the shipped model is used; if
the package has none yet, a randomly initialized model of the default size is exported (same compute cost).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ASSETS = Path(os.environ.get("VIPS_SHARED_ASSETS", Path(__file__).resolve().parents[4] / "shared" / "assets"))


def make_library(root: Path, copies: int) -> Path:
    """``copies`` copies of the shared assets under ``root/lib/copy_K/``."""
    if not ASSETS.is_dir():
        raise FileNotFoundError(f"the shared assets are not at {ASSETS}; set VIPS_SHARED_ASSETS to their folder")
    lib = root / "lib"
    for k in range(copies):
        for sub in ("gltf", "usd", "rignet", "bvh"):
            shutil.copytree(ASSETS / sub, lib / f"copy_{k}" / sub)
    for f in lib.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    return lib


def default_size_model(root: Path) -> str | None:
    """None when a default model exists (shipped or ``VIPS_MODEL``); else a randomly initialized model of the
    default size exported to ONNX (needs torch), which costs the same compute as a trained one."""
    from vips.errors import VipsError
    from vips.posespace import default_model_dir

    try:
        default_model_dir()
        return None
    except VipsError:
        pass
    from vips.model import ModelConfig, PoseModel
    from vips.runtime.model_dir import export_model_dir

    out = root / "model"
    export_model_dir(PoseModel(ModelConfig()).eval(), out, model_id="random-default-size")
    return str(out)


def run(quick: bool = False, model: str | None = None) -> dict:
    """Run the benchmark; returns assets per minute per worker count and mean seconds per stage."""
    from vips.batch import BatchSettings, run_batch

    copies, poses = (1, 16) if quick else (3, 64)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib = make_library(root, copies)
        settings = BatchSettings(poses=poses, steps=50, model=model or default_size_model(root))
        rows = []
        for workers in sorted({1, cores}):
            report = run_batch(lib, root / f"out_{workers}", settings, workers=workers)
            done = [e for e in report["assets"] if e["status"] == "done"]
            stages = {k: round(sum(e["timings"][k] for e in done) / max(len(done), 1), 3)
                      for k in ("load", "sample", "score", "write", "total")}
            rows.append({"workers": workers, "assets": report["counts"]["total"], "done": len(done),
                         "failed": report["counts"]["failed"], "seconds": report["seconds"],
                         "assets_per_minute": report["assets_per_minute"], "mean_stage_seconds": stages})
        resumed = run_batch(lib, root / f"out_{cores}", settings, workers=cores)
    result = {"poses_per_asset": poses, "steps": 50, "cores": cores, "load_average": round(os.getloadavg()[0], 2),
              "runs": rows, "resume_seconds": resumed["seconds"], "resume_skipped": resumed["counts"]["skipped"]}
    print(f"load average {result['load_average']} on {cores} cores; {poses} poses x 50 steps per asset")
    print(f"{'workers':>8}{'assets':>8}{'failed':>8}{'seconds':>10}{'assets/min':>12}   mean s: load/sample/score/write")
    for r in rows:
        s = r["mean_stage_seconds"]
        print(f"{r['workers']:>8}{r['assets']:>8}{r['failed']:>8}{r['seconds']:>10.1f}{r['assets_per_minute']:>12.1f}"
              f"   {s['load']:.2f}/{s['sample']:.2f}/{s['score']:.2f}/{s['write']:.2f}")
    print(f"resumed run (all {result['resume_skipped']} skipped): {result['resume_seconds']:.2f} s")
    return result
