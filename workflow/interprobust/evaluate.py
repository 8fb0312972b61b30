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


def make_attack(label: str, settings: dict, eps: float):
    """An attack from a config entry: ``attack`` names the method (default: the label);
    ``step_size_rel`` sets the step size as a fraction of eps."""
    kwargs = dict(settings)
    if "step_size_rel" in kwargs:
        kwargs["step_size"] = float(kwargs.pop("step_size_rel")) * eps
    return attacks.make_attack(kwargs.pop("attack", label), eps=float(eps), **kwargs)


def robustness(model: torch.nn.Module, data: Prepared, *, eps: list[float], attack_settings: dict,
               batch_size: int = 256, max_samples: int | None = None, device="cpu",
               show_progress: bool = True) -> pd.DataFrame:
    """Clean accuracy plus one row per (attack, eps) for every entry of ``attack_settings``: label ->
    arguments, with ``attack`` naming the method when the label is not its name
    (e.g. ``{"fgsm": {}, "pgd": {"steps": 40}, "pgd100x5": {"attack": "pgd", "steps": 100, "restarts": 5}}``)."""
    x, y = _subset(data.test_x, data.test_y, max_samples)
    rows = [dict(attack="clean", eps=0.0, accuracy=attacks.clean_accuracy(model, x, y, batch_size=batch_size,
                                                                          device=device), n=len(y))]
    jobs = [(name, e) for name in attack_settings for e in eps]
    for name, e in progress(jobs, desc="attacks", disable=not show_progress):
        attack = make_attack(name, attack_settings[name], float(e))
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
        x, y = _subset(corrupted.test_x[i, j], corrupted.test_y, max_samples)
        attack = make_attack(label, attack_settings.get(label, {}), float(e))
        acc = attacks.robust_accuracy(model, x, y, attack, batch_size=batch_size, device=device)
        rows.append(dict(corruption=c, severity=int(s), attack=label, eps=float(e), accuracy=acc, n=len(y)))
    return pd.DataFrame(rows)
