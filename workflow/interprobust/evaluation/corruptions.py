"""The foundation's evaluation on corrupted test sets: accuracy per (corruption, severity), clean and
under attack. Returns tidy pandas DataFrames."""

from __future__ import annotations

import pandas as pd
import torch

from ..attacks import clean_accuracy, make_attack, robust_accuracy
from ..data.store import Prepared
from ..io import progress
from .robustness import subset

__all__ = ["corruption_accuracy", "corruption_attack_accuracy"]


def corruption_accuracy(model: torch.nn.Module, corrupted: Prepared, *, batch_size: int = 256,
                        max_samples: int | None = None, device="cpu", show_progress: bool = True) -> pd.DataFrame:
    """Accuracy for every (corruption, severity) of a corrupted test set."""
    names = corrupted.meta["corruptions"]
    sev = corrupted.meta["severities"]
    rows = []
    jobs = [(i, c, j, s) for i, c in enumerate(names) for j, s in enumerate(sev)]
    for i, c, j, s in progress(jobs, desc="corruptions", disable=not show_progress):
        x, y = subset(corrupted.test_x[i, j], corrupted.test_y, max_samples)
        acc = clean_accuracy(model, x, y, batch_size=batch_size, device=device)
        rows.append(dict(corruption=c, severity=int(s), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)


def corruption_attack_accuracy(model: torch.nn.Module, corrupted: Prepared, *, attack_eps: dict[str, list[float]],
                               attack_settings: dict, batch_size: int = 256, max_samples: int | None = None,
                               severities: list[int] | None = None, device="cpu",
                               show_progress: bool = True) -> pd.DataFrame:
    """Accuracy under attack on corrupted images: one row per (corruption, severity, attack, eps).

    ``attack_eps`` maps an attack label to its eps list; ``attack_settings`` gives each label's arguments
    (as in :func:`robustness`).
    """
    names = corrupted.meta["corruptions"]
    sev = corrupted.meta["severities"]
    jobs = [(i, c, j, s, a, e) for i, c in enumerate(names) for j, s in enumerate(sev)
            if severities is None or s in severities for a, eps in attack_eps.items() for e in eps]
    rows = []
    for i, c, j, s, label, e in progress(jobs, desc="corrupted x attacks", disable=not show_progress):
        x, y = subset(corrupted.test_x[i, j], corrupted.test_y, max_samples)
        attack = make_attack(label, float(e), **attack_settings.get(label, {}))
        acc = robust_accuracy(model, x, y, attack, batch_size=batch_size, device=device)
        rows.append(dict(corruption=c, severity=int(s), attack=label, eps=float(e), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)
