"""Model evaluation: clean accuracy, accuracy under attack sweeps, accuracy per corruption.

Returns tidy pandas DataFrames (one row per model x attack x eps, or per corruption x severity) so
tables and figures can be built from cached CSVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import attacks
from .data import batches
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


def frame_map(height: int, width: int, border: int | None = None) -> torch.Tensor:
    """AGA's Adv-Insertion target: ones on a frame, zero inside (border 5 px at 32 px, 35 at 224)."""
    b = max(1, round(5 * min(height, width) / 32)) if border is None else int(border)
    m = torch.ones(height, width)
    m[b:height - b, b:width - b] = 0.0
    return m


def explanation_robustness(model: torch.nn.Module, data: Prepared, *, methods: list[str], rps_eps: list[float],
                           n_noise: int = 10, attack_eps: float = 2 / 255, attack_steps: int = 100,
                           max_samples: int | None = None, batch_size: int = 64, seed: int = 0, device="cpu",
                           show_progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AGA's metrics for one model: per attribution method, RPS (cosine / Pearson / SSIM) at each eps,
    Insertion and Adv-Insertion (the targeted attack towards a frame map, prediction kept), all on the
    true class of the first ``max_samples`` test images, in batches.

    Returns (scores: method, metric, eps, value, n — one row each, plus clean accuracy;
    curves: method, kind (insertion | adv_insertion), fraction, probability — means over the images).
    Adv-Insertion needs a differentiable attribution: for ``lrp`` it is left out (NaN).
    """
    from . import metrics
    from .explain.attributions import attribute

    x_all, y_all = _subset(data.test_x, data.test_y, max_samples)
    fractions = metrics.INSERTION_FRACTIONS
    rows, curves = [], []
    acc = attacks.clean_accuracy(model, x_all, y_all, batch_size=batch_size, device=device)
    rows.append(dict(method="none", metric="accuracy", eps=0.0, value=acc, n=len(y_all)))
    model.eval()
    for method in progress(methods, desc="attributions", disable=not show_progress):
        def explain(m, x, t, create_graph=False, _method=method):
            return attribute(_method, m, x, t, create_graph=create_graph)

        sums: dict[tuple, float] = {}
        ins_sum = torch.zeros(len(fractions))
        adv_sum = torch.zeros(len(fractions))
        differentiable = method != "lrp"
        for i in range(0, len(y_all), batch_size):
            x = batches.to_tensor(x_all[i:i + batch_size], device)
            y = torch.tensor(y_all[i:i + batch_size], dtype=torch.long, device=device)
            for e in rps_eps:
                r = metrics.rps(model, explain, x, y, float(e), n_noise=n_noise, seed=seed + i)
                for name, v in r.items():
                    sums[(f"rps_{name}", float(e))] = sums.get((f"rps_{name}", float(e)), 0.0) + float(v.sum())
            order = metrics.heatmap(explain(model, x, y))
            ins_sum += metrics.insertion_curve(model, x, y, order, fractions=fractions).sum(0).cpu()
            if differentiable:
                attack = attacks.ExplanationAttack.aga(attack_eps, explain=method, steps=attack_steps, seed=seed)
                x_adv = attack(model, x, y, target_map=frame_map(*x.shape[-2:]).to(device))
                order_adv = metrics.heatmap(explain(model, x_adv, y))
                adv_sum += metrics.adv_insertion_curve(model, x, y, order_adv, fractions=fractions).sum(0).cpu()
        n = len(y_all)
        for (metric, e), total in sums.items():
            rows.append(dict(method=method, metric=metric, eps=e, value=total / n, n=n))
        ins = ins_sum / n
        adv = adv_sum / n if differentiable else torch.full_like(ins, float("nan"))
        rows.append(dict(method=method, metric="insertion", eps=0.0, value=float(ins.mean()) * 100, n=n))
        rows.append(dict(method=method, metric="adv_insertion", eps=attack_eps, value=float(adv.mean()) * 100, n=n))
        for kind, curve in (("insertion", ins), ("adv_insertion", adv)):
            curves += [dict(method=method, kind=kind, fraction=float(f), probability=float(p))
                       for f, p in zip(fractions, curve)]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def attacked_maps(model: torch.nn.Module, data: Prepared, *, n_images: int = 4, method: str = "gradient",
                  attack_eps: float = 2 / 255, attack_steps: int = 100, seed: int = 0,
                  device="cpu") -> dict[str, np.ndarray]:
    """AGA Fig. 3(a): the first ``n_images`` test images, their ``method`` heatmaps, the images after the
    targeted attack towards the frame map (prediction kept) and the heatmaps of those."""
    from .explain.attributions import attribute
    from .metrics import heatmap
    x_np, y_np = _subset(data.test_x, data.test_y, n_images)
    x = batches.to_tensor(x_np, device)
    y = torch.tensor(y_np, dtype=torch.long, device=device)
    attack = attacks.ExplanationAttack.aga(attack_eps, explain=method, steps=attack_steps, seed=seed)
    x_adv = attack(model, x, y, target_map=frame_map(*x.shape[-2:]).to(device))
    maps = [heatmap(attribute(method, model, z, y)).cpu().numpy() for z in (x, x_adv)]
    return {"x": x.cpu().numpy(), "x_adv": x_adv.detach().cpu().numpy(), "map": maps[0], "map_adv": maps[1],
            "target": frame_map(*x.shape[-2:]).numpy(), "label": y_np}


def crc_bound_curve(model: torch.nn.Module, data: Prepared, *, eps: list[float], max_samples: int | None = 100,
                    batch_size: int = 64, seed: int = 0, device="cpu") -> pd.DataFrame:
    """AGA Fig. 3(b): mean and standard deviation over test images of Theorem 6's bound and of the CRC
    (``metrics.crc_upper_bound``, true class) at each eps."""
    from .metrics import crc_upper_bound
    x_all, y_all = _subset(data.test_x, data.test_y, max_samples)
    rows = []
    model.eval()
    for e in eps:
        parts = []
        for i in range(0, len(y_all), batch_size):
            x = batches.to_tensor(x_all[i:i + batch_size], device)
            y = torch.tensor(y_all[i:i + batch_size], dtype=torch.long, device=device)
            parts.append(torch.stack(crc_upper_bound(model, x, y, float(e), seed=seed + i)).cpu())
        bound, crc = torch.cat(parts, dim=1)
        rows.append(dict(eps=float(e), bound=float(bound.mean()), bound_std=float(bound.std()),
                         crc=float(crc.mean()), crc_std=float(crc.std()), n=len(y_all)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- SEP
SEP_SCALE = 1e7   # SEP's tables print explanation losses in units of 1e-7


def sep_pairs(feature_model: torch.nn.Module, data: Prepared, *, clusters: int = 10, per_cluster: int = 15,
              seed: int = 0, batch_size: int = 256, device="cpu") -> dict[str, np.ndarray]:
    """SEP's representative images (test-set indices, their cluster) from ``feature_model``'s
    penultimate features, and every ordered (victim, target) pair among them; labels are never read."""
    from .pairs import ordered_pairs, penultimate_features, representative_images
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
    from .attacks import ExplanationAttack, explanation_maps, named_explainer
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
    x_all, y_all = _subset(data.test_x, data.test_y, max_samples)
    clean = attacks.clean_accuracy(model, x_all, y_all, batch_size=batch_size, device=device)
    pgd = make_attack("pgd", pgd_settings, adv_eps)
    adv = attacks.robust_accuracy(model, x_all, y_all, pgd, batch_size=batch_size, device=device)
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
    from .attacks import explanation_loss, explanation_maps, named_explainer
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
    from .attacks import explanation_maps
    x = _test_images(data, np.asarray(pairs["images"])[:n_images], device)
    model.eval()
    return {"x": x.cpu().numpy(), "maps": explanation_maps(model, x, explain).detach().cpu().numpy()}


# ------------------------------------------------------------------------------------ cross-paper matrix
def cross_paper_row(model: torch.nn.Module, data: Prepared, pairs: dict | None, *, settings: dict,
                    device="cpu") -> pd.DataFrame:
    """One model under every robustness and explanation metric the pipeline has (the cross-paper
    matrix): clean / FGSM / PGD accuracy at ``eps``, Grad-RPS (cosine), Insertion and Adv-Insertion
    (AGA, Gradient), SEP's expl at start / end (Grad x Input, over ``pairs``), and LIME's stability
    (the mean L2 distance between two LIME runs' unit-norm coefficients, grid features).

    settings: eps, max_samples, batch_size, rps_eps, n_noise, attack_eps, attack_steps, sep_attack
    (eps, steps, lr), lime (n_samples, patch, images), pgd (the foundation's PGD), seed."""
    from . import metrics
    from .explain.lime import Lime
    s = settings
    x_all, y_all = _subset(data.test_x, data.test_y, s.get("max_samples"))
    bs = s.get("batch_size", 256)
    eps = float(s["eps"])
    row = {"clean_acc": attacks.clean_accuracy(model, x_all, y_all, batch_size=bs, device=device)}
    row["fgsm_acc"] = attacks.robust_accuracy(model, x_all, y_all, make_attack("fgsm", {}, eps), batch_size=bs,
                                              device=device)
    row["pgd_acc"] = attacks.robust_accuracy(model, x_all, y_all, make_attack("pgd", s["pgd"], eps), batch_size=bs,
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
    x = batches.to_tensor(data.test_x[:k], device)
    runs = [Lime(n_samples=int(lime_s.get("n_samples", 200)), features="grid", patch=int(lime_s.get("patch", 4)),
                 seed=s.get("seed", 0) + r).explain(model, x).coef for r in range(2)]
    coefs = torch.stack(runs)
    coefs = coefs / coefs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    row["lime_stability"] = float(metrics.stability(coefs).mean())
    return pd.DataFrame([row])
