"""The attacks' shared parts: the :class:`Attack` base class (and :class:`_Iterative`, the
projection, random start and restarts of the iterative attacks), the eps check, the attack losses
(``LOSSES``: ce, dlr, kl) and the registry ``ATTACKS`` with :func:`make_attack`.

Conventions (shared by the whole pipeline):

* models take images in [0, 1] (normalisation is the model's first layer), so every ``eps`` is in
  [0, 1] pixel units and every adversarial example lies in ``[x - eps, x + eps] ∩ [0, 1]``;
* every stochastic step draws from a ``torch.Generator`` seeded from the attack's ``seed`` on the
  input's device (CPU runs are deterministic and independent of torch's global RNG);
* attacks are batched on the model's device; restarts are batched too (no per-sample Python loops).

Interface (torchattacks-like, but the model is an argument of the call, not of the constructor)::

    attack = PGD(eps=0.03, steps=40, step_size=0.01, restarts=1, seed=0)
    x_adv = attack(model, x, y)                      # x: float (N, C, H, W) in [0, 1]
    x_adv = attack(model, x, y, init_delta=delta)    # an explicit start (reproduces other libraries)

During a call the model is in eval mode (every submodule's own mode is restored afterwards), the
gradient is taken with ``torch.autograd.grad`` with respect to the input only (parameters'
``.grad`` and ``requires_grad`` are never touched), and the result is detached.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import eval_mode, model_device

__all__ = ["Attack", "ATTACKS", "LOSSES", "make_attack", "register_attack", "dlr_loss", "kl_loss"]


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample Difference of Logits Ratio loss (Croce & Hein 2020, Eq. 3), to be maximised:
    ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`` with ``z_pi1 >= z_pi2 >= z_pi3`` the
    sorted logits. Needs at least 3 classes."""
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes; got {logits.shape[1]}")
    top3 = logits.topk(3, dim=1).values
    z_y = logits.gather(1, y[:, None])[:, 0]
    top_is_y = logits.argmax(1) == y
    z_other = torch.where(top_is_y, top3[:, 1], top3[:, 0])  # the largest logit of another class
    return -(z_y - z_other) / (top3[:, 0] - top3[:, 2] + 1e-12)


def _ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def kl_loss(logits: torch.Tensor, clean_probs: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(p_clean || softmax(logits)), TRADES' inner objective; ``y`` is then the clean
    model's softmax output (B, K), not labels."""
    return F.kl_div(F.log_softmax(logits, dim=1), clean_probs, reduction="none").sum(1)


LOSSES = {"ce": _ce, "dlr": dlr_loss, "kl": kl_loss}


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {sorted(LOSSES)}")
    return loss


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps is in [0, 1] pixel units; got {eps}")
    return eps



class Attack:
    """Base class: ``attack(model, x, y, init_delta=None) -> x_adv`` (detached, same shape as x).

    Runs on the model's device (``x``, ``y`` and ``init_delta`` are moved there; the result comes back
    on ``x``'s device). Subclasses implement :meth:`_perturb` on float inputs already on the model's
    device, inside eval mode and with gradients enabled.
    """

    name = "attack"
    eps: float

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 init_delta: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("x must be a float tensor in [0, 1]; use robust_accuracy for uint8 arrays")
        out_device, device = x.device, model_device(model)
        x = x.detach().to(device)
        y = torch.as_tensor(y).detach().to(device)
        # labels, or for the "kl" loss the clean softmax outputs (B, K)
        y = y.to(x.dtype) if getattr(self, "loss", "ce") == "kl" else y.long()
        if init_delta is not None:
            init_delta = init_delta.detach().to(device=device, dtype=x.dtype)
        with eval_mode(model), torch.enable_grad():
            return self._perturb(model, x, y, init_delta).detach().to(out_device)

    def _perturb(self, model, x, y, init_delta):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"

class _Iterative(Attack):
    """Shared machinery of the iterative attacks: the projection bounds, the random start and the
    restarts (batched: every restart of every sample in one pass, unless ``restart_batch`` caps it).

    With ``restarts > 1`` each sample keeps the result of the first restart that fools the model or,
    if none does, the one with the highest loss. Restart ``r``'s start is the ``r``-th draw of the
    seeded generator, so restart 0 of ``restarts=R`` starts where ``restarts=1`` does.
    """

    eps: float
    restarts: int
    seed: int
    loss: str
    restart_batch: int | None

    def _random_delta(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def _run(self, model, x, y, lo, hi, x0, final_stats: bool):
        """Attack from the start ``x0`` (already projected); returns (x_adv, fooled, loss), the last
        two per sample (``None`` unless ``final_stats`` or the attack tracks them anyway)."""
        raise NotImplementedError  # pragma: no cover

    def _starts(self, x: torch.Tensor, init_delta: torch.Tensor | None) -> torch.Tensor:
        """(restarts, N, C, H, W) initial perturbations."""
        r = self.restarts
        if init_delta is not None:
            if init_delta.shape == x.shape and r == 1:
                return init_delta[None]
            if init_delta.shape == (r, *x.shape):
                return init_delta
            raise ValueError(f"init_delta must have shape {tuple(x.shape)} (restarts=1) or "
                             f"{(r, *x.shape)}; got {tuple(init_delta.shape)}")
        if not self._uses_random_start():
            return torch.zeros((1, *x.shape), dtype=x.dtype, device=x.device)
        g = torch.Generator(device=x.device)
        g.manual_seed(int(self.seed))
        # one draw per restart (not one big draw), so restart 0 does not depend on `restarts`
        return torch.stack([self._random_delta(x, g) for _ in range(r)])

    def _uses_random_start(self) -> bool:
        return True

    def _perturb(self, model, x, y, init_delta):
        lo = (x - self.eps).clamp_(min=0.0)
        hi = (x + self.eps).clamp_(max=1.0)
        deltas = self._starts(x, init_delta)
        r, n = deltas.shape[0], x.shape[0]
        if r == 1:
            x0 = torch.max(torch.min(x + deltas[0], hi), lo)
            return self._run(model, x, y, lo, hi, x0, final_stats=False)[0]
        chunk = r if not self.restart_batch else max(1, min(r, int(self.restart_batch)))
        best = x.clone()
        done = torch.zeros(n, dtype=torch.bool, device=x.device)          # fooled by an earlier restart
        best_loss = torch.full((n,), -math.inf, dtype=x.dtype, device=x.device)
        for start in range(0, r, chunk):
            k = min(chunk, r - start)
            idx = (~done).nonzero()[:, 0] if start > 0 else torch.arange(n, device=x.device)
            if idx.numel() == 0:
                break
            xs, ys, los, his = (t[idx].repeat(k, *([1] * (t.dim() - 1))) for t in (x, y, lo, hi))
            d = deltas[start:start + k][:, idx].reshape(-1, *x.shape[1:])
            x0 = torch.max(torch.min(xs + d, his), los)
            adv, fooled, loss = self._run(model, xs, ys, los, his, x0, final_stats=True)
            m = idx.numel()
            adv, fooled, loss = adv.view(k, m, *x.shape[1:]), fooled.view(k, m), loss.view(k, m)
            any_fooled = fooled.any(0)
            first = fooled.to(torch.uint8).argmax(0)                      # first restart that fools
            top = loss.argmax(0)                                          # else: the highest loss
            pick = torch.where(any_fooled, first, top)
            cand = adv[pick, torch.arange(m, device=x.device)]
            cand_loss = loss[pick, torch.arange(m, device=x.device)]
            # earlier chunks' non-fooling results lose to a fooling one or to a higher loss
            take = any_fooled | (cand_loss > best_loss[idx])
            best[idx] = torch.where(take.view(-1, *[1] * (x.dim() - 1)), cand, best[idx])
            best_loss[idx] = torch.where(take, cand_loss, best_loss[idx])
            done[idx] = any_fooled
        return best

    def _loss_fn(self):
        return LOSSES[self.loss]


ATTACKS: dict[str, type[Attack]] = {}


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: add an attack to ``ATTACKS`` under its ``name``."""
    if cls.name in ATTACKS:
        raise ValueError(f"attack {cls.name!r} registered twice")
    ATTACKS[cls.name] = cls
    return cls


def make_attack(name: str, eps: float, **options) -> Attack:
    """An attack by name (a key of ``ATTACKS``, case-insensitive) with its constructor arguments, e.g.
    a config entry: ``attack`` in ``options`` names the method instead of ``name`` (a label such as
    ``pgd100x5``), ``step_size_rel`` sets the step size as a fraction of eps."""
    kwargs = dict(options)
    eps = float(eps)
    if "step_size_rel" in kwargs:
        kwargs["step_size"] = float(kwargs.pop("step_size_rel")) * eps
    name = kwargs.pop("attack", name)
    key = str(name).lower()
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid names: {', '.join(sorted(ATTACKS))}")
    return ATTACKS[key](eps=eps, **kwargs)
