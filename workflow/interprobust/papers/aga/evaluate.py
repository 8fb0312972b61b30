"""AGA's explanation-robustness evaluation of one model: RPS, Insertion and Adv-Insertion per
attribution method, the attacked maps of Fig. 3(a) and the CRC bound of Fig. 3(b)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import metrics
from ...attacks import clean_accuracy
from ...data import batches
from ...data.store import Prepared
from ...data.subsets import stratified_indices
from ...explain.attributions import attribute, normalize_module
from ...explain.manipulation import ExplanationAttack
from ...io import progress

__all__ = ["frame_map", "explanation_robustness", "attacked_maps", "crc_bound_curve", "evaluation_indices",
           "insertion_settings", "INSERTION_BASELINES"]

INSERTION_BASELINES = ("mean", "black")


def evaluation_indices(data: Prepared, n: int | None, seed: int) -> np.ndarray:
    """The test images the explanation metrics use: a seeded class-stratified subset of ``n`` (the
    whole test set for None). Stored test splits are often class-sorted (ImageNet-100), so never the
    first n."""
    return stratified_indices(data.test_y, n, seed)


def _take(data: Prepared, idx: np.ndarray):
    return np.asarray(data.test_x[idx]), np.asarray(data.test_y)[idx]


def insertion_settings(model: torch.nn.Module, baseline: str = "mean", points: int = 20) -> dict:
    """Keyword arguments of ``metrics.insertion_curve`` for AGA: the fill shown where pixels are not yet
    inserted — ``mean`` = zero in the *normalised* space = the dataset-mean colour (RobustAGA's code,
    which produced the paper's numbers), ``black`` = the all-zero image of the paper's text — and the
    fractions: 20 points i/20, i = 0..19 (RobustAGA's code) or 21 points 0..1 (the paper's text)."""
    if baseline not in INSERTION_BASELINES:
        raise ValueError(f"unknown insertion baseline {baseline!r}; valid: {', '.join(INSERTION_BASELINES)}")
    if int(points) not in (20, 21):
        raise ValueError(f"insertion points must be 20 (RobustAGA's code) or 21 (the paper's text); got {points}")
    norm = normalize_module(model)
    fill = 0.0 if (baseline == "black" or norm is None) else norm.mean.flatten().detach().cpu().tolist()
    fractions = metrics.AGA_CODE_FRACTIONS if int(points) == 20 else metrics.INSERTION_FRACTIONS
    return {"baseline": fill, "fractions": fractions}


def frame_map(height: int, width: int, border: int | None = None) -> torch.Tensor:
    """AGA's Adv-Insertion target: ones on a frame, zero inside (border 5 px at 32 px, 35 at 224)."""
    b = max(1, round(5 * min(height, width) / 32)) if border is None else int(border)
    m = torch.ones(height, width)
    m[b:height - b, b:width - b] = 0.0
    return m


def explanation_robustness(model: torch.nn.Module, data: Prepared, *, methods: list[str], rps_eps: list[float],
                           n_noise: int = 10, attack_eps: float = 2 / 255, attack_steps: int = 100,
                           max_samples: int | None = None, batch_size: int = 64, seed: int = 0, device="cpu",
                           insertion_baseline: str = "mean", insertion_points: int = 20,
                           show_progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AGA's metrics for one model: accuracy on the *whole* test set; per attribution method, RPS
    (cosine / Pearson / SSIM) at each eps, Insertion and Adv-Insertion (the targeted attack towards a
    frame map) on the true class of a seeded class-stratified subset of ``max_samples`` test images
    (:func:`evaluation_indices`; all for None), in batches. Every method is attacked, LRP included.

    Returns (scores: method, metric, eps, value, n — one row each, plus clean accuracy;
    curves: method, kind (insertion | adv_insertion), fraction, probability — means over the images).
    The subset is ``evaluation_indices(data, max_samples, seed)`` (the CLI saves it next to the scores).
    """
    idx = evaluation_indices(data, max_samples, seed)
    x_all, y_all = _take(data, idx)
    rows, curves = [], []
    test_y = np.asarray(data.test_y)
    acc = clean_accuracy(model, data.test_x, test_y, batch_size=batch_size, device=device)
    rows.append(dict(method="none", metric="accuracy", eps=0.0, value=acc, n=len(test_y)))
    model.eval()
    ins_opts = insertion_settings(model, insertion_baseline, insertion_points)
    fractions = ins_opts["fractions"]
    for method in progress(methods, desc="attributions", disable=not show_progress):
        def explain(m, x, t, create_graph=False, _method=method):
            return attribute(_method, m, x, t, create_graph=create_graph)

        sums: dict[tuple, float] = {}
        ins_sum = torch.zeros(len(fractions))
        adv_sum = torch.zeros(len(fractions))
        for i in range(0, len(y_all), batch_size):
            x = batches.to_tensor(x_all[i:i + batch_size], device)
            y = torch.tensor(y_all[i:i + batch_size], dtype=torch.long, device=device)
            for e in rps_eps:
                r = metrics.rps(model, explain, x, y, float(e), n_noise=n_noise, seed=seed + i)
                for name, v in r.items():
                    sums[(f"rps_{name}", float(e))] = sums.get((f"rps_{name}", float(e)), 0.0) + float(v.sum())
            order = metrics.heatmap(explain(model, x, y))
            ins_sum += metrics.insertion_curve(model, x, y, order, **ins_opts).sum(0).cpu()
            if attack_steps:
                attack = ExplanationAttack.aga(attack_eps, explain=method, steps=attack_steps, seed=seed)
                x_adv = attack(model, x, y, target_map=frame_map(*x.shape[-2:]).to(device))
                order_adv = metrics.heatmap(explain(model, x_adv, y))
                adv_sum += metrics.adv_insertion_curve(model, x, y, order_adv, **ins_opts).sum(0).cpu()
        n = len(y_all)
        for (metric, e), total in sums.items():
            rows.append(dict(method=method, metric=metric, eps=e, value=total / n, n=n))
        ins = ins_sum / n
        adv = adv_sum / n if attack_steps else torch.full_like(ins, float("nan"))
        rows.append(dict(method=method, metric="insertion", eps=0.0, value=float(ins.mean()) * 100, n=n))
        rows.append(dict(method=method, metric="adv_insertion", eps=attack_eps, value=float(adv.mean()) * 100, n=n))
        for kind, curve in (("insertion", ins), ("adv_insertion", adv)):
            curves += [dict(method=method, kind=kind, fraction=float(f), probability=float(p))
                       for f, p in zip(fractions, curve)]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def attacked_maps(model: torch.nn.Module, data: Prepared, *, n_images: int = 4, method: str = "gradient",
                  attack_eps: float = 2 / 255, attack_steps: int = 100, seed: int = 0,
                  device="cpu", insertion_baseline: str = "mean") -> dict[str, np.ndarray]:
    """AGA Fig. 3(a): ``n_images`` test images (seeded, class-stratified), their ``method`` heatmaps, the
    images after the targeted attack towards the frame map and the heatmaps of those; ``fill`` = the
    insertion baseline's colour (per channel, [0, 1]) for Fig. 2(b)'s reconstructions."""
    x_np, y_np = _take(data, evaluation_indices(data, n_images, seed))
    x = batches.to_tensor(x_np, device)
    y = torch.tensor(y_np, dtype=torch.long, device=device)
    attack = ExplanationAttack.aga(attack_eps, explain=method, steps=attack_steps, seed=seed)
    x_adv = attack(model, x, y, target_map=frame_map(*x.shape[-2:]).to(device))
    maps = [metrics.heatmap(attribute(method, model, z, y)).cpu().numpy() for z in (x, x_adv)]
    fill = insertion_settings(model, insertion_baseline)["baseline"]
    fill = np.broadcast_to(np.asarray(fill, dtype=np.float32), (x.shape[1],)).copy()
    return {"x": x.cpu().numpy(), "x_adv": x_adv.detach().cpu().numpy(), "map": maps[0], "map_adv": maps[1],
            "target": frame_map(*x.shape[-2:]).numpy(), "label": y_np, "fill": fill}


def crc_bound_curve(model: torch.nn.Module, data: Prepared, *, eps: list[float], max_samples: int | None = 100,
                    batch_size: int = 64, seed: int = 0, device="cpu", direction: str = "gaussian") -> pd.DataFrame:
    """AGA Fig. 3(b): mean and standard deviation over test images of Theorem 6's bound and of the CRC
    (``metrics.crc_upper_bound``, true class) at each eps, on a seeded class-stratified subset.
    ``direction`` = ``gaussian`` (default): x + eps * N(0, I) per pixel, RobustAGA's perturbation, so eps
    reads as the authors' axis; ``unit``: x + eps * d with a unit-L2 direction d."""
    x_all, y_all = _take(data, evaluation_indices(data, max_samples, seed))
    rows = []
    model.eval()
    for e in eps:
        parts = []
        for i in range(0, len(y_all), batch_size):
            x = batches.to_tensor(x_all[i:i + batch_size], device)
            y = torch.tensor(y_all[i:i + batch_size], dtype=torch.long, device=device)
            parts.append(torch.stack(metrics.crc_upper_bound(model, x, y, float(e), seed=seed + i,
                                                                   direction=direction)).cpu())
        bound, crc = torch.cat(parts, dim=1)
        rows.append(dict(eps=float(e), bound=float(bound.mean()), bound_std=float(bound.std()),
                         crc=float(crc.mean()), crc_std=float(crc.std()), n=len(y_all), direction=direction))
    return pd.DataFrame(rows)
