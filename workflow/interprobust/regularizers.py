"""Training regularisers and the training methods built from them (registered in ``train``).

LIMEREF (Sec. III-D): feature masking, sensitivity regularisation on F_spurious, FGSM adversarial
training (optionally restricted to F_spurious), combined as L_task + alpha * L_adv + lambda * L_reg.
"""

from __future__ import annotations

import contextlib
import functools
import json
import types

import torch
import torch.nn.functional as F

from .train import register_method


def sensitivity_penalty(model, x: torch.Tensor, y: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
    """1/|F| sum_{j in F} ||d f_y(x) / d x_j||^2 with f_y the true-class logit, batch mean.

    ``pixel_mask`` (H, W) or (B, H, W) marks the pixels of F; channels of a pixel count as one feature.
    Differentiable (double backprop), so it trains the model. Zero when F is empty.
    """
    n = pixel_mask.sum(dim=(-2, -1)).float()
    if not bool((n > 0).any()):
        return x.new_zeros(())
    x = x.detach().requires_grad_(True)
    logit = model(x).gather(1, y[:, None]).sum()
    (grad,) = torch.autograd.grad(logit, x, create_graph=True)
    per_pixel = grad.pow(2).sum(1)                                   # (B, H, W)
    masked = (per_pixel * pixel_mask.to(per_pixel.dtype)).sum(dim=(-2, -1)) / n.clamp_min(1)
    return masked.mean()


def mask_features(x: torch.Tensor, pixel_mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """x * m (paper's x_masked): pixels of F set to ``fill`` (0 as in the paper).

    ``pixel_mask`` is (H, W) for every image or (B, H, W) per image; all channels of a pixel go together.
    """
    keep = ~pixel_mask.to(device=x.device, dtype=torch.bool).unsqueeze(-3)
    return torch.where(keep, x, torch.full_like(x, fill))


def fgsm_examples(model, x, y, eps: float, pixel_mask: torch.Tensor | None = None) -> torch.Tensor:
    """FGSM examples; with ``pixel_mask`` the perturbation is restricted to F (paper's x_adv(spurious))."""
    from .attacks import FGSM
    x_adv = FGSM(eps=eps)(model, x, y)
    if pixel_mask is None:
        return x_adv.detach()
    return (x + (x_adv - x) * pixel_mask.to(x.dtype)).detach()


@functools.lru_cache(maxsize=8)
def load_spurious_pixels(path: str, which: str = "global") -> torch.Tensor:
    """The pixel mask of F_spurious from a detection artefact (``spurious.json``)."""
    from .spurious import pixel_mask
    d = json.loads(open(path).read())
    h, w = d["image_size"]
    return pixel_mask(d["sets"][which], h, w, d["patch"])


@register_method("limeref")
def limeref_loss(model, x, y, params):
    """L_task(masked x) + alpha * L_adv + lambda * L_reg, each part switchable.

    params: spurious (path to the detection artefact; absent or null = F empty), masking (bool),
    masking_prob (share of each batch's images that are masked, drawn from torch's global generator,
    which ``train.fit`` seeds per epoch), alpha, fgsm_eps, restrict_fgsm (bool), lam.
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
    loss = F.cross_entropy(logits, y)
    alpha = float(params.get("alpha", 0.0))
    if alpha:
        restrict = mask if params.get("restrict_fgsm", False) else None
        x_adv = fgsm_examples(model, x, y, float(params.get("fgsm_eps", 0.03)), restrict)
        loss = loss + alpha * F.cross_entropy(model(x_adv), y)
    lam = float(params.get("lam", 0.0))
    if lam:
        loss = loss + lam * sensitivity_penalty(model, x, y, mask)
    return loss, logits


# ------------------------------------------------------------------------------------------------ AGA
def _input_gradient(model, x, y, create_graph, model_eval=False):
    from .explain.attributions import attribute
    return attribute("gradient", model, x, y, create_graph=create_graph, model_eval=model_eval)


def gradient_alignment_terms(model, x, y, eps: float,
                             reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """AGA's two robustness criteria for one delta ~ U(-eps, eps) per example (the paper's speed trick).

    Returns (l2, cosd), batch means: l2 = ||grad g_y(x) - grad g_y(x + delta)||^2 (squared, summed
    over pixels, as RobustAGA), cosd = (1 - cos(grad g_y(x), grad g_y(x + delta))) / 2, with g_y the
    true-class logit. grad g_y(x) is a constant (detached); only grad g_y(x + delta) carries the
    second-order graph. x + delta is not clamped (as RobustAGA). delta comes from torch's global
    generator, which ``train.fit`` seeds per epoch. ``reference`` = grad g_y(x) when the caller has it
    already (the training loss takes it from its own forward pass, saving one forward and backward).
    """
    if reference is None:
        reference = _input_gradient(model, x, y, create_graph=False)
    reference = reference.detach().flatten(1)
    delta = torch.empty_like(x).uniform_(-eps, eps)
    moved = _input_gradient(model, (x + delta).detach(), y, create_graph=True).flatten(1)
    l2 = (moved - reference).pow(2).sum(1).mean()
    cosd = (1.0 - F.cosine_similarity(moved, reference, dim=1, eps=1e-12)).mean() / 2.0
    return l2, cosd


@register_method("gradient_alignment")
def gradient_alignment_loss(model, x, y, params):
    """CE + lam_l2 * l2 + lam_cos * cosd (AGA Eq. 5); lam_cos = 0 is the l2 criterion alone,
    lam_l2 = 0 the cosine criterion (CRC). params: eps (L-inf radius of delta, [0, 1] pixels),
    lam_l2, lam_cos."""
    lam_l2, lam_cos = float(params.get("lam_l2", 0.0)), float(params.get("lam_cos", 0.0))
    if not (lam_l2 or lam_cos):
        logits = model(x)
        return F.cross_entropy(logits, y), logits
    xi = x.detach().requires_grad_(True)
    logits = model(xi)
    loss = F.cross_entropy(logits, y)
    # grad g_y(x) from the same forward pass (RobustAGA computes it there too)
    (reference,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xi, retain_graph=True)
    l2, cosd = gradient_alignment_terms(model, x, y, float(params.get("eps", 4 / 255)), reference=reference)
    loss = loss + lam_l2 * l2 + lam_cos * cosd
    return loss, logits


@register_method("maxent")
def maxent_loss(model, x, y, params):
    """CE - lam * H(softmax(g(x))): the maximum-entropy regulariser (Cha et al. 2020) of AGA Fig. 1(c),
    which flattens the loss surface and shrinks the input Hessian without aligning the gradients.
    params: lam (default 1.0)."""
    logits = model(x)
    log_p = F.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(1).mean()
    return F.cross_entropy(logits, y) - float(params.get("lam", 1.0)) * entropy, logits


def hessian_norm_estimate(model, x, y) -> torch.Tensor:
    """One-sample estimate of ||H||_F^2 of the true-class logit w.r.t. the input (Dombrowski et al.
    2022, as RobustAGA): v ~ N(0, I), Hv = d(v . grad g_y(x))/dx, batch mean of ||Hv||^2.

    Training on ||Hv||^2 needs third derivatives, which torch's fused BatchNorm does not have: its
    BatchNorm layers run as plain tensor ops on the batch statistics for this term (same values,
    running statistics untouched). Eval-mode BatchNorm would be wrong here: the regulariser then
    flattens the eval-mode network only, which collapsed test accuracy to chance in our runs.
    """
    xi = x.detach().requires_grad_(True)
    with _differentiable_batchnorm(model):
        g = _input_gradient(model, xi, y, create_graph=True)
    v = torch.randn_like(xi)
    (hv,) = torch.autograd.grad((g * v).sum(), xi, create_graph=True)
    return hv.pow(2).flatten(1).sum(1).mean()


def _batchnorm_ops(self, x):
    if not self.training:
        return self._fused_forward(x)
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    out = (x - mean) / torch.sqrt(var + self.eps)
    if self.affine:
        out = out * self.weight.view(shape) + self.bias.view(shape)
    return out


@contextlib.contextmanager
def _differentiable_batchnorm(model):
    """BatchNorm layers as plain tensor ops (any-order derivatives; no running-statistics update)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m._fused_forward = m.forward
        m.forward = types.MethodType(_batchnorm_ops, m)
    try:
        yield model
    finally:
        for m in layers:
            del m.forward, m._fused_forward  # back to the class's own forward


@register_method("hessian")
def hessian_loss(model, x, y, params):
    """CE + lam * ||H||_F^2 estimate (the Hessian-norm baseline of AGA's tables). params: lam."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    lam = float(params.get("lam", 0.0))
    if lam:
        loss = loss + lam * hessian_norm_estimate(model, x, y)
    return loss, logits


# ------------------------------------------------------------------------------ Madry AT and TRADES
def madry_examples(model, x, y, params) -> torch.Tensor:
    """Madry et al.'s PGD training examples (eval-mode attack; random start seeded from torch's global
    generator). params: eps (8/255), steps (10), step_size (2/255)."""
    from .attacks import PGD
    eps = float(params.get("eps", 8 / 255))
    if eps <= 0:
        return x
    attack = PGD(eps=eps, steps=int(params.get("steps", 10)), step_size=float(params.get("step_size", 2 / 255)),
                 seed=int(torch.randint(0, 2 ** 31 - 1, ()).item()))
    return attack(model, x, y)


@register_method("madry")
def madry_loss(model, x, y, params):
    """Madry et al.'s adversarial training: CE at PGD examples (:func:`madry_examples`)."""
    logits = model(madry_examples(model, x, y, params))
    return F.cross_entropy(logits, y), logits


def trades_terms(model, x, y, params):
    """TRADES's loss and its adversarial examples: (loss, clean logits, x_adv or None)."""
    from .attacks import PGD, eval_mode, kl_loss
    beta = float(params.get("beta", 6.0))
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    x_adv = None
    if beta:
        with eval_mode(model), torch.no_grad():
            clean_probs = F.softmax(model(x), dim=1)
        attack = PGD(eps=float(params.get("eps", 8 / 255)), steps=int(params.get("steps", 10)),
                     step_size=float(params.get("step_size", 0.007)), loss="kl")
        x_adv = attack(model, x, clean_probs, init_delta=0.001 * torch.randn_like(x))
        loss = loss + beta * kl_loss(model(x_adv), F.softmax(logits, dim=1)).mean()
    return loss, logits, x_adv


@register_method("trades")
def trades_loss(model, x, y, params):
    """TRADES (Zhang et al. 2019): CE(f(x), y) + beta * KL(f(x) || f(x_adv)) / B, x_adv from PGD on the
    KL from x + 0.001 N(0, I) (eval mode), as the authors' ``trades_loss``. params: beta, eps (8/255),
    steps (10), step_size (0.007)."""
    loss, logits, _ = trades_terms(model, x, y, params)
    return loss, logits


def explanation_flatness(model, x, y, sigma: float, explain: str = "input_x_gradient") -> torch.Tensor:
    """SEP's flatness term (our reading of its Eq. 4): the batch mean of the explanation loss between
    h(x + xi) and h(x), xi ~ N(0, sigma^2 I) from torch's global generator, h = ``explain`` of the true
    class with the graph kept (the model's current mode), maps sum-normalised, squared differences
    averaged over the pixels (``attacks.explanation_loss``, the scale of SEP's tables)."""
    from .attacks import explanation_loss
    from .explain.attributions import attribute
    x = x.detach()
    noisy = x + float(sigma) * torch.randn_like(x)
    h = attribute(explain, model, torch.cat([x, noisy]), torch.cat([y, y]), create_graph=True, model_eval=False)
    return explanation_loss(h[len(x):], h[:len(x)]).mean()


@register_method("sep")
def sep_loss(model, x, y, params):
    """SEP: the adversarial-training loss (``base``: madry, or trades) + gamma * the explanation flatness
    at the adversarial examples (:func:`explanation_flatness`; TRADES with beta = 0 has none: x).
    gamma > 0 flattens the explanation (SEP_pos), gamma < 0 sharpens it (SEP_neg); gamma = 0 is the base
    method exactly. params: base, gamma, sigma (0.05), explain (input_x_gradient), and the base's."""
    base = params.get("base", "madry")
    if base == "madry":
        x_adv = madry_examples(model, x, y, params)
        logits = model(x_adv)
        loss = F.cross_entropy(logits, y)
    elif base == "trades":
        loss, logits, x_adv = trades_terms(model, x, y, params)
        x_adv = x if x_adv is None else x_adv
    else:
        raise ValueError(f"unknown SEP base {base!r}; valid: madry, trades")
    gamma = float(params.get("gamma", 0.0))
    if gamma:
        loss = loss + gamma * explanation_flatness(model, x_adv, y, float(params.get("sigma", 0.05)),
                                                   params.get("explain", "input_x_gradient"))
    return loss, logits
