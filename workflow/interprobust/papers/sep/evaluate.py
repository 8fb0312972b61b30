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


RECORD_STEPS = (100, 300, 1000, 1500)   # issue #17: the explanation loss after these attack steps


def sep_attack(attack_settings: dict, explain) -> ExplanationAttack:
    """Dombrowski's attack with the config's ``sep.attack`` settings (eps resolved for the colour space)."""
    es = attack_settings.get("early_stop")
    return ExplanationAttack.dombrowski(float(attack_settings["eps"]), explain=explain,
                                        steps=int(attack_settings.get("steps", 1500)),
                                        lr=float(attack_settings.get("lr", 2e-4)),
                                        batch_size=attack_settings.get("batch_size"),
                                        record_steps=attack_settings.get("record_steps", RECORD_STEPS),
                                        early_stop=(es["window"], es["min_improvement"]) if es else None)


# settings that change how the work is split, not its result: left out of a resume fingerprint
_NOT_IN_RESULT = ("batch_size", "memory_fraction")


def _fingerprint(model, pairs: dict, name: str, attack_settings: dict, explain_options, examples: int) -> str:
    """What the per-chunk results of an evaluation depend on: the model's weights, the pairs, the
    attribution, the attack settings and which pairs' images are kept (a stale part is never reused)."""
    import hashlib
    import json
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for k in sorted(pairs):
        h.update(k.encode())
        h.update(np.ascontiguousarray(pairs[k]).tobytes())
    kept = {k: v for k, v in attack_settings.items() if k not in _NOT_IN_RESULT}
    h.update(json.dumps([name, kept, explain_options or {}, int(examples)], sort_keys=True, default=str).encode())
    return h.hexdigest()


def _parts(parts_dir, fingerprint: str):
    """The folder of per-chunk results, emptied of parts that belong to another fingerprint."""
    from pathlib import Path

    from ...io import write_text
    if parts_dir is None:
        return None
    d = Path(parts_dir)
    d.mkdir(parents=True, exist_ok=True)
    stamp = d / "fingerprint.txt"
    if not stamp.exists() or stamp.read_text().strip() != fingerprint:
        for f in d.glob("pairs_*.npz"):
            f.unlink()
        write_text(stamp, fingerprint + "\n")
    return d


def example_pairs(intra, n: int) -> np.ndarray:
    """The pairs whose attacked images are kept (Fig. 1(a)): ``n`` pair indices, half (rounded up) spread
    evenly over the intra-cluster pairs and the rest over the inter-cluster pairs, in increasing order."""
    intra = np.asarray(intra, dtype=bool)

    def spread(idx, k):
        k = min(int(k), len(idx))
        return idx[np.unique(np.linspace(0, len(idx) - 1, k).round().astype(np.int64))] if k > 0 else idx[:0]

    same, other = np.flatnonzero(intra), np.flatnonzero(~intra)
    k_same = min(len(same), (int(n) + 1) // 2)
    picked = np.concatenate([spread(same, k_same), spread(other, int(n) - k_same)])
    return np.sort(picked).astype(np.int64)


def sep_explanation_robustness(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str,
                               attack_settings: dict, pgd_settings: dict, adv_eps: float,
                               max_samples: int | None = None, batch_size: int = 256, explain_options: dict | None = None,
                               device="cpu", show_progress: bool = True, parts_dir=None, examples: int = 0):
    """One row of a SEP table: "expl at start" / "expl at end" (the mean explanation loss over all pairs
    before / after Dombrowski's targeted attack of each victim towards its target's explanation; also
    over the intra- and inter-cluster pairs; in units of 1e-7), "expl at end" as it stood after each of
    ``attack_settings["record_steps"]`` (``expl_end_at<k>``), the mean attack steps taken, the share of
    attacked victims whose prediction was kept, clean accuracy and PGD accuracy at ``adv_eps`` on the
    test set.

    Memory: with ``attack_settings["batch_size"]`` null, the pairs optimised at once are planned from
    ``memory_fraction`` (default 0.8) of the free memory (:meth:`ExplanationAttack.plan_batch_size`),
    halved on an out-of-memory error. Resume: the pairs run in chunks of ``pairs_per_call``; with
    ``parts_dir`` each chunk's per-pair results are saved there (atomically) and a rerun reuses them
    (only when the model, the pairs and the settings are the same: a fingerprint). ``examples`` > 0:
    also returns the attacked images of that many pairs (:func:`example_pairs`), as ``(row, examples)``."""
    from ... import memory
    from ...io import read_arrays, write_arrays
    victims, targets = _pair_images(data, pairs, device)
    intra = torch.as_tensor(pairs["intra"], dtype=torch.bool)
    options = (explain_options or {}).get(explain, {})
    name, explain = explain, named_explainer(explain, **options)
    attack = sep_attack(attack_settings, explain)
    fraction = float(attack_settings.get("memory_fraction", 0.8))
    model.eval()
    n = len(victims)
    parts = _parts(parts_dir, _fingerprint(model, pairs, name, attack_settings, options, examples) if parts_dir else "")
    keep = example_pairs(pairs["intra"], examples)
    print(f"explanation attack: {n} pairs x {attack.steps} steps")
    chunk = int(attack_settings.get("pairs_per_call", 4096))
    planned, footprint, collected = attack.batch_size, None, []
    for i in progress(range(0, n, chunk), desc="pairs", disable=not show_progress):
        j = min(i + chunk, n)
        f = None if parts is None else parts / f"pairs_{i:07d}_{j:07d}.npz"
        if f is not None and f.exists():
            collected.append(read_arrays(f))
            continue
        tmaps = explanation_maps(model, targets[i:j], explain)
        v = victims[i:j]
        if planned is None:
            planned, footprint, budget = attack.plan_batch_size(model, v, tmaps, fraction)
            print(f"memory plan: {footprint.per_item / 2 ** 20:.2f} MiB per pair + {footprint.fixed / 2 ** 20:.1f} MiB; "
                  f"budget {budget / 2 ** 30:.2f} GiB ({fraction:g} of free) -> {planned} pairs at once")
            ig_steps = int(options.get("steps", 50))
            if footprint.bytes(1) > budget and name == "integrated_gradients" and attack.path_chunk is None:
                # one pair's graph over all path points does not fit: chunk the points
                attack.path_chunk = max(1, int(ig_steps * (budget - footprint.fixed) / max(footprint.per_item, 1)))
                print(f"one pair does not fit: integrated gradients' {ig_steps} path points in chunks of "
                      f"{attack.path_chunk}")
        out = []
        for a, b, res in memory.run_chunked(lambda a, b: attack.run(model, v[a:b], target_map=tmaps[a:b]),
                                            0, j - i, planned, log=print):
            if b < j - i:                                  # a full piece: keep a size the back-off lowered
                planned = min(planned, b - a)
            out.append(res)
        sel = keep[(keep >= i) & (keep < j)]
        part = {"expl_start": torch.cat([r.expl_start for r in out]).cpu().numpy(),
                "expl_end": torch.cat([r.expl_end for r in out]).cpu().numpy(),
                "kept": torch.cat([r.pred_kept for r in out]).cpu().numpy(),
                "expl_at": torch.cat([r.expl_at for r in out]).cpu().numpy(),
                "steps_run": torch.cat([r.steps_run for r in out]).cpu().numpy(),
                "example_idx": sel, "example_x_adv": torch.cat([r.x_adv for r in out])[sel - i].cpu().numpy()}
        if f is not None:
            write_arrays(f, part)
        collected.append(part)

    def cat(key, dtype=torch.float64):
        return torch.as_tensor(np.concatenate([p[key] for p in collected]) if collected else np.zeros(0)).to(dtype)

    start, end, kept = cat("expl_start"), cat("expl_end"), cat("kept", torch.bool)
    x_all, y_all = subset(data.test_x, data.test_y, max_samples)
    clean = clean_accuracy(model, x_all, y_all, batch_size=batch_size, device=device)
    pgd = make_attack("pgd", adv_eps, **pgd_settings)
    adv = robust_accuracy(model, x_all, y_all, pgd, batch_size=batch_size, device=device)
    es = attack_settings.get("early_stop")
    row = dict(explain=name, pairs=n, expl_start=float(start.mean()) * SEP_SCALE,
               expl_end=float(end.mean()) * SEP_SCALE, pred_kept=float(kept.float().mean()) * 100,
               clean_acc=clean, adv_acc=adv, adv_eps=adv_eps, attack_steps=attack.steps,
               early_stop=f"window {es['window']}, < {es['min_improvement']:g}" if es else "off",
               steps_run=float(cat("steps_run").mean()) if n else 0.0)
    if collected:
        at = np.concatenate([p["expl_at"] for p in collected]).reshape(n, -1).astype(np.float64)
        for c, k in enumerate(attack.record_steps):
            row[f"expl_end_at{k}"] = float(np.mean(at[:, c])) * SEP_SCALE if k <= attack.steps else float("nan")
    if footprint is not None:
        row["mib_per_pair"] = footprint.per_item / 2 ** 20
    for name, sel in (("intra", intra), ("inter", ~intra)):
        row[f"expl_start_{name}"] = float(start[sel].mean()) * SEP_SCALE if sel.any() else float("nan")
        row[f"expl_end_{name}"] = float(end[sel].mean()) * SEP_SCALE if sel.any() else float("nan")
    df = pd.DataFrame([row])
    if not examples:
        return df
    idx = np.concatenate([p["example_idx"] for p in collected]).astype(np.int64)
    x_adv = np.concatenate([p["example_x_adv"] for p in collected])
    return df, _examples(model, explain, victims, targets, np.asarray(pairs["intra"]), idx, x_adv)


def _examples(model, explain, victims, targets, intra, idx, x_adv) -> dict[str, np.ndarray]:
    """Fig. 1(a)'s arrays for the pairs ``idx``: victim, target and attacked images and their maps (the
    victim's and the attacked one's explain the clean victim's class)."""
    at = torch.as_tensor(idx, device=victims.device)
    xv, xt = victims[at], targets[at]
    xa = torch.as_tensor(x_adv).to(device=victims.device, dtype=victims.dtype)
    ex = {"pair": idx, "intra": intra[idx], "victim": xv.cpu().numpy(), "target": xt.cpu().numpy(),
          "x_adv": xa.cpu().numpy()}
    if len(idx):
        y = _clean_class(model, xv)
        ex.update(victim_map=explanation_maps(model, xv, explain, y).cpu().numpy(),
                  target_map=explanation_maps(model, xt, explain).cpu().numpy(),
                  adv_map=explanation_maps(model, xa, explain, y).cpu().numpy())
    return ex


def _clean_class(model, x: torch.Tensor) -> torch.Tensor:
    """The clean prediction of each image (the class SEP's attack and landscape explain)."""
    with torch.no_grad():
        return model(x).argmax(1)


def sep_landscape(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str, sigmas: list[float],
                  draws: int = 4, seed: int = 0, chunk: int = 1024, explain_options: dict | None = None,
                  device="cpu") -> pd.DataFrame:
    """SEP Eq. 3 (Fig. 3 / 7): the mean over all pairs (and ``draws`` Gaussian draws) of the explanation
    loss between h(x_v + sigma * xi) and h(x_t), xi ~ N(0, I), for each sigma (in units of 1e-7). The
    noisy victim's map explains the *clean* victim's predicted class, as the attack does (the noise may
    change the prediction; the explanation asked about stays the clean one's). Beside it (Fig. 1(b))
    ``ce_loss``: the mean cross-entropy of the noisy victims with their true labels (the classification
    loss landscape; labels are read here only, never for the pairs)."""
    import torch.nn.functional as F
    explain = named_explainer(explain, **(explain_options or {}).get(explain, {}))
    victims, targets = _pair_images(data, pairs, device)
    labels = torch.as_tensor(np.asarray(data.test_y)[np.asarray(pairs["images"])[np.asarray(pairs["victim"])]],
                             dtype=torch.long, device=victims.device)
    gen = torch.Generator(device=victims.device).manual_seed(int(seed))
    rows = []
    model.eval()
    tmaps = torch.cat([explanation_maps(model, targets[i:i + chunk], explain) for i in range(0, len(targets), chunk)])
    y_clean = torch.cat([_clean_class(model, victims[i:i + chunk]) for i in range(0, len(victims), chunk)])
    for s in sigmas:
        total, ce = 0.0, torch.zeros((), dtype=torch.float64, device=victims.device)
        for _ in range(int(draws)):
            for i in range(0, len(victims), chunk):
                v = victims[i:i + chunk]
                noisy = v + float(s) * torch.randn(v.shape, generator=gen, device=v.device, dtype=v.dtype)
                maps = explanation_maps(model, noisy, explain, y_clean[i:i + chunk])
                total += float(explanation_loss(maps, tmaps[i:i + chunk]).sum())
                with torch.no_grad():
                    ce += F.cross_entropy(model(noisy), labels[i:i + chunk], reduction="sum").double()
        n = len(victims) * int(draws)
        rows.append(dict(sigma=float(s), expl_loss=total / n * SEP_SCALE, ce_loss=float(ce) / n))
    return pd.DataFrame(rows)


def cluster_examples(clusters, n: int) -> np.ndarray:
    """(n', 3) positions among the representative images, per row (anchor, same cluster, other cluster):
    the nearest image of cluster c, the next one of c and the nearest of cluster c + 1 (cyclic), for the
    first n clusters that have two images (Fig. 2 / 8)."""
    c = np.asarray(clusters)
    ks = list(dict.fromkeys(c.tolist()))
    rows = []
    for i, k in enumerate(ks):
        own = np.flatnonzero(c == k)
        other = np.flatnonzero(c == ks[(i + 1) % len(ks)])
        if len(own) >= 2 and len(ks) > 1:
            rows.append((own[0], own[1], other[0]))
        if len(rows) == n:
            break
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def sep_saliency(model: torch.nn.Module, data: Prepared, pairs: dict, *, explain: str, n_images: int = 4,
                 device="cpu") -> dict[str, np.ndarray]:
    """SEP Fig. 4: the first ``n_images`` representative images and their sum-normalised maps; and Fig. 2 / 8:
    same- vs other-cluster examples (:func:`cluster_examples`): ``cl_x`` (n, 3, C, H, W), ``cl_maps``
    (n, 3, H, W), ``cl_loss`` (n, 2) the explanation loss (x1e-7) of the anchor's map to the same-cluster
    and to the other-cluster image's map, ``cl_cluster`` (n, 3)."""
    x = _test_images(data, np.asarray(pairs["images"])[:n_images], device)
    model.eval()
    out = {"x": x.cpu().numpy(), "maps": explanation_maps(model, x, explain).detach().cpu().numpy()}
    rows = cluster_examples(pairs["cluster"], n_images)
    if len(rows):
        xs = _test_images(data, np.asarray(pairs["images"])[rows.reshape(-1)], device)
        maps = explanation_maps(model, xs, explain).reshape(len(rows), 3, *xs.shape[-2:])
        loss = torch.stack([explanation_loss(maps[:, 0], maps[:, 1]), explanation_loss(maps[:, 0], maps[:, 2])], 1)
        out.update(cl_x=xs.reshape(len(rows), 3, *xs.shape[1:]).cpu().numpy(), cl_maps=maps.cpu().numpy(),
                   cl_loss=(loss * SEP_SCALE).cpu().numpy(), cl_cluster=np.asarray(pairs["cluster"])[rows])
    return out
