"""SEP's evaluation: the representative (victim, target) pairs, the explanation loss before / after the
targeted attack (its tables), the loss landscape (Eq. 3, Fig. 3 / 7) and saliency maps (Fig. 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...attacks import clean_accuracy, make_attack, robust_accuracy
from ...data import batches
from ...data.store import Prepared
from ...evaluation.robustness import subset
from ...explain.manipulation import ExplanationAttack, explanation_maps, named_explainer
from ...explain.maps import explanation_loss
from ...io import progress
from .pairs import ordered_pairs, penultimate_features, representative_images

__all__ = ["SEP_SCALE", "sep_pairs", "sep_explanation_robustness", "sep_landscape", "sep_saliency"]


SEP_SCALE = 1e7   # SEP's tables print explanation losses in units of 1e-7


def sep_pairs(feature_model: torch.nn.Module, data: Prepared, *, clusters: int = 10, per_cluster: int = 15,
              seed: int = 0, batch_size: int = 256, device="cpu") -> dict[str, np.ndarray]:
    """SEP's representative images (test-set indices, their cluster) from ``feature_model``'s
    penultimate features, and every ordered (victim, target) pair among them; labels are never read."""
    feats = penultimate_features(feature_model, data.test_x, batch_size=batch_size, device=device)
    rep = representative_images(feats, k=clusters, per_cluster=per_cluster, seed=seed)
    victim, target, intra = ordered_pairs(rep.clusters)
    return {"images": np.asarray(rep.indices), "cluster": np.asarray(rep.clusters), "victim": victim,
            "target": target, "intra": intra}


def _test_images(data: Prepared, idx, device) -> torch.Tensor:
    """The test images at ``idx``, in that order (read in increasing index order from the memory map)."""
    idx = np.asarray(idx)
    return batches.to_tensor(np.asarray(data.test_x[np.sort(idx)])[np.argsort(np.argsort(idx))], device)


def _pair_images(data: Prepared, pairs: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = _test_images(data, pairs["images"], device)
    return x[torch.as_tensor(pairs["victim"], device=device)], x[torch.as_tensor(pairs["target"], device=device)]


def sep_explanation_robustness(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str,
                               attack_settings: dict, pgd_settings: dict, adv_eps: float,
                               max_samples: int | None = None, batch_size: int = 256, explain_options: dict | None = None,
                               device="cpu", show_progress: bool = True) -> pd.DataFrame:
    """One row of a SEP table: "expl at start" / "expl at end" (the mean explanation loss over all pairs
    before / after Dombrowski's targeted attack of each victim towards its target's explanation; also
    over the intra- and inter-cluster pairs; in units of 1e-7), the share of attacked victims whose
    prediction was kept, clean accuracy and PGD accuracy at ``adv_eps`` on the test set."""
    victims, targets = _pair_images(data, pairs, device)
    intra = torch.as_tensor(pairs["intra"], dtype=torch.bool)
    name, explain = explain, named_explainer(explain, **(explain_options or {}).get(explain, {}))
    attack = ExplanationAttack.dombrowski(float(attack_settings["eps"]), explain=explain,
                                          steps=int(attack_settings.get("steps", 1500)),
                                          lr=float(attack_settings.get("lr", 2e-4)),
                                          batch_size=attack_settings.get("batch_size"))
    model.eval()
    print(f"explanation attack: {len(victims)} pairs x {attack.steps} steps")
    start, end, kept = [], [], []
    chunk = int(attack_settings.get("pairs_per_call", 4096))
    for i in progress(range(0, len(victims), chunk), desc="pairs", disable=not show_progress):
        tmaps = explanation_maps(model, targets[i:i + chunk], explain)
        res = attack.run(model, victims[i:i + chunk], target_map=tmaps)
        start.append(res.expl_start.cpu())
        end.append(res.expl_end.cpu())
        kept.append(res.pred_kept.cpu())
    start, end, kept = torch.cat(start).double(), torch.cat(end).double(), torch.cat(kept)
    x_all, y_all = subset(data.test_x, data.test_y, max_samples)
    clean = clean_accuracy(model, x_all, y_all, batch_size=batch_size, device=device)
    pgd = make_attack("pgd", adv_eps, **pgd_settings)
    adv = robust_accuracy(model, x_all, y_all, pgd, batch_size=batch_size, device=device)
    row = dict(explain=name, pairs=len(victims), expl_start=float(start.mean()) * SEP_SCALE,
               expl_end=float(end.mean()) * SEP_SCALE, pred_kept=float(kept.float().mean()) * 100,
               clean_acc=clean, adv_acc=adv, adv_eps=adv_eps)
    for name, sel in (("intra", intra), ("inter", ~intra)):
        row[f"expl_start_{name}"] = float(start[sel].mean()) * SEP_SCALE if sel.any() else float("nan")
        row[f"expl_end_{name}"] = float(end[sel].mean()) * SEP_SCALE if sel.any() else float("nan")
    return pd.DataFrame([row])


def sep_landscape(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str, sigmas: list[float],
                  draws: int = 4, seed: int = 0, chunk: int = 1024, explain_options: dict | None = None,
                  device="cpu") -> pd.DataFrame:
    """SEP Eq. 3 (Fig. 3 / 7): the mean over all pairs (and ``draws`` Gaussian draws) of the explanation
    loss between h(x_v + sigma * xi) and h(x_t), xi ~ N(0, I), for each sigma (in units of 1e-7)."""
    explain = named_explainer(explain, **(explain_options or {}).get(explain, {}))
    victims, targets = _pair_images(data, pairs, device)
    gen = torch.Generator(device=victims.device).manual_seed(int(seed))
    rows = []
    model.eval()
    tmaps = torch.cat([explanation_maps(model, targets[i:i + chunk], explain) for i in range(0, len(targets), chunk)])
    for s in sigmas:
        total = 0.0
        for _ in range(int(draws)):
            for i in range(0, len(victims), chunk):
                v = victims[i:i + chunk]
                noisy = v + float(s) * torch.randn(v.shape, generator=gen, device=v.device, dtype=v.dtype)
                total += float(explanation_loss(explanation_maps(model, noisy, explain), tmaps[i:i + chunk]).sum())
        rows.append(dict(sigma=float(s), expl_loss=total / (len(victims) * int(draws)) * SEP_SCALE))
    return pd.DataFrame(rows)


def sep_saliency(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str, n_images: int = 4,
                 device="cpu") -> dict[str, np.ndarray]:
    """SEP Fig. 4: the first ``n_images`` representative images and their sum-normalised maps."""
    x = _test_images(data, np.asarray(pairs["images"])[:n_images], device)
    model.eval()
    return {"x": x.cpu().numpy(), "maps": explanation_maps(model, x, explain).detach().cpu().numpy()}
