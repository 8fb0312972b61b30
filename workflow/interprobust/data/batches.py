"""Turning prepared uint8 arrays into model batches: the one conversion every stage uses."""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------- RandomResizedCrop (ImageNet-100)
def resized_crop_boxes(b: int, h: int, w: int, generator: torch.Generator, scale=(0.08, 1.0),
                       ratio=(3 / 4, 4 / 3), attempts: int = 10) -> torch.Tensor:
    """(B, 4) boxes (top, left, height, width) drawn as torchvision's ``RandomResizedCrop.get_params``:
    area fraction ~ U(scale), log aspect ~ U(log ratio), the first of ``attempts`` that fits; else the
    whole image's centred crop at the nearest allowed aspect. From ``generator`` (CPU), all at once."""
    area = h * w
    s = torch.empty(b, attempts).uniform_(scale[0], scale[1], generator=generator) * area
    r = torch.empty(b, attempts).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator).exp()
    cw, ch = (s * r).sqrt().round(), (s / r).sqrt().round()
    fits = (cw >= 1) & (cw <= w) & (ch >= 1) & (ch <= h)
    first = fits.float().argmax(1, keepdim=True)
    cw, ch = cw.gather(1, first)[:, 0], ch.gather(1, first)[:, 0]
    # fallback (torchvision): the whole image cropped to the nearest allowed aspect ratio, centred
    in_ratio = w / h
    fw, fh = ((float(w), round(w / ratio[0])) if in_ratio < ratio[0] else
              (round(h * ratio[1]), float(h)) if in_ratio > ratio[1] else (float(w), float(h)))
    ok = fits.any(1)
    cw, ch = torch.where(ok, cw, torch.tensor(float(fw))), torch.where(ok, ch, torch.tensor(float(fh)))
    u = torch.rand(b, 2, generator=generator)
    top = torch.where(ok, (u[:, 0] * (h - ch + 1)).floor(), ((h - ch) / 2).round())
    left = torch.where(ok, (u[:, 1] * (w - cw + 1)).floor(), ((w - cw) / 2).round())
    return torch.stack([top, left, ch, cw], 1)


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each image's box (top, left, height, width) resized to ``size`` x ``size`` (bilinear, on x's
    device, batched: one affine grid per image)."""
    b, c, h, w = x.shape
    top, left, ch, cw = (boxes.to(x.device, x.dtype)[:, i] for i in range(4))
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = cw / w, ch / h
    theta[:, 0, 2] = (2 * left + cw) / w - 1
    theta[:, 1, 2] = (2 * top + ch) / h - 1
    grid = torch.nn.functional.affine_grid(theta, [b, c, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomResizedCrop(size) (scale 0.08-1, ratio 3/4-4/3, bilinear) on a batch, on its
    device; boxes from ``generator`` (CPU, reproducible on any device)."""
    b, _, h, w = x.shape
    return crop_resize(x, resized_crop_boxes(b, h, w, generator), int(size))
