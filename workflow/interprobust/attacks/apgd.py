"""Auto-PGD (Croce & Hein 2020, Algorithm 1) and its checkpoints."""

from __future__ import annotations

import math

import torch

from .base import _check_eps, _check_loss, _Iterative, register_attack

__all__ = ["APGD", "apgd_checkpoints"]


def apgd_checkpoints(steps: int) -> list[int]:
    """APGD's checkpoints ``w_j = ceil(p_j * steps)`` (j >= 1) with ``p_0 = 0``, ``p_1 = 0.22`` and
    ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``, below ``steps`` and without duplicates."""
    ps, prev, p = [], 0.0, 0.22
    while p < 1.0:
        ps.append(p)
        prev, p = p, p + max(p - prev - 0.03, 0.06)
    out: list[int] = []
    for q in ps:
        w = math.ceil(round(q * steps, 9))  # round: 0.22 * 100 is 22.000000000000004 in floats
        if 0 < w < steps and (not out or w > out[-1]):
            out.append(w)
    return out



@register_attack
class APGD(_Iterative):
    """Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
    of diverse parameter-free attacks", Algorithm 1), L-infinity, written from the paper.

    Step size ``eta = 2 eps`` per sample; the first step is a plain projected sign-gradient step, then
    ``z = P(x_k + eta sign(grad))``, ``x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))`` with
    momentum ``a = 0.75``. At the checkpoints :func:`apgd_checkpoints` (after iterate ``w_j``) the step
    size of a sample is halved and it restarts from its best point (with the gradient there) if
    (1) its loss increased in fewer than ``rho = 0.75`` of the steps since the last checkpoint, or
    (2) its step size was not halved at the last checkpoint and its best loss has not improved since.
    ``steps + 1`` loss evaluations, ``steps`` gradients (the last iterate needs no gradient).

    Returns per sample the first iterate that is misclassified, or else the highest-loss iterate.
    The random start is the reference implementation's: ``eps * t / ||t||_inf`` with ``t ~ U(-1, 1)``
    (a point on the boundary of the ball), clamped to [0, 1].
    """

    name = "apgd"
    momentum = 0.75
    rho = 0.75

    def __init__(self, eps: float, steps: int = 100, restarts: int = 1, loss: str = "ce", seed: int = 0,
                 restart_batch: int | None = None):
        self.eps = _check_eps(eps)
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.loss = _check_loss(loss)
        if self.loss == "kl":
            raise ValueError("APGD needs labels; the kl loss (TRADES' inner problem) is for PGD")
        self.seed = int(seed)
        self.restart_batch = restart_batch
        if self.steps < 1 or self.restarts < 1:
            raise ValueError("steps and restarts must be >= 1")

    def _random_delta(self, x, generator):
        t = torch.empty_like(x).uniform_(-1.0, 1.0, generator=generator)
        norm = t.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        return self.eps * t / norm

    def _run(self, model, x, y, lo, hi, x0, final_stats):
        loss_fn = self._loss_fn()
        n, shape = x.shape[0], (-1, *[1] * (x.dim() - 1))

        def evaluate(z, need_grad=True):
            if not need_grad:
                with torch.no_grad():
                    logits = model(z)
                    return loss_fn(logits, y), None, logits.argmax(1) != y
            z = z.detach().requires_grad_(True)
            logits = model(z)
            f = loss_fn(logits, y)
            (g,) = torch.autograd.grad(f.sum(), z)
            return f.detach(), g, logits.detach().argmax(1) != y

        def proj(z):
            return torch.max(torch.min(z, hi), lo)

        checkpoints = set(apgd_checkpoints(self.steps))
        eta = torch.full((n,), 2.0 * self.eps, dtype=x.dtype, device=x.device)
        x_k = x0.detach()
        f_k, g_k, wrong = evaluate(x_k)
        x_max, f_max, g_max = x_k.clone(), f_k.clone(), g_k.clone()
        fooled, x_fool = wrong.clone(), x_k.clone()
        x_prev = x_k
        n_incr = torch.zeros(n, dtype=torch.long, device=x.device)
        f_max_last = f_max.clone()
        reduced_last = torch.zeros(n, dtype=torch.bool, device=x.device)
        last_w = 0
        for k in range(self.steps):
            with torch.no_grad():
                z = proj(x_k + eta.view(shape) * g_k.sign())
                if k == 0:
                    x_new = z
                else:
                    a = self.momentum
                    x_new = proj(x_k + a * (z - x_k) + (1.0 - a) * (x_k - x_prev))
            x_prev, x_k = x_k, x_new
            f_new, g_new, wrong = evaluate(x_k, need_grad=k < self.steps - 1)
            with torch.no_grad():
                n_incr += (f_new > f_k).long()
                better = f_new > f_max
                bv = better.view(shape)
                x_max = torch.where(bv, x_k, x_max)
                f_max = torch.where(better, f_new, f_max)
                if g_new is not None:
                    g_max = torch.where(bv, g_new, g_max)
                new_fool = wrong & ~fooled
                x_fool = torch.where(new_fool.view(shape), x_k, x_fool)
                fooled |= wrong
                f_k, g_k = f_new, g_new
                if k + 1 in checkpoints:
                    length = k + 1 - last_w
                    cond1 = n_incr.to(x.dtype) < self.rho * length
                    cond2 = ~reduced_last & (f_max <= f_max_last)
                    red = cond1 | cond2
                    rv = red.view(shape)
                    eta = torch.where(red, eta / 2.0, eta)
                    x_k = torch.where(rv, x_max, x_k)      # restart from the best point so far
                    g_k = torch.where(rv, g_max, g_k)
                    f_k = torch.where(red, f_max, f_k)
                    reduced_last, f_max_last, last_w = red, f_max.clone(), k + 1
                    n_incr.zero_()
        x_out = torch.where(fooled.view(shape), x_fool, x_max)
        return x_out.detach(), fooled, f_max
