"""Square Attack (Andriushchenko et al. 2020), L-infinity, score-based and gradient-free."""

from __future__ import annotations

import math

import torch

from .base import Attack, _check_eps, register_attack

__all__ = ["Square", "square_p"]

# the reference's piecewise-constant schedule of the square's area fraction, written for 10 000 queries
# and rescaled to the budget: (upper iteration bound, divisor of p_init)
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256))


def square_p(p_init: float, it: int, n_queries: int) -> float:
    """The fraction of pixels the square covers at iteration ``it`` (the reference's ``p_selection``
    with the rescaled schedule: ``it`` is mapped to ``it / n_queries * 10000``)."""
    it = int(it / n_queries * 10000)
    for bound, div in _SCHEDULE:
        if it <= bound:
            return p_init / div
    return p_init / 512


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{i != y} z_i per sample (negative = misclassified); the reference's margin loss."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return z_y - other


@register_attack
class Square(Attack):
    """Square Attack, L-infinity (Andriushchenko et al. 2020, "Square Attack: a query-efficient
    black-box adversarial attack via random search", Algorithm 1 with the L-inf proposal).

    Uses only the model's logits (no gradient, so gradient masking does not hide anything from it).
    Start: vertical stripes ``x + eps * s`` with ``s in {-1, 1}`` per (channel, column), clamped to
    [0, 1]. Then ``n_queries - 1`` random-search steps, batched over the batch: each still-correct
    sample draws a square of side ``round(sqrt(p * H * W))`` (``p`` by :func:`square_p`) at a random
    position and sets it to ``x +- eps`` (one sign per channel); the proposal is kept when it lowers the
    margin ``z_y - max_{i != y} z_i``. A sample stops once misclassified (margin < 0). Every step is one
    batched forward pass, so no sample uses more than ``n_queries`` queries (the start included).
    Differences from the reference: the proposal is not redrawn when it leaves the image unchanged
    (one draw per step), and the batch stops early only when every sample is fooled (checked every
    ``check_every`` steps, to avoid a host sync per step). ``restarts`` runs independent restarts
    (restart ``r`` seeded ``seed + r``), keeping per sample the first that fools the model.
    """

    name = "square"

    def __init__(self, eps: float, n_queries: int = 5000, p_init: float = 0.8, restarts: int = 1, seed: int = 0,
                 check_every: int = 50):
        self.eps = _check_eps(eps)
        self.n_queries = int(n_queries)
        self.p_init = float(p_init)
        self.restarts = int(restarts)
        self.seed = int(seed)
        self.check_every = int(check_every)
        if self.n_queries < 1 or self.restarts < 1 or self.check_every < 1:
            raise ValueError("n_queries, restarts and check_every must be >= 1")
        if not 0.0 < self.p_init <= 1.0:
            raise ValueError(f"p_init is a fraction of the image in (0, 1]; got {p_init}")

    def _perturb(self, model, x, y, init_delta):
        if init_delta is not None:
            raise ValueError("Square draws its own start; init_delta is not supported")
        best = None
        for r in range(self.restarts):
            x_adv, margin = self._one(model, x, y, self.seed + r)
            if best is None:
                best, best_margin = x_adv, margin
            else:
                take = (best_margin >= 0) & (margin < best_margin)
                best = torch.where(take.view(-1, 1, 1, 1), x_adv, best)
                best_margin = torch.where(take, margin, best_margin)
        return best

    @torch.no_grad()
    def _one(self, model, x, y, seed):
        n, c, h, w = x.shape
        g = torch.Generator(device=x.device).manual_seed(seed)
        lo, hi = (x - self.eps).clamp(0.0, 1.0), (x + self.eps).clamp(0.0, 1.0)
        signs = torch.randint(0, 2, (n, c, 1, w), generator=g, device=x.device).to(x.dtype) * 2 - 1
        x_best = (x + self.eps * signs).clamp(0.0, 1.0)
        margin = _margin(model(x_best), y)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        for it in range(1, self.n_queries):
            if it % self.check_every == 0 and not bool((margin >= 0).any()):
                break
            side = int(min(max(round(math.sqrt(square_p(self.p_init, it - 1, self.n_queries) * h * w)), 1), h - 1, w - 1))
            side = max(side, 1)
            top = torch.randint(0, h - side + 1, (n, 1, 1), generator=g, device=x.device)
            left = torch.randint(0, w - side + 1, (n, 1, 1), generator=g, device=x.device)
            window = ((rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side))[:, None]
            sign = torch.randint(0, 2, (n, c, 1, 1), generator=g, device=x.device).to(x.dtype) * 2 - 1
            x_new = torch.where(window, (x + self.eps * sign).clamp(lo, hi), x_best)
            m_new = _margin(model(x_new), y)
            better = (m_new < margin) & (margin >= 0)         # fooled samples are frozen
            x_best = torch.where(better.view(-1, 1, 1, 1), x_new, x_best)
            margin = torch.where(better, m_new, margin)
        return x_best, margin
