"""The foundation's model evaluation: clean accuracy and accuracy under attack sweeps.

Returns tidy pandas DataFrames (one row per model x attack x eps) so tables and figures can be built
from cached CSVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..attacks import clean_accuracy, make_attack, robust_correct
from ..data.store import Prepared
from ..io import progress

__all__ = ["subset", "robustness", "WORST_CASE"]


def subset(x, y, max_samples: int | None):
    """The first ``max_samples`` images and labels (all with ``None``); labels as a numpy array."""
    n = len(y) if max_samples is None else min(int(max_samples), len(y))
    return x[:n], np.asarray(y[:n])


WORST_CASE = "worst-case"   # the row label of the per-sample worst case over a file's attacks


def robustness(model: torch.nn.Module, data: Prepared, *, eps: list[float], attack_settings: dict,
               batch_size: int = 256, max_samples: int | None = None, device="cpu",
               show_progress: bool = True, worst_case: bool = False) -> pd.DataFrame:
    """Clean accuracy plus one row per (attack, eps) for every entry of ``attack_settings``: label ->
    arguments, with ``attack`` naming the method when the label is not its name
    (e.g. ``{"fgsm": {}, "pgd": {"steps": 40}, "pgd100x5": {"attack": "pgd", "steps": 100, "restarts": 5}}``).

    With ``worst_case`` (the strong set) a row ``attack = "worst-case"`` per eps gives the accuracy
    over the samples that every attack fails on (AutoAttack's per-sample worst case)."""
    x, y = subset(data.test_x, data.test_y, max_samples)
    rows = [dict(attack="clean", eps=0.0, accuracy=clean_accuracy(model, x, y, batch_size=batch_size,
                                                                          device=device), n=len(y))]
    jobs = [(name, e) for name in attack_settings for e in eps]
    robust = {}
    for name, e in progress(jobs, desc="attacks", disable=not show_progress):
        attack = make_attack(name, float(e), **attack_settings[name])
        ok = robust_correct(model, x, y, attack, batch_size=batch_size, device=device)
        robust[float(e)] = ok if float(e) not in robust else robust[float(e)] & ok
        rows.append(dict(attack=name, eps=float(e), accuracy=100.0 * float(ok.float().mean()) if len(y) else
                         float("nan"), n=len(y)))
    if worst_case and attack_settings:
        rows += [dict(attack=WORST_CASE, eps=e, accuracy=100.0 * float(ok.float().mean()) if len(y) else float("nan"),
                      n=len(y)) for e, ok in robust.items()]
    return pd.DataFrame(rows)
