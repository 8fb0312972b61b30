"""G-LIME's experiments (Li et al. 2022) on one model: seeded class-stratified image sets, superpixels and
their clusters (one clustering per dataset), global priors, every estimator of the paper's Table 1 on
one shared set of LIME samples per image, the metrics of Tables 2-8 (local fidelity, superpixel deletion
/ insertion, stability) and the baselines of Table 5 (Integrated Gradients, SmoothGrad, Grad-CAM) scored
at pixel level as the paper does (and, as an extra row, on the same superpixels).

Plain data in, plain data out: uint8 images (N, H, W, C) and arrays in, pandas tables and numpy arrays
out; the CLI caches them, tables and figures read the caches. The explained class (``explain_class``)
is the true label (the paper's Fig. 6: "the probability for the ground truth class") or the model's
prediction on the clean image (InterpretDL), for LIME's targets and for deletion / insertion alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import metrics
from ...data import batches
from ...data.subsets import stratified_indices
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


EXPLAIN_CLASSES = ("true", "predicted")


def image_sets(data, reference_images: int | None, test_images: int | None, *, seed: int = 0,
               stability_images: int | None = None) -> dict[str, np.ndarray]:
    """Seeded, class-stratified image sets (``data.subsets.stratified_indices``; None: the whole set):
    ``ref_idx`` (training indices: the reference set of the clusters and priors), ``test_idx`` (test
    indices: the explained images) and ``stab_pos`` (positions in ``test_idx``, stratified by their
    labels: Table 4's stability set). Sorted indices; the stored splits are class-sorted, so "the first
    N" would cover a few classes only."""
    if data.train_x is None or (reference_images is not None and len(data.train_x) < reference_images):
        raise ValueError(f"glime.reference_images = {reference_images} needs that many training images; "
                         f"{data.path} has {0 if data.train_x is None else len(data.train_x)}")
    ref_idx = stratified_indices(data.train_y, reference_images, seed)
    test_idx = stratified_indices(data.test_y, test_images, seed)
    stab_pos = stratified_indices(np.asarray(data.test_y)[test_idx], stability_images, seed + 1)
    return {"ref_idx": ref_idx, "test_idx": test_idx, "stab_pos": stab_pos}


def explained_targets(model, x: torch.Tensor, labels, explain_class: str = "true") -> torch.Tensor:
    """The class each explanation and deletion / insertion curve is about: the true labels or the
    model's prediction on the clean images."""
    if explain_class not in EXPLAIN_CLASSES:
        raise ValueError(f"unknown explain_class {explain_class!r}; valid: {', '.join(EXPLAIN_CLASSES)}")
    if explain_class == "true":
        if labels is None:
            raise ValueError("explain_class: true needs the images' labels")
        return torch.as_tensor(np.asarray(labels, dtype=np.int64), device=x.device)
    with torch.no_grad():
        return model(x).argmax(1)


def _examples(x, seg, flat_ids, top, per_cluster, fill):
    ids = per_image(flat_ids, seg)
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(ids)])
    label = np.concatenate([np.arange(len(v)) for v in ids])
    out = np.full((len(top), per_cluster, *x.shape[1:]), fill, dtype=np.uint8)
    for c, k in enumerate(top):
        for j, sp in enumerate(np.flatnonzero(flat_ids == k)[:per_cluster]):
            inside = seg[owner[sp]] == label[sp]
            out[c, j][inside] = x[owner[sp]][inside]
    return out


def cluster_examples(ref_x: np.ndarray, ref_seg: np.ndarray, ref_ids: np.ndarray, *, clusters: int = 3,
                     per_cluster: int = 6, fill: int = 128, test_x=None, test_seg=None, test_ids=None
                     ) -> dict[str, np.ndarray]:
    """Fig. 3: the ``clusters`` most populous clusters of the reference set and up to ``per_cluster`` of
    their superpixels, each shown as its image with everything outside the superpixel grey:
    ``examples`` (clusters, per_cluster, H, W, C); with the test set given, ``test_examples``: the same
    clusters' superpixels in the explained images (the paper's two halves: ImageNet / CUB)."""
    top = np.argsort(-np.bincount(ref_ids), kind="stable")[:clusters]
    out = {"examples": _examples(ref_x, ref_seg, ref_ids, top, per_cluster, fill), "example_clusters": top}
    if test_x is not None:
        out["test_examples"] = _examples(test_x, test_seg, test_ids, top, per_cluster, fill)
    return out


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


def per_image_select(flat: np.ndarray, segments: np.ndarray, positions) -> np.ndarray:
    """The flat per-superpixel entries of the images at ``positions`` (in that order)."""
    parts = per_image(flat, segments)
    return np.concatenate([parts[int(i)] for i in positions]) if len(positions) else np.zeros(0, np.asarray(flat).dtype)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLUSTER_STEMS = ("pretrained", "main")


def pretrained_stem(arch: str = "resnet101", in_channels: int = 3) -> torch.nn.Module:
    """The first stage of the untouched ImageNet-pretrained torchvision ``arch`` (conv1-bn1-relu for
    ResNet-101), with ImageNet's normalisation in front (what its weights were trained with). The
    weights come from the local torch hub cache (the same file fine-tuning starts from)."""
    from ...models import build_model
    model = build_model(arch, num_classes=1000, in_channels=in_channels, image_size=224, mean=IMAGENET_MEAN,
                        std=IMAGENET_STD, pretrained=True)
    return G.first_stage(model)


def cluster_superpixels(model, ref_x: np.ndarray, ref_seg: np.ndarray, test_x: np.ndarray, test_seg: np.ndarray, *,
                        k: int = 100, seed: int = 0, device="cpu", stem=None, fit_x: np.ndarray | None = None,
                        fit_seg: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Alg. 2: superpixel features from a first stage (``stem``, default ``model``'s own), K-Means (k)
    on the superpixels of the fitting set (``fit_x`` / ``fit_seg``, e.g. ImageNet images; default the
    reference set), and the nearest centre of every reference and test superpixel (flat, image-major):
    ``centres``, ``fit_ids``, ``ref_ids``, ``test_ids``."""
    stem = (G.first_stage(model) if stem is None else stem).to(device)

    def feats(x, seg):
        return G.superpixel_features(stem, batches.to_tensor(x, device), torch.from_numpy(seg).to(device))

    own = fit_x is None
    f_ref = feats(ref_x, ref_seg)
    f_fit = f_ref if own else feats(fit_x, fit_seg)
    centres = G.fit_clusters(f_fit, k=k, seed=seed)
    ref_ids = G.assign_clusters(f_ref, centres)
    return {"centres": centres, "fit_ids": ref_ids if own else G.assign_clusters(f_fit, centres), "ref_ids": ref_ids,
            "test_ids": G.assign_clusters(feats(test_x, test_seg), centres)}


def _lime(n_samples: int, seed: int, settings: dict) -> Lime:
    """LIME's sampler (masks, model queries, kernel weights). Its own Ridge fit (``LimeResult.coef``) is not
    used here: every estimator, the priors' LIME included, refits the samples with :func:`_glime`."""
    return Lime(n_samples=n_samples, features="superpixels", fill=settings.get("lime_fill", "mean"),
                fill_value=settings.get("lime_fill_value", 0.0), kernel_width=settings.get("kernel_width", 0.25),
                seed=seed)


def _glime(method: str, lam2: float, settings: dict, lime: Lime) -> G.GLime:
    return G.GLime(method=method, lam2=lam2, n_features=settings.get("n_features"),
                   prior_norm=settings.get("prior_norm", "l1"), prior_scale=settings.get("prior_scale", 1.0),
                   standardize=settings.get("standardize", True), lime=lime)


def _explain_chunks(lime: Lime, model, x: np.ndarray, seg: np.ndarray, device, chunk: int,
                    desc: str | None = None, labels=None, index=None, explain_class: str = "predicted"):
    """(slice, images, segments, targets, LimeResult) per chunk of ``chunk`` images (bounded memory).
    ``index`` (N,): the images' indices in their split (LIME's masks are drawn per (seed, index))."""
    index = np.arange(len(x)) if index is None else np.asarray(index)
    for i in progress(range(0, len(x), chunk), desc=desc, disable=desc is None):
        xi = batches.to_tensor(x[i:i + chunk], device)
        si = torch.from_numpy(seg[i:i + chunk]).to(device)
        ti = explained_targets(model, xi, None if labels is None else labels[i:i + chunk], explain_class)
        yield slice(i, i + len(xi)), xi, si, ti, lime.explain(model, xi, ti, si, index=index[i:i + chunk])


def build_priors(model, ref_x: np.ndarray, ref_seg: np.ndarray, ref_ids: np.ndarray, *, k: int, n_samples: int,
                 priors: list[str], settings: dict, seed: int = 0, device="cpu", chunk: int = 16,
                 labels=None, index=None) -> dict[str, np.ndarray]:
    """Sec. 2.2: LIME (Ridge(``prior_alpha``) on all superpixels, the study's scale: ``standardize``; no
    prior) on every reference image, explaining ``explain_class`` (true labels when ``labels`` are given, else the prediction),
    each explanation mapped to the k clusters (superpixels of one cluster averaged) -> B (m, k); the
    class of each row for Homogeneity (``homogeneity_labels``: predicted or true); each global prior."""
    ids = per_image(ref_ids, ref_seg)
    explain_class = settings.get("explain_class", "true") if labels is not None else "predicted"
    group = settings.get("homogeneity_labels", "predicted")
    if group not in EXPLAIN_CLASSES:
        raise ValueError(f"unknown homogeneity_labels {group!r}; valid: {', '.join(EXPLAIN_CLASSES)}")
    if group == "true" and labels is None:
        raise ValueError("homogeneity_labels: true needs the reference images' labels")
    rows, classes = [], []
    model.eval()
    lime = _lime(n_samples, seed, settings)
    est = _glime("ridge", float(settings.get("prior_alpha", 1.0)), settings, lime)   # vanilla LIME's Ridge alpha
    for sl, xi, _, _, res in _explain_chunks(lime, model, ref_x, ref_seg, device, chunk,
                                             desc="LIME on the reference set", labels=labels, index=index,
                                             explain_class=explain_class):
        with torch.no_grad():
            classes.append(model(xi).argmax(1).cpu().numpy() if group == "predicted" else labels[sl])
        coef = est.fit(res).coef.double().cpu().numpy()
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


def _as_list(v) -> list:
    return [] if v is None else [v] if np.isscalar(v) else list(v)


def explainer_scores(model, test_x: np.ndarray, test_seg: np.ndarray, test_ids: np.ndarray,
                     priors: dict[str, np.ndarray], *, samples: list[int], settings: dict, seed: int = 0,
                     device="cpu", chunk: int = 16, labels=None, index=None
                     ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every estimator of ``estimators(priors)`` at every n in ``samples`` (one LIME sample set per image
    and repeat, shared by all estimators), the global-prior-only rankings GP-x, and the lam2 ablation.

    settings: lam2, lam2_ablation (list) of LIME and the Ridge G-LIME-x at every n of ablation_samples
    (an n or a list of ``samples``), detail_samples (the n of Fig. 4 / 6 / 7; default the first
    ablation n), repeats (at the largest n; Table 5), n_features, prior_norm, prior_scale, standardize,
    explain_class (``labels`` needed for "true"), the LIME and deletion settings. ``index``: the images'
    indices in the test split (LIME's masks are drawn per (seed, index)).
    Returns (scores: estimator, n, lam2, repeat, image, r2, mse, deletion, insertion, abpc, pull;
    details of image 0 for Fig. 4, 6, 7: solution paths and deletion / insertion curves)."""
    kinds = [str(k) for k in priors["kinds"]]
    ests = estimators(kinds)
    ids = per_image(test_ids, test_seg)
    lam2 = float(settings.get("lam2", 1.0))
    ablation_n = [int(v) for v in _as_list(settings.get("ablation_samples"))]
    detail_n = settings.get("detail_samples") or (ablation_n[0] if ablation_n else max(samples))
    explain_class = settings.get("explain_class", "true")
    rows, details = [], {}
    model.eval()

    def record(name, n, lam, rep, sl, r2, mse, dele, ins, pull):
        for j, img in enumerate(range(sl.start, sl.stop)):
            rows.append(dict(estimator=name, n=n, lam2=lam, repeat=rep, image=img, r2=r2[j], mse=mse[j],
                             deletion=dele[j], insertion=ins[j], abpc=ins[j] - dele[j], pull=pull[j]))

    for n in samples:
        repeats = int(settings.get("repeats", 1)) if n == max(samples) else 1
        for rep in range(repeats):
            lime = _lime(n, seed + 1000 * rep, settings)
            for sl, xi, si, target, res in _explain_chunks(lime, model, test_x, test_seg, device, chunk,
                                                           desc=f"n={n} repeat {rep}", labels=labels, index=index,
                                                           explain_class=explain_class):
                grid = [(name, m, kind, lam2) for name, (m, kind) in ests.items()]
                if n in ablation_n and rep == 0:
                    grid += [(name, m, kind, float(lam)) for lam in settings.get("lam2_ablation", [])
                             if float(lam) != lam2 for name, (m, kind) in ests.items() if m == "ridge"]
                for name, method, kind, lam in grid:
                    f = _glime(method, lam, settings, lime).fit(
                        res, None if kind is None else _prior_rows(priors[f"prior_{kind}"], ids, sl))
                    r2, mse = _fidelity(res, f)
                    dele, ins, curves = deletion_insertion(model, xi, target, si, f.ranking, settings)
                    record(name, n, lam, rep, sl, r2, mse, dele, ins, f.pull)
                    if sl.start == 0 and rep == 0 and lam == lam2 and n == detail_n:
                        details[f"deletion/{name}"], details[f"insertion/{name}"] = curves[0][0], curves[1][0]
                        if f.paths[0] is not None:
                            details[f"path_lambda/{name}"] = f.paths[0].lambda1
                            details[f"path_coefs/{name}"] = f.paths[0].coefs
    # the global prior alone (GP-x): superpixels ranked by their cluster's prior value
    for i in range(0, len(test_x), chunk):
        sl = slice(i, min(i + chunk, len(test_x)))
        xi = batches.to_tensor(test_x[sl], device)
        si = torch.from_numpy(test_seg[sl]).to(device)
        target = explained_targets(model, xi, None if labels is None else labels[sl], explain_class)
        for kind in kinds:
            ranks = [np.argsort(-p, kind="stable") for p in _prior_rows(priors[f"prior_{kind}"], ids, sl)]
            dele, ins, _ = deletion_insertion(model, xi, target, si, ranks, settings)
            nan = np.full(len(ranks), np.nan)
            record(f"GP-{PRIOR_SHORT[kind]}", 0, 0.0, 0, sl, nan, nan, dele, ins, nan)
    details["image"] = test_x[0]
    details["segments"] = test_seg[0]
    details["detail_samples"] = np.array(detail_n)
    return pd.DataFrame(rows), details


def stability_scores(model, test_x: np.ndarray, test_seg: np.ndarray, test_ids: np.ndarray,
                     priors: dict[str, np.ndarray], *, samples: list[int], repeats: int = 5, settings: dict,
                     seed: int = 0, device="cpu", chunk: int = 16, labels=None, index=None
                     ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Table 4: per image, the mean L2 distance between ``repeats`` explanations (independent LIME sample
    sets; coefficients scaled to unit L2 norm) of LIME and G-LIME-x (Ridge) for every n; and, for Fig. 8,
    image 0's top-3 superpixels per repeat at ``example_samples`` (default the smallest n: the paper's
    Fig. 8 uses 100 samples)."""
    kinds = [str(k) for k in priors["kinds"]]
    names = {"LIME": None, **{f"G-LIME-{PRIOR_SHORT[k]}": k for k in kinds}}
    ids = per_image(test_ids, test_seg)
    example_n = settings.get("stability_example_samples") or min(samples)
    rows, details = [], {}
    for n in samples:
        coefs = {name: [[] for _ in range(repeats)] for name in names}
        for rep in range(repeats):
            lime = _lime(n, seed + 7919 * (rep + 1), settings)
            for sl, _, _, _, res in _explain_chunks(lime, model, test_x, test_seg, device, chunk, labels=labels,
                                                    index=index, explain_class=settings.get("explain_class", "true")):
                for name, kind in names.items():
                    est = _glime("ridge", float(settings.get("lam2", 1.0)), settings, lime)
                    f = est.fit(res, None if kind is None else _prior_rows(priors[f"prior_{kind}"], ids, sl))
                    coefs[name][rep].append(f.coef.cpu())
                    if sl.start == 0 and n == example_n:
                        details[f"top3/{name}"] = np.concatenate([details.get(f"top3/{name}", np.zeros((0, 3), int)),
                                                                  f.ranking[0][None, :3]])
        for name in names:
            e = torch.stack([torch.cat(c) for c in coefs[name]])                   # (R, B, d)
            e = e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            for img, v in enumerate(metrics.stability(e).numpy()):
                rows.append(dict(estimator=name, n=n, image=img, stability=float(v)))
    details["image"], details["segments"] = test_x[0], test_seg[0]
    details["example_samples"] = np.array(example_n)
    return pd.DataFrame(rows), details


def baseline_scores(model, test_x: np.ndarray, test_seg: np.ndarray, *, methods: list[str], repeats: int = 3,
                    settings: dict, seed: int = 0, device="cpu", chunk: int = 16, labels=None) -> pd.DataFrame:
    """Table 5's gradient baselines, scored as the paper (and InterpretDL's evaluator) scores pixel
    attributions: pixels ranked by |attribution| summed over channels, deleted / inserted in
    ``baseline_steps`` (20) percentile steps on the same grey fill (``protocol`` "pixel"); and, as an
    extra row per method (``protocol`` "superpixel"), the signed channel sum averaged per superpixel
    and scored with the superpixel deletion / insertion of LIME. ``repeats`` reseeds SmoothGrad's noise
    (IG and Grad-CAM are deterministic). The class explained is ``explain_class``'s. IG: ``ig_steps`` from
    the zero image; SmoothGrad: ``smoothgrad_samples`` draws of N(0, ``smoothgrad_sigma``^2) in [0, 1] pixel
    units (defaults 50 / 50 / 0.1: InterpretDL's, the authors' library)."""
    kwargs = {"integrated_gradients": {"steps": int(settings.get("ig_steps", 50))},
              "smoothgrad": {"n": int(settings.get("smoothgrad_samples", 50)),
                             "sigma": float(settings.get("smoothgrad_sigma", 0.1))}}
    fill, n_steps = settings.get("deletion_fill", 0.5), int(settings.get("baseline_steps", 20))
    rows = []
    model.eval()
    for i in range(0, len(test_x), chunk):
        xi = batches.to_tensor(test_x[i:i + chunk], device)
        si = torch.from_numpy(test_seg[i:i + chunk]).to(device).long()
        target = explained_targets(model, xi, None if labels is None else labels[i:i + chunk],
                                   settings.get("explain_class", "true"))
        d = int(si.max()) + 1
        for method in methods:
            for rep in range(repeats):
                extra = dict(kwargs.get(method, {}))
                if method == "smoothgrad":
                    extra["seed"] = seed + rep
                raw = attribute(method, model, xi, target, **extra).detach()
                curves = metrics.pixel_deletion_insertion_curves(model, xi, target, metrics.pixel_saliency(raw),
                                                                 steps=n_steps, fill=fill)
                scored = {"pixel": (metrics.auc(curves.deletion).cpu().numpy(),
                                    metrics.auc(curves.insertion).cpu().numpy())}
                attr = raw.sum(1).flatten(1)                                                  # (B, HW)
                sums = torch.zeros(len(xi), d, device=xi.device).scatter_add_(1, si.flatten(1), attr.float())
                counts = torch.zeros(len(xi), d, device=xi.device).scatter_add_(1, si.flatten(1),
                                                                                  torch.ones_like(attr).float())
                mean = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, -torch.inf))
                ranks = [np.argsort(-m[: int(s.max()) + 1], kind="stable")
                         for m, s in zip(mean.cpu().numpy(), si.cpu().numpy())]
                scored["superpixel"] = deletion_insertion(model, xi, target, si, ranks, settings)[:2]
                for protocol, (dele, ins) in scored.items():
                    for j in range(len(xi)):
                        rows.append(dict(estimator=method, protocol=protocol, repeat=rep, image=i + j,
                                         deletion=dele[j], insertion=ins[j], abpc=ins[j] - dele[j]))
    return pd.DataFrame(rows)
