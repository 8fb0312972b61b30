"""Adversarial training losses: FGSM examples (LIMEREF), Madry et al.'s PGD training and TRADES."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attacks import FGSM, PGD, kl_loss
from ..nn import eval_mode
from .registry import register_loss


def fgsm_examples(model, x, y, eps: float, pixel_mask: torch.Tensor | None = None) -> torch.Tensor:
    """FGSM examples; with ``pixel_mask`` the perturbation is restricted to F (paper's x_adv(spurious))."""
    x_adv = FGSM(eps=eps)(model, x, y)
    if pixel_mask is None:
        return x_adv.detach()
    return (x + (x_adv - x) * pixel_mask.to(x.dtype)).detach()


def madry_examples(model, x, y, params) -> torch.Tensor:
    """Madry et al.'s PGD training examples (eval-mode attack; random start seeded from torch's global
    generator). params: eps (8/255), steps (10), step_size (2/255)."""
    eps = float(params.get("eps", 8 / 255))
    if eps <= 0:
        return x
    attack = PGD(eps=eps, steps=int(params.get("steps", 10)), step_size=float(params.get("step_size", 2 / 255)),
                 seed=int(torch.randint(0, 2 ** 31 - 1, ()).item()))
    return attack(model, x, y)


@register_loss("madry")
def madry_loss(model, x, y, params):
    """Madry et al.'s adversarial training: CE at PGD examples (:func:`madry_examples`)."""
    logits = model(madry_examples(model, x, y, params))
    return F.cross_entropy(logits, y), logits


def trades_terms(model, x, y, params):
    """TRADES's loss and its adversarial examples: (loss, clean logits, x_adv or None)."""
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


@register_loss("trades")
def trades_loss(model, x, y, params):
    """TRADES (Zhang et al. 2019): CE(f(x), y) + beta * KL(f(x) || f(x_adv)) / B, x_adv from PGD on the
    KL from x + 0.001 N(0, I) (eval mode), as the authors' ``trades_loss``. params: beta, eps (8/255),
    steps (10), step_size (0.007)."""
    loss, logits, _ = trades_terms(model, x, y, params)
    return loss, logits
