"""The targeted explanation-manipulation attack (Dombrowski et al. 2019; as used by SEP and by AGA's
Adv-Insertion): :class:`ExplanationAttack` follows the conventions of :mod:`interprobust.attacks`
but needs target maps, ``attack(model, x, y=None, target_map=maps)``; :func:`explanation_maps`
computes them for target images. It is not in ``ATTACKS`` (no drop-in evasion attack).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..attacks.base import Attack, _check_eps
from ..nn import eval_mode, model_device, relu_softplus_surrogate, resolve_target
from .attributions import attribute
from .maps import NORMALIZATIONS, check_reduction, explanation_map, map_distance

__all__ = ["ExplanationAttack", "ExplanationAttackResult", "explanation_maps", "named_explainer"]


def named_explainer(method: str, **options):
    """``explain(model, x, target, create_graph=...)`` for the attribution ``method`` of
    :func:`interprobust.explain.attributions.attribute`, with its keyword ``options`` (e.g. IG's steps)."""
    def by_name(model, x, target, create_graph=False):
        return attribute(method, model, x, target, create_graph=create_graph, **options)

    by_name.__name__ = f"attribute[{method}]"
    by_name.method, by_name.options = method, dict(options)
    return by_name


def _resolve_explain(explain):
    """A callable ``explain(model, x, target, create_graph=...) -> (B, C, H, W)``; a string names a
    method of :func:`interprobust.explain.attributions.attribute`."""
    if callable(explain):
        return explain
    if isinstance(explain, str):
        return named_explainer(explain)
    raise TypeError(f"explain must be a callable or a method name; got {explain!r}")


@dataclasses.dataclass
class ExplanationAttackResult:
    """What :meth:`ExplanationAttack.run` returns; every tensor is detached, on the input's device.

    ``x_adv`` (B, C, H, W); ``y`` the explained class of each sample; ``pred`` the original (clean)
    prediction; ``expl_start`` / ``expl_end`` the explanation loss (:func:`explanation_loss` with the
    attack's ``normalize`` and ``reduction``, with the model's real activations) at the clean
    victim ``x`` and at ``x_adv``; ``pred_kept`` whether ``x_adv`` is still predicted as ``pred``;
    ``best_step`` the iterate returned (0 = the start, k = after k optimiser steps); ``expl_at``
    (B, len(record_steps)) the explanation loss the attack would have returned had it stopped after
    each of the attack's ``record_steps`` (NaN for a step beyond ``steps``); ``steps_run`` the steps
    each sample took (fewer than ``steps`` where the early stop froze it).
    """

    x_adv: torch.Tensor
    y: torch.Tensor
    pred: torch.Tensor
    expl_start: torch.Tensor
    expl_end: torch.Tensor
    pred_kept: torch.Tensor
    best_step: torch.Tensor
    expl_at: torch.Tensor | None = None
    steps_run: torch.Tensor | None = None


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

    ``record_steps`` (e.g. (100, 300, 1000, 1500)): the returned explanation loss as it stood after
    each of these steps (``ExplanationAttackResult.expl_at``). ``early_stop=(window, fraction)``
    (optional): every ``window`` steps a sample whose returned explanation loss improved by less than
    ``fraction`` of its value ``window`` steps before is frozen (its iterate no longer moves); the
    attack ends when every sample is frozen. Per sample, so batching still does not change results.

    ``batch_size`` bounds how many samples are optimised at once (memory); results do not depend
    on it. ``path_chunk`` (integrated gradients only): the double backprop runs over that many path
    points at a time (:meth:`_ig_chunked_step`: the map first without a graph, then one graph per chunk
    of points), so a pair whose 50-point graph does not fit still runs; same gradient up to rounding.
    ``__call__(model, x, y=None, target_map=...)`` returns ``x_adv``; :meth:`run` returns an
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
                 seed: int = 0, beta_growth=None, batch_size: int | None = None,
                 record_steps=(), early_stop=None, path_chunk: int | None = None):
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
        self.reduction = check_reduction(reduction)
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
        self.path_chunk = None if path_chunk is None else max(1, int(path_chunk))
        if self.path_chunk is not None and getattr(self._explain, "method", None) != "integrated_gradients":
            raise ValueError("path_chunk splits integrated gradients' path points: explain must be "
                             "'integrated_gradients' (a name or named_explainer)")
        self.record_steps = tuple(int(k) for k in (record_steps or ()))
        if any(k < 0 for k in self.record_steps):
            raise ValueError(f"record_steps must be >= 0; got {self.record_steps}")
        if early_stop is not None and early_stop is not False:
            window, fraction = early_stop
            if int(window) < 1 or not 0 <= float(fraction) < 1:
                raise ValueError(f"early_stop must be (window >= 1, fraction in [0, 1)); got {early_stop!r}")
            self.early_stop: tuple[int, float] | None = (int(window), float(fraction))
        else:
            self.early_stop = None

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
            yy = pred.clone() if y is None else resolve_target(model, x, torch.as_tensor(y).detach())
            tmap = explanation_map(tm, self.normalize).expand(b, *x.shape[-2:])
            a_w, o_w = self._weights(x, logits0.shape[1])
            chunk = self.batch_size or max(b, 1)
            parts = []
            for i in range(0, b, chunk):
                sl = slice(i, i + chunk)
                parts.append(self._attack_chunk(model, x[sl], yy[sl], pred[sl], logits0[sl], tmap[sl],
                                                None if delta0 is None else delta0[sl], a_w, o_w))
        cat = [torch.cat(t).detach().to(out_device) for t in zip(*parts)] if parts else \
            [x.to(out_device)] + [torch.empty(0, device=out_device)] * 4 + \
            [torch.empty((0, len(self.record_steps)), device=out_device), torch.empty(0, device=out_device)]
        x_adv, expl_start, expl_end, kept, best_step, expl_at, steps_run = cat
        return ExplanationAttackResult(x_adv=x_adv, y=yy.to(out_device), pred=pred.to(out_device),
                                       expl_start=expl_start, expl_end=expl_end,
                                       pred_kept=kept.bool(), best_step=best_step.long(), expl_at=expl_at,
                                       steps_run=steps_run.long())

    def plan_batch_size(self, model: nn.Module, x: torch.Tensor, target_map: torch.Tensor,
                        memory_fraction: float = 0.8, maximum: int | None = None):
        """The largest ``batch_size`` whose one attack step fits ``memory_fraction`` of the model
        device's free memory (:mod:`interprobust.memory`: one double-backprop step measured on the
        first victims of ``x`` / ``target_map``); returns ``(batch_size, footprint, budget)``."""
        import copy

        from .. import memory
        probe = copy.copy(self)
        probe.steps, probe.batch_size, probe.record_steps, probe.early_stop = 1, None, (), None
        probe.select = "last"
        tm = target_map[None] if target_map.dim() == 2 else target_map
        tm = tm if tm.shape[0] == x.shape[0] else tm.expand(x.shape[0], *tm.shape[1:])

        def step(n):
            probe.run(model, x[:n], target_map=tm[:n])

        return memory.planned_chunk(step, model_device(model), x.shape[0], memory_fraction, maximum)

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
        loss = map_distance(explanation_map(h, self.normalize), tmap, self.reduction)
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
        rec = {s: j for j, s in enumerate(self.record_steps)}
        expl_at = torch.full((x.shape[0], len(self.record_steps)), math.nan, dtype=x.dtype, device=x.device)
        active = torch.ones_like(pred, dtype=torch.bool)
        steps_run = torch.zeros_like(pred)
        window = self.early_stop[0] if self.early_stop else 0
        ref_loss = None

        def returned(cur):                               # the loss the attack returns if it stops now
            return cur if self.select == "last" else torch.where(found, best_loss, start_loss)

        k_end = self.steps
        for k in range(self.steps):
            z = x_k.detach().requires_grad_(True)
            need_real = k > 0 and (track or k in rec or window)
            rl = start_loss
            if surrogate:
                b0, b_end = self.beta_growth
                beta = b0 * (b_end / b0) ** (k / self.steps)
                with relu_softplus_surrogate(model, beta):
                    expl, logits = self._evaluate(model, z, y, tmap, create_graph=True)
                    total = (a_w * expl + o_w * self._output_distance(logits, logits0)).sum()
                    (grad,) = torch.autograd.grad(total, z)
                if need_real:
                    rl, rlog = self._evaluate(model, x_k, y, tmap, create_graph=False)
            elif self.path_chunk is not None:
                expl, logits, grad = self._ig_chunked_step(model, z, y, tmap, logits0, a_w, o_w)
                if k > 0:
                    rl, rlog = expl, logits
            else:
                expl, logits = self._evaluate(model, z, y, tmap, create_graph=True)
                total = (a_w * expl + o_w * self._output_distance(logits, logits0)).sum()
                (grad,) = torch.autograd.grad(total, z)
                if k > 0:                                # iterate k's real loss and prediction come with its gradient
                    rl, rlog = expl.detach(), logits.detach()
            if track and k > 0:
                self._track(k, x_k, rl, rlog, *state)
            if k in rec:
                expl_at[:, rec[k]] = returned(rl)
            if window and k % window == 0:               # k = 0: the start is the first reference
                now = returned(rl)
                if ref_loss is not None:
                    active &= (ref_loss - now) > self.early_stop[1] * ref_loss.abs()
                ref_loss = now.clone()
                if not bool(active.any()):               # one host sync per window, not per step
                    k_end = k
                    break
            steps_run += active.long()
            with torch.no_grad():
                t = k + 1
                m.mul_(b1).add_(grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                step = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt_().add_(adam_eps))
                moved = (x_k - self.lr * step).clamp_(min=lo, max=hi)
                x_k = moved if window == 0 else torch.where(active.view(-1, *[1] * (x.dim() - 1)), moved, x_k)
        # the final iterate
        if k_end > 0:
            loss_k, logits_k = self._evaluate(model, x_k, y, tmap, create_graph=False)
            if track:
                self._track(k_end, x_k, loss_k, logits_k, *state)
        final = returned(loss_k)
        for s, j in rec.items():
            if k_end <= s <= self.steps:                 # the steps not run (early stop) keep the final loss
                expl_at[:, j] = final
        if self.select == "last":
            out, out_loss = x_k, loss_k
            out_step = torch.full_like(pred, k_end)
            kept = logits_k.argmax(1) == pred
        else:
            out = best                                   # the start where nothing kept the prediction
            out_loss = torch.where(found, best_loss, start_loss)
            out_step = best_step
            kept = found
        return out.detach(), expl_start.detach(), out_loss.detach(), kept, out_step, expl_at, steps_run

    def _ig_chunked_step(self, model, z, y, tmap, logits0, a_w, o_w):
        """(explanation loss, logits, d total / dz) for integrated gradients with the path points in
        chunks of ``path_chunk``: h = (z - b) * avg, avg = sum_k w_k grad f(b + a_k (z - b)). First h
        without a graph and g = d(a_w * D(n(h))) / dh; then dz = g * avg + sum over chunks of the
        vector-Jacobian product of avg with g * (z - b) (one chunk's graph at a time) + the output
        term's gradient."""
        from .attributions import _grad_input, _ig_alphas
        opts = self._explain.options
        alphas, weights = _ig_alphas(int(opts.get("steps", 50)), opts.get("method", "riemann_right"), z.dtype, z.device)
        base = torch.as_tensor(opts.get("baseline", 0.0), dtype=z.dtype, device=z.device).expand_as(z)
        zd, c = z.detach(), self.path_chunk
        shape = (-1, *[1] * z.dim())

        def weighted_grads(zz, i, create_graph):        # sum over points i:i+c of w_k grad f(b + a_k (zz - b))
            a, w = alphas[i:i + c], weights[i:i + c]
            pts = (base[None] + a.view(shape) * (zz - base)[None]).reshape(-1, *z.shape[1:])
            g = _grad_input(model, pts, y.repeat(len(a)), create_graph).view(len(a), *z.shape)
            return (w.view(shape) * g).sum(0)

        avg = sum(weighted_grads(zd, i, False) for i in range(0, len(alphas), c))   # the map, first order only
        h = ((zd - base) * avg).requires_grad_(True)
        expl = map_distance(explanation_map(h, self.normalize), tmap, self.reduction)
        (g_h,) = torch.autograd.grad((a_w * expl).sum(), h)
        grad = g_h * avg
        v = g_h * (zd - base)
        for i in range(0, len(alphas), c):              # one chunk's second-order graph at a time
            zr = z.detach().requires_grad_(True)
            (gz,) = torch.autograd.grad((v * weighted_grads(zr, i, True)).sum(), zr)
            grad = grad + gz
        zr = z.detach().requires_grad_(True)
        logits = model(zr)
        (go,) = torch.autograd.grad((o_w * self._output_distance(logits, logits0)).sum(), zr)
        return expl.detach(), logits.detach(), grad + go

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
            yb = resolve_target(model, xb, None if y is None else y[i:i + int(batch_size)])
            h = fn(model, xb.clone().requires_grad_(True), yb, create_graph=False)
            out.append(explanation_map(h.detach(), normalize).to(x.device))
    if not out:
        return torch.empty((0, *x.shape[-2:]), dtype=x.dtype, device=x.device)
    return torch.cat(out)
