"""LIMEREF's training loss (Sec. III-D): feature masking, sensitivity regularisation on F_spurious,
FGSM adversarial training (optionally restricted to F_spurious), combined as
L_task + alpha * L_adv + lambda * L_reg."""

from __future__ import annotations

import functools
import json

import torch
import torch.nn.functional as F

from .adversarial import fgsm_examples
from .registry import register_loss, report_part


def sensitivity_penalty(model, x: torch.Tensor, y: torch.Tensor, pixel_mask: torch.Tensor,
                        pixels_per_feature: int = 1) -> torch.Tensor:
    """1/|F| sum_{j in F} ||d f_y(x) / d x_j||^2 with f_y the true-class logit, batch mean.

    ``pixel_mask`` (H, W) or (B, H, W) marks the pixels of F; channels of a pixel count together.
    ``pixels_per_feature`` sets what |F| counts: 1 = pixels (the mean over F's pixels), patch² = the
    paper's features (grid patches: each patch's squared gradient norm is the sum over its pixels, and
    |F| the number of patches), i.e. the pixel mean times patch². Differentiable (double backprop), so
    it trains the model. Zero when F is empty.
    """
    n = pixel_mask.sum(dim=(-2, -1)).float() / float(pixels_per_feature)
    if not bool((n > 0).any()):
        return x.new_zeros(())
    x = x.detach().requires_grad_(True)
    logit = model(x).gather(1, y[:, None]).sum()
    (grad,) = torch.autograd.grad(logit, x, create_graph=True)
    per_pixel = grad.pow(2).sum(1)                                   # (B, H, W)
    masked = (per_pixel * pixel_mask.to(per_pixel.dtype)).sum(dim=(-2, -1)) / n.clamp_min(1e-12)
    return masked.mean()


def mask_features(x: torch.Tensor, pixel_mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """x * m (paper's x_masked): pixels of F set to ``fill`` (0 as in the paper).

    ``pixel_mask`` is (H, W) for every image or (B, H, W) per image; all channels of a pixel go together.
    """
    keep = ~pixel_mask.to(device=x.device, dtype=torch.bool).unsqueeze(-3)
    return torch.where(keep, x, torch.full_like(x, fill))




@functools.lru_cache(maxsize=8)
def load_spurious_pixels(path: str, which: str = "global") -> torch.Tensor:
    """The pixel mask of F_spurious from a detection artefact (``spurious.json``)."""
    from ..papers.limeref.spurious import pixel_mask
    d = json.loads(open(path).read())
    h, w = d["image_size"]
    return pixel_mask(d["sets"][which], h, w, d["patch"])


@functools.lru_cache(maxsize=8)
def spurious_patch(path: str) -> int:
    return int(json.loads(open(path).read())["patch"])


REG_NORMALISE = ("pixels", "patches")


@register_loss("limeref")
def limeref_loss(model, x, y, params):
    """L_task(masked x) + alpha * L_adv + lambda * L_reg, each part switchable; reports the unweighted
    parts as ``task``, ``adv`` and ``reg`` (the training history's train_task / train_adv / train_reg).

    params: spurious (path to the detection artefact; absent or null = F empty), masking (bool),
    masking_prob (share of each batch's images that are masked, drawn from torch's global generator,
    which ``train.fit`` seeds per epoch), alpha, fgsm_eps, restrict_fgsm (bool), lam, reg_fraction
    (null: lambda = lam; a number r: lambda is set once before training by :func:`calibrate_lambda`
    so that lambda * L_reg = r * L_task at the start), reg_normalise ("pixels": L_reg averages over F's
    pixels; "patches": over F's grid patches, as the paper's 1/|F| sum over features).
    """
    path = params.get("spurious")
    mask = load_spurious_pixels(path).to(x.device) if path else torch.zeros(x.shape[-2:], dtype=torch.bool,
                                                                             device=x.device)
    if params.get("masking", True):
        p = float(params.get("masking_prob", 1.0))
        chosen = torch.rand(x.shape[0], device=x.device) < p if p < 1.0 else torch.ones(
            x.shape[0], dtype=torch.bool, device=x.device)
        x = mask_features(x, mask[None] & chosen[:, None, None])
    logits = model(x)
    task = F.cross_entropy(logits, y)
    report_part("task", task)
    loss = task
    alpha = float(params.get("alpha", 0.0))
    if alpha:
        restrict = mask if params.get("restrict_fgsm", False) else None
        x_adv = fgsm_examples(model, x, y, float(params.get("fgsm_eps", 0.03)), restrict)
        adv = F.cross_entropy(model(x_adv), y)
        report_part("adv", adv)
        loss = loss + alpha * adv
    if params.get("reg_fraction") is not None and "lam_calibrated" not in params:
        raise ValueError("recipe param reg_fraction sets lambda from the loss parts at the start of training: "
                         "calibrate it first (losses.limeref.calibrate_lambda; `interprobust train` does)")
    lam = float(params.get("lam", 0.0))
    if lam and path:
        reg = _reg(model, x, y, mask, path, params)
        report_part("reg", reg)
        loss = loss + lam * reg
    return loss, logits


def _reg(model, x, y, mask, path, params):
    norm = params.get("reg_normalise", "pixels")
    if norm not in REG_NORMALISE:
        raise ValueError(f"reg_normalise is one of {REG_NORMALISE}; got {norm!r}")
    per_feature = spurious_patch(path) ** 2 if norm == "patches" else 1
    return sensitivity_penalty(model, x, y, mask, per_feature)


def calibrate_lambda(model, x: torch.Tensor, y: torch.Tensor, params: dict) -> dict:
    """``params`` with ``lam`` set so that lambda * L_reg = ``reg_fraction`` * L_task on (x, y) for
    ``model`` as it starts training (eval mode, no masking): the paper gives no lambda, and a fixed
    1e-3 made the term ~1e-5 of the task loss. Fixed afterwards (a lambda recomputed per batch would
    reward driving L_reg to zero without bound: the model collapses). Returns a new dict with
    ``lam``, ``lam_calibrated`` (the L_task and L_reg it came from); unchanged without ``reg_fraction``
    or without F. Deterministic in (model, x, y), so a resumed run computes the same lambda."""
    from ..nn import eval_mode
    fraction, path = params.get("reg_fraction"), params.get("spurious")
    if fraction is None:
        return dict(params)
    out = dict(params)
    if not path or not bool(load_spurious_pixels(path).any()):
        out.update(lam=0.0, lam_calibrated={"task": None, "reg": None, "reason": "F is empty"})
        return out
    mask = load_spurious_pixels(path).to(x.device)
    with eval_mode(model):
        with torch.no_grad():
            task = float(F.cross_entropy(model(x), y))
        reg = float(_reg(model, x, y, mask, path, params).detach())
    out.update(lam=float(fraction) * task / max(reg, 1e-12), lam_calibrated={"task": task, "reg": reg})
    return out


def calibration_batch(model, data, params: dict, batch_size: int, seed: int, device) -> dict:
    """:func:`calibrate_lambda` on a seeded class-stratified batch of ``data``'s training images."""
    import numpy as np

    from ..data.batches import to_tensor
    from ..data.subsets import stratified_indices
    idx = stratified_indices(data.train_y, batch_size, seed)
    x = to_tensor(np.asarray(data.train_x)[idx]).to(device)
    y = torch.as_tensor(np.asarray(data.train_y)[idx], dtype=torch.long, device=device)
    return calibrate_lambda(model.to(device), x, y, params)
