"""Plain training losses: cross-entropy and the maximum-entropy regulariser (AGA Fig. 1(c))."""

from __future__ import annotations

import torch.nn.functional as F

from .registry import register_loss


@register_loss("ce")
def cross_entropy(model, x, y, params):
    logits = model(x)
    return F.cross_entropy(logits, y), logits


@register_loss("maxent")
def maxent_loss(model, x, y, params):
    """CE - lam * H(softmax(g(x))): the maximum-entropy regulariser (Cha et al. 2020) of AGA Fig. 1(c),
    which flattens the loss surface and shrinks the input Hessian without aligning the gradients.
    params: lam (default 1.0)."""
    logits = model(x)
    log_p = F.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(1).mean()
    return F.cross_entropy(logits, y) - float(params.get("lam", 1.0)) * entropy, logits
