"""LIMEREF's spurious-dependency detection: per-feature importance, sensitivity and instability over
a fixed grid of patches, flagged by thresholds and aggregated over a dataset into F_spurious.

Paper (LIMEREF Sec. III-C): feature j is spurious when |beta_j| > tau OR Sensitivity(x_j) > eps OR
Instability(x_j) > delta, flags aggregated over the dataset. Thresholds are not given; ours are
quantiles of each score after ranking it within its image (so images whose scores differ in scale
count alike), and a class's F keeps the features flagged in most of its images and clearly more often
than in the other classes' (see docs/replication-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...explain.lime import Lime, grid_segments


@dataclass
class FeatureScores:
    importance: np.ndarray    # (N, d) |mean LIME coefficient| over repeats, explained class = prediction
    sensitivity: np.ndarray   # (N, d) mean |d p_y / d x| over the feature's pixels and channels
    instability: np.ndarray   # (N, d) variance of the LIME coefficient over repeats
    predicted: np.ndarray     # (N,) predicted class
    labels: np.ndarray        # (N,) true class


def input_gradient_per_feature(model, x, target, segments, n_features) -> torch.Tensor:
    """Mean |d softmax_target / dx| pooled over each feature's pixels and channels, (B, d)."""
    x = x.detach().requires_grad_(True)
    prob = torch.softmax(model(x), 1).gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(prob, x)
    g = grad.abs().mean(1).flatten(1)                          # (B, HW)
    seg = segments.flatten(1)
    sums = torch.zeros(len(x), n_features, device=x.device).scatter_add_(1, seg, g)
    counts = torch.zeros(len(x), n_features, device=x.device).scatter_add_(1, seg, torch.ones_like(g))
    return sums / counts.clamp_min(1)


def feature_scores(model, images, labels, *, patch: int = 4, n_samples: int = 500, repeats: int = 3,
                   batch_size: int = 64, seed: int = 0, device="cpu", lime_options: dict | None = None,
                   show_progress: bool = True) -> FeatureScores:
    """LIME importance, gradient sensitivity and LIME instability of every grid feature of every image."""
    from ...data import batches
    from ...io import progress
    model.eval().to(device)
    imp, sens, inst, pred = [], [], [], []
    it = batches.iterate(images, labels, batch_size, device)
    start = 0                                                  # the batch's first image: masks per image
    for xb, _ in progress(it, total=-(-len(labels) // batch_size), desc="LIME", disable=not show_progress):
        with torch.no_grad():
            target = model(xb).argmax(1)
        seg = grid_segments(xb.shape[2], xb.shape[3], patch).to(device).expand(len(xb), -1, -1)
        d = int(seg.max()) + 1
        coefs = torch.stack([Lime(n_samples=n_samples, patch=patch, seed=seed + 1000 * r, **(lime_options or {}))
                             .explain(model, xb, target, segments=seg, index=np.arange(start, start + len(xb))).coef
                             for r in range(repeats)])
        start += len(xb)
        imp.append(coefs.mean(0).abs().cpu())
        inst.append(coefs.var(0, unbiased=repeats > 1).cpu() if repeats > 1 else torch.zeros_like(coefs[0]).cpu())
        sens.append(input_gradient_per_feature(model, xb, target, seg, d).detach().cpu())
        pred.append(target.cpu())
    return FeatureScores(torch.cat(imp).numpy(), torch.cat(sens).numpy(), torch.cat(inst).numpy(),
                         torch.cat(pred).numpy(), np.asarray(labels)[:sum(len(p) for p in pred)])


@dataclass
class SpuriousSet:
    per_class: np.ndarray      # (num_classes, d) bool: F_spurious of each class
    global_mask: np.ndarray    # (d,) bool: union over classes
    frequency: np.ndarray      # (num_classes, d) fraction of the class's images in which j was flagged
    thresholds: dict           # the tau / eps / delta actually used

    def to_dict(self) -> dict:
        return {"per_class": self.per_class.astype(int).tolist(), "global": self.global_mask.astype(int).tolist(),
                "frequency": np.round(self.frequency, 6).tolist(), "thresholds": self.thresholds}

    @classmethod
    def from_dict(cls, d: dict) -> "SpuriousSet":
        return cls(np.array(d["per_class"], bool), np.array(d["global"], bool), np.array(d["frequency"]),
                   d["thresholds"])


NORMALISE = ("rank", "max", "none")


def normalise_within_image(scores: np.ndarray, how: str = "rank") -> np.ndarray:
    """(N, d) scores made comparable across images: ``rank`` = each score's rank among its image's d
    features, scaled to [0, 1] (ties share the mean rank; a constant image is 0.5 everywhere); ``max`` =
    divided by the image's largest score; ``none`` = as is."""
    s = np.asarray(scores, dtype=float)
    if how == "none":
        return s
    if how == "max":
        return s / np.maximum(np.abs(s).max(1, keepdims=True), 1e-12)
    if how == "rank":
        from scipy.stats import rankdata
        d = s.shape[1]
        return (rankdata(s, axis=1, method="average") - 1.0) / max(d - 1, 1)
    raise ValueError(f"unknown normalise {how!r}; valid: {', '.join(NORMALISE)}")


def detect(scores: FeatureScores, num_classes: int, *, tau_quantile: float = 0.95,
           eps_quantile: float = 0.95, delta_quantile: float = 0.95, min_frequency: float = 0.5,
           criteria: tuple[str, ...] = ("importance", "sensitivity", "instability"), normalise: str = "rank",
           min_contrast: float = 0.0) -> SpuriousSet:
    """Flag (image, feature) pairs whose within-image normalised score (``normalise``, see
    :func:`normalise_within_image`) exceeds its threshold (a quantile over all pairs: with ``rank`` the
    top ``1 - q`` of each image's features), then keep, per predicted class, the features flagged in at
    least ``min_frequency`` of that class's images and in at least ``min_contrast`` more of them than of
    the other classes' images (mean over the other classes present): a feature every class relies on
    (the object's usual place) is not a class's spurious cue."""
    q = {"importance": tau_quantile, "sensitivity": eps_quantile, "instability": delta_quantile}
    unknown = set(criteria) - set(q)
    if unknown:
        raise ValueError(f"unknown criteria {sorted(unknown)}; valid: {sorted(q)}")
    flagged = np.zeros_like(scores.importance, dtype=bool)
    thresholds = {}
    for name in criteria:
        s = normalise_within_image(getattr(scores, name), normalise)
        t = float(np.quantile(s, q[name]))
        thresholds[name] = t
        flagged |= s > t
    d = flagged.shape[1]
    freq = np.zeros((num_classes, d))
    present = np.zeros(num_classes, bool)
    for c in range(num_classes):
        rows = scores.predicted == c
        if rows.any():
            freq[c] = flagged[rows].mean(0)
            present[c] = True
    others = np.zeros_like(freq)
    for c in range(num_classes):
        rest = present.copy()
        rest[c] = False
        if rest.any():
            others[c] = freq[rest].mean(0)
    per_class = (freq >= min_frequency) & (freq - others >= min_contrast) & present[:, None]
    thresholds = {**thresholds, "normalise": normalise, "min_frequency": min_frequency, "min_contrast": min_contrast}
    return SpuriousSet(per_class, per_class.any(0), freq, thresholds)


class EmptySpuriousSet(UserWarning):
    """F_spurious is empty: the refined model trains as the FGSM-only control (no masking, no L_reg)."""


def detection_record(found: SpuriousSet, previous: dict | None, *, patch: int, image_size, n_images: int,
                     scores: FeatureScores | None = None) -> dict:
    """The contents of a round's ``spurious.json``: F (accumulated over rounds with ``previous``, a
    previous record), this round's own F, |F| per class and global, and ``empty``. Warns loudly
    (:class:`EmptySpuriousSet`, and on stderr) when the accumulated F is empty."""
    import sys
    import warnings
    sets = found.to_dict()
    if previous:  # iterative refinement: F accumulates over rounds
        prev = previous["sets"]
        sets["per_class"] = (np.array(prev["per_class"], bool) | found.per_class).astype(int).tolist()
        sets["global"] = (np.array(prev["global"], bool) | found.global_mask).astype(int).tolist()
    size = {"global": int(np.sum(sets["global"])), "this_round": int(found.global_mask.sum()),
            "per_class": [int(v) for v in np.sum(sets["per_class"], axis=1)]}
    empty = size["global"] == 0
    record = {"patch": int(patch), "image_size": list(image_size), "n_images": int(n_images), "sets": sets,
              "size": size, "empty": empty,
              "this_round": {"per_class": found.per_class.astype(int).tolist(),
                             "global": found.global_mask.astype(int).tolist()}}
    if scores is not None:
        record["mean_scores"] = {k: getattr(scores, k).mean(0).tolist()
                                 for k in ("importance", "sensitivity", "instability")}
    if empty:
        msg = ("F_spurious is EMPTY: no feature passed the thresholds in enough images of any class, so the "
               "refined model is trained with FGSM only (no masking, no sensitivity term) -- compare it with the "
               "FGSM-only control; lower limeref.detection.min_frequency / min_contrast or the quantiles to "
               "flag more")
        print(f"WARNING: {msg}", file=sys.stderr, flush=True)
        warnings.warn(msg, EmptySpuriousSet, stacklevel=2)
    return record


def pixel_mask(feature_mask: np.ndarray | torch.Tensor, height: int, width: int, patch: int) -> torch.Tensor:
    """Feature-level mask(s) (..., d) -> pixel mask(s) (..., H, W) on the same grid."""
    fm = torch.as_tensor(np.asarray(feature_mask), dtype=torch.bool)
    seg = grid_segments(height, width, patch)
    return fm[..., seg]


def overlap_with_truth(detected: np.ndarray, truth: np.ndarray) -> dict:
    """Precision, recall and IoU of detected feature sets against ground truth (same shapes, bool)."""
    detected, truth = np.asarray(detected, bool), np.asarray(truth, bool)
    tp = int((detected & truth).sum())
    fp = int((detected & ~truth).sum())
    fn = int((~detected & truth).sum())
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "iou": tp / (tp + fp + fn) if tp + fp + fn else 0.0, "tp": tp, "fp": fp, "fn": fn}


def planted_truth(class_boxes: np.ndarray, image_size: int, patch: int) -> np.ndarray:
    """(num_classes, d) bool: the grid features covered by each class's planted patch."""
    cells = image_size // patch
    truth = np.zeros((len(class_boxes), cells * cells), bool)
    for c, (r, col, h, w) in enumerate(np.asarray(class_boxes)):
        for rr in range(r // patch, (r + h - 1) // patch + 1):
            for cc in range(col // patch, (col + w - 1) // patch + 1):
                truth[c, rr * cells + cc] = True
    return truth


def planted_check(data, detections: list[dict], models: dict, device="cpu", batch_size: int = 512):
    """The planted-spurious-feature check: how well F_spurious recovers the planted patches (per round),
    and how baseline and refined models do on test images without the patch and with a random class's patch.

    ``detections``: spurious.json contents in round order; ``models``: label -> model. Returns tidy rows.
    """
    import torch

    from ...data import batches
    rows = []
    boxes = data.extra("class_patch_boxes")
    for r, det in enumerate(detections):
        truth = planted_truth(boxes, det["image_size"][0], det["patch"])
        per_class = np.array(det["sets"]["per_class"], bool)
        for scope, found, want in (("per class", per_class, truth),
                                   ("global", np.array(det["sets"]["global"], bool), truth.any(0))):
            for metric, value in overlap_with_truth(found, want).items():
                rows.append(dict(part="detection", item=f"round {r} ({scope})", metric=metric, value=float(value)))
    rand_x = data.extra("test_random_patch_x")
    rand_cls = np.asarray(data.extra("test_random_patch_class"))
    y = np.asarray(data.test_y)
    for label, model in models.items():
        model.eval().to(device)
        preds = {}
        with torch.no_grad():
            for name, x in (("no patch", data.test_x), ("random patch", rand_x)):
                preds[name] = torch.cat([model(xb).argmax(1).cpu() for xb, _ in
                                         batches.iterate(x, y, batch_size, device)]).numpy()
        rows.append(dict(part="accuracy", item=label, metric="test accuracy, no patch (%)",
                         value=100 * float((preds["no patch"] == y).mean())))
        rows.append(dict(part="accuracy", item=label, metric="test accuracy, random patch (%)",
                         value=100 * float((preds["random patch"] == y).mean())))
        follows = rand_cls != y
        rows.append(dict(part="accuracy", item=label, metric="follows the patch when it disagrees (%)",
                         value=100 * float((preds["random patch"][follows] == rand_cls[follows]).mean())))
    return rows
