"""Gradient-based attributions behind one captum-like call, batched on the input's device.

``attribute(method, model, x, target, create_graph=False, **kwargs)`` returns a tensor shaped like x
(B, C, H, W). Models take images in [0, 1] (``Normalize`` is their first module), so every
attribution is with respect to pixel space. The explained output is the target class's logit;
``target=None`` explains the predicted class.

Methods (``ATTRIBUTIONS``):

``gradient``              d logit_t / dx.
``input_x_gradient``      (x - baseline) * gradient, baseline 0 by default.
``guided_backprop``       Springenberg et al.: at every ReLU the backward signal R becomes
                          R * [z > 0] * [R > 0]; at every Softplus(beta) sigmoid(beta z) * R * [R > 0]
                          (RobustAGA's GBP for Softplus networks).
``integrated_gradients``  (x - baseline) * the path integral of the gradient; ``steps`` = 50 points
                          with the IG paper's right Riemann sum by default (captum's step rules
                          ``riemann_left|right|middle|trapezoid`` available; all path points batched).
``smoothgrad``            the mean gradient over ``n`` copies x + N(0, sigma^2), noise from a
                          ``torch.Generator`` seeded with ``seed`` on the input's device, batched.
``gradcam``               Grad-CAM on the last feature maps (the input of the last 2-D pooling),
                          upsampled to the image, repeated over channels (G-LIME's Table 5).
``lrp``                   LRP-z+ (alpha1-beta0; zennit's ZPlus: x+ w+ and x- w-, b+ in the
                          denominator) in every conv / linear layer after the first (in module
                          order), z^B in the first with the [0, 1] pixel box mapped through
                          ``Normalize`` (zennit hooks). Relevance passes unchanged through
                          activations, BatchNorm and ``Normalize``; max-pool routes it to the
                          maximum; average pools share it in proportion to the inputs; a residual
                          sum splits it in proportion to the positive parts of its two branches.
                          Starts from R = logit_t (``start='one'``: R = 1, as RobustAGA). For
                          ``lenet``, ``convnet``, ``resnet18`` and plain sequential nets.

With ``create_graph=True`` the result stays differentiable with respect to x and the parameters
(double backprop for regularisers and explanation attacks): every method, ``lrp`` included. Otherwise
the result is detached. During a call the model is in eval mode (``model_eval=False`` keeps its
current mode, e.g. inside a training step); every submodule's mode, hooks and attributes are
restored afterwards, also on errors. Parameters' ``.grad`` are never touched.

Post-processing (abs, channel sum, divided by the per-sample max (AGA) or sum (Dombrowski et al.)):
:mod:`interprobust.explain.maps`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..nn import eval_mode, resolve_target

__all__ = ["ATTRIBUTIONS", "attribute", "gradient",
           "input_x_gradient", "guided_backprop", "integrated_gradients", "smoothgrad", "lrp",
           "guided_activations", "IG_METHODS"]

IG_METHODS = ("riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid")


# ------------------------------------------------------------------------------------------ helpers
def _logit(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return out.gather(1, target[:, None])[:, 0]


def _grad_input(model: nn.Module, x: torch.Tensor, target: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d logit_target / dx for a batch. With create_graph and an x that requires grad, the graph runs
    back through x to whatever produced it (an attack's delta)."""
    xi = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
    logit = _logit(model(xi), target)
    (g,) = torch.autograd.grad(logit.sum(), xi, create_graph=create_graph)
    return g


def _mean_gradient(model, points: torch.Tensor, weights: torch.Tensor, owner: torch.Tensor, target, batch: int,
                   create_graph: bool, batch_size: int | None) -> torch.Tensor:
    """sum_r weights[r] * grad(points[r]) accumulated into sample owner[r]; rows sent in chunks."""
    size = batch_size or len(points)
    total = None
    for r0 in range(0, len(points), size):
        r1 = min(r0 + size, len(points))
        g = _grad_input(model, points[r0:r1], target[owner[r0:r1]], create_graph)
        g = g * weights[r0:r1].view(-1, *([1] * (g.ndim - 1)))
        part = torch.zeros((batch, *g.shape[1:]), dtype=g.dtype, device=g.device).index_add(0, owner[r0:r1], g)
        total = part if total is None else total + part
    return total


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


# ---------------------------------------------------------------------------------- the methods
def gradient(model, x, target, *, create_graph=False):
    """d logit_target / dx."""
    return _grad_input(model, x, target, create_graph)


def input_x_gradient(model, x, target, *, create_graph=False, baseline=0.0):
    """(x - baseline) * d logit_target / dx (baseline = the mean colour gives normalised-space x*grad)."""
    return (x - _baseline(x, baseline)) * _grad_input(model, x, target, create_graph)


_UNGUIDED = (nn.ReLU6, nn.SiLU, nn.GELU, nn.ELU, nn.LeakyReLU, nn.Hardswish, nn.Mish, nn.PReLU, nn.SELU, nn.CELU)


def _positive_part(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


@contextlib.contextmanager
def guided_activations(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context, the gradient arriving at the output of every nn.ReLU / nn.Softplus of ``model``
    is clipped to its positive part before the activation's own derivative multiplies it: R [R > 0]
    [z > 0] for ReLU, sigmoid(beta z) R [R > 0] for Softplus(beta).

    The clip is a hook on each activation's output tensor, not a replaced backward: the forward graph
    keeps the true derivatives, so differentiating a guided gradient (create_graph) is exact once the
    context has closed. Forward and tensor hooks are all removed on exit, also on errors.
    """
    bad = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _UNGUIDED)})
    if bad:
        raise ValueError(f"guided backprop is defined here for ReLU and Softplus; the model also uses {bad}")
    tensor_handles = []

    def clip_output_grad(module, inputs, output):
        if output.requires_grad:
            tensor_handles.append(output.register_hook(_positive_part))

    handles = [m.register_forward_hook(clip_output_grad) for m in model.modules()
               if isinstance(m, (nn.ReLU, nn.Softplus))]
    try:
        yield model
    finally:
        for h in handles + tensor_handles:
            h.remove()


def guided_backprop(model, x, target, *, create_graph=False):
    """Guided Backprop (ReLU: R [z > 0][R > 0]; Softplus(beta): sigmoid(beta z) R [R > 0])."""
    # not captum's GuidedBackprop: it only guides nn.ReLU and its full backward hooks are not differentiable
    with guided_activations(model):
        return _grad_input(model, x, target, create_graph)


def _ig_alphas(steps: int, method: str, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Path points a_k and weights w_k (sum 1) of the Riemann rules; ``riemann_right`` is the IG paper's sum.

    Points as captum's; captum's trapezoid weighs its n points 1/n (ends 1/(2n)), which sums to (n-1)/n:
    ours uses the trapezoid rule proper, 1/(n-1) (ends 1/(2(n-1))).
    """
    if method not in IG_METHODS:
        raise ValueError(f"unknown integration method {method!r}; valid: {', '.join(IG_METHODS)}")
    if steps < (2 if method == "riemann_trapezoid" else 1):
        raise ValueError(f"steps must be >= {2 if method == 'riemann_trapezoid' else 1}; got {steps}")
    n = steps
    if method == "riemann_trapezoid":
        alphas = torch.linspace(0, 1, n, dtype=torch.float64)
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[[0, -1]] = 0.5 / (n - 1)
    else:
        start = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[method]
        alphas = (torch.arange(n, dtype=torch.float64) + start) / n
        weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
    return alphas.to(device, dtype), weights.to(device, dtype)


def integrated_gradients(model, x, target, *, create_graph=False, steps=50, method="riemann_right", baseline=0.0,
                         batch_size=None):
    """(x - baseline) * sum_k w_k grad(baseline + a_k (x - baseline)); ``batch_size`` caps images per pass."""
    # not captum's: ours must backprop (create_graph) and share this module's target/mode handling
    b = x.shape[0]
    base = _baseline(x, baseline)
    alphas, weights = _ig_alphas(int(steps), method, x.dtype, x.device)
    diff = x - base
    points = (base[None] + alphas.view(-1, *([1] * x.ndim)) * diff[None]).reshape(-1, *x.shape[1:])  # step-major
    owner = torch.arange(b, device=x.device).repeat(len(alphas))
    avg = _mean_gradient(model, points, weights.repeat_interleave(b), owner, target, b, create_graph, batch_size)
    return diff * avg


def smoothgrad(model, x, target, *, create_graph=False, n=50, sigma=0.15, seed=0, batch_size=None):
    """Mean gradient over x + N(0, sigma^2) (sigma in [0, 1] pixel units, no clamping), n samples per image.

    Noise: ``torch.randn((B * n, C, H, W), generator)`` * sigma, row b * n + k for sample k of image b
    (the layout and draws of captum's NoiseTunnel for the same seed on the same device).
    """
    # not captum's NoiseTunnel: it draws from the global RNG and cannot keep the graph (create_graph)
    b, n = x.shape[0], int(n)
    if n < 1:
        raise ValueError(f"smoothgrad needs n >= 1 samples; got {n}")
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    noise = torch.randn((b * n, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype) * float(sigma)
    points = x.repeat_interleave(n, dim=0) + noise
    owner = torch.arange(b, device=x.device).repeat_interleave(n)
    weights = torch.full((b * n,), 1.0 / n, dtype=x.dtype, device=x.device)
    return _mean_gradient(model, points, weights, owner, target, b, create_graph, batch_size)


# -------------------------------------------------------------------------------------------- LRP
def normalize_module(model: nn.Module):
    """The model's ``Normalize`` (its first layer), or None."""
    from ..models import Normalize
    return next((m for m in model.modules() if isinstance(m, Normalize)), None)


def _box_bounds(model: nn.Module, dtype, device):
    """The [0, 1] pixel box in the first layer's input space, i.e. mapped through ``Normalize``."""
    norm = normalize_module(model)
    if norm is None:
        return torch.zeros((), dtype=dtype, device=device), torch.ones((), dtype=dtype, device=device)
    mean, std = norm.mean.to(device, dtype), norm.std.to(device, dtype)
    return (0 - mean) / std, (1 - mean) / std


def _check_lrp_model(model: nn.Module) -> None:
    from ..models import InvertedResidual, TorchvisionClassifier, WideBasicBlock
    bad = sorted({type(m).__name__ for m in model.modules()
                  if isinstance(m, (WideBasicBlock, InvertedResidual, TorchvisionClassifier))})
    if bad:
        raise ValueError(f"LRP is implemented for lenet, convnet, resnet18 and sequential nets; this model has {bad} "
                         f"(residual sums without an LRP rule)")


def _residual_forward(self, x):
    """``models.BasicBlock.forward`` with the residual sum as a module, so that an LRP rule can see it."""
    out = self.act1(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.act2(self.canonizer_sum(torch.stack([out, self.shortcut(x)], dim=-1)))


def _lrp_composite(low, high, stabilizer: float):
    """zennit composite: z^B first layer, z+ other conv/linear, pass-through activations/BN/Normalize."""
    # zennit gives hook-based rules with clean removal; the rule set and the residual canonizer are ours
    from zennit.canonizers import AttributeCanonizer
    from zennit.core import BasicHook, Composite
    from zennit.layer import Sum
    from zennit.rules import Norm, NoMod, Pass, ZBox, ZPlus
    from zennit.types import Activation, AvgPool, BatchNorm, Convolution, Linear

    from ..models import BasicBlock, Normalize

    def stab(t):
        return t + ((t == 0).to(t) + t.sign()) * stabilizer

    positive_sum = BasicHook(  # residual: R_branch = branch+ / (sum of branches+) * R
        input_modifiers=[lambda inp: inp.clamp(min=0)], param_modifiers=[NoMod(param_keys=[])],
        output_modifiers=[lambda out: out], gradient_mapper=lambda g, outs: g / stab(outs[0]),
        reducer=lambda ins, grads: ins[0] * grads[0])

    def canonize(name, module):
        if isinstance(module, BasicBlock):
            return {"forward": _residual_forward.__get__(module), "canonizer_sum": Sum()}
        return None

    def rule(ctx, name, module):
        if isinstance(module, Normalize):
            return Pass()
        if isinstance(module, Sum):
            return positive_sum
        if isinstance(module, (Convolution, Linear)):
            if not ctx.get("first_done"):
                ctx["first_done"] = True
                return ZBox(low, high, stabilizer=stabilizer)
            return ZPlus(stabilizer=stabilizer)
        if isinstance(module, (Activation, BatchNorm)):
            return Pass()
        if isinstance(module, AvgPool):
            return Norm(stabilizer=stabilizer)
        return None  # max-pool, flatten, identity, dropout: plain gradient

    return Composite(module_map=rule, canonizers=[AttributeCanonizer(canonize)])


def lrp(model, x, target, *, create_graph=False, start="logit", stabilizer=1e-8):
    """LRP: z^B (pixel box [0, 1]) in the first layer, z+ above; see the module docstring.

    With ``create_graph`` the relevance stays differentiable in x and the parameters (zennit's hooks
    build their backward with ``create_graph`` when the incoming relevance carries a graph; RobustAGA
    builds its LRP with ``create_graph=True`` and its Adv-Insertion attack attacks LRP like any map).
    The starting relevance R = logit_t then keeps its own dependence on x.
    """
    if start not in ("logit", "one"):
        raise ValueError(f"unknown start {start!r}; valid: logit, one")
    _check_lrp_model(model)
    low, high = _box_bounds(model, x.dtype, x.device)
    xi = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
    with _lrp_composite(low, high, stabilizer).context(model):
        out = model(xi)
        onehot = torch.zeros_like(out).scatter_(1, target[:, None], 1.0)
        relevance = onehot * (out if create_graph else out.detach()) if start == "logit" else onehot
        (r,) = torch.autograd.grad(out, xi, grad_outputs=relevance, create_graph=create_graph)
    return r if create_graph else r.detach()


# ------------------------------------------------------------------------------------ the registry
_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d)


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The module whose input are the last convolutional feature maps: the model's last 2-D pooling."""
    pools = [m for m in model.modules() if isinstance(m, _POOLS)]
    if not pools:
        raise ValueError(f"{type(model).__name__} has no 2-D pooling layer: pass gradcam(layer=...) explicitly")
    return pools[-1]


def gradcam(model, x, target, *, create_graph=False, layer: nn.Module | None = None):
    """Grad-CAM (Selvaraju et al.): ReLU(sum_k alpha_k A^k), alpha_k = spatial mean of d logit_t / dA^k,
    A = the input of ``layer`` (default :func:`gradcam_layer`, the last feature maps), upsampled
    bilinearly (align_corners=False) to the image and repeated over its channels."""
    # ours, not captum's LayerGradCam: captum needs the layer named per architecture; this finds it
    layer = gradcam_layer(model) if layer is None else layer
    captured = {}
    handle = layer.register_forward_pre_hook(lambda m, inp: captured.__setitem__("a", inp[0]))
    try:
        logits = model(x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True))
    finally:
        handle.remove()
    a = captured["a"]
    (g,) = torch.autograd.grad(_logit(logits, target).sum(), a, create_graph=create_graph)
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam.expand(-1, x.shape[1], -1, -1)


ATTRIBUTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gradient": gradient,
    "input_x_gradient": input_x_gradient,
    "guided_backprop": guided_backprop,
    "lrp": lrp,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "gradcam": gradcam,
}


def attribute(method: str, model: nn.Module, x: torch.Tensor, /, target=None, *, create_graph: bool = False,
              model_eval: bool = True, **kwargs) -> torch.Tensor:
    """Attribution of ``target``'s logit (int, (B,) tensor, or None = prediction) for images x in [0, 1].

    The first three arguments are positional-only, so IG's ``method=`` (the step rule) passes through.

    ``kwargs`` go to the method (``steps``, ``method`` and ``baseline`` for IG; ``n``, ``sigma``, ``seed``
    for smoothgrad; ``batch_size`` for both; ``baseline`` for input_x_gradient; ``start`` for lrp).
    """
    if method not in ATTRIBUTIONS:
        raise ValueError(f"unknown attribution method {method!r}; valid: {', '.join(ATTRIBUTIONS)}")
    mode = eval_mode(model) if model_eval else contextlib.nullcontext(model)
    with mode, torch.enable_grad():
        t = resolve_target(model, x, target)
        out = ATTRIBUTIONS[method](model, x, t, create_graph=create_graph, **kwargs)
    return out if create_graph else out.detach()
