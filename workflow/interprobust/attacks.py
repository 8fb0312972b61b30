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

The targeted explanation attack (:class:`ExplanationAttack`, Dombrowski et al. 2019, for SEP and
AGA's Adv-Insertion) follows the same conventions but needs target maps:
``attack(model, x, y=None, target_map=maps)``; :func:`explanation_loss` is SEP's Definition 1.
It is not in ``ATTACKS`` (no drop-in evasion attack).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Attack", "FGSM", "PGD", "APGD", "ATTACKS", "LOSSES", "make_attack", "robust_accuracy",
    "clean_accuracy", "dlr_loss", "kl_loss", "apgd_checkpoints", "eval_mode", "model_device",
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


# --------------------------------------------------------------------------------------------------
# targeted explanation attack (Dombrowski et al. 2019; as used by SEP and by AGA's Adv-Insertion)

__all__ += ["ExplanationAttack", "ExplanationAttackResult", "explanation_map", "explanation_loss", "named_explainer",
            "explanation_maps", "relu_softplus_surrogate", "NORMALIZATIONS"]

NORMALIZATIONS = ("sum", "max", None)
_TINY = 1e-12


def explanation_map(h: torch.Tensor, normalize: str | None = "sum") -> torch.Tensor:
    """The post-processed explanation map of each sample: (B, H, W).

    A 4-d ``h`` (B, C, H, W) is an attribution: ``|h|`` summed over the channels. A 3-d ``h``
    (B, H, W) or a 2-d ``h`` (H, W) (broadcast to a batch of one) is taken as a map already (e.g. a
    frame-shaped target). Then, per sample: ``normalize="sum"`` divides by the map's sum (Dombrowski
    et al.'s normalisation, but per sample), ``"max"`` by its maximum (RobustAGA's heat-map
    post-processing), ``None`` leaves it. An all-zero map stays all-zero. Differentiable.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    if h.dim() == 4:
        m = h.abs().sum(1)
    elif h.dim() == 3:
        m = h
    elif h.dim() == 2:
        m = h[None]
    else:
        raise ValueError(f"expected an attribution (B, C, H, W) or a map (B, H, W) / (H, W); got {tuple(h.shape)}")
    if normalize == "sum":
        m = m / m.flatten(1).sum(1).clamp_min(_TINY)[:, None, None]
    elif normalize == "max":
        m = m / m.flatten(1).amax(1).clamp_min(_TINY)[:, None, None]
    return m


def _map_distance(m_adv: torch.Tensor, m_target: torch.Tensor, reduction: str) -> torch.Tensor:
    d = (m_adv - m_target).square().flatten(1)
    return d.mean(1) if reduction == "mean" else d.sum(1)


def explanation_loss(h_adv: torch.Tensor, h_target: torch.Tensor, *, normalize: str | None = "sum",
                     reduction: str = "mean") -> torch.Tensor:
    """Per-sample explanation loss (SEP, Definition 1): ``||n(h_adv) - n(h_target)||^2`` of the
    post-processed, normalised maps ``n = explanation_map(., normalize)``; (B,).

    ``reduction="mean"`` averages the squared differences over the H*W pixels (``F.mse_loss`` per
    sample, as in Dombrowski et al.'s code; the scale of SEP's tables, which report it in units of
    1e-7), ``"sum"`` sums them (RobustAGA's "sum-MSE"). Inputs may be raw attributions (B, C, H, W)
    or maps (B, H, W) / (H, W); a (H, W) or batch-of-one target broadcasts over the batch.
    Differentiable.
    """
    _check_reduction(reduction)
    return _map_distance(explanation_map(h_adv, normalize), explanation_map(h_target, normalize), reduction)


def _check_reduction(reduction: str) -> str:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    return reduction


def named_explainer(method: str, **options):
    """``explain(model, x, target, create_graph=...)`` for the attribution ``method`` of
    :func:`interprobust.explain.attributions.attribute`, with its keyword ``options`` (e.g. IG's steps)."""
    def by_name(model, x, target, create_graph=False):
        from .explain.attributions import attribute
        return attribute(method, model, x, target, create_graph=create_graph, **options)

    by_name.__name__ = f"attribute[{method}]"
    return by_name


def _resolve_explain(explain):
    """A callable ``explain(model, x, target, create_graph=...) -> (B, C, H, W)``; a string names a
    method of :func:`interprobust.explain.attributions.attribute`."""
    if callable(explain):
        return explain
    if isinstance(explain, str):
        return named_explainer(explain)
    raise TypeError(f"explain must be a callable or a method name; got {explain!r}")


@contextlib.contextmanager
def relu_softplus_surrogate(model: nn.Module, beta: float = 10.0) -> Iterator[list[nn.Module]]:
    """Temporarily replace every ``nn.ReLU`` module of ``model`` by ``nn.Softplus(beta)`` (one new
    module per original instance, so a module used several times stays shared), restoring the very
    same original modules afterwards. Yields the new Softplus modules (set ``.beta`` to change beta
    between forward passes). Dombrowski et al.'s surrogate for gradient explanations of ReLU nets."""
    slots: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.ReLU:
                slots.append((parent, name, child))
    replaced: dict[int, nn.Module] = {}
    for parent, name, child in slots:
        if id(child) not in replaced:
            replaced[id(child)] = nn.Softplus(beta=float(beta))
        setattr(parent, name, replaced[id(child)])
    try:
        yield list(replaced.values())
    finally:
        for parent, name, child in slots:
            setattr(parent, name, child)


@dataclasses.dataclass
class ExplanationAttackResult:
    """What :meth:`ExplanationAttack.run` returns; every tensor is detached, on the input's device.

    ``x_adv`` (B, C, H, W); ``y`` the explained class of each sample; ``pred`` the original (clean)
    prediction; ``expl_start`` / ``expl_end`` the explanation loss (:func:`explanation_loss` with the
    attack's ``normalize`` and ``reduction``, with the model's real activations) at the clean
    victim ``x`` and at ``x_adv``; ``pred_kept`` whether ``x_adv`` is still predicted as ``pred``;
    ``best_step`` the iterate returned (0 = the start, k = after k optimiser steps).
    """

    x_adv: torch.Tensor
    y: torch.Tensor
    pred: torch.Tensor
    expl_start: torch.Tensor
    expl_end: torch.Tensor
    pred_kept: torch.Tensor
    best_step: torch.Tensor


class ExplanationAttack(Attack):
    """Targeted explanation-manipulation attack (Dombrowski et al. 2019, "Explanations can be
    manipulated and geometry is to blame"), as used by SEP (victim/target image pairs) and by AGA's
    Adv-Insertion (a frame-shaped target map), in an L-infinity ε-ball.

    For victims ``x`` (B, C, H, W) in [0, 1] and per-victim target maps, minimises per sample::

        expl_weight * D(n(h(x + δ)), n(h_target)) + output_weight * O(f(x + δ), f(x))

    with ``h(z) = explain(model, z, y, create_graph=True)`` (the explanation of class ``y``; default
    the clean prediction), ``n = explanation_map(., normalize)``, ``D`` the squared difference
    averaged (``reduction="mean"``) or summed (``"sum"``) over the pixels, and ``O`` the mean squared
    difference over the classes of the softmax outputs (``output="softmax"``, Dombrowski) or of the
    logits (``output="logits"``, RobustAGA). ``gamma`` sets ``expl_weight = gamma`` and
    ``output_weight = 1 - gamma`` (RobustAGA: ``gamma = 0.5``, ``reduction="sum"``,
    ``normalize="max"``, ``output="logits"``; see :meth:`aga`). The batch loss is the *sum* of the
    per-sample losses, so each sample's δ gets exactly its own gradient and, Adam being elementwise,
    the result of a sample does not depend on the rest of the batch.

    Default weights (``expl_weight``, ``output_weight`` and ``gamma`` all None; only for
    ``normalize="sum"`` and ``output="softmax"``): Dombrowski et al.'s prefactors 1e11 and 1e6,
    tuned for 224x224 inputs and 1000 classes, rescaled to this input so that both terms keep
    their magnitude: ``expl_weight = 1e11 * (H*W / 224**2)**2`` (a sum-normalised map has values
    ~1/(H*W), so the mean squared difference scales as (H*W)**-2; divided by H*W more for
    ``reduction="sum"``) and ``output_weight = 1e6 * num_classes / 1000`` (the mean over classes).

    Optimisation: ``steps`` Adam steps (betas 0.9/0.999, eps 1e-8, no weight decay) of learning rate
    ``lr`` (default ``4 * eps / steps``, RobustAGA's rule) on δ, starting at δ = 0 (or
    ``U(-eps, eps)`` with ``random_start``, drawn from a generator seeded with ``seed``, or
    ``init_delta``); after each step x + δ is projected onto ``[x - eps, x + eps] ∩ [0, 1]``.

    Returned iterate (``select``): ``"best"`` (default) the iterate with the lowest explanation loss
    ``D`` (real activations) among those whose prediction equals the clean prediction, the start
    included; if none keeps it, the start. ``"last"`` the final iterate (RobustAGA's behaviour:
    the prediction is not constrained).

    ``beta_growth=(b0, b1)`` (or True for (10, 100)): for ReLU networks, every ``nn.ReLU`` is
    replaced during the optimisation by ``nn.Softplus(beta_i)``, ``beta_i = b0 * (b1 / b0)**(i /
    steps)`` at step i (Dombrowski: 10 -> 100); the explanation losses, predictions and hence the
    selection are evaluated with the real ReLU network (one extra first-order explanation per
    step). The model's modules are restored afterwards.

    ``batch_size`` bounds how many samples are optimised at once (memory); results do not depend
    on it. ``__call__(model, x, y=None, target_map=...)`` returns ``x_adv``; :meth:`run` returns an
    :class:`ExplanationAttackResult`. Target maps: raw attributions (B, C, H, W), maps (B, H, W), or
    one (H, W) / (1, ...) map for the whole batch; they are post-processed with ``normalize`` (see
    :func:`explanation_map`). :func:`explanation_maps` computes them for target images.
    Not in ``ATTACKS``: it needs target maps, so it is no drop-in evasion attack.
    """

    name = "explanation"

    def __init__(self, eps: float, steps: int = 100, lr: float | None = None,
                 explain="input_x_gradient", *, expl_weight: float | None = None,
                 output_weight: float | None = None, gamma: float | None = None,
                 output: str = "softmax", normalize: str | None = "sum", reduction: str = "mean",
                 select: str = "best", optimizer: str = "adam", random_start: bool = False,
                 seed: int = 0, beta_growth=None, batch_size: int | None = None):
        self.eps = _check_eps(eps)
        self.steps = int(steps)
        if self.steps < 0:
            raise ValueError("steps must be >= 0")
        self.lr = float(lr) if lr is not None else (4.0 * self.eps / self.steps if self.steps else 0.0)
        self.explain = explain
        self._explain = _resolve_explain(explain)
        if gamma is not None:
            if expl_weight is not None or output_weight is not None:
                raise ValueError("give either gamma or expl_weight / output_weight, not both")
            if not 0.0 <= float(gamma) <= 1.0:
                raise ValueError(f"gamma must be in [0, 1]; got {gamma}")
            expl_weight, output_weight = float(gamma), 1.0 - float(gamma)
        if (expl_weight is None) != (output_weight is None):
            raise ValueError("give both expl_weight and output_weight (or neither, or gamma)")
        if output not in ("softmax", "logits"):
            raise ValueError(f"output must be 'softmax' or 'logits'; got {output!r}")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
        if expl_weight is None and (normalize != "sum" or output != "softmax"):
            raise ValueError("the default (rescaled Dombrowski) weights need normalize='sum' and "
                             "output='softmax'; give expl_weight / output_weight or gamma")
        self.expl_weight = None if expl_weight is None else float(expl_weight)
        self.output_weight = None if output_weight is None else float(output_weight)
        self.gamma = gamma
        self.output = output
        self.normalize = normalize
        self.reduction = _check_reduction(reduction)
        if select not in ("best", "last"):
            raise ValueError(f"select must be 'best' or 'last'; got {select!r}")
        self.select = select
        if optimizer != "adam":
            raise ValueError(f"only optimizer='adam' is implemented; got {optimizer!r}")
        self.optimizer = optimizer
        self.random_start = bool(random_start)
        self.seed = int(seed)
        if beta_growth is True:
            beta_growth = (10.0, 100.0)
        if beta_growth is not None and beta_growth is not False:
            b0, b1 = (float(b) for b in beta_growth)
            if not (b0 > 0 and b1 > 0):
                raise ValueError(f"beta_growth must be two positive betas; got {beta_growth!r}")
            self.beta_growth: tuple[float, float] | None = (b0, b1)
        else:
            self.beta_growth = None
        self.batch_size = None if batch_size is None else max(1, int(batch_size))

    # -------------------------------------------------------------------------------- presets
    @classmethod
    def dombrowski(cls, eps: float, explain="input_x_gradient", steps: int = 1500, lr: float = 2e-4,
                   **kwargs) -> "ExplanationAttack":
        """Dombrowski et al.'s settings: sum-normalised maps, per-pixel MSE, softmax MSE, rescaled
        prefactors 1e11 / 1e6, Adam lr 2e-4, 1500 steps (plus an ε-ball, as SEP states)."""
        kwargs.setdefault("normalize", "sum")
        kwargs.setdefault("reduction", "mean")
        kwargs.setdefault("output", "softmax")
        return cls(eps, steps=steps, lr=lr, explain=explain, **kwargs)

    @classmethod
    def aga(cls, eps: float, explain="gradient", steps: int = 100, gamma: float = 0.5,
            **kwargs) -> "ExplanationAttack":
        """RobustAGA's Adv-Insertion attack: max-normalised maps, gamma * sum-MSE to the target map
        + (1 - gamma) * MSE of the logits, Adam, 100 steps, lr = 4 eps / steps."""
        kwargs.setdefault("normalize", "max")
        kwargs.setdefault("reduction", "sum")
        kwargs.setdefault("output", "logits")
        return cls(eps, steps=steps, explain=explain, gamma=gamma, **kwargs)

    # -------------------------------------------------------------------------------- interface
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                 target_map: torch.Tensor | None = None,
                 init_delta: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(model, x, y, target_map=target_map, init_delta=init_delta).x_adv

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
            target_map: torch.Tensor | None = None,
            init_delta: torch.Tensor | None = None) -> ExplanationAttackResult:
        """Attack every victim in ``x`` towards its target map (one batch on the model's device)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4:
            raise TypeError("x must be a float (B, C, H, W) tensor in [0, 1]")
        if target_map is None:
            raise ValueError("target_map is required: the target explanations, one per victim")
        out_device, device = x.device, model_device(model)
        x = x.detach().to(device)
        b = x.shape[0]
        tm = target_map.detach().to(device=device, dtype=x.dtype)
        if tm.dim() == 2:
            tm = tm[None]
        if tm.shape[0] not in (1, b):
            raise ValueError(f"target_map has {tm.shape[0]} samples for {b} victims")
        if tm.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"target_map's spatial size {tuple(tm.shape[-2:])} != the images' {tuple(x.shape[-2:])}")
        if init_delta is not None:
            if init_delta.shape != x.shape:
                raise ValueError(f"init_delta must have shape {tuple(x.shape)}; got {tuple(init_delta.shape)}")
            delta0 = init_delta.detach().to(device=device, dtype=x.dtype)
        elif self.random_start and self.eps > 0:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            delta0 = torch.empty_like(x).uniform_(-self.eps, self.eps, generator=g)
        else:
            delta0 = None
        with eval_mode(model), torch.enable_grad():
            with torch.no_grad():
                logits0 = model(x)
            pred = logits0.argmax(1)
            yy = pred.clone() if y is None else torch.as_tensor(y).detach().to(device=device, dtype=torch.long)
            if yy.shape != (b,):
                raise ValueError(f"y must have shape ({b},); got {tuple(yy.shape)}")
            tmap = explanation_map(tm, self.normalize).expand(b, *x.shape[-2:])
            a_w, o_w = self._weights(x, logits0.shape[1])
            chunk = self.batch_size or max(b, 1)
            parts = []
            for i in range(0, b, chunk):
                sl = slice(i, i + chunk)
                parts.append(self._attack_chunk(model, x[sl], yy[sl], pred[sl], logits0[sl], tmap[sl],
                                                None if delta0 is None else delta0[sl], a_w, o_w))
        cat = [torch.cat(t).detach().to(out_device) for t in zip(*parts)] if parts else \
            [x.to(out_device)] + [torch.empty(0, device=out_device)] * 4
        x_adv, expl_start, expl_end, kept, best_step = cat
        return ExplanationAttackResult(x_adv=x_adv, y=yy.to(out_device), pred=pred.to(out_device),
                                       expl_start=expl_start, expl_end=expl_end,
                                       pred_kept=kept.bool(), best_step=best_step.long())

    def _perturb(self, model, x, y, init_delta):  # pragma: no cover - run() replaces it
        raise TypeError("ExplanationAttack needs target maps: call attack(model, x, y, target_map=...)")

    # -------------------------------------------------------------------------------- internals
    def _weights(self, x: torch.Tensor, num_classes: int) -> tuple[float, float]:
        if self.expl_weight is not None:
            return self.expl_weight, self.output_weight
        hw = x.shape[-2] * x.shape[-1]
        a = 1e11 * (hw / 224.0 ** 2) ** 2
        if self.reduction == "sum":
            a /= hw
        return a, 1e6 * num_classes / 1000.0

    def _output_distance(self, logits: torch.Tensor, logits0: torch.Tensor) -> torch.Tensor:
        if self.output == "softmax":
            return (logits.softmax(1) - logits0.softmax(1)).square().mean(1)
        return (logits - logits0).square().mean(1)

    def _evaluate(self, model, z, y, tmap, create_graph: bool):
        """(per-sample explanation loss, logits) at ``z``; with ``create_graph`` both stay in the
        graph of ``z`` (which must require grad)."""
        if not create_graph:
            z = z.detach().requires_grad_(True)
        h = self._explain(model, z, y, create_graph=create_graph)
        loss = _map_distance(explanation_map(h, self.normalize), tmap, self.reduction)
        if create_graph:
            return loss, model(z)
        with torch.no_grad():
            return loss.detach(), model(z)

    def _attack_chunk(self, model, x, y, pred, logits0, tmap, delta0, a_w, o_w):
        lo = (x - self.eps).clamp_(min=0.0)
        hi = (x + self.eps).clamp_(max=1.0)
        x_k = x.clone() if delta0 is None else torch.max(torch.min(x + delta0, hi), lo)
        surrogate = self.beta_growth is not None
        if surrogate and not any(type(m) is nn.ReLU for m in model.modules()):
            raise ValueError("beta_growth replaces nn.ReLU modules, and the model has none")

        # the clean victim and the start (the same point unless there is a random/explicit start)
        expl_start, _ = self._evaluate(model, x, y, tmap, create_graph=False)
        if delta0 is None:
            loss_k, logits_k = expl_start, logits0
        else:
            loss_k, logits_k = self._evaluate(model, x_k, y, tmap, create_graph=False)
        start, start_loss = x_k.clone(), loss_k.clone()
        found = logits_k.argmax(1) == pred              # some iterate so far keeps the prediction
        best = start.clone()
        best_loss = torch.where(found, start_loss, torch.full_like(start_loss, math.inf))
        best_step = torch.zeros_like(pred)
        track = self.select == "best"
        state = (pred, best, best_loss, best_step, found)

        m = torch.zeros_like(x)
        v = torch.zeros_like(x)
        b1, b2, adam_eps = 0.9, 0.999, 1e-8
        for k in range(self.steps):
            z = x_k.detach().requires_grad_(True)
            if surrogate:
                b0, b_end = self.beta_growth
                beta = b0 * (b_end / b0) ** (k / self.steps)
                with relu_softplus_surrogate(model, beta):
                    expl, logits = self._evaluate(model, z, y, tmap, create_graph=True)
                    total = (a_w * expl + o_w * self._output_distance(logits, logits0)).sum()
                    (grad,) = torch.autograd.grad(total, z)
            else:
                expl, logits = self._evaluate(model, z, y, tmap, create_graph=True)
                total = (a_w * expl + o_w * self._output_distance(logits, logits0)).sum()
                (grad,) = torch.autograd.grad(total, z)
                # iterate k's real loss and prediction come with its gradient; k = 0 is the start
                if track and k > 0:
                    self._track(k, x_k, expl.detach(), logits.detach(), *state)
            if surrogate and track and k > 0:
                rl, rlog = self._evaluate(model, x_k, y, tmap, create_graph=False)
                self._track(k, x_k, rl, rlog, *state)
            with torch.no_grad():
                t = k + 1
                m.mul_(b1).add_(grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                step = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt_().add_(adam_eps))
                x_k = (x_k - self.lr * step).clamp_(min=lo, max=hi)
        # the final iterate
        if self.steps > 0:
            loss_k, logits_k = self._evaluate(model, x_k, y, tmap, create_graph=False)
            if track:
                self._track(self.steps, x_k, loss_k, logits_k, *state)
        if self.select == "last":
            out, out_loss = x_k, loss_k
            out_step = torch.full_like(pred, self.steps)
            kept = logits_k.argmax(1) == pred
        else:
            out = best                                   # the start where nothing kept the prediction
            out_loss = torch.where(found, best_loss, start_loss)
            out_step = best_step
            kept = found
        return out.detach(), expl_start.detach(), out_loss.detach(), kept, out_step

    @staticmethod
    def _track(k, x_k, loss, logits, pred, best, best_loss, best_step, found) -> None:
        """Keep, per sample, the lowest-loss iterate that keeps the clean prediction (in place)."""
        with torch.no_grad():
            same = logits.argmax(1) == pred
            better = same & ((loss < best_loss) | ~found | best_loss.isnan())
            found |= same
            best.copy_(torch.where(better.view(-1, *[1] * (best.dim() - 1)), x_k, best))
            best_loss.copy_(torch.where(better, loss, best_loss))
            best_step.copy_(torch.where(better, torch.full_like(best_step, k), best_step))


def explanation_maps(model: nn.Module, x: torch.Tensor, explain="input_x_gradient",
                     y: torch.Tensor | None = None, *, normalize: str | None = "sum",
                     batch_size: int = 256) -> torch.Tensor:
    """Normalised explanation maps (B, H, W) of images ``x`` (float NCHW in [0, 1]) for class ``y``
    (default: the predicted class), in eval mode, batched on the model's device; returned on ``x``'s
    device. E.g. SEP's target maps ``h(x_t)`` for :class:`ExplanationAttack`."""
    fn = _resolve_explain(explain)
    device = model_device(model)
    out = []
    with eval_mode(model), torch.enable_grad():
        for i in range(0, x.shape[0], int(batch_size)):
            xb = x[i:i + int(batch_size)].detach().to(device)
            if y is None:
                with torch.no_grad():
                    yb = model(xb).argmax(1)
            else:
                yb = torch.as_tensor(y[i:i + int(batch_size)]).to(device=device, dtype=torch.long)
            h = fn(model, xb.clone().requires_grad_(True), yb, create_graph=False)
            out.append(explanation_map(h.detach(), normalize).to(x.device))
    if not out:
        return torch.empty((0, *x.shape[-2:]), dtype=x.dtype, device=x.device)
    return torch.cat(out)
