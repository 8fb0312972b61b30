"""SEP's training loss: adversarial training plus the flatness of the explanation (its Eq. 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..explain.attributions import attribute
from ..explain.maps import explanation_loss
from .adversarial import madry_examples, trades_terms
from .registry import register_loss, report_part


FLAT_REDUCTIONS = ("mean", "sum")
FLAT_NORMALIZATIONS = ("sum", "max", "none")


def explanation_flatness(model, x, y, sigma: float, explain: str = "input_x_gradient", *, reduction: str = "mean",
                         normalize: str = "sum") -> torch.Tensor:
    """SEP's flatness term (its Eq. 4, lost in extraction; the reading is a config choice): the batch
    mean of the explanation loss between h(x + xi) and h(x), xi ~ N(0, sigma^2 I) from torch's global
    generator, h = ``explain`` of the true class with the graph kept (the model's current mode).

    ``normalize``: the maps' post-processing (``"sum"``: |h| summed over channels, divided by its sum,
    the attack's and tables' map; ``"max"``: divided by its maximum; ``"none"``: |h| summed over the
    channels, unnormalised); ``reduction``: squared differences averaged (``"mean"``, the tables'
    explanation loss) or summed (``"sum"``) over the pixels."""
    if reduction not in FLAT_REDUCTIONS:
        raise ValueError(f"flat_reduction must be one of {FLAT_REDUCTIONS}; got {reduction!r}")
    if normalize not in FLAT_NORMALIZATIONS:
        raise ValueError(f"flat_normalize must be one of {FLAT_NORMALIZATIONS}; got {normalize!r}")
    x = x.detach()
    noisy = x + float(sigma) * torch.randn_like(x)
    h = attribute(explain, model, torch.cat([x, noisy]), torch.cat([y, y]), create_graph=True, model_eval=False)
    return explanation_loss(h[len(x):], h[:len(x)], normalize=None if normalize == "none" else normalize,
                            reduction=reduction).mean()


@register_loss("sep")
def sep_loss(model, x, y, params):
    """SEP: the adversarial-training loss (``base``: madry, or trades) + gamma * the explanation flatness
    at the adversarial examples (:func:`explanation_flatness`; TRADES with beta = 0 has none: x).
    gamma > 0 flattens the explanation (SEP_pos), gamma < 0 sharpens it (SEP_neg); gamma = 0 is the base
    method exactly. params: base, gamma, sigma (0.05), explain (input_x_gradient), flat_reduction (mean),
    flat_normalize (sum), and the base's."""
    base = params.get("base", "madry")
    if base == "madry":
        x_adv = madry_examples(model, x, y, params)
        logits = model(x_adv)
        loss = F.cross_entropy(logits, y)
    elif base == "trades":
        loss, logits, x_adv = trades_terms(model, x, y, params)
        x_adv = x if x_adv is None else x_adv
    else:
        raise ValueError(f"unknown SEP base {base!r}; valid: madry, trades")
    gamma = float(params.get("gamma", 0.0))
    if gamma:
        flat = explanation_flatness(model, x_adv, y, float(params.get("sigma", 0.05)),
                                    params.get("explain", "input_x_gradient"),
                                    reduction=params.get("flat_reduction", "mean"),
                                    normalize=params.get("flat_normalize", "sum"))
        report_part("flatness", flat.detach())
        loss = loss + gamma * flat
    return loss, logits
