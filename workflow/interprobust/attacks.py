"""L-infinity evasion attacks and accuracy under attack.

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

Attacks: :class:`FGSM` (Goodfellow et al. 2015), :class:`PGD` (Madry et al. 2018; CE or the DLR loss
of Croce & Hein 2020) and :class:`APGD` (Auto-PGD, Croce & Hein 2020, Algorithm 1). ``ATTACKS`` maps
names to classes and :func:`make_attack` builds one by name. :func:`robust_accuracy` and
:func:`clean_accuracy` evaluate a model on tensors or prepared uint8 (N, H, W, C) arrays.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Attack", "FGSM", "PGD", "APGD", "ATTACKS", "LOSSES", "make_attack", "robust_accuracy",
    "clean_accuracy", "dlr_loss", "apgd_checkpoints", "eval_mode", "model_device",
]


# --------------------------------------------------------------------------------------------------
# helpers


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode and restore each one's own previous mode afterwards
    (``model.train(previous)`` would lose mixed modes such as frozen BatchNorm layers)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model without either."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


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


LOSSES = {"ce": _ce, "dlr": dlr_loss}


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {sorted(LOSSES)}")
    return loss


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps is in [0, 1] pixel units; got {eps}")
    return eps


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


# --------------------------------------------------------------------------------------------------
# attacks


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
        y = torch.as_tensor(y).detach().to(device=device, dtype=torch.long)
        if init_delta is not None:
            init_delta = init_delta.detach().to(device=device, dtype=x.dtype)
        with eval_mode(model), torch.enable_grad():
            return self._perturb(model, x, y, init_delta).detach().to(out_device)

    def _perturb(self, model, x, y, init_delta):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


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


ATTACKS: dict[str, type[Attack]] = {"fgsm": FGSM, "pgd": PGD, "apgd": APGD}


def make_attack(name: str, **kwargs) -> Attack:
    """An attack by name (a key of ``ATTACKS``, case-insensitive) with its constructor arguments."""
    key = str(name).lower()
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid names: {', '.join(sorted(ATTACKS))}")
    return ATTACKS[key](**kwargs)


# --------------------------------------------------------------------------------------------------
# accuracy


def _as_images(x, device) -> torch.Tensor:
    """A batch as float (N, C, H, W) in [0, 1] on ``device``: uint8 (N, H, W, C) arrays/tensors are
    converted (as everywhere in the pipeline); float arrays/tensors are taken as NCHW in [0, 1]."""
    if isinstance(x, np.ndarray) and x.dtype != np.uint8:
        x = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: memory-mapped slices are read-only
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(device=device, dtype=torch.float32)
    from .data.batches import to_tensor
    return to_tensor(x, device)


def _batches(x, y, batch_size: int, device):
    n = len(y)
    if len(x) != n:
        raise ValueError(f"{len(x)} images but {n} labels")
    for i in range(0, n, int(batch_size)):
        j = min(i + int(batch_size), n)
        yb = y[i:j]
        yb = yb if isinstance(yb, torch.Tensor) else torch.from_numpy(np.array(yb, dtype=np.int64))
        yield _as_images(x[i:j], device), yb.to(device=device, dtype=torch.long)


def _percent(correct: int, n: int) -> float:
    return 100.0 * correct / n if n else float("nan")


def clean_accuracy(model: nn.Module, x, y, batch_size: int = 256, device=None) -> float:
    """Accuracy (percent) of ``model`` on ``x`` (float NCHW in [0, 1], or uint8 NHWC arrays) in eval
    mode, batched on ``device`` (default: the model's)."""
    device = model_device(model) if device is None else torch.device(device)
    correct = 0
    with eval_mode(model), torch.no_grad():
        for xb, yb in _batches(x, y, batch_size, device):
            correct += int((model(xb).argmax(1) == yb).sum())
    return _percent(correct, len(y))


def robust_accuracy(model: nn.Module, x, y, attack: Attack, batch_size: int = 256, device=None,
                    count_clean_errors: bool = True) -> float:
    """Accuracy (percent) under ``attack``, batched on ``device`` (default: the model's).

    With ``count_clean_errors`` (default) a sample counts as robust only if it is classified
    correctly both clean and at ``attack``'s output (the usual convention, e.g. AutoAttack's: the
    clean input is itself in the eps-ball), so robust accuracy never exceeds clean accuracy.
    """
    device = model_device(model) if device is None else torch.device(device)
    correct = 0
    for xb, yb in _batches(x, y, batch_size, device):
        x_adv = attack(model, xb, yb)
        with eval_mode(model), torch.no_grad():
            ok = model(x_adv).argmax(1) == yb
            if count_clean_errors:
                ok &= model(xb).argmax(1) == yb
        correct += int(ok.sum())
    return _percent(correct, len(y))
