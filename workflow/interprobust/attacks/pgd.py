"""PGD (Madry et al. 2018), L-infinity, with the CE or the DLR loss (Croce & Hein 2020)."""

from __future__ import annotations

import torch

from .base import _check_eps, _check_loss, _Iterative, register_attack

__all__ = ["PGD"]


@register_attack
class PGD(_Iterative):
    """Projected gradient descent (Madry et al. 2018), L-infinity.

    Start ``x + U(-eps, eps)`` (``random_start``; or ``init_delta``) clamped to [0, 1], then
    ``steps`` sign-gradient ascent steps of ``step_size`` on ``loss`` ("ce", or "dlr" for the DLR loss
    of Croce & Hein), each followed by the projection onto the eps-ball ∩ [0, 1] (one clamp with
    precomputed per-pixel bounds). Returns the last iterate (per restart; see :class:`_Iterative`).
    ``restart_batch`` caps how many restarts run at once (memory); ``None`` runs all together.
    """

    name = "pgd"

    def __init__(self, eps: float, steps: int = 40, step_size: float = 0.01, restarts: int = 1,
                 random_start: bool = True, seed: int = 0, loss: str = "ce",
                 restart_batch: int | None = None):
        self.eps = _check_eps(eps)
        self.steps = int(steps)
        self.step_size = float(step_size)
        self.restarts = int(restarts)
        self.random_start = bool(random_start)
        self.seed = int(seed)
        self.loss = _check_loss(loss)
        self.restart_batch = restart_batch
        if self.steps < 0 or self.restarts < 1:
            raise ValueError("steps must be >= 0 and restarts >= 1")
        if self.restarts > 1 and not self.random_start:
            raise ValueError("restarts > 1 needs random_start=True (all restarts would be identical)")
        if self.loss == "kl" and self.restarts > 1:
            raise ValueError("the kl loss (TRADES) has no labels to pick a restart by: use restarts=1")

    def _uses_random_start(self) -> bool:
        return self.random_start

    def _random_delta(self, x, generator):
        return torch.empty_like(x).uniform_(-self.eps, self.eps, generator=generator)

    def _run(self, model, x, y, lo, hi, x0, final_stats):
        loss_fn, alpha = self._loss_fn(), self.step_size
        x_adv = x0
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            loss = loss_fn(model(x_adv), y).sum()          # a sum: same sign as the mean, no division
            (grad,) = torch.autograd.grad(loss, x_adv)      # w.r.t. the input only
            with torch.no_grad():
                # the graph is freed, so updating in place is safe; one clamp projects onto
                # [x - eps, x + eps] ∩ [0, 1]
                x_adv = x_adv.detach().add_(grad.sign_(), alpha=alpha).clamp_(min=lo, max=hi)
        x_adv = x_adv.detach()
        if not final_stats:
            return x_adv, None, None
        with torch.no_grad():
            logits = model(x_adv)
            return x_adv, logits.argmax(1) != y, loss_fn(logits, y)
