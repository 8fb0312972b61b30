"""Accuracy of a model on clean inputs and under an attack, batched on the model's device."""

from __future__ import annotations

import torch
from torch import nn

from ..data.batches import iterate
from ..nn import eval_mode, model_device
from .base import Attack

__all__ = ["clean_accuracy", "robust_accuracy", "robust_correct"]


def _percent(correct: int, n: int) -> float:
    return 100.0 * correct / n if n else float("nan")


def clean_accuracy(model: nn.Module, x, y, batch_size: int = 256, device=None) -> float:
    """Accuracy (percent) of ``model`` on ``x`` (float NCHW in [0, 1], or uint8 NHWC arrays) in eval
    mode, batched on ``device`` (default: the model's)."""
    device = model_device(model) if device is None else torch.device(device)
    correct = 0
    with eval_mode(model), torch.no_grad():
        for xb, yb in iterate(x, y, batch_size, device):
            correct += int((model(xb).argmax(1) == yb).sum())
    return _percent(correct, len(y))


def robust_correct(model: nn.Module, x, y, attack: Attack, batch_size: int = 256, device=None,
                   count_clean_errors: bool = True) -> torch.Tensor:
    """Per sample (bool, on the CPU): classified correctly under ``attack`` (and, with
    ``count_clean_errors``, clean too), batched on ``device``; what the worst case over several
    attacks combines (a sample is robust only if every attack fails on it)."""
    device = model_device(model) if device is None else torch.device(device)
    out = []
    for xb, yb in iterate(x, y, batch_size, device):
        x_adv = attack(model, xb, yb)
        with eval_mode(model), torch.no_grad():
            ok = model(x_adv).argmax(1) == yb
            if count_clean_errors:
                ok &= model(xb).argmax(1) == yb
        out.append(ok.cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def robust_accuracy(model: nn.Module, x, y, attack: Attack, batch_size: int = 256, device=None,
                    count_clean_errors: bool = True) -> float:
    """Accuracy (percent) under ``attack``, batched on ``device`` (default: the model's).

    With ``count_clean_errors`` (default) a sample counts as robust only if it is classified
    correctly both clean and at ``attack``'s output (the usual convention, e.g. AutoAttack's: the
    clean input is itself in the eps-ball), so robust accuracy never exceeds clean accuracy.
    """
    ok = robust_correct(model, x, y, attack, batch_size, device, count_clean_errors)
    return _percent(int(ok.sum()), len(y))
