"""Training loop of the pose model: AdamW, EMA weights, warmup + cosine learning rate, mixed sources,
resumable safetensors checkpoints, JSONL logs, a progress bar, and DDP under ``torchrun`` (gloo on CPU).

    python -m vips.model.train CONFIG.json                     # one process
    torchrun --nproc_per_node 2 -m vips.model.train CONFIG.json  # DDP

A run directory holds ``config.json``, ``log.jsonl`` (one JSON object per logged step), ``checkpoint.safetensors``
(model, EMA and AdamW state as tensors, step and configs as metadata; written atomically) and
``model.safetensors`` (the EMA weights for inference, :func:`vips.model.weights.load_weights`).

Randomness is derived from (seed, rank, step) at every step, so a resumed run draws exactly the batches and
noise the uninterrupted run would have drawn.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from vips.diffusion import COSINE_S, MIN_ALPHA_BAR
from vips.errors import VipsError
from vips.model.data import Batch, PoseGroup, group_probabilities, make_batch
from vips.model.training_groups import load_dataset
from vips.model.network import ModelConfig, PoseModel
from vips.model.weights import atomic_save, load_weights, save_weights
from vips.model_contract import WEIGHTS_FILE, default_model_dir

CHECKPOINT = "checkpoint.safetensors"
LOG = "log.jsonl"


@dataclass
class TrainConfig:
    """Everything a training run needs (stored as ``config.json`` in the run directory).

    ``steps`` is the length of the run (the learning-rate schedule spans it); ``stop_at`` > 0 stops after that
    many steps so a long run can be trained in chunks (resume with the same config and a larger ``stop_at``).
    ``threads`` > 0 sets torch's intra-op threads (1 per process is fastest on a small, busy CPU).
    ``init_from`` fine-tunes: ``"default"`` (the shipped model), a model folder or a weights file (a run's
    ``model.safetensors``) whose weights start both the model and its EMA instead of random ones; its architecture must equal
    ``model``. It is ignored when the run resumes from its own checkpoint. ``source_weights`` maps a source (a body
    plan, ``clip:<family>``) or a prefix pattern (``"clip:*"``) to its weight (:func:`vips.model.data.source_weight`).
    ``rest_variants`` re-rested copies and ``insert_variants`` copies with static joints inserted of each shard of
    a built dataset join the training data, and with ``mirror_clips`` each real-motion shard's mirrored motion
    (:mod:`vips.model.training_groups`).
    """

    out: str
    data: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 2000
    stop_at: int = 0
    rigs_per_batch: int = 4
    poses_per_rig: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    source_weights: dict[str, float] = field(default_factory=dict)
    log_every: int = 10
    checkpoint_every: int = 200
    resume: bool = True
    progress: bool = True
    threads: int = 0
    device: str = "auto"
    init_from: str | None = None
    rest_variants: int = 0
    insert_variants: int = 0
    mirror_clips: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        d = json.loads(text)
        d["model"] = ModelConfig(**d.get("model", {}))
        return cls(**d)


# ----- schedule and loss (torch mirror of vips.diffusion) ------------------------------------------------------
def alpha_bar_torch(t: torch.Tensor, shift: float = 1.0) -> torch.Tensor:
    """The shifted cosine schedule of :func:`vips.diffusion.alpha_bar` on torch tensors (float32)."""
    s = COSINE_S
    f = torch.cos((t.double() + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    ab = (f / f0).clamp(MIN_ALPHA_BAR, 1.0)
    k2 = float(shift) ** 2
    return (k2 * ab / (1 + (k2 - 1) * ab)).float()


def diffusion_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], poses_per_rig: int, prediction: str,
                   generator: torch.Generator, shift: float = 1.0) -> torch.Tensor:
    """Masked mean squared error of the model's eps or v prediction at uniformly drawn times of the cosine
    schedule shifted by ``shift``."""
    x0, cmask = batch["x0"], batch["channel_mask"]
    B = x0.shape[0]
    t = torch.rand(B, generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device) * cmask
    ab = alpha_bar_torch(t, shift)[:, None, None]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    target = eps if prediction == "eps" else ab.sqrt() * eps - (1 - ab).sqrt() * x0
    pred = model(x_t, t, batch["node_features"], batch["graph_code"], batch["mask"], poses_per_rig)
    return (((pred - target) ** 2) * cmask).sum() / cmask.sum().clamp_min(1.0)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# ----- checkpoints -------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, model: PoseModel, ema: PoseModel, optimizer: torch.optim.Optimizer,
                    step: int, config: TrainConfig) -> None:
    """Model, EMA and AdamW moments as tensors; step and configs as metadata (no pickle)."""
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema/{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    for idx, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optim/{idx}/{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    atomic_save(tensors, path, {"step": str(step), "config": config.to_json(), "model_config": model.config.to_json()})


def load_checkpoint(path: Path, model: PoseModel, ema: PoseModel, optimizer: torch.optim.Optimizer) -> int:
    """Restore what :func:`save_checkpoint` wrote into the given objects; returns the step to continue from."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    model_state, ema_state = {}, {}
    with safe_open(str(path), framework="pt") as f:
        step = int((f.metadata() or {})["step"])
        for key in f.keys():
            kind, rest = key.split("/", 1)
            if kind == "model":
                model_state[rest] = f.get_tensor(key)
            elif kind == "ema":
                ema_state[rest] = f.get_tensor(key)
            else:
                idx, name = rest.split("/", 1)
                state.setdefault(int(idx), {})[name] = f.get_tensor(key)
    model.load_state_dict(model_state)
    ema.load_state_dict(ema_state)
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
    return step


def initial_weights(source: str | Path, model: ModelConfig) -> dict[str, torch.Tensor]:
    """The state dict to fine-tune from (see ``TrainConfig.init_from``); checks the architecture matches."""
    if str(source) == "default":
        source = default_model_dir()
    path = Path(source)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise VipsError(f"{source}: no weights to start from (give a model.safetensors or a model folder)")
    loaded = load_weights(path)
    if loaded.config != model:
        raise VipsError(f"{path}: its architecture {loaded.config} differs from the run's {model}; "
                        "fine-tuning keeps the architecture (set the model options to match)")
    return loaded.state_dict()


@torch.no_grad()
def update_ema(ema: PoseModel, model: PoseModel, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


# ----- the loop ----------------------------------------------------------------------------------------------
def train(config: TrainConfig, groups: list[PoseGroup] | None = None) -> Path:
    """Train (or resume) a pose model; returns the run directory.

    Args:
        config: the run's settings; ``config.out`` is the run directory.
        groups: the training data in memory; when None it is loaded from ``config.data``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its own batches and DDP averages the
    gradients; rank 0 writes logs and checkpoints.
    """
    rank, world = _init_distributed(config)
    device = _device(config, rank)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    if groups is None:
        if not config.data:
            raise ValueError("train: give the data groups or config.data (a dataset directory)")
        groups = load_dataset(config.data, rest_variants=config.rest_variants, seed=config.seed,
                              insert_variants=config.insert_variants, mirror_clips=config.mirror_clips)
    _check_groups(groups, config.model)
    run = Path(config.out)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(config.to_json())

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    model = PoseModel(config.model).to(device)
    ema = PoseModel(config.model).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    if config.resume and (run / CHECKPOINT).exists():
        start = load_checkpoint(run / CHECKPOINT, model, ema, optimizer)
        model.to(device)
        ema.to(device)
    elif config.init_from:
        state = initial_weights(config.init_from, config.model)
        model.load_state_dict(state)
        ema.load_state_dict(state)
    net: torch.nn.Module = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    probs = group_probabilities(groups, config.source_weights)
    log = open(run / LOG, "a") if rank == 0 else None
    progress = _Progress(config.steps, start, enabled=config.progress and rank == 0)
    t0, losses = time.perf_counter(), []
    try:
        end = min(config.steps, config.stop_at) if config.stop_at > 0 else config.steps
        for step in range(start, end):
            rng = np.random.default_rng([config.seed, rank, step])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            batch = _to_torch(make_batch(groups, probs, config.rigs_per_batch, config.poses_per_rig, rng), device)
            lr = learning_rate(config, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = diffusion_loss(net, batch, config.poses_per_rig, config.model.prediction, gen,
                                  config.model.schedule_shift)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            update_ema(ema, model, min(config.ema_decay, (1 + step) / (10 + step)))
            losses.append(loss.item())
            done = step + 1
            progress.update(done, losses[-1])
            if log is not None and (done % config.log_every == 0 or done == end):
                log.write(json.dumps({"step": done, "loss": float(np.mean(losses)), "lr": lr,
                                      "elapsed_s": round(time.perf_counter() - t0, 3), "world_size": world}) + "\n")
                log.flush()
                losses = []
            if rank == 0 and (done % config.checkpoint_every == 0 or done == end):
                save_checkpoint(run / CHECKPOINT, model, ema, optimizer, done, config)
                save_weights(ema, run / WEIGHTS_FILE, {"step": str(done)})
    finally:
        progress.close()
        if log is not None:
            log.close()
        if world > 1:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
    return run


def read_log(run: str | Path) -> list[dict]:
    """The JSONL log of a run as a list of dicts."""
    return [json.loads(line) for line in Path(run, LOG).read_text().splitlines() if line.strip()]


def _check_groups(groups: list[PoseGroup], model: ModelConfig) -> None:
    if not groups:
        raise ValueError("train: no pose groups")
    for g in groups:
        if g.node_features.shape[1] != model.feature_dim or g.poses.shape[-1] != model.pose_dim:
            raise ValueError(f"group '{g.name}': features {g.node_features.shape} / poses {g.poses.shape} do not "
                             f"match the model (F={model.feature_dim}, D={model.pose_dim})")
        if len(g.poses) == 0:
            raise ValueError(f"group '{g.name}' has no poses")


def _to_torch(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(getattr(batch, k)).to(device)
            for k in ("x0", "channel_mask", "node_features", "graph_code", "mask")}


def _init_distributed(config: TrainConfig) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if _device(config, 0).type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _device(config: TrainConfig, rank: int) -> torch.device:
    if config.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(config.device)


class _Progress:
    """A rich progress bar on rank 0 when enabled and the output is a terminal."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn())
            self.task = self.bar.add_task("train", total=total, completed=start, loss=float("nan"))
            self.bar.start()

    def update(self, done: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, loss=loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m vips.model.train CONFIG.json``: run :func:`train` with a JSON :class:`TrainConfig`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m vips.model.train CONFIG.json")
    run = train(TrainConfig.from_json(Path(argv[0]).read_text()))
    if int(os.environ.get("RANK", "0")) == 0:
        print(run)


if __name__ == "__main__":
    main()
