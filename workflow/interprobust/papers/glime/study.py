"""G-LIME's experiments (Li et al. 2022) on one model: superpixels and their clusters on a reference set,
global priors, every estimator of the paper's Table 1 on one shared set of LIME samples per image, the
metrics of Tables 2-7 (local fidelity, superpixel deletion / insertion, stability) and the baselines of
Table 5 (Integrated Gradients, SmoothGrad, Grad-CAM) on the same superpixels.

Plain data in, plain data out: uint8 images (N, H, W, C) and arrays in, pandas tables and numpy arrays
out; the CLI caches them, tables and figures read the caches. The explained class is the model's
prediction on the clean image (as InterpretDL), for LIME's targets and for deletion / insertion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import metrics
from ...data import batches
from ...explain import glime as G
from ...explain.attributions import attribute
from ...explain.lime import Lime, LimeResult, superpixels
from ...io import progress

PRIOR_SHORT = {"NormLIME": "N", "AVG": "AVG", "SP": "SP", "Homogeneity": "H"}


def estimators(priors: list[str]) -> dict[str, tuple[str, str | None]]:
    """Table 1's estimators: name -> (GLime method, prior kind or None), for the given prior kinds."""
    out = {"LIME": ("ridge", None), "LIME-Path": ("path", None)}
    for kind in priors:
        out[f"G-LIME-{PRIOR_SHORT[kind]}"] = ("ridge", kind)
        out[f"G-LIME-{PRIOR_SHORT[kind]}-Path"] = ("path", kind)
    return out


def image_sets(data, reference_images: int, test_images: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference set (the last ``reference_images`` training images: priors and clusters) and the
    explained test images (the first ``test_images``), uint8 (N, H, W, C)."""
    if data.train_x is None or len(data.train_x) < reference_images:
        raise ValueError(f"glime.reference_images = {reference_images} needs that many training images; "
                         f"{data.path} has {0 if data.train_x is None else len(data.train_x)}")
    return np.array(data.train_x[-reference_images:]), np.array(data.test_x[:test_images])


def cluster_examples(ref_x: np.ndarray, ref_seg: np.ndarray, ref_ids: np.ndarray, *, clusters: int = 3,
                     per_cluster: int = 6, fill: int = 128) -> dict[str, np.ndarray]:
    """Fig. 3: the ``clusters`` most populous clusters and up to ``per_cluster`` of their superpixels, each
    shown as its image with everything outside the superpixel grey: (clusters, per_cluster, H, W, C)."""
    ids = per_image(ref_ids, ref_seg)
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(ids)])
    label = np.concatenate([np.arange(len(v)) for v in ids])
    top = np.argsort(-np.bincount(ref_ids), kind="stable")[:clusters]
    out = np.full((len(top), per_cluster, *ref_x.shape[1:]), fill, dtype=np.uint8)
    for c, k in enumerate(top):
        for j, sp in enumerate(np.flatnonzero(ref_ids == k)[:per_cluster]):
            inside = ref_seg[owner[sp]] == label[sp]
            out[c, j][inside] = ref_x[owner[sp]][inside]
    return {"examples": out, "example_clusters": top}


def segment(images: np.ndarray, segmentation: dict) -> np.ndarray:
    """Superpixels (N, H, W) of uint8 images: ``segmentation`` = {method, **scikit-image kwargs}."""
    s = dict(segmentation)
    return superpixels(images, s.pop("method", "quickshift"), **s)


def per_image(flat: np.ndarray, segments: np.ndarray) -> list[np.ndarray]:
    """Split a flat per-superpixel array (image 0's superpixels, then image 1's, ...) per image."""
    counts = segments.reshape(len(segments), -1).max(1) + 1
    return np.split(np.asarray(flat), np.cumsum(counts)[:-1])


def per_image_prefix(flat: np.ndarray, segments: np.ndarray, k: int) -> np.ndarray:
    """The flat per-superpixel entries of the first ``k`` images."""
    return np.concatenate(per_image(flat, segments)[:k])


def cluster_superpixels(model, ref_x: np.ndarray, ref_seg: np.ndarray, test_x: np.ndarray, test_seg: np.ndarray, *,
                        k: int = 100, seed: int = 0, device="cpu") -> dict[str, np.ndarray]:
    """Alg. 2: features of every reference superpixel from the model's first stage, K-Means (k), and the
    nearest centre of every reference and test superpixel (flat, image-major)."""
    stem = G.first_stage(model).to(device)

    def feats(x, seg):
        return G.superpixel_features(stem, batches.to_tensor(x, device), torch.from_numpy(seg).to(device))

    f_ref = feats(ref_x, ref_seg)
    centres = G.fit_clusters(f_ref, k=k, seed=seed)
    return {"centres": centres, "ref_ids": G.assign_clusters(f_ref, centres),
            "test_ids": G.assign_clusters(feats(test_x, test_seg), centres)}


def _lime(n_samples: int, seed: int, settings: dict) -> Lime:
    return Lime(n_samples=n_samples, features="superpixels", fill=settings.get("lime_fill", "mean"),
                fill_value=settings.get("lime_fill_value", 0.0), kernel_width=settings.get("kernel_width", 0.25),
                alpha=settings.get("alpha", 1.0), seed=seed)


def _explain_chunks(lime: Lime, model, x: np.ndarray, seg: np.ndarray, device, chunk: int,
                    desc: str | None = None):
    """(slice, images, segments, LimeResult) per chunk of ``chunk`` images (bounded memory)."""
    for i in progress(range(0, len(x), chunk), desc=desc, disable=desc is None):
        xi = batches.to_tensor(x[i:i + chunk], device)
        si = torch.from_numpy(seg[i:i + chunk]).to(device)
        yield slice(i, i + len(xi)), xi, si, lime.explain(model, xi, None, si)


def build_priors(model, ref_x: np.ndarray, ref_seg: np.ndarray, ref_ids: np.ndarray, *, k: int, n_samples: int,
                 priors: list[str], settings: dict, seed: int = 0, device="cpu",
                 chunk: int = 16) -> dict[str, np.ndarray]:
    """Sec. 2.2: LIME (Ridge on all superpixels) on every reference image, each explanation mapped to
    the k clusters (superpixels of one cluster averaged) -> B (m, k); the explained class (prediction)
    of each row; and each global prior of ``priors`` (Homogeneity's classes: those predictions)."""
    ids = per_image(ref_ids, ref_seg)
    rows, classes = [], []
    model.eval()
    for sl, xi, _, res in _explain_chunks(_lime(n_samples, seed, settings), model, ref_x, ref_seg, device, chunk,
                                          desc="LIME on the reference set"):
        with torch.no_grad():
            classes.append(model(xi).argmax(1).cpu().numpy())
        coef = res.coef.double().cpu().numpy()
        for j, img in enumerate(range(sl.start, sl.stop)):
            rows.append(G.to_cluster_space(coef[j, :len(ids[img])], ids[img], k))
    B, cls = np.stack(rows), np.concatenate(classes)
    out = {"B": B, "classes": cls, "kinds": np.array(priors)}
    for kind in priors:
        out[f"prior_{kind}"] = G.global_prior(B, kind, cls)
    return out


def _padded(rankings: list[np.ndarray]) -> torch.Tensor:
    k = max(len(r) for r in rankings)
    out = torch.full((len(rankings), k), -1, dtype=torch.long)
    for i, r in enumerate(rankings):
        out[i, :len(r)] = torch.as_tensor(np.asarray(r, dtype=np.int64))
    return out


def deletion_insertion(model, x: torch.Tensor, target: torch.Tensor, segments: torch.Tensor,
                       rankings: list[np.ndarray], settings: dict) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Per image: deletion and insertion AUC (mean probability over the steps) of a superpixel ranking."""
    curves = metrics.deletion_insertion_curves(model, x, target, segments, _padded(rankings),
                                               fill=settings.get("deletion_fill", 0.5),
                                               steps=settings.get("deletion_steps"))
    return (metrics.auc(curves.deletion).cpu().numpy(), metrics.auc(curves.insertion).cpu().numpy(),
            (curves.deletion.cpu().numpy(), curves.insertion.cpu().numpy()))


def _prior_rows(prior_k: np.ndarray, ids: list[np.ndarray], sl: slice) -> list[np.ndarray]:
    return [G.prior_for_image(prior_k, ids[i]) for i in range(sl.start, sl.stop)]


def _fidelity(res: LimeResult, fit: G.GLimeResult) -> tuple[np.ndarray, np.ndarray]:
    pred = res.masks.float() @ fit.coef[..., None].to(res.masks.device)
    r2, mse = metrics.local_fidelity(res.targets, pred[..., 0] + fit.intercept[:, None], res.weights)
    return r2.cpu().numpy(), mse.cpu().numpy()


def explainer_scores(model, test_x: np.ndarray, test_seg: np.ndarray, test_ids: np.ndarray,
                     priors: dict[str, np.ndarray], *, samples: list[int], settings: dict, seed: int = 0,
                     device="cpu", chunk: int = 16) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every estimator of ``estimators(priors)`` at every n in ``samples`` (one LIME sample set per image
    and repeat, shared by all estimators), the global-prior-only rankings GP-x, and the lam2 ablation.

    settings: lam2, lam2_ablation (list), ablation_samples (an n of ``samples``), repeats (at the largest
    n; Table 5), n_features, prior_norm, prior_scale, the LIME and deletion settings.
    Returns (scores: estimator, n, lam2, repeat, image, r2, mse, deletion, insertion, abpc;
    details of image 0 for Fig. 4, 6, 7: solution paths and deletion / insertion curves)."""
    kinds = [str(k) for k in priors["kinds"]]
    ests = estimators(kinds)
    ids = per_image(test_ids, test_seg)
    lam2 = float(settings.get("lam2", 1.0))
    ablation_n = settings.get("ablation_samples")
    rows, details = [], {}
    model.eval()

    def record(name, n, lam, rep, sl, r2, mse, dele, ins):
        for j, img in enumerate(range(sl.start, sl.stop)):
            rows.append(dict(estimator=name, n=n, lam2=lam, repeat=rep, image=img, r2=r2[j], mse=mse[j],
                             deletion=dele[j], insertion=ins[j], abpc=ins[j] - dele[j]))

    def fit(method, kind, lam, res, sl, lime):
        est = G.GLime(method=method, lam2=lam, n_features=settings.get("n_features"),
                      prior_norm=settings.get("prior_norm", "l1"), prior_scale=settings.get("prior_scale", 1.0),
                      lime=lime)
        return est.fit(res, None if kind is None else _prior_rows(priors[f"prior_{kind}"], ids, sl))

    for n in samples:
        repeats = int(settings.get("repeats", 1)) if n == max(samples) else 1
        for rep in range(repeats):
            lime = _lime(n, seed + 1000 * rep, settings)
            for sl, xi, si, res in _explain_chunks(lime, model, test_x, test_seg, device, chunk,
                                                   desc=f"n={n} repeat {rep}"):
                with torch.no_grad():
                    target = model(xi).argmax(1)
                grid = [(name, m, kind, lam2) for name, (m, kind) in ests.items()]
                if n == ablation_n and rep == 0:
                    grid += [(name, m, kind, float(lam)) for lam in settings.get("lam2_ablation", [])
                             if float(lam) != lam2 for name, (m, kind) in ests.items() if kind is not None]
                for name, method, kind, lam in grid:
                    f = fit(method, kind, lam, res, sl, lime)
                    r2, mse = _fidelity(res, f)
                    dele, ins, curves = deletion_insertion(model, xi, target, si, f.ranking, settings)
                    record(name, n, lam, rep, sl, r2, mse, dele, ins)
                    if sl.start == 0 and rep == 0 and lam == lam2 and n == (ablation_n or max(samples)):
                        details[f"deletion/{name}"], details[f"insertion/{name}"] = curves[0][0], curves[1][0]
                        if f.paths[0] is not None:
                            details[f"path_lambda/{name}"] = f.paths[0].lambda1
                            details[f"path_coefs/{name}"] = f.paths[0].coefs
    # the global prior alone (GP-x): superpixels ranked by their cluster's prior value
    for sl, xi, si in ((slice(i, min(i + chunk, len(test_x))), batches.to_tensor(test_x[i:i + chunk], device),
                        torch.from_numpy(test_seg[i:i + chunk]).to(device)) for i in range(0, len(test_x), chunk)):
        with torch.no_grad():
            target = model(xi).argmax(1)
        for kind in kinds:
            ranks = [np.argsort(-p, kind="stable") for p in _prior_rows(priors[f"prior_{kind}"], ids, sl)]
            dele, ins, _ = deletion_insertion(model, xi, target, si, ranks, settings)
            nan = np.full(len(ranks), np.nan)
            record(f"GP-{PRIOR_SHORT[kind]}", 0, 0.0, 0, sl, nan, nan, dele, ins)
    details["image"] = test_x[0]
    details["segments"] = test_seg[0]
    return pd.DataFrame(rows), details


def stability_scores(model, test_x: np.ndarray, test_seg: np.ndarray, test_ids: np.ndarray,
                     priors: dict[str, np.ndarray], *, samples: list[int], repeats: int = 5, settings: dict,
                     seed: int = 0, device="cpu", chunk: int = 16) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Table 4: per image, the mean L2 distance between ``repeats`` explanations (independent LIME sample
    sets; coefficients scaled to unit L2 norm) of LIME and G-LIME-x (Ridge) for every n; and, for Fig. 8,
    image 0's top-3 superpixels per repeat."""
    kinds = [str(k) for k in priors["kinds"]]
    names = {"LIME": None, **{f"G-LIME-{PRIOR_SHORT[k]}": k for k in kinds}}
    ids = per_image(test_ids, test_seg)
    rows, details = [], {}
    for n in samples:
        coefs = {name: [[] for _ in range(repeats)] for name in names}
        for rep in range(repeats):
            lime = _lime(n, seed + 7919 * (rep + 1), settings)
            for sl, _, _, res in _explain_chunks(lime, model, test_x, test_seg, device, chunk):
                for name, kind in names.items():
                    est = G.GLime(method="ridge", lam2=float(settings.get("lam2", 1.0)),
                                  n_features=settings.get("n_features"), prior_norm=settings.get("prior_norm", "l1"),
                                  prior_scale=settings.get("prior_scale", 1.0), lime=lime)
                    f = est.fit(res, None if kind is None else _prior_rows(priors[f"prior_{kind}"], ids, sl))
                    coefs[name][rep].append(f.coef.cpu())
                    if sl.start == 0 and n == max(samples):
                        details[f"top3/{name}"] = np.concatenate([details.get(f"top3/{name}", np.zeros((0, 3), int)),
                                                                  f.ranking[0][None, :3]])
        for name in names:
            e = torch.stack([torch.cat(c) for c in coefs[name]])                   # (R, B, d)
            e = e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            for img, v in enumerate(metrics.stability(e).numpy()):
                rows.append(dict(estimator=name, n=n, image=img, stability=float(v)))
    details["image"], details["segments"] = test_x[0], test_seg[0]
    return pd.DataFrame(rows), details


def baseline_scores(model, test_x: np.ndarray, test_seg: np.ndarray, *, methods: list[str], repeats: int = 3,
                    settings: dict, seed: int = 0, device="cpu", chunk: int = 16) -> pd.DataFrame:
    """Table 5's gradient baselines on the same superpixels: each pixel attribution (summed over
    channels) averaged per superpixel, superpixels ranked by that mean (largest first), then deletion /
    insertion as for LIME. ``repeats`` reseeds SmoothGrad's noise (IG and Grad-CAM are deterministic)."""
    kwargs = {"integrated_gradients": {"steps": settings.get("ig_steps", 50)},
              "smoothgrad": {"n": settings.get("smoothgrad_samples", 50), "sigma": settings.get("smoothgrad_sigma", 0.15)}}
    rows = []
    model.eval()
    for i in range(0, len(test_x), chunk):
        xi = batches.to_tensor(test_x[i:i + chunk], device)
        si = torch.from_numpy(test_seg[i:i + chunk]).to(device).long()
        with torch.no_grad():
            target = model(xi).argmax(1)
        d = int(si.max()) + 1
        for method in methods:
            for rep in range(repeats):
                extra = dict(kwargs.get(method, {}))
                if method == "smoothgrad":
                    extra["seed"] = seed + rep
                attr = attribute(method, model, xi, target, **extra).sum(1).flatten(1)        # (B, HW)
                sums = torch.zeros(len(xi), d, device=xi.device).scatter_add_(1, si.flatten(1), attr.float())
                counts = torch.zeros(len(xi), d, device=xi.device).scatter_add_(1, si.flatten(1),
                                                                                  torch.ones_like(attr).float())
                mean = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, -torch.inf))
                ranks = [np.argsort(-m[: int(s.max()) + 1], kind="stable")
                         for m, s in zip(mean.cpu().numpy(), si.cpu().numpy())]
                dele, ins, _ = deletion_insertion(model, xi, target, si, ranks, settings)
                for j in range(len(xi)):
                    rows.append(dict(estimator=method, repeat=rep, image=i + j, deletion=dele[j], insertion=ins[j],
                                     abpc=ins[j] - dele[j]))
    return pd.DataFrame(rows)
