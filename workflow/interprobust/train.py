"""One training entry point for every (dataset, architecture, loss, seed).

The training objective comes from the loss registry (:mod:`interprobust.losses`): ``loss`` names a
function ``loss(model, x, y, params) -> (loss, logits)`` on a batch already on the device.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .data import batches
from .data.store import Prepared
from .io import progress, torch_save
from .losses import get_loss, recording_parts

class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"          # sgd | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "cosine"        # cosine | step | constant
    milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    crop_padding: int = 4
    flip: bool = True
    resized_crop: int = 0           # > 0: RandomResizedCrop to this size on the device first (ImageNet-100)
    bf16: bool = False
    channels_last: bool = False
    eval_batch_size: int = 512

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: sgd, adam, adamw")


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """A per-step schedule (so cosine is smooth within epochs and resumes exactly)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    if cfg.schedule == "step":
        ms = [m * steps_per_epoch for m in cfg.milestones]
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cfg.lr_gamma ** sum(s >= m for m in ms))
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; valid: cosine, step, constant")


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One generator per epoch, derived from (seed, epoch): a resumed run draws exactly what it would have.
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@torch.no_grad()
def evaluate_loss_accuracy(model, x, y, batch_size: int, device) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) over uint8 images ``x`` with labels ``y``."""
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0
    for xb, yb in batches.iterate(x, y, batch_size, device):
        logits = model(xb).float()
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
        total += len(yb)
    return loss_sum / max(total, 1), 100.0 * correct / max(total, 1)


def config_fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


CHECKPOINT_NAME = "last.pt"


def checkpoint_path(checkpoint_dir: str | Path) -> Path:
    """The resumable checkpoint :func:`fit` keeps in ``checkpoint_dir``."""
    return Path(checkpoint_dir) / CHECKPOINT_NAME


def run_identity(cfg: TrainConfig, loss: str, loss_params: dict, seed: int, data: Prepared,
                 identity: dict | None = None) -> dict:
    """Everything that defines a training run, as plain JSON: a checkpoint resumes only when all match.

    The training settings, the loss and its parameters, the seed, the data's checksums and the code
    version, plus the caller's ``identity`` (the model's signature, the initial weights' digest: what
    ``fit`` cannot see). A loss parameter that names a file (LIMEREF's ``spurious``) counts by content.
    """
    from . import __version__
    from .data.download import file_digest
    files = {k: f"sha256:{file_digest(v)}" for k, v in sorted(loss_params.items())
             if k == "spurious" and isinstance(v, (str, Path)) and Path(v).is_file()}
    run = {"cfg": cfg.__dict__, "method": loss, "params": loss_params, "param_files": files, "seed": seed,
           "data": data.meta.get("arrays"), "version": __version__, **(identity or {})}
    return json.loads(json.dumps(run, sort_keys=True, default=str))


def _differences(old, new, prefix: str = "") -> list[str]:
    """The dotted names of the fields in which two identities differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _resumable_state(ckpt: Path, run: dict, fingerprint: str, model: torch.nn.Module) -> dict | None:
    """The checkpoint's state when it was written by this very run; otherwise None, saying why."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not {"model", "optimizer", "scheduler", "history", "epoch"} <= set(state):
            raise ValueError("not a training checkpoint")
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is only a lost head start
        print(f"warning: cannot read the checkpoint {ckpt} ({type(e).__name__}: {e}); ignoring it and training "
              f"from scratch", flush=True)
        return None
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    fits = isinstance(state["model"], dict) and shapes == {k: tuple(getattr(v, "shape", ())) for k, v in
                                                          state["model"].items()}
    if state.get("fingerprint") == fingerprint and fits:
        return state
    if not fits:
        why = "its weights do not fit this model's layers"
    elif isinstance(state.get("identity"), dict):
        why = f"these settings differ: {', '.join(_differences(state['identity'], run)) or 'fingerprint'}"
    else:
        why = "it records no settings (written by an older version)"
    print(f"ignoring the checkpoint {ckpt}: it belongs to another run ({why}); training from scratch", flush=True)
    return None


def fit(model: torch.nn.Module, data: Prepared, *, loss: str = "ce", loss_params: dict | None = None,
        config: TrainConfig | None = None, seed: int = 0, device: torch.device | str = "cpu",
        checkpoint_dir: str | Path | None = None, show_progress: bool = True,
        epoch_metrics: Callable[[torch.nn.Module], dict] | None = None,
        identity: dict | None = None) -> list[dict]:
    """Train ``model`` in place; returns the per-epoch history.

    ``epoch_metrics(model)`` adds columns to every epoch's row (e.g. accuracy per corruption).

    With ``checkpoint_dir`` a resumable checkpoint is written after every epoch and picked up on the
    next call of the same run, so a killed job continues where it stopped. The same run means the same
    :func:`run_identity`: ``identity`` adds what defines the run beyond ``fit``'s arguments (the model's
    signature, the initial weights). A checkpoint of another run, or one that cannot be read, is
    ignored with a printed line saying why, and training starts from scratch.
    """
    cfg = config or TrainConfig()
    loss_fn = get_loss(loss)
    loss_params = dict(loss_params or {})
    device = torch.device(device)
    if data.train_x is None:
        raise ValueError(f"dataset {data.meta['name']!r} has no training split")
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    n = len(data.train_x)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, steps_per_epoch)
    history: list[dict] = []
    start_epoch = 0
    run = run_identity(cfg, loss, loss_params, seed, data, identity)
    fingerprint = config_fingerprint(run)
    ckpt = checkpoint_path(checkpoint_dir) if checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        state = _resumable_state(ckpt, run, fingerprint, model)
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            history = state["history"]
            start_epoch = state["epoch"]
            print(f"resuming from {ckpt} after epoch {start_epoch}", flush=True)

    x_all, y_all = data.train_x, data.train_y
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        gen = _epoch_generator(seed, epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # stochastic losses draw from here: resume-exact too
        perm = torch.randperm(n, generator=gen).numpy()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        part_sums: dict[str, torch.Tensor] = {}   # the loss's reported parts, summed on the device
        bar = progress(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not show_progress)
        for step in bar:
            idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            idx.sort()  # sorted gathers are much faster on memory-mapped arrays
            xb = batches.to_tensor(x_all[idx], device)
            yb = torch.as_tensor(y_all[idx], dtype=torch.long, device=device)
            if cfg.resized_crop:
                xb = batches.random_resized_crop(xb, cfg.resized_crop, gen)
            xb = batches.random_crop_flip(xb, cfg.crop_padding, cfg.flip, gen)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast, recording_parts() as parts:
                value, logits = loss_fn(model, xb, yb, loss_params)
            for k, v in parts.items():
                part_sums[k] = part_sums.get(k, 0) + v.float() * len(yb)
            if not torch.isfinite(value):
                raise NonFiniteLossError(
                    f"non-finite training loss ({value.item()}) at epoch {epoch + 1}, step {step + 1}: "
                    f"lower the learning rate ({cfg.lr}) or the loss's weights ({loss_params})")
            opt.zero_grad(set_to_none=True)
            value.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            loss_sum += value.item() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum().item()
            seen += len(yb)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}")
        bar.close()
        test_loss, test_acc = evaluate_loss_accuracy(model, data.test_x, data.test_y, cfg.eval_batch_size, device)
        row = dict(epoch=epoch + 1, train_loss=loss_sum / seen, train_acc=100.0 * correct / seen,
                   test_loss=test_loss, test_acc=test_acc, lr=opt.param_groups[0]["lr"],
                   seconds=time.perf_counter() - t0)
        row.update({f"train_{k}": float(v) / seen for k, v in part_sums.items()})
        if epoch_metrics is not None:
            row.update(epoch_metrics(model))
            model.train()
        history.append(row)
        print(f"epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f} | "
              f"test loss {test_loss:.4f} acc {test_acc:.2f} | {row['seconds']:.1f}s", flush=True)
        if ckpt is not None:
            torch_save({"fingerprint": fingerprint, "identity": run, "epoch": epoch + 1, "history": history,
                        "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict()}, ckpt)
    return history


def step_cost(model: torch.nn.Module, loss: str, loss_params: dict | None, x: torch.Tensor, y: torch.Tensor,
              *, steps: int = 5, warmup: int = 2, seed: int = 0) -> dict[str, float]:
    """Seconds per training step (forward, the loss, backward, an SGD update; median over
    ``steps`` after ``warmup``) and, on CUDA, the peak memory of a step in MiB (NaN on a CPU).

    AGA's Table 2 and ``benchmarks/bench_regularizers.py`` both measure with this. Works on a copy
    of the model, so the caller's weights are untouched."""
    import copy
    import statistics
    model = copy.deepcopy(model).train()
    loss_fn = get_loss(loss)
    params = dict(loss_params or {})
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    cuda = x.device.type == "cuda"
    times, peak = [], float("nan")
    torch.manual_seed(seed)
    for i in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        loss, _ = loss_fn(model, x, y, params)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            if cuda:
                peak = max(0.0 if peak != peak else peak, torch.cuda.max_memory_allocated() / 2 ** 20)
    return {"seconds_per_step": statistics.median(times), "peak_mib": peak}
