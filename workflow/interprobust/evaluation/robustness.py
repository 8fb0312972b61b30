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

__all__ = ["subset", "robustness", "corrupted_groups", "corrupted_robustness", "corrupted_strong", "WORST_CASE"]


def subset(x, y, max_samples: int | None, seed: int = 0):
    """A seeded, class-stratified subset of ``max_samples`` images and labels (the whole set with
    ``None``; :func:`~interprobust.data.subsets.stratified_indices`, never the first N of a stored split,
    which may be class-sorted); labels as a numpy array."""
    from ..data.subsets import stratified_indices
    y = np.asarray(y)
    if max_samples is None or int(max_samples) >= len(y):
        return x, y
    idx = stratified_indices(y, int(max_samples), seed)
    return x[idx], y[idx]


WORST_CASE = "worst-case"   # the row label of the per-sample worst case over a file's attacks


def robustness(model: torch.nn.Module, data: Prepared, *, eps: list[float], attack_settings: dict,
               batch_size: int = 256, max_samples: int | None = None, device="cpu",
               show_progress: bool = True, worst_case: bool = False, reference: dict | None = None) -> pd.DataFrame:
    """Clean accuracy plus one row per (attack, eps) for every entry of ``attack_settings``: label ->
    arguments, with ``attack`` naming the method when the label is not its name
    (e.g. ``{"fgsm": {}, "pgd": {"steps": 40}, "pgd100x5": {"attack": "pgd", "steps": 100, "restarts": 5}}``).

    With ``worst_case`` (the strong set) a row ``attack = "worst-case"`` per eps gives the accuracy
    over the samples that every attack fails on (AutoAttack's per-sample worst case); ``reference``
    attacks (e.g. the sweep's PGD-40, to compare on the same images) get rows but stay out of it."""
    x, y = subset(data.test_x, data.test_y, max_samples)
    rows = [dict(attack="clean", eps=0.0, accuracy=clean_accuracy(model, x, y, batch_size=batch_size,
                                                                          device=device), n=len(y))]
    settings = {**(reference or {}), **attack_settings}
    jobs = [(name, e) for name in settings for e in eps]
    robust = {}
    for name, e in progress(jobs, desc="attacks", disable=not show_progress):
        attack = make_attack(name, float(e), **settings[name])
        ok = robust_correct(model, x, y, attack, batch_size=batch_size, device=device)
        if name in attack_settings:
            robust[float(e)] = ok if float(e) not in robust else robust[float(e)] & ok
        rows.append(dict(attack=name, eps=float(e), accuracy=100.0 * float(ok.float().mean()) if len(y) else
                         float("nan"), n=len(y)))
    if worst_case and attack_settings:
        rows += [dict(attack=WORST_CASE, eps=e, accuracy=100.0 * float(ok.float().mean()) if len(y) else float("nan"),
                      n=len(y)) for e, ok in robust.items()]
    return pd.DataFrame(rows)


def corrupted_groups(corrupted: Prepared, max_samples: int | None = None, severities: list[int] | None = None,
                     seed: int = 0):
    """Every (corruption, severity) of a corrupted test set as one array, to attack in batches on the
    device: (x, y, gid, groups, counts), ``groups`` = [(corruption, severity)], ``gid`` each image's
    group. Each group holds the same stratified subset (:func:`subset`) of the shared labels."""
    names, sev = corrupted.meta["corruptions"], corrupted.meta["severities"]
    cells = [(i, c, j, int(s)) for i, c in enumerate(names) for j, s in enumerate(sev)
             if severities is None or s in severities]
    xs, ys, gid = [], [], []
    for g, (i, _, j, _) in enumerate(cells):
        x, y = subset(corrupted.test_x[i, j], corrupted.test_y, max_samples, seed)
        xs.append(np.asarray(x))
        ys.append(y)
        gid.append(np.full(len(y), g))
    groups = [(c, s) for _, c, _, s in cells]
    gid = np.concatenate(gid)
    return np.concatenate(xs), np.concatenate(ys), gid, groups, np.bincount(gid, minlength=len(groups))


def corrupted_robustness(model: torch.nn.Module, corrupted: Prepared, *, attack_eps: dict[str, list[float]],
                         attack_settings: dict, batch_size: int = 256, max_samples: int | None = None,
                         severities: list[int] | None = None, device="cpu", show_progress: bool = True,
                         worst_case: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Accuracy under attack on a corrupted test set: one row per (corruption, severity, attack, eps).
    The images of every (corruption, severity) are attacked together, batched on the device, then
    scored per corruption. ``attack_eps``: attack label -> its eps; ``attack_settings``: label ->
    arguments (as :func:`robustness`). ``worst_case``: labels whose per-sample worst case per eps is
    added as rows ``attack = "worst-case"`` (the others, e.g. a PGD-40 reference, only get rows)."""
    x, y, gid, groups, counts = corrupted_groups(corrupted, max_samples, severities, seed)

    def per_group(ok):
        return 100.0 * np.bincount(gid, weights=ok.numpy().astype(float), minlength=len(groups)) / np.maximum(counts, 1)

    rows, worst = [], {}
    jobs = [(name, float(e)) for name, eps in attack_eps.items() for e in eps]
    for name, e in progress(jobs, desc="corrupted x attacks", disable=not show_progress):
        ok = robust_correct(model, x, y, make_attack(name, e, **attack_settings.get(name, {})),
                            batch_size=batch_size, device=device)
        if worst_case and name in worst_case:
            worst[e] = ok if e not in worst else worst[e] & ok
        rows += [dict(corruption=c, severity=s, attack=name, eps=e, accuracy=a, n=int(n))
                 for (c, s), a, n in zip(groups, per_group(ok), counts)]
    for e, ok in worst.items():
        rows += [dict(corruption=c, severity=s, attack=WORST_CASE, eps=e, accuracy=a, n=int(n))
                 for (c, s), a, n in zip(groups, per_group(ok), counts)]
    return pd.DataFrame(rows, columns=["corruption", "severity", "attack", "eps", "accuracy", "n"])


def corrupted_strong(model: torch.nn.Module, corrupted: Prepared, *, eps: list[float], attack_settings: dict,
                     batch_size: int = 256, max_samples: int | None = None, severities: list[int] | None = None,
                     device="cpu", show_progress: bool = True, reference: dict | None = None) -> pd.DataFrame:
    """The strong set on a corrupted test set (:func:`corrupted_robustness` with every strong attack at
    every eps, and their per-sample ``worst-case``). ``reference`` attacks (label -> arguments, e.g. the
    sweep's PGD-40) run on the same images and get rows, but do not enter the worst case."""
    settings = {**(reference or {}), **attack_settings}
    return corrupted_robustness(model, corrupted, attack_eps={name: list(eps) for name in settings},
                                attack_settings=settings, batch_size=batch_size, max_samples=max_samples,
                                severities=severities, device=device, show_progress=show_progress,
                                worst_case=list(attack_settings))
