"""The normalised explanation map, shared by every paper: the post-processing of an attribution
(|h| summed over the channels, divided per sample by its sum or its maximum) and the explanation loss
between two maps.

:func:`explanation_map` is the one implementation: ``normalize="sum"`` is Dombrowski et al.'s (per
sample; SEP), ``"max"`` RobustAGA's heat map (AGA's RPS and Insertion: :func:`heatmap`), ``None``
leaves the map as it is. :func:`explanation_loss` is SEP's Definition 1.
"""

from __future__ import annotations

import torch

__all__ = ["NORMALIZATIONS", "explanation_map", "heatmap", "explanation_loss", "map_distance", "check_reduction"]

NORMALIZATIONS = ("sum", "max", None)
_TINY = 1e-12


def explanation_map(h: torch.Tensor, normalize: str | None = "sum", eps: float = _TINY) -> torch.Tensor:
    """The post-processed explanation map of each sample: (B, H, W).

    A 4-d ``h`` (B, C, H, W) is an attribution: ``|h|`` summed over the channels. A 3-d ``h``
    (B, H, W) or a 2-d ``h`` (H, W) (broadcast to a batch of one) is taken as a map already (e.g. a
    frame-shaped target). Then, per sample: ``normalize="sum"`` divides by the map's sum (Dombrowski
    et al.'s normalisation, but per sample), ``"max"`` by its maximum (RobustAGA's heat-map
    post-processing), ``None`` leaves it; the divisor is clamped to at least ``eps``. An all-zero
    map stays all-zero. Differentiable.
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
        m = m / m.flatten(1).sum(1).clamp_min(eps)[:, None, None]
    elif normalize == "max":
        m = m / m.flatten(1).amax(1).clamp_min(eps)[:, None, None]
    return m


def map_distance(m_adv: torch.Tensor, m_target: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-sample squared difference of two maps, averaged (``"mean"``) or summed over the pixels."""
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
    check_reduction(reduction)
    return map_distance(explanation_map(h_adv, normalize), explanation_map(h_target, normalize), reduction)


def check_reduction(reduction: str) -> str:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    return reduction


def heatmap(attr: torch.Tensor, eps: float = _TINY) -> torch.Tensor:
    """(B, H, W): |attr| summed over channels, divided by each sample's own maximum (AGA, RobustAGA):
    :func:`explanation_map` with ``normalize="max"`` of ``attr`` (B, C, H, W) or of ``|attr|`` (B, H, W)."""
    return explanation_map(attr if attr.ndim == 4 else attr.abs(), "max", eps)
