"""AGA's training losses: gradient alignment (the l2 and cosine criteria, AGA Eq. 5) and the
Hessian-norm baseline, with BatchNorm as plain tensor ops for the higher derivatives."""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F

from ..explain.attributions import attribute
from .registry import register_loss


def _input_gradient(model, x, y, create_graph, model_eval=False):
    return attribute("gradient", model, x, y, create_graph=create_graph, model_eval=model_eval)


def input_std(model, x: torch.Tensor) -> torch.Tensor:
    """sigma of the model's ``Normalize`` (shape (1, C, 1, 1)), or 1 for a model without one.

    The penalties live in the space RobustAGA tuned its lambdas in: the *normalised* input
    z = (x - mu) / sigma. By the chain rule d g / dz = sigma * d g / dx, and a delta ~ U(-eps, eps) in
    [0, 1] pixels is RobustAGA's U(-1, 1) * eps / sigma in z, so one pixel-space computation with the
    gradient multiplied by sigma (and the Hessian probe drawn in z) is exactly their quantity.
    """
    from ..explain.attributions import normalize_module
    norm = normalize_module(model)
    if norm is None:
        return torch.ones((), dtype=x.dtype, device=x.device)
    return norm.std.to(x.device, x.dtype).view(1, -1, *([1] * (x.dim() - 2)))


def normalised_input_gradient(model, x, y, create_graph, model_eval=False):
    """d g_y / dz at z = normalise(x) (RobustAGA's explanation), as a tensor shaped like x."""
    return input_std(model, x) * _input_gradient(model, x, y, create_graph, model_eval=model_eval)


def gradient_alignment_terms(model, x, y, eps: float,
                             reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """AGA's two robustness criteria for one delta ~ U(-eps, eps) per example (the paper's speed trick).

    Returns (l2, cosd), batch means: l2 = ||grad g_y(x) - grad g_y(x + delta)||^2 (squared, summed
    over pixels, as RobustAGA), cosd = (1 - cos(grad g_y(x), grad g_y(x + delta))) / 2, with g_y the
    true-class logit and every gradient taken with respect to the *normalised* input (RobustAGA's
    space, where its lambdas were tuned; :func:`normalised_input_gradient`). delta ~ U(-eps, eps) in
    [0, 1] pixels is RobustAGA's U(-1, 1) eps / sigma in normalised space.
    grad g_y(x) is a constant (detached); only grad g_y(x + delta) carries the
    second-order graph. x + delta is not clamped (as RobustAGA). delta comes from torch's global
    generator, which ``train.fit`` seeds per epoch. ``reference`` = the normalised-space grad g_y(x)
    when the caller has it already (the training loss takes it from its own forward pass, saving one
    forward and backward).
    """
    if reference is None:
        reference = normalised_input_gradient(model, x, y, create_graph=False)
    reference = reference.detach().flatten(1)
    delta = torch.empty_like(x).uniform_(-eps, eps)
    moved = normalised_input_gradient(model, (x + delta).detach(), y, create_graph=True).flatten(1)
    l2 = (moved - reference).pow(2).sum(1).mean()
    cosd = (1.0 - F.cosine_similarity(moved, reference, dim=1, eps=1e-12)).mean() / 2.0
    return l2, cosd


@register_loss("gradient_alignment")
def gradient_alignment_loss(model, x, y, params):
    """CE + lam_l2 * l2 + lam_cos * cosd (AGA Eq. 5); lam_cos = 0 is the l2 criterion alone,
    lam_l2 = 0 the cosine criterion (CRC). params: eps (L-inf radius of delta, [0, 1] pixels),
    lam_l2, lam_cos."""
    lam_l2, lam_cos = float(params.get("lam_l2", 0.0)), float(params.get("lam_cos", 0.0))
    if not (lam_l2 or lam_cos):
        logits = model(x)
        return F.cross_entropy(logits, y), logits
    xi = x.detach().requires_grad_(True)
    logits = model(xi)
    loss = F.cross_entropy(logits, y)
    # grad g_y(x) from the same forward pass (RobustAGA computes it there too)
    (reference,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xi, retain_graph=True)
    reference = input_std(model, x) * reference          # d g_y / dz, RobustAGA's space
    l2, cosd = gradient_alignment_terms(model, x, y, float(params.get("eps", 4 / 255)), reference=reference)
    loss = loss + lam_l2 * l2 + lam_cos * cosd
    return loss, logits




def hessian_norm_estimate(model, x, y, *, inputs: torch.Tensor | None = None,
                          logits: torch.Tensor | None = None) -> torch.Tensor:
    """One-sample estimate of ||H||_F^2 of the true-class logit w.r.t. the *normalised* input z
    (Dombrowski et al. 2022, as RobustAGA, whose lambdas were tuned there): v ~ N(0, I) in z,
    H_z v = d(v . grad_z g_y)/dz = sigma * d(v . sigma grad_x g_y)/dx, batch mean of ||H_z v||^2
    (1/sigma^4 smaller than the pixel-space norm).

    Training on ||Hv||^2 needs third derivatives, which torch's fused BatchNorm does not have: its
    BatchNorm layers run as plain tensor ops on the batch statistics for this term (same values).
    Eval-mode BatchNorm would be wrong here: the regulariser then flattens the eval-mode network only,
    which collapsed test accuracy to chance in our runs. ``inputs`` (requires grad) and ``logits`` =
    the caller's forward pass of them under :func:`_differentiable_batchnorm`, to reuse (the training
    loss does: one forward for CE and the penalty); without them this runs its own forward.
    """
    if logits is None:
        inputs = x.detach().requires_grad_(True)
        with _differentiable_batchnorm(model):
            logits = model(inputs)
    (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), inputs, create_graph=True)
    std = input_std(model, inputs)
    v = torch.randn_like(inputs)                               # the probe, drawn in normalised space
    (hv,) = torch.autograd.grad((std * g * v).sum(), inputs, create_graph=True)
    return (std * hv).pow(2).flatten(1).sum(1).mean()


def _batchnorm_ops(self, x):
    if not self.training:
        return self._fused_forward(x)
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    if self._track_update and self.track_running_stats:
        # what the fused layer does to its running statistics (unbiased variance, momentum or
        # cumulative average), so one differentiable forward can serve the task loss too
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            n = x.numel() / x.shape[1]
            self.running_mean.mul_(1 - m).add_(mean.flatten(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.flatten() * (n / max(n - 1, 1)), alpha=m)
    out = (x - mean) / torch.sqrt(var + self.eps)
    if self.affine:
        out = out * self.weight.view(shape) + self.bias.view(shape)
    return out


@contextlib.contextmanager
def _differentiable_batchnorm(model, update_running_stats: bool = False):
    """BatchNorm layers as plain tensor ops (any-order derivatives); the running statistics are
    updated as the fused layer would only with ``update_running_stats``."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m._fused_forward = m.forward
        m._track_update = update_running_stats
        m.forward = types.MethodType(_batchnorm_ops, m)
    try:
        yield model
    finally:
        for m in layers:
            del m.forward, m._fused_forward, m._track_update  # back to the class's own forward


@register_loss("hessian")
def hessian_loss(model, x, y, params):
    """CE + lam * ||H||_F^2 estimate (the Hessian-norm baseline of AGA's tables). params: lam."""
    lam = float(params.get("lam", 0.0))
    if not lam:
        logits = model(x)
        return F.cross_entropy(logits, y), logits
    # one forward for both terms (AGA Table 2 times the regulariser against CE; a second forward for
    # the penalty cost ~10 % more): BatchNorm as differentiable ops, running statistics updated as usual
    xi = x.detach().requires_grad_(True)
    with _differentiable_batchnorm(model, update_running_stats=True):
        logits = model(xi)
    loss = F.cross_entropy(logits, y) + lam * hessian_norm_estimate(model, x, y, inputs=xi, logits=logits)
    return loss, logits
