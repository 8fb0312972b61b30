"""Explanation metrics for the four papers, batched on the model's device.

Inputs are plain tensors and callables, so this module does not depend on any explainer: an
attribution method is a callable ``explain(model, x, target) -> (B, C, H, W)``. Images are float
``(B, C, H, W)`` in [0, 1] (normalisation is the model's first layer), every ``eps`` is in [0, 1]
pixel units and every random draw comes from a ``torch.Generator`` seeded explicitly on the model's
device. Perturbed images are built with one tensor op per chunk and sent to the model in large
batches (``batch_size``: ``None`` = 1024 on a GPU, 64 on a CPU); results come back on ``x``'s device.

* Similarities of maps, per sample: :func:`cosine_similarity`, :func:`pearson`, :func:`ssim`.
* :func:`heatmap` (from ``explain.maps``): AGA's post-processing (abs -> sum over channels -> per-sample max).
* AGA: :func:`rps` (random perturbation similarity), :func:`insertion_curve`,
  :func:`adv_insertion_curve`, :func:`crc_upper_bound` (Theorem 6's bound against the CRC, Fig. 3b).
* G-LIME: :func:`deletion_insertion_curves` (superpixel deletion / insertion as InterpretDL does it),
  :func:`auc`, :func:`abpc`, :func:`local_fidelity`, :func:`stability`.

The explanation loss of the SEP paper lives with the normalised maps in ``explain.maps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .explain.maps import heatmap  # one implementation of the normalised map, shared with the explanations
from .nn import eval_mode, model_device, resolve_target

__all__ = [
    "cosine_similarity", "pearson", "ssim", "gaussian_window", "SIMILARITIES", "heatmap",
    "rps_noise", "rps", "INSERTION_FRACTIONS", "AGA_CODE_FRACTIONS", "insertion_curve",
    "adv_insertion_curve", "crc_upper_bound", "DeletionInsertion", "deletion_insertion_curves",
    "auc", "abpc", "local_fidelity", "stability",
]

Explain = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# similarities of two maps, per sample


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B,) cosine similarity of the flattened maps (``torch.nn.functional.cosine_similarity``)."""
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=eps)


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B,) Pearson correlation of the flattened maps (``numpy.corrcoef``; 0, not NaN, for a constant
    map). AGA's code divides a population covariance by sample standard deviations, i.e. its PCC is
    ours times (n - 1) / n (0.999 at 32x32): we compute the exact coefficient."""
    a, b = a.flatten(1), b.flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    den = (a.square().sum(1) * b.square().sum(1)).sqrt().clamp_min(eps)
    return (a * b).sum(1) / den


def gaussian_window(taps: int, sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """(taps,) normalised 1-D Gaussian centred on the middle tap."""
    r = (taps - 1) / 2
    t = torch.arange(taps, dtype=torch.float64, device=device) - r
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return (g / g.sum()).to(dtype)


def _symmetric_index(n: int, r: int, device) -> torch.Tensor:
    """Indices of a length-n axis padded by r on each side with scipy's 'reflect' (d c b a | a b c d)."""
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _filter(x: torch.Tensor, g: torch.Tensor, padding: str) -> torch.Tensor:
    """Separable filter of (N, H, W) maps with the 1-D kernel g, output (N, H, W)."""
    r = (len(g) - 1) // 2
    x = x[:, None]
    if padding == "reflect":
        h, w = x.shape[-2:]
        x = x.index_select(2, _symmetric_index(h, r, x.device)).index_select(3, _symmetric_index(w, r, x.device))
        pad = (0, 0)
    else:
        pad = (r, r)
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(pad[0], 0))
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, pad[1]))
    return x[:, 0]


def ssim(a: torch.Tensor, b: torch.Tensor, window: int | None = 7, sigma: float = 1.5,
         data_range: float = 1.0, convention: str = "aga", k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """(B,) mean structural similarity of (B, H, W) maps with a Gaussian window (population covariances).

    ``data_range`` is 1 because every map compared here is an abs, max-normalised heatmap (values in
    [0, 1]); so ``C1 = (0.01 * 1)^2`` and ``C2 = (0.03 * 1)^2``. (AGA's code takes the range as
    ``max - min`` of the whole perturbed batch: 1 minus the batch's smallest value, ~1 for these maps.)

    ``convention``:

    * ``"aga"`` (default; RobustAGA's ``utils/metrics.py``, the pytorch-ssim recipe that gave the
      paper's numbers): a ``window``-tap Gaussian (7 taps, sigma 1.5, normalised), zero padding, mean
      over the whole map.
    * ``"skimage"``: ``skimage.metrics.structural_similarity(a, b, win_size=window,
      gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=data_range)``,
      reproduced to 1e-5: the filter is a Gaussian truncated at 3.5 sigma (11 taps at sigma 1.5,
      whatever ``window`` is), 'reflect' padding, mean over the map cropped by ``(window - 1) // 2``;
      ``window=None`` gives skimage's default (the filter's size).
    """
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"ssim takes two (B, H, W) maps of the same shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    a, b = a.to(dtype), b.to(dtype)
    if convention == "aga":
        taps = 7 if window is None else int(window)
        padding, crop = "zeros", 0
    elif convention == "skimage":
        taps = 2 * int(3.5 * sigma + 0.5) + 1
        padding, crop = "reflect", ((taps if window is None else int(window)) - 1) // 2
    else:
        raise ValueError(f"unknown SSIM convention {convention!r}; valid: aga, skimage")
    if taps % 2 != 1:
        raise ValueError(f"the window must have an odd number of taps; got {taps}")
    g = gaussian_window(taps, sigma, dtype, a.device)
    mu_a, mu_b = _filter(a, g, padding), _filter(b, g, padding)
    var_a = _filter(a * a, g, padding) - mu_a * mu_a
    var_b = _filter(b * b, g, padding) - mu_b * mu_b
    cov = _filter(a * b, g, padding) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    if crop:
        s = s[:, crop:s.shape[1] - crop, crop:s.shape[2] - crop]
    return s.flatten(1).to(torch.float64).mean(1).to(dtype)


SIMILARITIES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cosine": cosine_similarity, "pearson": pearson, "ssim": ssim,
}


# --------------------------------------------------------------------------------------------------
# helpers


def _default_batch(device: torch.device, batch_size: int | None) -> int:
    return int(batch_size) if batch_size else (1024 if device.type == "cuda" else 64)


def _fill(value, x: torch.Tensor) -> torch.Tensor:
    """A fill / baseline as a tensor broadcastable to x: a scalar, a per-channel (C,) vector or an image."""
    v = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if v.dim() == 1:
        if v.numel() != x.shape[1]:
            raise ValueError(f"a per-channel fill needs {x.shape[1]} values; got {v.numel()}")
        v = v.view(1, -1, 1, 1)
    return v.expand_as(x)


def _pixel_ranks(order_map: torch.Tensor, device) -> torch.Tensor:
    """(B, H*W) rank of every pixel in ``order_map`` (B, H, W) sorted descending, ties by pixel index."""
    b, hw = order_map.shape[0], order_map[0].numel()
    order = torch.argsort(order_map.detach().to(device).reshape(b, hw), dim=1, descending=True, stable=True)
    return torch.empty_like(order).scatter_(1, order, torch.arange(hw, device=device).expand(b, hw))


def _chunked_probs(model: nn.Module, make_batch: Callable[[int, int], torch.Tensor], n: int,
                   targets: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n,) softmax probability of ``targets[j]`` for the images ``make_batch(j0, j1)``, in chunks."""
    out = torch.empty(n, device=targets.device)
    with torch.no_grad():
        for j0 in range(0, n, batch_size):
            j1 = min(j0 + batch_size, n)
            probs = torch.softmax(model(make_batch(j0, j1)).float(), dim=1)
            out[j0:j1] = probs.gather(1, targets[j0:j1, None])[:, 0]
    return out


# --------------------------------------------------------------------------------------------------
# AGA: random perturbation similarity


def rps_noise(x: torch.Tensor, eps: float, n_noise: int, generator: torch.Generator) -> torch.Tensor:
    """(B, n_noise, C, H, W) draws ``clamp(x + U(-eps, eps), 0, 1)`` (eps in [0, 1] pixel units)."""
    noise = torch.empty((len(x), n_noise, *x.shape[1:]), dtype=x.dtype, device=x.device)
    noise.uniform_(-eps, eps, generator=generator)
    return (x[:, None] + noise).clamp_(0.0, 1.0)


def rps(model: nn.Module, explain: Explain, x: torch.Tensor, target, eps: float, n_noise: int = 10,
        seed: int = 0, similarities: Sequence[str] = ("cosine", "pearson", "ssim"),
        postprocess: Callable[[torch.Tensor], torch.Tensor] = heatmap,
        batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """Random perturbation similarity (AGA): ``{name: (B,)}``, the mean over ``n_noise`` uniform draws in
    the L-inf ``eps``-ball (clamped to [0, 1]) of ``similarity(h(x), h(x + noise))``, with
    ``h = postprocess(explain(model, ., target))`` (default :func:`heatmap`, AGA's abs max-normalised map).

    The reference map is computed once; all B * n_noise noisy images are explained in one batch unless
    ``batch_size`` caps the number explained per call (the draws do not depend on it). The noise comes
    from a generator seeded with ``seed`` on the model's device. (AGA's code clamps to the batch's
    min / max in normalised space, i.e. to the valid range up to the batch's extremes.)
    """
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps is in [0, 1] pixel units; got {eps}")
    unknown = set(similarities) - set(SIMILARITIES)
    if unknown:
        raise ValueError(f"unknown similarities {sorted(unknown)}; valid: {sorted(SIMILARITIES)}")
    out_device, device = x.device, model_device(model)
    x = x.detach().to(device)
    with eval_mode(model), torch.enable_grad():
        target = resolve_target(model, x, target)
        h0 = postprocess(explain(model, x, target)).detach()
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        xr = rps_noise(x, eps, n_noise, g).flatten(0, 1)            # (B * n, C, H, W), image-major
        tr = target.repeat_interleave(n_noise)
        size = len(xr) if batch_size is None else int(batch_size)
        hr = torch.cat([postprocess(explain(model, xr[i:i + size], tr[i:i + size])).detach()
                        for i in range(0, len(xr), size)])
    href = h0.repeat_interleave(n_noise, dim=0)
    return {name: SIMILARITIES[name](href, hr).view(len(x), n_noise).mean(1).to(out_device)
            for name in similarities}


# --------------------------------------------------------------------------------------------------
# AGA: insertion and adv-insertion

# The paper: gamma in {0, 0.05, ..., 1} (21 points, ends with the clean image). RobustAGA's code
# (test_insertion.py, aopc_iter=20) evaluates ratio = i / 20 for i = 0..19 (20 points, no gamma = 1).
# We default to the paper's 21 points; pass fractions=AGA_CODE_FRACTIONS to reproduce the code.
INSERTION_FRACTIONS = tuple(i / 20 for i in range(21))
AGA_CODE_FRACTIONS = tuple(i / 20 for i in range(20))


def insertion_curve(model: nn.Module, x: torch.Tensor, target, order_map: torch.Tensor,
                    fractions: Sequence[float] | None = None, baseline=0.0,
                    batch_size: int | None = None) -> torch.Tensor:
    """AGA insertion: (B, len(fractions)) softmax probability of ``target`` for images that keep the top
    ``floor(gamma * H * W)`` pixels of x (all channels) ranked by ``order_map`` (B, H, W), descending,
    and show ``baseline`` elsewhere. AGA ranks by the abs max-normalised map, ``heatmap(explain(...))``.

    ``baseline``: a value in [0, 1] pixel space (default 0: the all-zero image of the paper), a
    per-channel (C,) vector (the dataset mean: what RobustAGA's code does, zeroing pixels in normalised
    space) or a (B, C, H, W) image. Ties in ``order_map`` are broken by pixel index (stable sort), so
    exactly ``floor(gamma * H * W)`` pixels are kept (RobustAGA's strict threshold keeps fewer on ties).
    ``fractions`` defaults to :data:`INSERTION_FRACTIONS`.
    """
    fractions = INSERTION_FRACTIONS if fractions is None else tuple(float(f) for f in fractions)
    if any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must lie in [0, 1]; got {fractions}")
    b, c, h, w = x.shape
    if order_map.shape != (b, h, w):
        raise ValueError(f"order_map must have shape {(b, h, w)}; got {tuple(order_map.shape)}")
    out_device, device = x.device, model_device(model)
    x = x.detach().to(device)
    hw = h * w
    rank = _pixel_ranks(order_map, device)
    # round(): 0.15 * 400 = 60.00000000000001 and i / 20 * 1000 = 349.99999999999994 in floats
    counts = torch.tensor([math.floor(round(f * hw, 6)) for f in fractions], device=device)
    base = _fill(baseline, x)
    n_g = len(fractions)
    with eval_mode(model):
        targets = resolve_target(model, x, target)

        def make_batch(j0, j1):
            j = torch.arange(j0, j1, device=device)
            img, k = j // n_g, counts[j % n_g]
            keep = (rank[img] < k[:, None]).view(-1, 1, h, w)
            return torch.where(keep, x[img], base[img])

        probs = _chunked_probs(model, make_batch, b * n_g, targets.repeat_interleave(n_g),
                               _default_batch(device, batch_size))
    return probs.view(b, n_g).to(out_device)


def adv_insertion_curve(model: nn.Module, x_clean: torch.Tensor, target, order_map_adv: torch.Tensor,
                        **kwargs) -> torch.Tensor:
    """AGA's Adv-Insertion: :func:`insertion_curve` of the *clean* image's pixels ranked by the map of
    the *attacked* image (take its mean over the fractions for the score)."""
    return insertion_curve(model, x_clean, target, order_map_adv, **kwargs)


# --------------------------------------------------------------------------------------------------
# G-LIME: superpixel deletion / insertion (InterpretDL's evaluate_interpreter/deletion_insertion.py)


CRC_DIRECTIONS = ("unit", "gaussian")


def crc_upper_bound(model: nn.Module, x: torch.Tensor, target, eps: float, seed: int = 0,
                    direction: str = "unit") -> tuple[torch.Tensor, torch.Tensor]:
    """AGA Fig. 3(b), per image: (bound, crc) for one random direction d (seeded Gaussian; ``unit``:
    L2-normalised, ``gaussian``: per-pixel N(0, 1) as RobustAGA perturbs, i.e. eps is the per-pixel
    standard deviation of the perturbation) with g = the target logit:

    bound = eps * ||H_g(x) d||_2 / ||grad g(x + eps d)||_2   (Theorem 6 without O(eps^2), the paper's
    "slightly tighter" form), crc = (1 - cos(grad g(x + eps d), grad g(x))) / 2  (Definition 4).
    H_g(x) d is a Hessian-vector product by double backprop; eps in [0, 1] pixel units (not clamped).
    """
    out_device, device = x.device, model_device(model)
    x = x.detach().to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    if direction not in CRC_DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; valid: {', '.join(CRC_DIRECTIONS)}")
    d = torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)
    if direction == "unit":
        d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    with eval_mode(model), torch.enable_grad():
        target = resolve_target(model, x, target)
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xi).gather(1, target[:, None]).sum(), xi, create_graph=True)
        hvp = (g * d).sum()
        # a model linear in x has a constant gradient: H d = 0, and no graph from g back to x
        hd = (torch.autograd.grad(hvp, xi, allow_unused=True, materialize_grads=True)[0]
              if hvp.requires_grad else torch.zeros_like(xi))
        xm = (x + float(eps) * d).requires_grad_(True)
        (moved,) = torch.autograd.grad(model(xm).gather(1, target[:, None]).sum(), xm)
    bound = float(eps) * hd.flatten(1).norm(dim=1) / moved.flatten(1).norm(dim=1).clamp_min(1e-12)
    crc = (1.0 - cosine_similarity(moved, g.detach())) / 2.0
    return bound.detach().to(out_device), crc.detach().to(out_device)


class DeletionInsertion(NamedTuple):
    deletion: torch.Tensor   # (B, T) probability of the target class per step, NaN past an image's end
    insertion: torch.Tensor  # (B, T)


def deletion_insertion_curves(model: nn.Module, x: torch.Tensor, target, segments: torch.Tensor,
                              ranking: torch.Tensor, fill=0.5, steps: int | None = None,
                              batch_size: int | None = None) -> DeletionInsertion:
    """Superpixel deletion and insertion curves as InterpretDL computes them for LIME explanations.

    ``segments`` (B, H, W) feature index of every pixel; ``ranking`` (B, k) feature indices by decreasing
    importance (InterpretDL: by |w|), padded at the end with -1 where an image ranks fewer features.
    With k_b ranked features of image b (k_b + 1 points each):

    * deletion, step s = 0..k_b: the image with its first s ranked superpixels set to ``fill``
      (step 0 is the clean image);
    * insertion, step s = 0..k_b - 1: the ``fill`` canvas showing the first s + 1 ranked superpixels,
      then step k_b: the full image (InterpretDL appends it; there is no empty-canvas point).

    ``fill`` is 0.5 grey by default (InterpretDL fills uint8 images with 127, i.e. 127/255), or a
    per-channel (C,) vector, or a (B, C, H, W) image. ``steps`` = InterpretDL's
    ``limit_number_generated_samples``: when an image has more than ``steps`` points it keeps the points
    ``floor(linspace(0, k_b, steps))``. ``target`` defaults to the prediction on the clean image
    (InterpretDL's class of interest). Every (image, step, curve) is one row of a batched, chunked pass.
    Returns (B, T) curves, T = the longest image's number of points; shorter ones are padded with NaN
    (:func:`auc` ignores the padding).
    """
    b, c, h, w = x.shape
    if segments.shape != (b, h, w):
        raise ValueError(f"segments must have shape {(b, h, w)}; got {tuple(segments.shape)}")
    if ranking.dim() != 2 or len(ranking) != b:
        raise ValueError(f"ranking must be (B, k) with B = {b}; got {tuple(ranking.shape)}")
    out_device, device = x.device, model_device(model)
    x = x.detach().to(device)
    segments = segments.to(device=device, dtype=torch.long)
    ranking = ranking.to(device=device, dtype=torch.long)
    d = int(segments.max().item()) + 1
    k = ranking.shape[1]
    valid = ranking >= 0
    if (ranking >= d).any():
        raise ValueError(f"ranking holds feature indices >= the number of segments ({d})")
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        raise ValueError("ranking's padding (-1) must come after its feature indices")
    n_ranked = valid.sum(1)                                              # k_b
    # position of each feature in the ranking (k for unranked features; column d catches the padding)
    pos = torch.full((b, d + 1), k, dtype=torch.long, device=device)
    pos.scatter_(1, torch.where(valid, ranking, d), torch.arange(k, device=device).expand(b, k))
    pixpos = torch.gather(pos, 1, segments.flatten(1))                   # (B, HW)
    # the step indices of each image: 0..k_b, or InterpretDL's linspace subsample, exactly in integers
    length = n_ranked + 1
    if steps is None:
        t_max = int(length.max().item())
        sub = torch.zeros_like(length, dtype=torch.bool)
    else:
        if steps < 1:
            raise ValueError(f"steps must be positive; got {steps}")
        t_max = min(int(steps), int(length.max().item()))
        sub = length > steps                       # these images keep floor(linspace(0, k_b, steps))
    t = torch.arange(t_max, device=device)[None, :]
    denom = max((steps or 1) - 1, 1)
    idx = torch.where(sub[:, None], (t * (length[:, None] - 1)) // denom, t)
    point_ok = sub[:, None] | (t < length[:, None])
    rows = point_ok.nonzero()                                            # (n_points, 2): image, point
    img_of, step_of = rows[:, 0], idx[rows[:, 0], rows[:, 1]]
    n_pts = len(rows)
    base = _fill(fill, x)
    with eval_mode(model):
        targets = resolve_target(model, x, target)

        def make_batch(j0, j1):
            j = torch.arange(j0, j1, device=device)
            deleting = j < n_pts
            p = torch.where(deleting, j, j - n_pts)
            img, s = img_of[p], step_of[p]
            pp, s = pixpos[img], s[:, None]
            shown = torch.where(deleting[:, None], pp >= s, (pp <= s) | (s == n_ranked[img][:, None]))
            return torch.where(shown.view(-1, 1, h, w), x[img], base[img])

        probs = _chunked_probs(model, make_batch, 2 * n_pts, targets[img_of].repeat(2),
                               _default_batch(device, batch_size))
    curves = torch.full((2, b, t_max), float("nan"), device=device)
    curves[0, rows[:, 0], rows[:, 1]] = probs[:n_pts]
    curves[1, rows[:, 0], rows[:, 1]] = probs[n_pts:]
    return DeletionInsertion(curves[0].to(out_device), curves[1].to(out_device))


def pixel_saliency(attribution: torch.Tensor) -> torch.Tensor:
    """(B, H, W) |attribution| summed over channels: what InterpretDL's evaluator ranks pixels by."""
    return attribution.detach().abs().sum(1) if attribution.dim() == 4 else attribution.detach().abs()


def pixel_deletion_insertion_curves(model: nn.Module, x: torch.Tensor, target, saliency: torch.Tensor,
                                    steps: int = 20, fill=0.5, batch_size: int | None = None) -> DeletionInsertion:
    """Pixel-level deletion and insertion (G-LIME's Table 5 protocol for pixel attributions, as
    InterpretDL's evaluator scores array explanations) in ``steps`` percentile steps.

    Pixels are ranked by ``saliency`` (B, H, W) descending (e.g. :func:`pixel_saliency`: |attribution|
    summed over channels); ties by pixel index. With k_i = round(i / steps * H * W):

    * deletion, i = 0..steps (steps + 1 points): the image with its top k_i pixels (all channels) set
      to ``fill`` (point 0 is the clean image);
    * insertion, i = 1..steps then the full image (steps + 1 points): the ``fill`` canvas showing the
      top k_i pixels (InterpretDL appends the full image; no empty-canvas point).

    InterpretDL thresholds at the (100 - 100 i / steps)-th percentile (``saliency > p``), which keeps
    fewer pixels on ties; exact counts make every step the same size. ``fill`` as in
    :func:`deletion_insertion_curves` (0.5 grey = InterpretDL's 127). Score with :func:`auc` (the mean).
    """
    if steps < 1:
        raise ValueError(f"steps must be positive; got {steps}")
    b, c, h, w = x.shape
    if saliency.shape != (b, h, w):
        raise ValueError(f"saliency must have shape {(b, h, w)}; got {tuple(saliency.shape)}")
    out_device, device = x.device, model_device(model)
    x = x.detach().to(device)
    hw = h * w
    rank = _pixel_ranks(saliency, device)
    k_del = torch.tensor([round(i * hw / steps) for i in range(steps + 1)], device=device)
    k_ins = torch.tensor([round(i * hw / steps) for i in range(1, steps + 1)] + [hw], device=device)
    n_t = steps + 1
    base = _fill(fill, x)
    with eval_mode(model):
        targets = resolve_target(model, x, target)

        def make_batch(j0, j1):
            j = torch.arange(j0, j1, device=device)
            deleting = j < b * n_t
            p = torch.where(deleting, j, j - b * n_t)
            img, t = p // n_t, p % n_t
            shown = torch.where(deleting[:, None], rank[img] >= k_del[t][:, None], rank[img] < k_ins[t][:, None])
            return torch.where(shown.view(-1, 1, h, w), x[img], base[img])

        probs = _chunked_probs(model, make_batch, 2 * b * n_t, targets.repeat_interleave(n_t).repeat(2),
                               _default_batch(device, batch_size))
    curves = probs.view(2, b, n_t)
    return DeletionInsertion(curves[0].to(out_device), curves[1].to(out_device))


def auc(curve: torch.Tensor, method: str = "mean") -> torch.Tensor:
    """(B,) area under (B, T) curves, ignoring trailing NaN padding.

    ``"mean"`` (default): the mean over the points (InterpretDL's deletion / insertion score and AGA's
    insertion score). ``"trapezoid"``: the trapezoid rule with the points spread evenly over [0, 1]
    (so the area is in [0, 1] for probabilities); a single point gives its value.
    """
    ok = ~torch.isnan(curve)
    c = torch.where(ok, curve, torch.zeros_like(curve))
    n = ok.sum(-1)
    if method == "mean":
        return c.sum(-1) / n.clamp_min(1)
    if method == "trapezoid":
        pair = ok[..., 1:] & ok[..., :-1]
        area = ((c[..., 1:] + c[..., :-1]) / 2 * pair).sum(-1) / (n - 1).clamp_min(1)
        return torch.where(n > 1, area, c[..., 0])
    raise ValueError(f"unknown AUC method {method!r}; valid: mean, trapezoid")


def abpc(insertion: torch.Tensor, deletion: torch.Tensor, method: str = "mean") -> torch.Tensor:
    """(B,) area between the perturbation curves: ``auc(insertion) - auc(deletion)`` (higher is better)."""
    return auc(insertion, method) - auc(deletion, method)


# --------------------------------------------------------------------------------------------------
# G-LIME: local fidelity and stability


def local_fidelity(y: torch.Tensor, y_pred: torch.Tensor, w: torch.Tensor | None = None):
    """Weighted R^2 and weighted MSE per sample of the surrogate's predictions ``y_pred`` of the model
    outputs ``y`` (both (B, n)) with sample weights ``w`` (B, n) (default uniform): the definitions of
    scikit-learn's ``r2_score`` / ``mean_squared_error`` with ``sample_weight``. Returns (r2, mse), (B,) each."""
    y, y_pred = y.double(), y_pred.double()
    w = torch.ones_like(y) if w is None else w.double().expand_as(y)
    sw = w.sum(-1)
    ss_res = (w * (y - y_pred) ** 2).sum(-1)
    y_mean = (w * y).sum(-1, keepdim=True) / sw[..., None]
    ss_tot = (w * (y - y_mean) ** 2).sum(-1)
    r2 = 1.0 - ss_res / ss_tot.clamp_min(1e-30)
    return r2.float(), (ss_res / sw).float()


def stability(explanations: torch.Tensor) -> torch.Tensor:
    """(B,) expected L2 distance between two of R repeated explanations of the same image: the mean of
    ``||e_i - e_j||_2`` over the R (R - 1) / 2 pairs i < j. ``explanations`` is (R, B, ...) (e.g.
    (R, B, d) coefficients or (R, B, H, W) maps), each explanation flattened. Lower is more stable."""
    r = explanations.shape[0]
    if r < 2:
        raise ValueError(f"stability needs at least 2 repeats; got {r}")
    e = explanations.flatten(2).double()
    i, j = torch.triu_indices(r, r, offset=1, device=e.device)
    return (e[i] - e[j]).norm(dim=-1).mean(0).to(explanations.dtype if explanations.is_floating_point()
                                                 else torch.float32)
