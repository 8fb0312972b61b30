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

import numpy as np
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
    bf16: bool | str = "auto"       # auto: bf16 autocast on CUDA for first-order losses (not double backprop)
    channels_last: bool | str = "auto"   # auto: channels_last on CUDA
    eval_batch_size: int = 512
    device_data_fraction: float = 0.25   # CUDA: keep the training set on the GPU when it fits this share of free memory
    max_steps_per_epoch: int | None = None   # None: every batch; N: each epoch stops after N batches (a count cut)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)

    def uses_bf16(self, device: torch.device, loss: str) -> bool:
        """Whether training runs under bf16 autocast: ``auto`` on CUDA for first-order losses only
        (a double-backprop loss's second derivative stays fp32); true / false force it."""
        if self.bf16 == "auto":
            return device.type == "cuda" and loss not in DOUBLE_BACKPROP_LOSSES
        return bool(self.bf16)

    def uses_channels_last(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.channels_last == "auto" else bool(self.channels_last)


# Losses that differentiate an input gradient (create_graph=True): their training step is a double
# backward, kept in fp32 by ``bf16: auto`` (tests/test_train.py checks the names against the registry).
DOUBLE_BACKPROP_LOSSES = frozenset({"limeref", "gradient_alignment", "hessian", "iga", "sep"})

# Every read of a device value by the host in ``fit`` goes through :func:`_to_host`, which counts it
# here by where it happens ("epoch": once per epoch; "step" would be a per-step synchronisation, of
# which the loop has none). Tests assert the counts; on CUDA each read waits for the GPU's queue.
host_syncs: dict[str, int] = {"epoch": 0, "step": 0, "evaluate": 0}


def _to_host(t: torch.Tensor, where: str) -> list:
    host_syncs[where] += 1
    return t.tolist()


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
    total = 0
    sums = torch.zeros(2, dtype=torch.float64, device=device)   # loss, correct: summed on the device
    for xb, yb in batches.iterate(x, y, batch_size, device):
        logits = model(xb).float()
        sums[0] += F.cross_entropy(logits, yb, reduction="sum").double()
        sums[1] += (logits.argmax(1) == yb).sum()
        total += len(yb)
    loss_sum, correct = _to_host(sums, "evaluate")
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


def data_placement(nbytes: int, free_bytes: int, fraction: float) -> str:
    """Where a CUDA run keeps its training set: ``device`` when its uint8 bytes fit ``fraction`` of the
    GPU's free memory, else ``pinned`` (host batches copied without blocking)."""
    return "device" if nbytes <= fraction * free_bytes else "pinned"


class _Feed:
    """The training batches of one run, placed for the device: a CPU run gathers each batch from the
    (memory-mapped) arrays as always; on CUDA the whole training set lives on the GPU as uint8 when it
    fits ``device_data_fraction`` of free memory, else each batch is gathered into pinned memory and
    copied without blocking. Per epoch the order (shuffled, sorted within each batch: sorted gathers
    are much faster on memory-mapped arrays) and the augmentation's draws are made on the host from
    the epoch's generator, in the order a per-step draw would take them, and sent once."""

    def __init__(self, data: Prepared, device: torch.device, cfg: TrainConfig, steps: int):
        self.x, self.y, self.device, self.cfg, self.steps = data.train_x, data.train_y, device, cfg, steps
        self.n = len(self.x)
        self.placement = "host"
        if device.type == "cuda":
            nbytes = int(np.prod(self.x.shape)) * self.x.dtype.itemsize
            self.placement = data_placement(nbytes, torch.cuda.mem_get_info(device)[0], cfg.device_data_fraction)
        if self.placement == "device":
            self.x = torch.from_numpy(np.array(self.x)).to(device)
            self.y = torch.from_numpy(np.array(self.y, dtype=np.int64)).to(device)
        self.channels_last = cfg.uses_channels_last(device)

    def _send(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda":
            return t
        return t.pin_memory().to(self.device, non_blocking=True)

    def start_epoch(self, gen: torch.Generator) -> None:
        b, cfg = self.cfg.batch_size, self.cfg
        perm = torch.randperm(self.n, generator=gen).numpy()
        self.order = np.concatenate([np.sort(perm[i:i + b]) for i in range(0, self.n, b)])
        h, w = self.x.shape[-2:]
        draws = []                  # per batch, in a per-step draw's order: the resized crop's boxes first
        for i in range(0, self.n, b):
            m = min(b, self.n - i)
            boxes = batches.resized_crop_boxes(m, h, w, gen) if cfg.resized_crop else None
            draws.append((*batches.crop_flip_draws(m, cfg.crop_padding, cfg.flip, gen), boxes))
        self.boxes = torch.cat([d[2] for d in draws]) if cfg.resized_crop else None
        self.offsets = self._send(torch.cat([d[0] for d in draws])) if cfg.crop_padding > 0 else None
        self.flips = self._send(torch.cat([d[1] for d in draws])) if cfg.flip else None
        if self.placement == "device":
            self.order_on_device = self._send(torch.from_numpy(self.order))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = step * self.cfg.batch_size, (step + 1) * self.cfg.batch_size
        if self.placement == "device":
            idx = self.order_on_device[lo:hi]
            xb, yb = batches.to_tensor(self.x.index_select(0, idx), self.device), self.y.index_select(0, idx)
        else:
            idx = self.order[lo:hi]
            xb, yb = self.x[idx], torch.as_tensor(np.asarray(self.y[idx]), dtype=torch.long)
            if self.placement == "pinned":
                xb = torch.from_numpy(np.ascontiguousarray(xb)).pin_memory()
                yb = yb.pin_memory()
            xb, yb = batches.to_tensor(xb, self.device), yb.to(self.device, non_blocking=True)
        if self.boxes is not None:
            xb = batches.crop_resize(xb, self.boxes[lo:hi], self.cfg.resized_crop)
        xb = batches.apply_crop_flip(xb, self.cfg.crop_padding,
                                     None if self.offsets is None else self.offsets[lo:hi],
                                     None if self.flips is None else self.flips[lo:hi])
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, yb


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
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True   # fixed batch shapes: let cuDNN pick its fastest kernels
    model.to(device)
    if cfg.uses_channels_last(device):
        model.to(memory_format=torch.channels_last)
    n = len(data.train_x)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, int(cfg.max_steps_per_epoch))
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

    feed = _Feed(data, device, cfg, steps_per_epoch)
    if device.type == "cuda":
        print(f"training set on the {'GPU' if feed.placement == 'device' else 'host (pinned)'}; bf16 autocast "
              f"{cfg.uses_bf16(device, loss)}, channels_last {cfg.uses_channels_last(device)}", flush=True)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.uses_bf16(device, loss))
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        gen = _epoch_generator(seed, epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # stochastic losses draw from here: resume-exact too
        feed.start_epoch(gen)
        model.train()
        # summed on the device, read once at the epoch's end: loss, correct, the first non-finite step
        # and its loss; the loss's reported parts (no per-step synchronisation with the host)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        bad_step = torch.full((), -1, dtype=torch.long, device=device)
        bad_value = torch.zeros((), dtype=torch.float64, device=device)
        part_sums: dict[str, torch.Tensor] = {}
        seen = 0
        bar = progress(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not show_progress)
        for step in bar:
            xb, yb = feed.batch(step)
            with autocast, recording_parts() as parts:
                value, logits = loss_fn(model, xb, yb, loss_params)
            for k, v in parts.items():
                part_sums[k] = part_sums.get(k, 0) + v.float() * len(yb)
            detached = value.detach()
            newly = ~torch.isfinite(detached) & (bad_step < 0)
            bad_step.masked_fill_(newly, step)
            bad_value = torch.where(newly, detached.double(), bad_value)
            opt.zero_grad(set_to_none=True)
            value.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            loss_sum += detached.double() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
        names = sorted(part_sums)
        totals = _to_host(torch.stack([loss_sum, correct.double(), bad_step.double(), bad_value,
                                       *(part_sums[k].double() for k in names)]), "epoch")
        if totals[2] >= 0:
            raise NonFiniteLossError(
                f"non-finite training loss ({totals[3]}) at epoch {epoch + 1}, step {int(totals[2]) + 1}: "
                f"lower the learning rate ({cfg.lr}) or the loss's weights ({loss_params})")
        loss_total, correct_total = totals[0], totals[1]
        bar.set_postfix(loss=f"{loss_total / seen:.3f}", acc=f"{100 * correct_total / seen:.1f}")
        bar.close()
        test_loss, test_acc = evaluate_loss_accuracy(model, data.test_x, data.test_y, cfg.eval_batch_size, device)
        row = dict(epoch=epoch + 1, train_loss=loss_total / seen, train_acc=100.0 * correct_total / seen,
                   test_loss=test_loss, test_acc=test_acc, lr=opt.param_groups[0]["lr"],
                   seconds=time.perf_counter() - t0)
        row.update({f"train_{k}": v / seen for k, v in zip(names, totals[4:])})
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
