"""Tiny ``torch.nn`` utilities shared by every stage: eval mode, a model's device, activations and
their swapping (a Softplus surrogate of a ReLU network), and the class an explanation or a metric
is about (:func:`resolve_target`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "model_device", "resolve_target", "ACTIVATIONS", "make_activation",
           "check_activation", "swap_activations", "relu_softplus_surrogate"]

ACTIVATIONS = ("relu", "softplus")


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


def resolve_target(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The explained class of every image of ``x``: a (B,) long tensor on x's device.

    ``None`` -> the model's prediction on ``x`` (no gradients, in the model's current mode); an int,
    a 0-d or a one-element tensor -> that class for every image; else a (B,) sequence or tensor."""
    if target is None:
        with torch.no_grad():
            return model(x.detach()).argmax(1)
    t = torch.as_tensor(target, device=x.device).long()
    if t.ndim == 0 or t.shape == (1,):
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"target must be an int or a ({x.shape[0]},) tensor; got shape {tuple(t.shape)}")
    return t


# ---------------------------------------------------------------------------------- activations
def check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")


def make_activation(activation: str = "relu", softplus_beta: float = 3.0) -> nn.Module:
    """A fresh activation module: ``nn.ReLU()`` or ``nn.Softplus(beta=softplus_beta)``."""
    check_activation(activation)
    if activation == "relu":
        return nn.ReLU()
    return nn.Softplus(beta=float(softplus_beta))


def _replace_children(model: nn.Module, match: Callable[[nn.Module], bool],
                      make: Callable[[], nn.Module]) -> tuple[list[tuple[nn.Module, str, nn.Module]], list[nn.Module]]:
    """Replace every child module of ``model`` (at any depth) for which ``match`` holds by ``make()``:
    one new module per original instance, so a module used several times stays shared. Returns the
    (parent, name, original) slots (to restore them) and the new modules."""
    slots = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if match(child)]
    replaced: dict[int, nn.Module] = {}
    for parent, name, child in slots:
        if id(child) not in replaced:
            replaced[id(child)] = make()
        setattr(parent, name, replaced[id(child)])
    return slots, list(replaced.values())


def swap_activations(model: nn.Module, activation: str, softplus_beta: float = 3.0,
                     kinds: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.Softplus)) -> nn.Module:
    """Replace, in place, every module of type ``kinds`` by ``make_activation(activation, beta)``.

    Handy for a Softplus surrogate of a ReLU network during an explanation attack (Dombrowski et al.).
    A module shared by several parents (or used several times) is replaced by one shared new module.
    Returns ``model``. (:func:`relu_softplus_surrogate` does it for a while and restores the model.)
    """
    check_activation(activation)
    _replace_children(model, lambda m: isinstance(m, kinds), lambda: make_activation(activation, softplus_beta))
    return model


@contextlib.contextmanager
def relu_softplus_surrogate(model: nn.Module, beta: float = 10.0) -> Iterator[list[nn.Module]]:
    """Temporarily replace every ``nn.ReLU`` module of ``model`` by ``nn.Softplus(beta)`` (one new
    module per original instance, so a module used several times stays shared), restoring the very
    same original modules afterwards. Yields the new Softplus modules (set ``.beta`` to change beta
    between forward passes). Dombrowski et al.'s surrogate for gradient explanations of ReLU nets."""
    slots, new = _replace_children(model, lambda m: type(m) is nn.ReLU, lambda: nn.Softplus(beta=float(beta)))
    try:
        yield new
    finally:
        for parent, name, child in slots:
            setattr(parent, name, child)
