"""LIME for image classifiers, batched on the model's device.

Features are either a fixed grid of square patches (the same positions in every image, so scores
aggregate over a dataset) or per-image superpixels. Perturbed images are built in one tensor op per
chunk (``keep = bits[:, segment_of_pixel]``) and sent to the model in large batches; the weighted
ridge surrogate is solved in closed form for all images at once.

Follows ``lime`` (marcotcr, 0.2.0.1) where it defines LIME: Bernoulli(0.5) masks with the first
sample all ones, kernel sqrt(exp(-d^2 / w^2)) on the cosine distance between a mask and the all-ones
vector (w = 0.25), Ridge(alpha=1) with sample weights and an intercept, weighted R^2 as the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def grid_segments(height: int, width: int, patch: int) -> torch.Tensor:
    """(H, W) long map of patch indices, row-major over a grid of ``patch``-sized cells."""
    rows = torch.arange(height) // patch
    cols = torch.arange(width) // patch
    return rows[:, None] * ((width + patch - 1) // patch) + cols[None, :]


def superpixels(images: np.ndarray, method: str = "quickshift", **kwargs) -> np.ndarray:
    """Per-image segmentations (N, H, W) of uint8 (N, H, W, C) images with scikit-image, labels 0..d-1.

    ``quickshift`` (LIME's segmentation; for 32 px images use kernel_size=1, max_dist=5) or ``slic``.
    """
    from skimage.segmentation import quickshift, slic
    out = []
    for img in np.asarray(images):  # scikit-image segments one image at a time
        img = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
        if method == "quickshift":
            seg = quickshift(img, **{"kernel_size": 4, "max_dist": 200, "ratio": 0.2, **kwargs})
        elif method == "slic":
            seg = slic(img, **{"n_segments": 50, "start_label": 0, **kwargs})
        else:
            raise ValueError(f"unknown segmentation {method!r}; valid: quickshift, slic")
        out.append(np.unique(seg, return_inverse=True)[1].reshape(seg.shape))
    return np.stack(out).astype(np.int64)


def sample_masks(batch: int, n_samples: int, n_features: int, generator: torch.Generator) -> torch.Tensor:
    """(batch, n_samples, n_features) bool: Bernoulli(0.5) bits, the first sample all ones (the image)."""
    bits = torch.rand(batch, n_samples, n_features, generator=generator) < 0.5
    bits[:, 0] = True
    return bits


def image_seed(seed: int, index: int) -> int:
    """The mask generator's seed of image ``index`` under the explainer's ``seed``: a SeedSequence of
    both, so images never share masks and an image's masks do not depend on its chunk or position."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def sample_masks_per_image(n_samples: int, n_features: int, seed: int, index) -> torch.Tensor:
    """(len(index), n_samples, n_features) bool: :func:`sample_masks` of each image from its own
    generator seeded with ``image_seed(seed, index[b])``."""
    return torch.cat([sample_masks(1, n_samples, n_features, torch.Generator().manual_seed(image_seed(seed, i)))
                      for i in np.asarray(index, dtype=np.int64).reshape(-1)]) if len(index) else \
        torch.zeros(0, n_samples, n_features, dtype=torch.bool)


def kernel_weights(masks: torch.Tensor, kernel_width: float = 0.25,
                   n_features: torch.Tensor | None = None) -> torch.Tensor:
    """sqrt(exp(-d^2 / w^2)) with d the cosine distance between each mask and the all-ones vector.

    ``n_features`` (B,) counts each image's real features when ``masks`` is padded (padding bits False).
    """
    kept = masks.float().sum(-1)
    total = torch.full_like(kept[:, :1], masks.shape[-1]) if n_features is None else n_features[:, None].float()
    d = 1.0 - kept / (kept.sqrt() * total.sqrt()).clamp_min(1e-12)
    return torch.sqrt(torch.exp(-(d ** 2) / kernel_width ** 2))


def fit_surrogate(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float = 1.0):
    """Weighted ridge with an intercept for a batch of problems, in closed form.

    X (B, n, d), y (B, n), w (B, n) -> coef (B, d), intercept (B,), weighted R^2 (B,).
    Same estimator as scikit-learn's ``Ridge(alpha).fit(X, y, sample_weight=w)`` (tested against it);
    written here because it must run batched on the device.
    """
    X, y, w = X.double(), y.double(), w.double()
    sw = w / w.sum(-1, keepdim=True)
    x_mean = (sw[..., None] * X).sum(1, keepdim=True)
    y_mean = (sw * y).sum(1, keepdim=True)
    Xc, yc = X - x_mean, y - y_mean
    Xw = Xc * w[..., None]
    gram = Xc.transpose(1, 2) @ Xw + alpha * torch.eye(X.shape[-1], dtype=X.dtype, device=X.device)
    coef = torch.linalg.solve(gram, (Xw.transpose(1, 2) @ yc[..., None]))[..., 0]
    intercept = y_mean[:, 0] - (x_mean[:, 0] * coef).sum(-1)
    pred = (X @ coef[..., None])[..., 0] + intercept[:, None]
    ss_res = (w * (y - pred) ** 2).sum(-1)
    ss_tot = (w * yc ** 2).sum(-1)
    score = 1.0 - ss_res / ss_tot.clamp_min(1e-30)
    return coef.float(), intercept.float(), score.float()


@dataclass
class LimeResult:
    coef: torch.Tensor        # (B, d) surrogate weight per feature
    intercept: torch.Tensor   # (B,)
    score: torch.Tensor       # (B,) weighted R^2 of the surrogate
    segments: torch.Tensor    # (B, H, W) feature index of every pixel
    masks: torch.Tensor       # (B, n, d) the perturbations (True = feature kept)
    targets: torch.Tensor     # (B, n) model probability of the explained class per perturbation
    weights: torch.Tensor     # (B, n) kernel weights

    def heatmap(self) -> torch.Tensor:
        """(B, H, W): every pixel gets its feature's coefficient."""
        return torch.gather(self.coef, 1, self.segments.flatten(1)).view_as(self.segments)


def fill_images(x: torch.Tensor, segments: torch.Tensor, n_features: int, mode: str = "mean",
                value: float = 0.0, blur_sigma: float = 2.0) -> torch.Tensor:
    """What a hidden feature shows: each segment's own mean colour (lime's default), a constant, or a blur."""
    b, c, h, w = x.shape
    if mode == "mean":
        seg = segments.flatten(1)                                          # (B, HW)
        sums = torch.zeros(b, n_features, c, device=x.device, dtype=x.dtype)
        sums.scatter_add_(1, seg[..., None].expand(-1, -1, c), x.flatten(2).transpose(1, 2))
        counts = torch.zeros(b, n_features, device=x.device, dtype=x.dtype)
        counts.scatter_add_(1, seg, torch.ones_like(seg, dtype=x.dtype))
        means = sums / counts.clamp_min(1)[..., None]
        filled = torch.gather(means, 1, seg[..., None].expand(-1, -1, c)).transpose(1, 2)
        return filled.reshape(b, c, h, w).contiguous()  # contiguous: mixed layouts make query's lerp ~5x slower
    if mode == "constant":
        return torch.full_like(x, value)
    if mode == "blur":
        from torchvision.transforms.functional import gaussian_blur
        k = int(2 * round(3 * blur_sigma) + 1)
        return gaussian_blur(x, [k, k], [blur_sigma, blur_sigma])
    raise ValueError(f"unknown fill {mode!r}; valid: mean, constant, blur")


class Lime:
    """LIME explainer: ``Lime(...).explain(model, x, target) -> LimeResult``.

    ``features='grid'`` uses ``patch``-sized squares; ``'superpixels'`` segments each image with
    ``segmentation`` (kwargs of :func:`superpixels`) unless ``segments`` are passed to ``explain``.
    """

    def __init__(self, n_samples: int = 1000, features: str = "grid", patch: int = 4, fill: str = "mean",
                 fill_value: float = 0.0, kernel_width: float = 0.25, alpha: float = 1.0,
                 batch_size: int | None = None, seed: int = 0, segmentation: dict | None = None):
        if features not in ("grid", "superpixels"):
            raise ValueError(f"unknown features {features!r}; valid: grid, superpixels")
        self.n_samples, self.features, self.patch = n_samples, features, patch
        self.fill, self.fill_value, self.kernel_width, self.alpha = fill, fill_value, kernel_width, alpha
        self.batch_size, self.seed = batch_size, seed  # None: 1024 on a GPU; on a CPU <= 64 and ~8 MB of images
        self.segmentation = dict(segmentation or {})

    def segments_for(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if self.features == "grid":
            return grid_segments(h, w, self.patch).to(x.device).expand(b, h, w).contiguous()
        imgs = (x.detach().permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return torch.from_numpy(superpixels(imgs, **self.segmentation)).to(x.device)

    @torch.no_grad()
    def query(self, model, x, segments, masks, fill, target) -> torch.Tensor:
        """Model probability of ``target`` for every perturbation, (B, n), in chunks of ``batch_size``."""
        b, c, h, w = x.shape
        n = masks.shape[1]
        flat_masks = masks.reshape(b * n, -1).to(x.dtype)
        seg = segments.flatten(1)
        out = torch.empty(b * n, device=x.device)
        # CPU: at most 64 images (best for a ResNet-18 at 32 px) and ~8 MB of them, so a chunk stays in
        # cache (2-3x faster than 64 images at 224 px)
        size = self.batch_size or (1024 if x.device.type == "cuda" else min(64, max(8, 2 ** 21 // (c * h * w))))
        for j0 in range(0, b * n, size):
            j1 = min(j0 + size, b * n)
            first, last = j0 // n, (j1 - 1) // n
            img = torch.arange(j0, j1, device=x.device) // n      # the image each perturbation belongs to
            # keep = bits[:, segment_of_pixel] (index_select: advanced indexing is ~20x slower on a
            # CPU), then lerp(fill, x, keep): exact at keep 0 and 1, and ~9x faster than torch.where
            # with a broadcast bool mask on a CPU
            if first == last:   # the chunk perturbs one image: broadcast it instead of gathering copies
                keep = flat_masks[j0:j1].index_select(1, seg[first]).view(-1, 1, h, w)
                batch = torch.lerp(fill[first:first + 1], x[first:first + 1], keep)
            else:
                keep = torch.gather(flat_masks[j0:j1], 1, seg[img]).view(-1, 1, h, w)
                batch = torch.lerp(fill[img], x[img], keep)
            probs = torch.softmax(model(batch).float(), dim=1)
            out[j0:j1] = probs.gather(1, target[img][:, None])[:, 0]
        return out.view(b, n)

    def explain(self, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor | None = None,
                segments: torch.Tensor | None = None, index=None) -> LimeResult:
        """Explain ``model``'s probability of ``target`` (default: its prediction) for images x in [0, 1].

        ``index`` (B,): the images' positions in the whole set explained (default 0..B-1). Each image's
        masks come from (``seed``, its index) alone, so explaining a set in chunks of any size gives
        the same masks, and two images never share them (pass the global indices when chunking)."""
        was_training = model.training
        model.eval()
        x = x.contiguous()  # a channels-last input would make every perturbed batch non-contiguous
        try:
            with torch.no_grad():
                if target is None:
                    target = model(x).argmax(1)
            segments = self.segments_for(x) if segments is None else segments.to(x.device).long()
            d = int(segments.max().item()) + 1
            index = np.arange(len(x)) if index is None else np.asarray(index, dtype=np.int64).reshape(-1)
            if len(index) != len(x):
                raise ValueError(f"index must give one position per image ({len(x)}); got {len(index)}")
            masks = sample_masks_per_image(self.n_samples, d, self.seed, index).to(x.device)
            present = torch.zeros(len(x), d, dtype=torch.bool, device=x.device)
            present.scatter_(1, segments.flatten(1), True)
            masks = masks | ~present[:, None, :]   # absent features stay constant -> coefficient 0
            fill = fill_images(x, segments, d, self.fill, self.fill_value)
            targets = self.query(model, x, segments, masks, fill, target.to(x.device))
            weights = kernel_weights(masks & present[:, None, :], self.kernel_width, present.sum(-1))
            coef, intercept, score = fit_surrogate(masks.float(), targets, weights, self.alpha)
        finally:
            model.train(was_training)
        return LimeResult(coef, intercept, score, segments, masks, targets, weights)
