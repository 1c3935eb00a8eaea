"""The pose model: padding invariance, training, checkpoints and resume, ONNX export, the two inference
backends through the shared sampler, and 2-process DDP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vips import diffusion as dm  # noqa: E402
from vips.features import graph_codes, rig_conditioning  # noqa: E402
from vips.skeleton import hop_distances  # noqa: E402
from vips.model import ModelConfig, PoseModel, load_weights, save_weights  # noqa: E402
from vips.model.data import save_dataset  # noqa: E402
from vips.model.training_groups import load_dataset  # noqa: E402
from vips.model.toy_manifold import toy_groups, toy_rig  # noqa: E402
from vips.model.train import TrainConfig, load_checkpoint, read_log, save_checkpoint, train  # noqa: E402
from vips.pose_encoding import POSE_DIM, channel_mask, decode_poses  # noqa: E402

TINY = ModelConfig(width=32, layers=2, encoder_layers=1, heads=2, mlp_ratio=2)


@pytest.fixture(autouse=True)
def _one_thread():
    # One intra-op thread: on a small shared CPU, torch's thread pool spinning costs more than it gains.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def groups():
    return toy_groups(seed=0, num_rigs=4, num_poses=64)


def _randomized(config: ModelConfig = TINY, seed: int = 0, prediction: str | None = None) -> PoseModel:
    """A model whose zero-initialized layers are perturbed, so every path carries signal."""
    if prediction:
        config = ModelConfig(**{**config.__dict__, "prediction": prediction})
    torch.manual_seed(seed)
    model = PoseModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def _random_rig_inputs(rng, J: int, F: int):
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)])
    code = graph_codes(parents, hop_distances(parents))
    return rng.normal(size=(J, F)).astype(np.float32), code


def test_padding_does_not_change_real_joints():
    model = _randomized()
    rng = np.random.default_rng(0)
    J, Jp, B = 7, 12, 3
    feats, code = _random_rig_inputs(rng, J, TINY.feature_dim)
    x = rng.normal(size=(B, J, POSE_DIM)).astype(np.float32)
    t = rng.random(B).astype(np.float32)
    # Padded copy with junk in the padding.
    pf = rng.normal(size=(1, Jp, TINY.feature_dim)).astype(np.float32) * 5
    pf[0, :J] = feats
    pc = rng.integers(0, TINY.num_graph_codes, size=(1, Jp, Jp))
    pc[0, :J, :J] = code
    px = rng.normal(size=(B, Jp, POSE_DIM)).astype(np.float32) * 5
    px[:, :J] = x
    mask = np.zeros((1, Jp), np.float32)
    mask[0, :J] = 1
    T = torch.from_numpy
    with torch.no_grad():
        ref = model(T(x), T(t), T(feats[None]), T(code[None]), torch.ones(1, J))
        pad = model(T(px), T(t), T(pf), T(pc), T(mask))
        # Rig inputs repeated per pose (R = B) give the same as broadcasting R = 1.
        rep = model(T(x), T(t), T(np.repeat(feats[None], B, 0)), T(np.repeat(code[None], B, 0)), torch.ones(B, J))
    assert ref.abs().max() > 1e-2
    np.testing.assert_allclose(pad[:, :J].numpy(), ref.numpy(), atol=1e-5)
    assert not pad[:, J:].any()
    np.testing.assert_allclose(rep.numpy(), ref.numpy(), atol=1e-5)
    # And the real joints do react to their own inputs (the test can fail).
    with torch.no_grad():
        moved = model(T(x + 1), T(t), T(feats[None]), T(code[None]), torch.ones(1, J))
    assert (moved - ref).abs().max() > 1e-3


def _config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(out=str(tmp_path / "run"), model=TINY, steps=30, warmup=5, lr=3e-3, log_every=5,
                checkpoint_every=10, progress=False, threads=1, rigs_per_batch=4, poses_per_rig=16)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_training_loss_falls(tmp_path, groups):
    run = train(_config(tmp_path), groups)
    log = read_log(run)
    assert [r["step"] for r in log] == [5, 10, 15, 20, 25, 30]
    first, last = log[0]["loss"], np.mean([r["loss"] for r in log[-2:]])
    # Pose tokens are orientations (spread ~0.5 per channel), so much of the v-loss at high noise is irreducible:
    # 30 steps take it from ~0.66 to ~0.54; an untrained or broken loop stays near the first value.
    assert last < 0.87 * first, log
    assert (run / "model.safetensors").exists() and (run / "checkpoint.safetensors").exists()
    assert json.loads((run / "config.json").read_text())["steps"] == 30


def test_checkpoint_round_trip(tmp_path):
    model, ema = _randomized(seed=1), _randomized(seed=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = sum((p**2).sum() for p in model.parameters())
    loss.backward()
    opt.step()
    cfg = _config(tmp_path)
    save_checkpoint(tmp_path / "ck.safetensors", model, ema, opt, 17, cfg)
    m2, e2 = PoseModel(TINY), PoseModel(TINY)
    o2 = torch.optim.AdamW(m2.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path / "ck.safetensors", m2, e2, o2) == 17
    for a, b in zip(model.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(ema.state_dict().values(), e2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    s1, s2 = opt.state_dict()["state"], o2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s1[k][name], s2[k][name], rtol=0, atol=0)
    # Inference weights: the file holds the config and loads without pickle.
    save_weights(ema, tmp_path / "w.safetensors")
    loaded = load_weights(tmp_path / "w.safetensors")
    assert loaded.config == ema.config
    for a, b in zip(ema.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(Exception):
        load_weights(tmp_path / "bad.safetensors")


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, groups):
    straight = train(_config(tmp_path / "a", steps=16, checkpoint_every=8), groups)
    chunked_cfg = _config(tmp_path / "b", steps=16, checkpoint_every=8, stop_at=8)
    train(chunked_cfg, groups)
    assert read_log(tmp_path / "b" / "run")[-1]["step"] == 8
    chunked_cfg.stop_at = 0
    resumed = train(chunked_cfg, groups)
    assert [r["step"] for r in read_log(resumed)] == [5, 8, 10, 15, 16]
    a, b = load_weights(straight / "model.safetensors"), load_weights(resumed / "model.safetensors")
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)


def test_fine_tuning_starts_from_the_given_weights(tmp_path, groups):
    """init_from loads the source into model and EMA: with lr 0 the run's weights equal the source exactly;
    a source of another architecture is refused, naming the file."""
    from vips.errors import VipsError

    source = _randomized(seed=3)
    save_weights(source, tmp_path / "source.safetensors")
    run = train(_config(tmp_path / "ft", steps=2, warmup=1, lr=0.0, weight_decay=0.0,
                        init_from=str(tmp_path / "source.safetensors")), groups)
    tuned = load_weights(run / "model.safetensors")
    for (name, a), b in zip(source.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    fresh = load_weights(train(_config(tmp_path / "fresh", steps=2, warmup=1, lr=0.0), groups) / "model.safetensors")
    assert any((a - b).abs().max() > 0 for a, b in zip(source.state_dict().values(), fresh.state_dict().values()))
    wide = ModelConfig(width=48, layers=2, encoder_layers=1, heads=2, mlp_ratio=2)
    with pytest.raises(VipsError, match="source.safetensors.*architecture"):
        train(_config(tmp_path / "bad", model=wide, steps=1, init_from=str(tmp_path / "source.safetensors")), groups)
    with pytest.raises(VipsError, match="no weights"):
        train(_config(tmp_path / "none", steps=1, init_from=str(tmp_path / "missing")), groups)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from vips.model.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx")
    model = _randomized(seed=3)
    save_weights(model, out / "model.safetensors")
    export_onnx(model, out)
    return model, out


def test_exported_graphs_follow_the_contract(exported):
    """The exporter writes exactly the interface of vips.model_contract, as ONNX Runtime reads it: input and
    output names in order, ranks, element types, dynamic axes by letter, fixed axes the model's widths, and the
    role and config metadata."""
    import json

    import onnxruntime as ort

    from vips.model_contract import CONFIG_KEY, DENOISER, ENCODER, MODEL_FILES, ROLE_KEY

    model, out = exported
    cfg = model.config
    fixed = {"F": cfg.feature_dim, "D": cfg.pose_dim, "W": cfg.width, "L": cfg.layers, "H": cfg.heads}
    assert {ENCODER.file, DENOISER.file} < set(MODEL_FILES)
    for graph in (ENCODER, DENOISER):
        session = ort.InferenceSession(str(out / graph.file), providers=["CPUExecutionProvider"])
        for args, specs in ((session.get_inputs(), graph.inputs), (session.get_outputs(), graph.outputs)):
            assert [a.name for a in args] == [x.name for x in specs]
            for arg, spec in zip(args, specs):
                assert arg.type == spec.dtype and len(arg.shape) == spec.rank, arg
                for letter, dim in zip(spec.axes, arg.shape):
                    assert dim == fixed.get(letter, letter), (spec.name, spec.axes, arg.shape)
        meta = session.get_modelmeta().custom_metadata_map
        assert meta[ROLE_KEY] == graph.role and json.loads(meta[CONFIG_KEY]) == json.loads(cfg.to_json())


@pytest.mark.slow
def test_onnx_matches_torch(exported):
    from vips.model.onnx_export import check_onnx

    model, out = exported
    assert check_onnx(model, out, joint_counts=(1, 2, 9, 33), batch=3) < 1e-4


@pytest.mark.slow
def test_backends_give_the_same_samples(exported):
    from vips.runtime import OnnxDenoiser
    from vips.runtime.torch_backend import TorchDenoiser

    model, out = exported
    rig = toy_rig(np.random.default_rng(5), 9)
    cond = rig_conditioning(rig)
    backends = [OnnxDenoiser.from_dir(out, providers=["CPUExecutionProvider"], threads=1),
                TorchDenoiser.from_weights(out / "model.safetensors")]
    results = []
    for den in backends:
        assert den.prediction == "v"
        enc = den.encode(cond)
        mask = channel_mask(cond)
        z = dm.sample_noise((6, cond.num_joints, POSE_DIM), seed=42, channel_mask=mask)
        x = dm.sample(den, enc, z, steps=8, eta=0.5, rng=np.random.default_rng(7), channel_mask=mask)
        inv = dm.invert(den, enc, x, steps=8, channel_mask=mask)
        results.append((x, inv))
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-3)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-3)
    assert np.abs(results[0][0]).max() > 1e-3
    poses = decode_poses(results[0][0], cond)
    assert poses.num_poses == 6 and np.isfinite(poses.rotations).all()


def test_runtime_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import vips.runtime, vips.diffusion, vips.features, vips.pose_encoding\n"
        "from vips.runtime import OnnxDenoiser\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes(tmp_path, groups):
    data = save_dataset(groups, tmp_path / "data")
    assert len(load_dataset(data)) == len(groups)
    cfg = _config(tmp_path, data=str(data), steps=6, log_every=2, checkpoint_every=3, rigs_per_batch=2,
                  poses_per_rig=8)
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(cfg.to_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "vips.model.train", str(cfg_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = read_log(tmp_path / "run")
    assert [r["step"] for r in log] == [2, 4, 6] and all(r["world_size"] == 2 for r in log)
    assert np.isfinite([r["loss"] for r in log]).all()
    assert load_weights(tmp_path / "run" / "model.safetensors").config == TINY


def test_a_denoiser_graph_with_another_interface_is_refused(exported, tmp_path):
    """A graph whose inputs are not the current interface (e.g. exported by an older vips) is refused with a
    message that names the file and says how to mend it."""
    import shutil

    import onnx

    from vips.model_contract import DENOISER_FILE, ENCODER_FILE
    from vips.runtime import OnnxDenoiser

    _, out = exported
    shutil.copy(out / ENCODER_FILE, tmp_path / ENCODER_FILE)
    proto = onnx.load(str(out / DENOISER_FILE))
    old, new = "rig_context", "rig_tokens"
    for node in proto.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
    next(i for i in proto.graph.input if i.name == old).name = new
    onnx.save(proto, str(tmp_path / DENOISER_FILE))
    with pytest.raises(ValueError, match=r"denoiser\.onnx: denoiser inputs .*rig_tokens.*vips export-onnx"):
        OnnxDenoiser.from_dir(tmp_path, providers=["CPUExecutionProvider"])


def test_shifted_schedule_in_torch_matches_numpy():
    from vips.model.train import alpha_bar_torch

    t = np.linspace(0, 1, 201)
    for k in (1.0, 3.0, 6.0):
        np.testing.assert_allclose(alpha_bar_torch(torch.tensor(t), k).numpy(), dm.alpha_bar(t, k), rtol=1e-6)


def test_the_schedule_shift_travels_from_the_weights_to_the_model_folder(tmp_path):
    """A shifted model's folder says so (model.json), the runtime reads it back, and a bad value is refused."""
    from dataclasses import replace

    from vips.errors import VipsError
    from vips.model_contract import MODEL_JSON
    from vips.posespace import PoseSpace
    from vips.runtime.model_dir import export_model_dir, read_model_dir

    torch.manual_seed(0)
    model = PoseModel(replace(TINY, schedule_shift=3.0))
    save_weights(model, tmp_path / "w.safetensors")
    assert load_weights(tmp_path / "w.safetensors").config.schedule_shift == 3.0
    export_model_dir(tmp_path / "w.safetensors", tmp_path / "m")
    info = read_model_dir(tmp_path / "m")
    assert info.shift == 3.0
    # The score's default noise levels are kept as noise-to-signal ratios, not as times.
    np.testing.assert_allclose(dm.alpha_bar(info.score["levels"], 3.0), dm.alpha_bar([0.05, 0.1, 0.2]), rtol=1e-5)
    assert info.score["levels"][0] > 0.15
    space = PoseSpace(toy_rig(np.random.default_rng(0), 6), tmp_path / "m")
    assert space.info.shift == 3.0
    doc = json.loads((tmp_path / "m" / MODEL_JSON).read_text())
    doc["schedule"]["shift"] = -1
    (tmp_path / "m" / MODEL_JSON).write_text(json.dumps(doc))
    with pytest.raises(VipsError, match=r"model\.json.*schedule\.shift"):
        read_model_dir(tmp_path / "m")
