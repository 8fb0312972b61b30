"""The cross-paper matrix: one model under every robustness and explanation metric of the pipeline."""

from __future__ import annotations

import pandas as pd
import torch

from ... import metrics
from ...attacks import clean_accuracy, make_attack, robust_accuracy
from ...data import batches
from ...data.store import Prepared
from ...evaluation.robustness import subset
from ...explain.lime import Lime
from ..aga.evaluate import explanation_robustness
from ..sep.evaluate import sep_explanation_robustness

__all__ = ["cross_paper_row"]


def cross_paper_row(model: torch.nn.Module, data: Prepared, pairs: dict | None, *, settings: dict,
                    device="cpu") -> pd.DataFrame:
    """One model under every robustness and explanation metric the pipeline has (the cross-paper
    matrix): clean / FGSM / PGD accuracy at ``eps``, Grad-RPS (cosine), Insertion and Adv-Insertion
    (AGA, Gradient), SEP's expl at start / end (Grad x Input, over ``pairs``), and LIME's stability
    (the mean L2 distance between two LIME runs' unit-norm coefficients, grid features).

    settings: eps, max_samples, batch_size, rps_eps, n_noise, attack_eps, attack_steps, sep_attack
    (eps, steps, lr), lime (n_samples, patch, images), pgd (the foundation's PGD), seed."""
    s = settings
    x_all, y_all = subset(data.test_x, data.test_y, s.get("max_samples"))
    bs = s.get("batch_size", 256)
    eps = float(s["eps"])
    row = {"clean_acc": clean_accuracy(model, x_all, y_all, batch_size=bs, device=device)}
    row["fgsm_acc"] = robust_accuracy(model, x_all, y_all, make_attack("fgsm", eps), batch_size=bs,
                                              device=device)
    row["pgd_acc"] = robust_accuracy(model, x_all, y_all, make_attack("pgd", eps, **s["pgd"]), batch_size=bs,
                                             device=device)
    scores, _ = explanation_robustness(model, data, methods=["gradient"], rps_eps=[float(s["rps_eps"])],
                                       n_noise=s.get("n_noise", 10), attack_eps=float(s["attack_eps"]),
                                       attack_steps=s.get("attack_steps", 100), max_samples=s.get("max_samples"),
                                       batch_size=bs, seed=s.get("seed", 0), device=device, show_progress=False)
    grad = scores[scores.method == "gradient"].set_index("metric").value
    row.update(grad_rps=float(grad["rps_cosine"]), insertion=float(grad["insertion"]),
               adv_insertion=float(grad["adv_insertion"]))
    if pairs is not None:
        sep = sep_explanation_robustness(model, data, pairs, explain="input_x_gradient",
                                         attack_settings=s["sep_attack"], pgd_settings=s["pgd"], adv_eps=eps,
                                         max_samples=s.get("max_samples"), batch_size=bs, device=device,
                                         show_progress=False).iloc[0]
        row.update(expl_start=sep.expl_start, expl_end=sep.expl_end)
    lime_s = s.get("lime", {})
    k = int(lime_s.get("images", 8))
    x = batches.to_tensor(subset(data.test_x, data.test_y, k, s.get("seed", 0))[0], device)   # stratified, seeded
    runs = [Lime(n_samples=int(lime_s.get("n_samples", 200)), features="grid", patch=int(lime_s.get("patch", 4)),
                 seed=s.get("seed", 0) + r).explain(model, x).coef for r in range(2)]
    coefs = torch.stack(runs)
    coefs = coefs / coefs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    row["lime_stability"] = float(metrics.stability(coefs).mean())
    return pd.DataFrame([row])
