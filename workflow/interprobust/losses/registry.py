"""The registry of training losses: a loss is a function ``loss(model, x, y, params) -> (loss,
logits)`` on a batch already on the device, registered under the name the config uses
(``@register_loss("ce")``) and looked up by :func:`get_loss`."""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["LossFn", "TRAINING_LOSSES", "register_loss", "get_loss"]

LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, dict], tuple[torch.Tensor, torch.Tensor]]
TRAINING_LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        if name in TRAINING_LOSSES:
            raise ValueError(f"training loss {name!r} registered twice")
        TRAINING_LOSSES[name] = fn
        return fn
    return deco


def get_loss(name: str) -> LossFn:
    try:
        return TRAINING_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown training loss {name!r}; valid losses: "
                         f"{', '.join(sorted(TRAINING_LOSSES))}") from None
