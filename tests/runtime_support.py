"""Shared by the runtime tests: a tiny pose-space model trained on toy rigs, and those rigs with their poses.

The model (tests/data/toy_pose_space/: ONNX graphs, safetensors, model.json; ~0.5 MB) was trained for 2000
steps on :func:`toy_pairs` (width 32, 2 layers) by :func:`build_toy_pose_space`, which a test session runs
itself (a few minutes) when the folder is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOY_MODEL_DIR = Path(__file__).resolve().parent / "data" / "toy_pose_space"
TOY_SEED, TOY_RIGS, TOY_POSES, TOY_JOINTS = 0, 6, 256, (5, 14)


def toy_pairs():
    """[(rig, poses)] exactly as :func:`vips.model.toy_manifold.toy_groups` draws them for the toy model's training."""
    from vips.model.toy_manifold import toy_poses, toy_rig

    rng = np.random.default_rng(TOY_SEED)
    pairs = []
    for i in range(TOY_RIGS):
        J = int(rng.integers(TOY_JOINTS[0], TOY_JOINTS[1] + 1))
        rig = toy_rig(rng, J, name=f"toy_{i}")
        pairs.append((rig, toy_poses(rng, J, TOY_POSES)))
    return pairs


def build_toy_pose_space(out: Path, steps: int = 2000) -> Path:
    """Train the toy model (torch, one thread) and write a calibrated model folder at ``out``."""
    import tempfile

    import torch

    from vips.model.network import ModelConfig
    from vips.model.toy_manifold import toy_groups
    from vips.model.train import TrainConfig, train
    from vips.posespace import calibrate_threshold
    from vips.runtime.model_dir import export_model_dir

    torch.set_num_threads(1)
    groups = toy_groups(seed=TOY_SEED, num_rigs=TOY_RIGS, num_poses=TOY_POSES, joints=TOY_JOINTS)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(out=tmp, model=ModelConfig(width=32, layers=2, encoder_layers=1, heads=2, mlp_ratio=2),
                          steps=steps, warmup=50, lr=3e-3, rigs_per_batch=6, poses_per_rig=16, progress=False,
                          checkpoint_every=steps, threads=1)
        run = train(cfg, groups)
        export_model_dir(run / "model.safetensors", out, model_id="toy-pose-space")
    calibrate_threshold(out, [(rig, poses[:64]) for rig, poses in toy_pairs()], quantile=0.05)
    return out


def toy_model_dir() -> Path:
    if not (TOY_MODEL_DIR / "denoiser.onnx").is_file():
        build_toy_pose_space(TOY_MODEL_DIR)
    return TOY_MODEL_DIR
