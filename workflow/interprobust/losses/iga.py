"""IGA (Singh et al. 2020, "Attributional Robustness Training using Input-Gradient Spatial
Alignment"): train on the worst case in the L-inf ball of CE plus the misalignment between the
true-class input gradient and the image itself.

A(z) = 1 − cos(∇_z g_y(z), z) per example (the spatial alignment of the input gradient with the image,
[0, 1] pixels; cosine is scale-free, so the space of the gradient only matters through per-channel
sigma). The worst case x̃ maximises CE(g(z), y) + lam · A(z) over ‖z − x‖∞ ≤ eps, z in [0, 1]: random
start U(−eps, eps), ``steps`` sign-gradient steps of ``step_size`` (the inner gradient of A needs
double backprop), x̃ detached. Loss = CE(g(x̃), y) + lam · A(x̃) (batch means); the parameters get A's
gradient through ∇g_y(x̃) (double backprop).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..explain.attributions import attribute
from .registry import register_loss, report_part

def iga_settings(params: dict) -> dict:
    """The loss's parameters with our defaults (see docs/replication-notes.md)."""
    return {"lam": float(params.get("lam", 1.0)), "eps": float(params.get("eps", 8 / 255)),
            "steps": int(params.get("steps", 3)), "step_size": float(params.get("step_size", 2 / 255))}


def misalignment(model, z: torch.Tensor, y: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """A(z) = 1 − cos(∇_z g_y(z), z) per example; differentiable in z and the parameters."""
    g = attribute("gradient", model, z, y, create_graph=create_graph, model_eval=False)
    return 1.0 - F.cosine_similarity(g.flatten(1), z.flatten(1), dim=1, eps=1e-12)


def iga_objective(model, z, y, lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(CE + lam · A, CE, A), batch means, at z."""
    ce = F.cross_entropy(model(z), y)
    a = misalignment(model, z, y).mean() if lam else torch.zeros((), device=z.device)
    return ce + lam * a, ce, a


def iga_worst_case(model, x, y, params) -> torch.Tensor:
    """x̃: sign-gradient ascent on CE + lam · A in the L-inf eps ball around x (clamped to [0, 1])."""
    p = iga_settings(params)
    eps, steps, step, lam = p["eps"], p["steps"], p["step_size"], p["lam"]
    x0 = x.detach()
    z = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp(0, 1) if eps else x0
    for _ in range(steps if eps else 0):
        z = z.detach().requires_grad_(True)
        total, _, _ = iga_objective(model, z, y, lam)
        (g,) = torch.autograd.grad(total, z)
        z = torch.min(torch.max(z.detach() + step * g.sign(), x0 - eps), x0 + eps).clamp(0, 1)
    return z.detach()


@register_loss("iga")
def iga_loss(model, x, y, params):
    """CE(g(x̃), y) + lam · A(x̃) at the worst case x̃ of that objective; params: lam, eps, steps, step_size."""
    x_t = iga_worst_case(model, x, y, params)
    z = x_t.requires_grad_(True)
    logits = model(z)
    ce = F.cross_entropy(logits, y)
    lam = iga_settings(params)["lam"]
    if not lam:
        return ce, logits
    a = misalignment(model, z, y).mean()
    report_part("iga_misalignment", a)
    return ce + lam * a, logits
