"""The foundation's evaluation on corrupted test sets: accuracy per (corruption, severity), clean and
under attack. Returns tidy pandas DataFrames."""

from __future__ import annotations

import pandas as pd
import torch

from ..attacks import clean_accuracy
from ..data.store import Prepared
from ..io import progress
from .robustness import corrupted_robustness, subset

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
    """Accuracy under attack on corrupted images: one row per (corruption, severity, attack, eps)
    (LIMEREF Fig. 12-15). ``attack_eps`` maps an attack label to its eps list; ``attack_settings`` gives
    each label's arguments (as in :func:`robustness`). Every corruption's images are attacked in one
    batched pass per (attack, eps) (:func:`~interprobust.evaluation.robustness.corrupted_robustness`)."""
    return corrupted_robustness(model, corrupted, attack_eps=attack_eps, attack_settings=attack_settings,
                                batch_size=batch_size, max_samples=max_samples, severities=severities,
                                device=device, show_progress=show_progress)
