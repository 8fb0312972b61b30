"""G-LIME (Li et al., Artificial Intelligence 2022): LIME with global priors and a modified ElasticNet.

Everything here runs on the *same* LIME sample set as :mod:`interprobust.explain.lime` (there is one
LIME: its masks, kernel weights and batched model queries are reused, never re-implemented). On one
image's samples -- X (n, d) binary masks, y (n,) model probabilities, w (n,) kernel weights -- the
estimators of the paper's Table 1 are

=====================  ==============================================  ===============================
name                   estimator                                        function
=====================  ==============================================  ===============================
LIME                   LASSO-path selection + weighted Ridge            :func:`lime_selection_ridge`
G-LIME-x               same selection + Ridge pulled to the prior       :func:`glime_ridge`
LIME-Path              modified ElasticNet path, zero prior             :func:`elastic_net_path`
G-LIME-x-Path          modified ElasticNet path, prior b_prior          :func:`elastic_net_path`
=====================  ==============================================  ===============================

**Sample weights and the intercept (all four estimators).** The paper writes Eq. 7 without the sample
weights D ("integrated into the inner product") and without an intercept. We fit an *unpenalised
intercept with sample weights w*, exactly like ``lime`` (and :func:`~interprobust.explain.lime.fit_surrogate`):
minimising ``sum_i w_i (y_i - c - x_i b)^2 + penalty(b)`` over c gives c = ybar_w - xbar_w b (weighted
means), and what is left is the un-weighted problem on

    Xw = sqrt(w) * (X - xbar_w),     yw = sqrt(w) * (y - ybar_w)        (rows scaled by sqrt(w_i)),

which is also what ``lime``'s ``feature_selection='lasso_path'`` feeds to ``lars_path``. So the paper's
X, y are our Xw, yw, and every statement below holds for the weighted, intercept-carrying problem.

**Standardisation (``standardize=True``, the default: the authors' InterpretDL recipe).** After the
weighted centring, every column of X and y is scaled to unit L2 norm (over the n samples, before the
sqrt(w) row weighting): Xs_j = Xc_j / ||Xc_j||, ys = yc / ||yc||, then Xw = sqrt(w) Xs, yw = sqrt(w) ys.
Every estimator (LIME included) is fitted on that scale, so diag(Xw'Xw) = sum_i w_i Xs_ij^2 stays
O(1) for every n and l2 keeps the same pull towards the (L1-normalised) prior at n = 100 and 3000;
without it diag ~ n / 8 and the prior's effect vanishes as n grows. The fitted b lives on the
standardised scale (the prior, the ranking and the path are there, as in InterpretDL); ``coef`` is
returned in the model's units, b_j ||yc|| / ||Xc_j||, with the intercept ybar_w - xbar_w . coef, so
fidelity and heat maps are in probability units. ``standardize=False``: the unscaled problem above.

**The modified ElasticNet (Eq. 7) and its path (Eq. 8).** With A = [Xw; sqrt(l2) I] and
c = [yw; sqrt(l2) b_prior] (n + d rows),

    ||Xw b - yw||^2 + l1 ||b||_1 + l2 ||b - b_prior||^2  =  ||A b - c||^2 + l1 ||b||_1,

a LASSO. We run scikit-learn's LARS-LASSO on it in Gram form, ``lars_path_gram(Xy=A'c, Gram=A'A,
n_samples=n+d, method='lasso')`` with A'A = Xw'Xw + l2 I and A'c = Xw'yw + l2 b_prior -- literally the
quadratic of Eq. 8 -- which returns the same path as ``lars_path(A, c, method='lasso')`` (tested) without
forming A. **Alpha scaling:** scikit-learn minimises (1 / (2 N)) ||A b - c||^2 + alpha ||b||_1 with N the
number of rows, so the paper's l1 = 2 N alpha with N = n + d (the augmented rows count, also when
l2 = 0). :class:`ElasticNetPath` stores both ``alphas`` (scikit-learn's) and ``lambda1`` (= 2 N alphas);
``coef_at(l1)`` interpolates linearly between breakpoints, which is exact because the LASSO path is
piecewise linear in l1. The path runs to l1 = 0, where the solution is the ridge pulled to the prior
(= G-LIME-x without selection).

**Ranking.** Features are ranked by the step at which their coefficient first becomes nonzero along
the path (decreasing l1; a feature that leaves and re-enters keeps its first entry). Features entering
at the same step are ordered by |final coefficient| (the l1 -> 0 end), then by index; features that
never enter come last, ordered the same way.

**LIME's selection rule** (``lime``'s ``lasso_path``): ``lars_path(Xw, yw, method='lasso')`` on the
weighted, centred data, then the last point of the path with at most ``n_features`` nonzero
coefficients; its nonzero features are selected (so possibly fewer than ``n_features`` when features
leave the path). LIME fits a weighted Ridge(alpha) with an intercept on them (the estimator of
``fit_surrogate``); G-LIME-x fits argmin ||Xw b - yw||^2 + l2 ||b - b_prior||^2 on them, computed as
b_prior + the Ridge fit of the residual yw - Xw b_prior, so G-LIME-x with a zero prior is LIME with
alpha = l2. With every feature selected (``n_features`` None, the default) no LASSO path is run.

**Global priors** (Sec. 2.2, :func:`global_prior`) aggregate a matrix B (m explanations x K clusters,
0 where a cluster does not occur): SP, AVG, NormLIME, Homogeneity. **Superpixel clusters** (Alg. 2):
:func:`superpixel_features` pools the first convolutional stage's output (:func:`first_stage`) over
each superpixel, :func:`fit_clusters` runs K-Means (K = 100), :func:`assign_clusters` maps superpixels
to the nearest centre, :func:`to_cluster_space` / :func:`prior_for_image` move coefficients and priors
between an image's d superpixels and the K clusters.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .lime import Lime, LimeResult

__all__ = [
    "ElasticNetPath", "SelectionFit", "GLime", "GLimeResult", "PRIOR_KINDS", "weighted_centred", "scales",
    "pull_factor",
    "lasso_selection", "lime_selection_ridge", "glime_ridge", "elastic_net_path", "entry_ranking",
    "global_prior", "first_stage", "superpixel_features", "fit_clusters", "assign_clusters",
    "to_cluster_space", "prior_for_image",
]


# ------------------------------------------------------------------------------- estimators (one image)
def weighted_centred(X, y, w, standardize: bool = False):
    """(Xw, yw, xbar_w, ybar_w): rows centred on the w-weighted means, then scaled by sqrt(w); float64.

    ``standardize``: between the two steps every column of X and y is scaled to unit L2 norm (the
    authors' recipe; a constant column or y keeps scale 1); :func:`scales` gives those norms."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or w.shape != (X.shape[0],):
        raise ValueError(f"expected X (n, d), y (n,), w (n,); got {X.shape}, {y.shape}, {w.shape}")
    if not (w >= 0).all() or w.sum() <= 0:
        raise ValueError("sample weights must be non-negative with a positive sum")
    sw = w / w.sum()
    x_mean, y_mean = sw @ X, float(sw @ y)
    Xc, yc = X - x_mean, y - y_mean
    if standardize:
        sx, sy = scales(Xc, yc)
        Xc, yc = Xc / sx, yc / sy
    sq = np.sqrt(w)
    return Xc * sq[:, None], yc * sq, x_mean, y_mean


def scales(Xc, yc) -> tuple[np.ndarray, float]:
    """Column norms of centred X (d,) and the norm of centred y; a zero norm counts as 1."""
    sx = np.linalg.norm(Xc, axis=0)
    sy = float(np.linalg.norm(yc))
    return np.where(sx > 1e-12, sx, 1.0), (sy if sy > 1e-12 else 1.0)


def _unit_scale(X, y, w, standardize: bool) -> np.ndarray:
    """Per feature, the factor from the fit's scale to the model's units: ||yc|| / ||Xc_j|| (1 if not
    standardised)."""
    X = np.asarray(X, dtype=np.float64)
    if not standardize:
        return np.ones(X.shape[1])
    w = np.asarray(w, dtype=np.float64)
    sw = w / w.sum()
    yv = np.asarray(y, dtype=np.float64)
    sx, sy = scales(X - sw @ X, yv - float(sw @ yv))
    return sy / sx


def pull_factor(X, w, lam2: float, standardize: bool = True) -> float:
    """lam2 / (lam2 + mean diag(Xw'Xw)): how strongly Eq. 7's l2 term pulls the fit towards the prior
    (1: only the prior, 0: only the data) on one image's samples."""
    Xw, _, _, _ = weighted_centred(X, np.zeros(len(X)), w, standardize)
    diag = float((Xw ** 2).sum(0).mean()) if Xw.shape[1] else 0.0
    return float(lam2) / (float(lam2) + diag) if lam2 + diag > 0 else 0.0


def entry_ranking(coefs: np.ndarray, final: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank features by first entry into a path ``coefs`` (d, k): (ranking (d,), entry_step (d,)).

    ``entry_step[j]`` is the first path index where feature j is nonzero (k if never). Ties and
    never-entered features are ordered by |final| descending (default: the last path point), then index.
    """
    coefs = np.asarray(coefs)
    d, k = coefs.shape
    nz = coefs != 0
    entry = np.where(nz.any(1), nz.argmax(1), k)
    final = coefs[:, -1] if final is None and k else (np.zeros(d) if final is None else np.asarray(final))
    ranking = np.lexsort((np.arange(d), -np.abs(final), entry))  # primary key last
    return ranking.astype(np.int64), entry.astype(np.int64)


@dataclass
class ElasticNetPath:
    """The modified-ElasticNet path of one image (see the module docstring for the parametrisation)."""

    alphas: np.ndarray      # (k,) scikit-learn's alphas, decreasing to 0 (= l1 / (2 n_rows))
    lambda1: np.ndarray     # (k,) the paper's l1 at each breakpoint (= 2 n_rows alphas)
    coefs: np.ndarray       # (d, k) coefficients at each breakpoint
    ranking: np.ndarray     # (d,) feature indices, most important (earliest entry) first
    entry_step: np.ndarray  # (d,) breakpoint index of first entry (k: never entered)
    coef: np.ndarray        # (d,) coefficients at the end of the path (l1 -> 0)
    intercept: float        # ybar_w - xbar_w . coef
    n_rows: int             # rows of the augmented system, n + d
    lam2: float

    def coef_at(self, lam1: float) -> np.ndarray:
        """Coefficients at the paper's l1 (exact: linear interpolation between breakpoints)."""
        if lam1 >= self.lambda1[0]:
            return np.zeros_like(self.coef)
        if lam1 <= self.lambda1[-1]:
            return self.coefs[:, -1].copy()
        i = int(np.searchsorted(-self.lambda1, -lam1, side="right"))  # lambda1[i-1] > lam1 >= lambda1[i]
        l0, l1_ = self.lambda1[i - 1], self.lambda1[i]
        t = (l0 - lam1) / (l0 - l1_)
        return (1 - t) * self.coefs[:, i - 1] + t * self.coefs[:, i]


def elastic_net_path(X, y, w, prior=None, lam2: float = 1.0, max_iter: int | None = None,
                     standardize: bool = False) -> ElasticNetPath:
    """LIME-Path (``prior`` None or zero) / G-LIME-x-Path: the whole l1 path of
    argmin_b sum_i w_i (y_i - c - x_i b)^2 + l1 ||b||_1 + lam2 ||b - prior||^2 by LARS-LASSO on the
    augmented system (module docstring). X (n, d), y (n,), w (n,), prior (d,) -> :class:`ElasticNetPath`.
    ``standardize``: the path (``coefs``, ``lambda1``) and the prior are on the standardised scale;
    ``coef`` / ``intercept`` are the path's end in the model's units.
    """
    from sklearn.linear_model import lars_path_gram
    Xw, yw, x_mean, y_mean = weighted_centred(X, y, w, standardize)
    n, d = Xw.shape
    if lam2 < 0:
        raise ValueError(f"lam2 must be >= 0; got {lam2}")
    p = np.zeros(d) if prior is None else np.asarray(prior, dtype=np.float64).reshape(-1)
    if p.shape != (d,):
        raise ValueError(f"prior must have one value per feature ({d}); got shape {p.shape}")
    n_rows = n + d
    if d == 0:
        z = np.zeros(0)
        return ElasticNetPath(np.zeros(1), np.zeros(1), np.zeros((0, 1)), z.astype(np.int64), z.astype(np.int64),
                              z, y_mean, n_rows, float(lam2))
    gram = Xw.T @ Xw + lam2 * np.eye(d)      # A'A
    xy = Xw.T @ yw + lam2 * p                # A'c
    alphas, _, coefs = lars_path_gram(xy, gram, n_samples=n_rows, method="lasso", alpha_min=0.0,
                                      max_iter=max_iter or max(500, 10 * d))
    final = coefs[:, -1].copy()
    ranking, entry = entry_ranking(coefs, final)
    final = final * _unit_scale(X, y, w, standardize)
    return ElasticNetPath(alphas=alphas, lambda1=2.0 * n_rows * alphas, coefs=coefs, ranking=ranking,
                          entry_step=entry, coef=final, intercept=float(y_mean - x_mean @ final),
                          n_rows=n_rows, lam2=float(lam2))


def lasso_selection(X, y, w, n_features: int, standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``lime``'s ``lasso_path`` selection: (selected indices, path entry ranking (d,)).

    ``lars_path(Xw, yw, method='lasso')`` on the weighted, centred data; the last path point with at
    most ``n_features`` nonzero coefficients gives the selection (``lime``'s loop, including its
    fall-back to the first step when no point qualifies).
    """
    from sklearn.linear_model import lars_path
    Xw, yw, _, _ = weighted_centred(X, y, w, standardize)
    d = Xw.shape[1]
    if d == 0 or n_features <= 0:
        return np.zeros(0, dtype=np.int64), np.arange(d, dtype=np.int64)
    _, _, coefs = lars_path(Xw, yw, method="lasso", max_iter=max(500, 10 * d))
    k = coefs.shape[1]
    selected = np.flatnonzero(coefs[:, min(1, k - 1)])
    for i in range(k - 1, 0, -1):
        nz = np.flatnonzero(coefs[:, i])
        if len(nz) <= n_features:
            selected = nz
            break
    return selected.astype(np.int64), entry_ranking(coefs)[0]


@dataclass
class SelectionFit:
    """LIME / G-LIME-x on one image."""

    coef: np.ndarray      # (d,) zero outside the selection
    intercept: float
    selected: np.ndarray  # selected feature indices
    ranking: np.ndarray   # (d,) selected by |coef| descending, then the rest in LASSO-path entry order


def _ridge_on_selection(X, y, w, prior, n_features, lam2, standardize: bool = False) -> SelectionFit:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = X.shape[1]
    p = np.zeros(d) if prior is None else np.asarray(prior, dtype=np.float64).reshape(-1)
    if p.shape != (d,):
        raise ValueError(f"prior must have one value per feature ({d}); got shape {p.shape}")
    if n_features is None or n_features >= d:     # every feature selected: no LASSO path needed
        selected, path_rank = np.arange(d, dtype=np.int64), np.arange(d, dtype=np.int64)
    else:
        selected, path_rank = lasso_selection(X, y, w, n_features, standardize)
    coef = np.zeros(d)
    Xw, yw, x_mean, y_mean = weighted_centred(X[:, selected], y, w, standardize)
    if len(selected) == 0:
        return SelectionFit(coef, y_mean, selected, path_rank)
    ps = p[selected]
    # argmin ||Xw b - yw||^2 + lam2 ||b - p||^2 = p + the ridge fit of the residual yw - Xw p
    gram = Xw.T @ Xw + lam2 * np.eye(len(selected))
    rhs = Xw.T @ (yw - Xw @ ps)
    try:
        delta = np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:               # lam2 = 0 with collinear columns: minimum-norm solution
        delta = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    fitted = ps + delta                         # on the fit's scale (standardised or not): ranks
    coef[selected] = fitted * _unit_scale(X[:, selected], y, w, standardize)
    rest = path_rank[~np.isin(path_rank, selected)]
    order = selected[np.lexsort((selected, -np.abs(fitted)))]
    return SelectionFit(coef, float(y_mean - x_mean @ coef[selected]), selected,
                        np.concatenate([order, rest]).astype(np.int64))


def lime_selection_ridge(X, y, w, n_features: int, alpha: float = 1.0, standardize: bool = False) -> SelectionFit:
    """"LIME" of Table 1: ``lime``'s LASSO-path selection of ``n_features``, then weighted Ridge(alpha)
    with an intercept on them (``lime``'s ``explain_instance_with_data(feature_selection='lasso_path')``;
    with ``standardize`` on the standardised scale)."""
    return _ridge_on_selection(X, y, w, None, n_features, alpha, standardize)


def glime_ridge(X, y, w, prior, n_features: int, lam2: float = 1.0, standardize: bool = False) -> SelectionFit:
    """"G-LIME-x" of Table 1: the same selection, then argmin ||X b - y||_w^2 + lam2 ||b - prior||^2
    (with an unpenalised intercept) on the selected features."""
    return _ridge_on_selection(X, y, w, prior, n_features, lam2, standardize)


# ------------------------------------------------------------------------------------- global priors
PRIOR_KINDS = ("SP", "AVG", "NormLIME", "Homogeneity")
_PRIOR_ALIASES = {"sp": "SP", "avg": "AVG", "normlime": "NormLIME", "n": "NormLIME", "homogeneity": "Homogeneity",
                  "h": "Homogeneity"}


def global_prior(B, kind: str, classes=None) -> np.ndarray:
    """Aggregate local explanations B (m, K) into a K-dim global prior (paper Sec. 2.2, Eq. 3-6).

    ``kind`` (case-insensitive; aliases N, H): SP: sqrt(sum_i |B_ij|); AVG: sum_i |B_ij| / #{i: B_ij != 0};
    NormLIME: (1 / #{i: B_ij != 0}) sum_i B_ij^2 / ||B_i||_1; Homogeneity: (1 - (H_j - H_min) / (H_max -
    H_min)) * SP_j with H_j the entropy (natural log) over classes of p_j(c) = sqrt(sum_{i in S_c} |B_ij|) /
    sum_c' sqrt(sum_{i in S_c'} |B_ij|) -- needs ``classes`` (m,). Conventions: a column with no nonzero
    entry gets 0 (AVG, NormLIME, Homogeneity); an all-zero row adds nothing to NormLIME; H_min / H_max run
    over the columns with a nonzero entry; if H_max == H_min the factor is 1.
    """
    B = np.asarray(B, dtype=np.float64)
    if B.ndim != 2:
        raise ValueError(f"B must be (m explanations, K features); got shape {B.shape}")
    name = _PRIOR_ALIASES.get(str(kind).lower())
    if name is None:
        raise ValueError(f"unknown global prior {kind!r}; valid: {', '.join(PRIOR_KINDS)} (aliases N, H)")
    A = np.abs(B)
    count = (B != 0).sum(0)
    safe = np.maximum(count, 1)
    if name == "SP":
        return np.sqrt(A.sum(0))
    if name == "AVG":
        return np.where(count > 0, A.sum(0) / safe, 0.0)
    if name == "NormLIME":
        l1 = A.sum(1, keepdims=True)
        terms = np.divide(B ** 2, l1, out=np.zeros_like(B), where=l1 > 0)
        return np.where(count > 0, terms.sum(0) / safe, 0.0)
    if classes is None:
        raise ValueError("the Homogeneity prior needs the class label of every explanation: pass classes=(m,) "
                         "labels (SP, AVG and NormLIME need none)")
    classes = np.asarray(classes).reshape(-1)
    if len(classes) != len(B):
        raise ValueError(f"classes must have one label per row of B ({len(B)}); got {len(classes)}")
    labels, inv = np.unique(classes, return_inverse=True)
    per_class = np.zeros((len(labels), B.shape[1]))
    np.add.at(per_class, inv, A)
    root = np.sqrt(per_class)
    tot = root.sum(0)
    present = tot > 0
    p = np.divide(root, tot, out=np.zeros_like(root), where=present[None, :])
    ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(0)
    sp = np.sqrt(A.sum(0))
    if not present.any():
        return sp
    h_min, h_max = ent[present].min(), ent[present].max()
    factor = np.ones_like(ent) if h_max == h_min else 1.0 - (ent - h_min) / (h_max - h_min)
    return np.where(present, factor * sp, 0.0)


# ------------------------------------------------------------------------------- superpixel clusters
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Softplus, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Hardswish, nn.Mish)


def first_stage(model: nn.Module) -> nn.Sequential:
    """The model's first convolutional stage as a frozen, eval-mode copy: [Normalize, (grey->RGB),] first
    Conv2d, then the BatchNorm / activation modules that directly follow it in the same parent.

    Works for every architecture of :mod:`interprobust.models`: resnet18 (stem conv-BN-act; the ImageNet
    stem's max-pool is left out), convnet (conv-BN-act), lenet (conv-act), mobilenetv2 (conv-BN-act),
    wrn28 (the stem conv alone: pre-activation network), torchvision resnet101 (conv1-bn1-relu), alexnet
    (conv-ReLU), efficientnet_b0 (conv-BN-SiLU). For other models without a ``normalize`` attribute whose
    first conv sits in an ``nn.Sequential``, the modules before it in that Sequential are included.
    """
    prefix = [m for m in (getattr(model, "normalize", None), getattr(model, "to_rgb", None))
              if isinstance(m, nn.Module)]
    conv_name = next((name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if conv_name is None:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d: no first convolutional stage")
    parent_name, _, child = conv_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    children = list(parent.named_children())
    idx = [n for n, _ in children].index(child)
    if not prefix and isinstance(parent, nn.Sequential):
        prefix = [m for _, m in children[:idx]]
    stage = [children[idx][1]]
    for _, m in children[idx + 1:]:
        if not isinstance(m, (nn.BatchNorm2d, *_ACTIVATIONS)):
            break
        stage.append(m)
    out = copy.deepcopy(nn.Sequential(*prefix, *stage)).eval()
    return out.requires_grad_(False)


@torch.no_grad()
def superpixel_features(model_stem, images: torch.Tensor, segments: torch.Tensor, centroid: bool = True,
                        batch_size: int = 16) -> torch.Tensor:
    """Alg. 2's superpixel feature vectors: (total superpixels, F) float32 on ``images``' device.

    ``model_stem(images)`` (e.g. :func:`first_stage`) gives (N, C, h, w), resized to the image by bilinear
    interpolation (align_corners=False); per superpixel the mean over its pixels (F = C) or, with
    ``centroid`` (InterpretDL), [feature at the pixel nearest its centroid (row, col rounded half up, as
    InterpretDL), mean] (F = 2C); each row L2-normalised. ``segments`` (N, H, W) hold labels 0..d_i-1 per
    image; rows are image 0's superpixels 0..d_0-1, then image 1's, ... (d_i = segments[i].max() + 1; an
    unused label gives a zero row). Pooling is one ``scatter_add`` per batch of images.
    """
    if images.ndim != 4 or segments.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"expected images (N, C, H, W) and segments (N, H, W); got {tuple(images.shape)}, "
                         f"{tuple(segments.shape)}")
    segments = segments.to(images.device).long()
    n_img, _, h, w = images.shape
    counts_per_image = segments.flatten(1).amax(1) + 1
    rows, cols = torch.meshgrid(torch.arange(h, device=images.device, dtype=torch.float64),
                                torch.arange(w, device=images.device, dtype=torch.float64), indexing="ij")
    out = []
    for i0 in range(0, n_img, batch_size):
        x = images[i0:i0 + batch_size]
        seg = segments[i0:i0 + batch_size]
        feat = model_stem(x).float()
        if feat.shape[-2:] != (h, w):
            feat = nn.functional.interpolate(feat, size=(h, w), mode="bilinear", align_corners=False)
        b, c = feat.shape[:2]
        offsets = torch.cumsum(counts_per_image[i0:i0 + b], 0) - counts_per_image[i0:i0 + b]
        total = int(counts_per_image[i0:i0 + b].sum())
        ids = (seg + offsets[:, None, None]).flatten()                          # (b H W,) global superpixel id
        pix = feat.permute(0, 2, 3, 1).reshape(-1, c)                           # (b H W, C)
        sums = torch.zeros(total, c, device=feat.device).index_add_(0, ids, pix)
        size = torch.zeros(total, device=feat.device, dtype=torch.float64).index_add_(
            0, ids, torch.ones_like(ids, dtype=torch.float64))
        mean = sums / size.clamp_min(1)[:, None].float()
        if centroid:
            cy = torch.zeros(total, device=feat.device, dtype=torch.float64).index_add_(
                0, ids, rows.flatten().repeat(b))
            cx = torch.zeros(total, device=feat.device, dtype=torch.float64).index_add_(
                0, ids, cols.flatten().repeat(b))
            cy = torch.floor(cy / size.clamp_min(1) + 0.5).long().clamp_(0, h - 1)
            cx = torch.floor(cx / size.clamp_min(1) + 0.5).long().clamp_(0, w - 1)
            img_of = torch.repeat_interleave(torch.arange(b, device=feat.device), counts_per_image[i0:i0 + b])
            at = pix[(img_of * h + cy) * w + cx] * (size > 0)[:, None].float()
            mean = torch.cat([at, mean], 1)
        out.append(nn.functional.normalize(mean, dim=1))
    return torch.cat(out, 0)


def fit_clusters(features, k: int = 100, seed: int = 0, n_init: int = 1, max_iter: int = 300) -> np.ndarray:
    """K-Means (scikit-learn, k-means++ init, ``n_init`` restarts) on superpixel features: (k, F) centres."""
    from sklearn.cluster import KMeans
    F = features.detach().cpu().numpy() if torch.is_tensor(features) else np.asarray(features)
    F = F.astype(np.float64)
    if len(F) < k:
        raise ValueError(f"K-Means with k={k} needs at least k superpixel features; got {len(F)}")
    return KMeans(n_clusters=k, random_state=seed, n_init=n_init, max_iter=max_iter).fit(F).cluster_centers_


def assign_clusters(features, centres) -> np.ndarray:
    """Nearest centre (Euclidean; ties: lowest index) of every feature row: (n,) int64."""
    from sklearn.metrics import pairwise_distances_argmin
    F = features.detach().cpu().numpy() if torch.is_tensor(features) else np.asarray(features)
    C = centres.detach().cpu().numpy() if torch.is_tensor(centres) else np.asarray(centres)
    return pairwise_distances_argmin(F.astype(np.float64), C.astype(np.float64)).astype(np.int64)


def to_cluster_space(coef, cluster_ids, K: int, reduce: str = "mean") -> np.ndarray:
    """One image's coefficients (d,) -> (K,) over clusters: superpixels of the same cluster are combined
    by ``reduce`` ('mean' or 'sum'); clusters absent from the image get 0. Stack rows to build B."""
    coef = np.asarray(coef, dtype=np.float64).reshape(-1)
    ids = np.asarray(cluster_ids, dtype=np.int64).reshape(-1)
    if coef.shape != ids.shape:
        raise ValueError(f"coef and cluster_ids must have the same length; got {coef.shape}, {ids.shape}")
    if reduce not in ("mean", "sum"):
        raise ValueError(f"unknown reduce {reduce!r}; valid: mean, sum")
    out = np.bincount(ids, weights=coef, minlength=K)[:K]
    if reduce == "mean":
        out = out / np.maximum(np.bincount(ids, minlength=K)[:K], 1)
    return out


def prior_for_image(prior_K, cluster_ids) -> np.ndarray:
    """A K-dim global prior -> the image's d superpixels (each takes its cluster's value): (d,)."""
    return np.asarray(prior_K, dtype=np.float64)[np.asarray(cluster_ids, dtype=np.int64)]


# ------------------------------------------------------------------------------------------ explainer
@dataclass
class GLimeResult:
    coef: torch.Tensor            # (B, d) coefficients (path: l1 -> 0 end; ridge: the fit), 0 for absent features
    intercept: torch.Tensor       # (B,)
    score: torch.Tensor           # (B,) weighted R^2 of ``coef`` on the samples
    ranking: list[np.ndarray]     # per image: its present features, most important first
    paths: list[ElasticNetPath | None]  # per image (method 'path'), in the image's present-feature indexing
    features: list[np.ndarray]    # per image: the present feature labels (path / prior index -> label)
    lime: LimeResult              # the shared LIME samples (masks, targets, weights) and plain LIME ridge
    pull: np.ndarray | None = None  # (B,) lam2 / (lam2 + mean diag(Xw'Xw)) of each image (:func:`pull_factor`)

    @property
    def segments(self) -> torch.Tensor:
        return self.lime.segments

    def heatmap(self) -> torch.Tensor:
        """(B, H, W): every pixel gets its feature's coefficient."""
        return torch.gather(self.coef, 1, self.segments.flatten(1)).view_as(self.segments)


class GLime:
    """G-LIME explainer on :class:`~interprobust.explain.lime.Lime`'s samples.

    ``method='path'``: the modified ElasticNet path (LIME-Path with no prior, G-LIME-x-Path with one);
    ``method='ridge'``: LASSO selection of ``n_features`` + Ridge (LIME with no prior, G-LIME-x with one).
    ``lam2`` is l2 (Eq. 7; also LIME's Ridge alpha for ``method='ridge'``). ``n_features`` None selects
    all (``lime_image``'s default). ``standardize`` (default True, the authors' recipe): every estimator
    is fitted with the columns of X and y scaled to unit norm (module docstring); the prior is on that
    scale. Priors passed to :meth:`explain` are rescaled per image over its present features:
    ``prior_norm='l1'`` (default, InterpretDL) divides by their L1 norm, ``'match'`` scales them to the
    L1 norm of the image's own no-prior fit (same method, same scale), None leaves them; then times
    ``prior_scale``. Other keyword arguments build the :class:`Lime` (or pass ``lime=``).
    """

    METHODS = ("path", "ridge")
    PRIOR_NORMS = (None, "l1", "match")

    def __init__(self, method: str = "path", lam2: float = 1.0, n_features: int | None = None,
                 prior_norm: str | None = "l1", prior_scale: float = 1.0, standardize: bool = True,
                 lime: Lime | None = None, **lime_kwargs):
        if method not in self.METHODS:
            raise ValueError(f"unknown G-LIME method {method!r}; valid: {', '.join(self.METHODS)}")
        if prior_norm not in self.PRIOR_NORMS:
            raise ValueError(f"unknown prior_norm {prior_norm!r}; valid: None, l1, match")
        if lime is not None and lime_kwargs:
            raise ValueError("pass either lime= or Lime keyword arguments, not both")
        self.method, self.lam2, self.n_features = method, float(lam2), n_features
        self.prior_norm, self.prior_scale, self.standardize = prior_norm, float(prior_scale), bool(standardize)
        self.lime = lime if lime is not None else Lime(**lime_kwargs)

    def _prior(self, prior, b: int, idx: np.ndarray, X, y, w) -> np.ndarray | None:
        if prior is None:
            return None
        row = prior[b]
        row = row.detach().cpu().numpy() if torch.is_tensor(row) else np.asarray(row)
        row = row.astype(np.float64).reshape(-1)
        if len(row) <= idx.max():
            raise ValueError(f"prior of image {b} has {len(row)} values; its features go up to {idx.max()}")
        p = row[idx]
        scale = np.abs(p).sum()
        if self.prior_norm == "l1" and scale > 0:
            p = p / scale
        elif self.prior_norm == "match" and scale > 0:
            own = self._fit(X, y, w, None)[0]     # the no-prior fit on the fit's own scale
            p = p * (np.abs(own).sum() / scale)
        return p * self.prior_scale

    def _fit(self, X, y, w, prior):
        """(b on the fit's scale, coef in model units, intercept, ranking, path or None)."""
        if self.method == "path":
            path = elastic_net_path(X, y, w, prior, self.lam2, standardize=self.standardize)
            return path.coefs[:, -1] if path.coefs.size else path.coef, path.coef, path.intercept, path.ranking, path
        k = X.shape[1] if self.n_features is None else self.n_features
        fit = glime_ridge(X, y, w, prior, k, self.lam2, standardize=self.standardize)
        return fit.coef / _unit_scale(X, y, w, self.standardize), fit.coef, fit.intercept, fit.ranking, None

    def fit_samples(self, X, y, w, prior=None):
        """This explainer's estimator on one image's samples: (coef (d,) in model units, intercept,
        weighted R^2, ranking, path or None)."""
        _, c, icpt, rank, path = self._fit(X, y, w, prior)
        resid = y - (X @ c + icpt)
        ss_tot = (w * (y - np.average(y, weights=w)) ** 2).sum()
        return c, icpt, 1.0 - (w * resid ** 2).sum() / max(ss_tot, 1e-30), rank, path

    def explain(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None,
                segments: torch.Tensor | None = None, prior=None) -> GLimeResult:
        """Explain ``model``'s probability of ``target`` for images x in [0, 1] (batched model queries).

        ``prior``: None (LIME / LIME-Path), a (B, d) array / tensor, or a sequence of per-image 1-D arrays
        indexed by feature label (e.g. :func:`prior_for_image` output); values of absent labels are unused.
        """
        return self.fit(self.lime.explain(model, x, target, segments), prior)

    def fit(self, res: LimeResult, prior=None) -> GLimeResult:
        """This estimator on LIME samples already drawn (``Lime.explain``'s result): every estimator of a
        study reuses one set of model queries per image."""
        masks = res.masks.cpu().numpy()
        targets = res.targets.double().cpu().numpy()
        weights = res.weights.double().cpu().numpy()
        seg = res.segments
        d = masks.shape[-1]
        b_total = masks.shape[0]
        present = torch.zeros(b_total, d, dtype=torch.bool, device=seg.device)
        present.scatter_(1, seg.flatten(1), True)
        present = present.cpu().numpy()
        coef = np.zeros((b_total, d))
        intercept, score, pull = np.zeros(b_total), np.zeros(b_total), np.zeros(b_total)
        rankings, paths, feats = [], [], []
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, user_api="blas"):  # tiny per-image problems: no BLAS threads fighting torch's
            for b in range(b_total):
                idx = np.flatnonzero(present[b])
                X = masks[b][:, idx].astype(np.float64)
                p = self._prior(prior, b, idx, X, targets[b], weights[b])
                coef[b, idx], intercept[b], score[b], rank, path = self.fit_samples(X, targets[b], weights[b], p)
                pull[b] = pull_factor(X, weights[b], self.lam2, self.standardize)
                rankings.append(idx[rank])
                paths.append(path)
                feats.append(idx)
        dev = res.coef.device
        return GLimeResult(torch.from_numpy(coef).float().to(dev), torch.from_numpy(intercept).float().to(dev),
                           torch.from_numpy(score).float().to(dev), rankings, paths, feats, res, pull)
