"""`vips dataset build` then `vips train` on it, end to end and small."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vips.cli import app

pytest.importorskip("torch")


def test_dataset_build_then_train(tmp_path: Path) -> None:
    runner = CliRunner()
    data, run = tmp_path / "data", tmp_path / "run"
    built = runner.invoke(app, ["dataset", "build", "--out", str(data), "--species", "12", "--individuals", "1",
                                "--sequences", "1", "--frames", "10", "--workers", "1"])
    assert built.exit_code == 0, built.output
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["poses_per_split"]["train"] > 0
    trained = runner.invoke(app, ["train", "--data", str(data), "--out", str(run), "--steps", "4", "--width", "32",
                                  "--layers", "1", "--rigs-per-batch", "2", "--poses-per-rig", "4",
                                  "--schedule-shift", "3"])
    assert trained.exit_code == 0, trained.output
    from vips.model.weights import load_weights

    assert load_weights(run / "model.safetensors").config.schedule_shift == 3.0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and log[-1]["loss"] > 0
    assert any(p.suffix == ".safetensors" for p in run.iterdir())
    # Fine-tuning the shipped model: its architecture is the default one; another one is refused.
    tuned = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "ft"), "--steps", "1",
                                "--init-from", "default", "--rigs-per-batch", "2", "--poses-per-rig", "4"])
    assert tuned.exit_code == 0, tuned.output
    refused = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "ft32"), "--steps", "1",
                                  "--init-from", "default", "--width", "32"])
    assert refused.exit_code == 1 and "architecture" in refused.output, refused.output


def test_train_on_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--steps", "1"])
    assert result.exit_code == 1
    assert "manifest" in result.output or "safetensors" in result.output


def test_eval_on_held_out_species_and_an_asset(tmp_path: Path, assets_dir: Path) -> None:
    from runtime_support import toy_model_dir

    runner = CliRunner()
    data, out = tmp_path / "data", tmp_path / "report"
    built = runner.invoke(app, ["dataset", "build", "--out", str(data), "--species", "16", "--individuals", "1",
                                "--sequences", "2", "--frames", "16", "--workers", "1"])
    assert built.exit_code == 0, built.output
    split = "test" if json.loads((data / "manifest.json").read_text())["poses_per_split"]["test"] else "val"
    result = runner.invoke(app, ["eval", "--model", str(toy_model_dir()), "--data", str(data), "--split", split,
                                 "--assets", str(assets_dir / "gltf" / "CesiumMan.glb"), "--out", str(out),
                                 "--max-rigs", "1", "--samples", "12", "--steps", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["n_rigs"] == 2
    auroc = report["aggregate"]["plausibility_auroc"]
    for corruption in ("twist", "random_rotation", "hyperextension", "through_body"):
        assert corruption in json.dumps(auroc)
    assert {"auroc.png", "fidelity.png"} <= {p.name for p in out.iterdir()}
