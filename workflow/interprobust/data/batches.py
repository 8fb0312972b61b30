"""Turning prepared uint8 arrays into model batches: the one conversion every stage uses."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


def to_tensor(x, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) array/tensor -> float32 (N, C, H, W) in [0, 1] on ``device``.
    Float NCHW tensors pass through (moved to ``device``)."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(device)
    if not isinstance(x, torch.Tensor):
        a = np.asarray(x)
        x = torch.from_numpy(a if a.flags.writeable else a.copy())  # memory-mapped slices are read-only
    t = x
    if t.dtype != torch.uint8 or t.ndim != 4:
        raise ValueError(f"expected uint8 images (N, H, W, C); got {t.dtype} {tuple(t.shape)}")
    t = t.to(device, non_blocking=True)
    return t.permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def as_images(x, device: str | torch.device = "cpu") -> torch.Tensor:
    """A batch as float32 (N, C, H, W) in [0, 1] on ``device``: uint8 (N, H, W, C) arrays/tensors are
    converted (:func:`to_tensor`); float arrays/tensors are taken as NCHW in [0, 1]."""
    if isinstance(x, np.ndarray) and x.dtype != np.uint8:
        x = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: memory-mapped slices are read-only
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(device=device, dtype=torch.float32)
    return to_tensor(x, device)


def iterate(x, y, batch_size: int, device: str | torch.device = "cpu",
            limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (float images in [0, 1] NCHW, int64 labels) on ``device``, in order. ``x``: uint8
    (N, H, W, C) or float (N, C, H, W) (:func:`as_images`); ``y``: labels (array or tensor), one per image."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    n = len(x) if limit is None else min(limit, len(x))
    for i in range(0, n, int(batch_size)):
        j = min(i + int(batch_size), n)
        yb = y[i:j]
        yb = yb if isinstance(yb, torch.Tensor) else torch.from_numpy(np.array(yb, dtype=np.int64))  # a copy: memmaps are read-only
        yield as_images(x[i:j], device), yb.to(device=device, dtype=torch.long)


def crop_flip_draws(b: int, padding: int, flip: bool, generator: torch.Generator):
    """The random numbers :func:`random_crop_flip` draws for a batch of ``b`` images, in its order:
    crop offsets (b, 2) or None, flip mask (b,) or None (CPU tensors from ``generator``)."""
    off = torch.randint(0, 2 * padding + 1, (b, 2), generator=generator) if padding > 0 else None
    mask = (torch.rand(b, generator=generator) < 0.5) if flip else None
    return off, mask


def apply_crop_flip(x: torch.Tensor, padding: int, off: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
    """Crop (zero padding ``padding``, offsets ``off``) and flip (``mask``) a batch on its device; the
    draws may already be on that device (no host copy then)."""
    b, c, h, w = x.shape
    if off is not None:
        off = off.to(x.device)
        padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        rows = (off[:, 0, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (off[:, 1, None] + torch.arange(w, device=x.device))[:, None, None, :]
        bidx = torch.arange(b, device=x.device)[:, None, None, None]
        cidx = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[bidx, cidx, rows, cols]
    if mask is not None:
        x = torch.where(mask.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x


def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Batched augmentation on the batch's device: random crop with zero padding and horizontal flip.

    Offsets come from ``generator`` (a CPU generator, so runs are reproducible on any device).
    """
    return apply_crop_flip(x, padding, *crop_flip_draws(len(x), padding, flip, generator))
