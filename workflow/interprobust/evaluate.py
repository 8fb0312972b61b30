"""Model evaluation: clean accuracy, accuracy under attack sweeps, accuracy per corruption.

Returns tidy pandas DataFrames (one row per model x attack x eps, or per corruption x severity) so
tables and figures can be built from cached CSVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import attacks
from .data.store import Prepared
from .io import progress


def _subset(x, y, max_samples: int | None):
    n = len(y) if max_samples is None else min(int(max_samples), len(y))
    return x[:n], np.asarray(y[:n])


def robustness(model: torch.nn.Module, data: Prepared, *, eps: list[float], attack_settings: dict,
               batch_size: int = 256, max_samples: int | None = None, device="cpu",
               show_progress: bool = True) -> pd.DataFrame:
    """Clean accuracy plus one row per (attack, eps) for every attack named in ``attack_settings``
    (e.g. ``{"fgsm": {}, "pgd": {"steps": 40, "step_size": 0.01}}``)."""
    x, y = _subset(data.test_x, data.test_y, max_samples)
    rows = [dict(attack="clean", eps=0.0, accuracy=attacks.clean_accuracy(model, x, y, batch_size=batch_size,
                                                                          device=device), n=len(y))]
    jobs = [(name, e) for name in attack_settings for e in eps]
    for name, e in progress(jobs, desc="attacks", disable=not show_progress):
        attack = attacks.make_attack(name, eps=float(e), **attack_settings[name])
        acc = attacks.robust_accuracy(model, x, y, attack, batch_size=batch_size, device=device)
        rows.append(dict(attack=name, eps=float(e), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)


def corruption_accuracy(model: torch.nn.Module, corrupted: Prepared, *, batch_size: int = 256,
                        max_samples: int | None = None, device="cpu", show_progress: bool = True) -> pd.DataFrame:
    """Accuracy for every (corruption, severity) of a corrupted test set."""
    names = corrupted.meta["corruptions"]
    sev = corrupted.meta["severities"]
    rows = []
    jobs = [(i, c, j, s) for i, c in enumerate(names) for j, s in enumerate(sev)]
    for i, c, j, s in progress(jobs, desc="corruptions", disable=not show_progress):
        x, y = _subset(corrupted.test_x[i, j], corrupted.test_y, max_samples)
        acc = attacks.clean_accuracy(model, x, y, batch_size=batch_size, device=device)
        rows.append(dict(corruption=c, severity=int(s), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)
