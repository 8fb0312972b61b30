"""ATEX (Tang et al. 2022, "Defense Against Explanation Manipulation"): adversarial training on
explanations without second-order derivatives — samples moved *perpendicular* to the (SmoothGrad)
explanation must keep the prediction the model makes at their starting point, which is moved *along*
the explanation (``DefIntpMan/ATEX``, ``advtrain_explain_tangval.py``).

Our one-loss-per-step form (AGA runs ATEX as a training row on LeNet): per example and step
1. h = SmoothGrad of the true class at x (``sg_n`` samples, noise ``sg_sigma``), detached;
2. a starting point x_a = x + s · mag · h / max|h| with s on ATEX's grid (t − n/2) / (n − 1),
   t = 0..n−1 (n = ``n_along``), one t drawn per example;
3. the soft label p = softmax(g(x_a) / T), detached (ATEX distils from a frozen pre-trained copy of the
   model; with no second model in a training step we distil from the model itself, detached);
4. x̃ = x_a + u − <u, ĥ> ĥ with u ~ U(−mag, mag) per pixel and ĥ = h normalised over each channel's
   H × W (ATEX's ``perturb_tangent``), detached;
5. loss = CE(g(x), y) + lam · KL(p ‖ softmax(g(x̃))) (batch mean).
The gradient reaches the parameters through g(x) and g(x̃) only: no double backprop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..explain.attributions import attribute
from .registry import register_loss, report_part

def atex_settings(params: dict) -> dict:
    """The loss's parameters with our defaults (ATEX leaves mag, the grid and the SmoothGrad settings to
    its scripts; see docs/replication-notes.md)."""
    return {"lam": float(params.get("lam", 1.0)), "mag": float(params.get("mag", 4 / 255)),
            "n_along": int(params.get("n_along", 5)), "sg_n": int(params.get("sg_n", 8)),
            "sg_sigma": float(params.get("sg_sigma", 0.1)), "temperature": float(params.get("temperature", 1.0))}


def along_positions(n_along: int) -> torch.Tensor:
    """ATEX's starting positions along the explanation, in units of mag: (t − n/2) / (n − 1)."""
    n = int(n_along)
    if n < 2:
        raise ValueError(f"atex n_along must be >= 2 (ATEX's grid (t - n/2)/(n - 1)); got {n}")
    return (torch.arange(n, dtype=torch.float64) - n / 2) / (n - 1)


def perpendicular(noise: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """noise − <noise, d̂> d̂ with d̂ = direction normalised over each channel's H × W (ATEX's perturb_tangent)."""
    d = direction / direction.pow(2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12)
    return noise - (noise * d).sum((2, 3), keepdim=True) * d


def atex_samples(model, x, y, params) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_a, x̃, h): the starting points along the explanation, the samples perpendicular to it and the
    SmoothGrad explanation, all detached (randomness from torch's global generator, seeded per epoch)."""
    p = atex_settings(params)
    mag = p["mag"]
    seed = int(torch.randint(0, 2 ** 31 - 1, ()))           # SmoothGrad's own generator, drawn from the global one
    h = attribute("smoothgrad", model, x, y, model_eval=False, n=p["sg_n"], sigma=p["sg_sigma"],
                  seed=seed).detach()
    scale = h.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    grid = along_positions(p["n_along"]).to(x.device, x.dtype)
    s = grid[torch.randint(0, len(grid), (x.shape[0],), device=x.device)].view(-1, 1, 1, 1)
    x_a = (x + s * mag * h / scale).detach()
    noise = torch.empty_like(x).uniform_(-mag, mag)
    return x_a, (x_a + perpendicular(noise, h)).detach(), h


@register_loss("atex")
def atex_loss(model, x, y, params):
    """CE + lam · KL(softmax(g(x_a)/T) ‖ softmax(g(x̃))); params: lam, mag, n_along, sg_n, sg_sigma,
    temperature (see the module docstring)."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    p = atex_settings(params)
    if not p["lam"]:
        return loss, logits
    x_a, x_t, _ = atex_samples(model, x, y, params)
    with torch.no_grad():
        soft = F.softmax(model(x_a) / p["temperature"], dim=1)
    kl = F.kl_div(F.log_softmax(model(x_t), dim=1), soft, reduction="batchmean")
    report_part("atex_kl", kl)
    return loss + p["lam"] * kl, logits
