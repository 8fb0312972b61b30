"""The foundation's model evaluation: clean accuracy and accuracy under attack sweeps.

Returns tidy pandas DataFrames (one row per model x attack x eps) so tables and figures can be built
from cached CSVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..attacks import clean_accuracy, make_attack, robust_accuracy
from ..data.store import Prepared
from ..io import progress

__all__ = ["subset", "robustness"]


def subset(x, y, max_samples: int | None):
    """The first ``max_samples`` images and labels (all with ``None``); labels as a numpy array."""
    n = len(y) if max_samples is None else min(int(max_samples), len(y))
    return x[:n], np.asarray(y[:n])


def robustness(model: torch.nn.Module, data: Prepared, *, eps: list[float], attack_settings: dict,
               batch_size: int = 256, max_samples: int | None = None, device="cpu",
               show_progress: bool = True) -> pd.DataFrame:
    """Clean accuracy plus one row per (attack, eps) for every entry of ``attack_settings``: label ->
    arguments, with ``attack`` naming the method when the label is not its name
    (e.g. ``{"fgsm": {}, "pgd": {"steps": 40}, "pgd100x5": {"attack": "pgd", "steps": 100, "restarts": 5}}``)."""
    x, y = subset(data.test_x, data.test_y, max_samples)
    rows = [dict(attack="clean", eps=0.0, accuracy=clean_accuracy(model, x, y, batch_size=batch_size,
                                                                          device=device), n=len(y))]
    jobs = [(name, e) for name in attack_settings for e in eps]
    for name, e in progress(jobs, desc="attacks", disable=not show_progress):
        attack = make_attack(name, float(e), **attack_settings[name])
        acc = robust_accuracy(model, x, y, attack, batch_size=batch_size, device=device)
        rows.append(dict(attack=name, eps=float(e), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)
