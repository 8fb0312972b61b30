"""The registry of training losses: a loss is a function ``loss(model, x, y, params) -> (loss,
logits)`` on a batch already on the device, registered under the name the config uses
(``@register_loss("ce")``) and looked up by :func:`get_loss`.

A loss made of parts (LIMEREF's task / adversarial / regulariser terms) reports each with
:func:`report_part`; ``train.fit`` records them (``with recording_parts() as parts``) and writes their
epoch means to the history as ``train_<part>``. Outside a recorder ``report_part`` does nothing."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

__all__ = ["LossFn", "TRAINING_LOSSES", "register_loss", "get_loss", "report_part", "recording_parts"]

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


_RECORDERS: list[dict[str, torch.Tensor]] = []


@contextmanager
def recording_parts() -> Iterator[dict[str, torch.Tensor]]:
    """Collect the parts a loss reports during one call: name -> detached scalar tensor (unweighted,
    as the loss computed it; the weight is in the loss's params)."""
    parts: dict[str, torch.Tensor] = {}
    _RECORDERS.append(parts)
    try:
        yield parts
    finally:
        _RECORDERS.pop()


def report_part(name: str, value: torch.Tensor) -> None:
    """Report one part of the loss being computed (a scalar tensor); kept on the device, no sync."""
    if _RECORDERS:
        _RECORDERS[-1][name] = value.detach()
