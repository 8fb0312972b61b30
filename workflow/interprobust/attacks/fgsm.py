"""FGSM (Goodfellow et al. 2015)."""

from __future__ import annotations

import torch

from .base import LOSSES, Attack, _check_eps, _check_loss, register_attack

__all__ = ["FGSM"]


@register_attack
class FGSM(Attack):
    """Fast Gradient Sign Method: ``clamp(x + eps * sign(grad_x loss), 0, 1)`` (one gradient)."""

    name = "fgsm"

    def __init__(self, eps: float, loss: str = "ce"):
        self.eps = _check_eps(eps)
        self.loss = _check_loss(loss)

    def _perturb(self, model, x, y, init_delta):
        if init_delta is not None:
            raise ValueError("FGSM has no random start; init_delta is not supported")
        x = x.clone().requires_grad_(True)
        loss = LOSSES[self.loss](model(x), y).sum()
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            return (x + self.eps * grad.sign()).clamp_(0.0, 1.0)
