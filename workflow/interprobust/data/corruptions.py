"""CIFAR-10-C's 19 corruptions (Hendrycks & Dietterich, ICLR 2019) in numpy / scipy / scikit-image.

A re-implementation of ``make_cifar_c.py`` (github.com/hendrycks/robustness, ``ImageNet-C/create_c``) with
its **CIFAR-10-C** (32x32) severity parameters -- not ImageNet-C's, which ``imagecorruptions`` uses -- and
without OpenCV or Wand/ImageMagick. Every corruption works on a whole batch at once.

``corrupt(images, name, severity, seed)`` takes uint8 (N, H, W, 3) images with H == W and returns uint8 of
the same shape, deterministic for a seed (``np.random.default_rng(seed)``; the global RNG is never used).
``corrupt_all(images, seed)`` stacks all corruptions x severities into (len(names), len(severities), N, H, W, 3)
with a distinct seed per (corruption, severity), see :func:`corruption_seed`.

Image size. The parameters are CIFAR-10-C's, in pixels, for every image size: 64x64 images (the TinyImageNet
stand-in) get exactly the same blur radii, displacements (elastic_transform keeps IMSIZE = 32), zooms and
noise levels as 32x32 ones. Only what the reference hard-codes as "32" for the image's extent follows the
image: glass blur's scan range, fog's plasma-fractal size (the next power of two >= H, so 32 for CIFAR as in
the reference) and the frost texture's size.

Like the reference, outputs are converted with ``np.uint8(clip(x, 0, 255))`` -- truncation, not rounding --
except motion blur, JPEG and pixelate, whose reference outputs are already 8-bit images.

Deviations from the reference (everything else follows it operation by operation):

* motion_blur, snow: ImageMagick's ``MotionBlurImage`` is re-implemented from its source: a one-sided line
  kernel of ``2*ceil(radius)+1`` taps with weights ``exp(-i^2 / (2 sigma^2))`` (normalised), tap ``i``
  sampling the pixel at ``(round(i sin a), round(i cos a))`` (ImageMagick's ``ceil(v - 0.5)``) with
  edge-replicating borders, and rounding to 8 bits. What remains is ImageMagick's Q16 quantisation.
* frost: the six frost photographs that Hendrycks ships cannot be shipped here; a procedural, seeded
  frost-like texture replaces them (:func:`_frost_texture`: multi-scale "ridged" noise for ice filaments,
  randomly oriented needle streaks and a smooth haze, bluish white, mean ~0.45), drawn fresh per image
  instead of a random crop of one of the photographs. The mixing weights (``c[0] x + c[1] frost``) are
  Hendrycks'.
* glass_blur: the reference's per-pixel Python loop is vectorised exactly. Its "swap"
  ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy views is in fact a copy ``x[h, w] = x[h', w']``
  (the second assignment writes back the value just copied), and with CIFAR's ``max_delta = 1`` the source
  ``(h + dy, w + dx)``, ``dx, dy in {-1, 0}``, is always visited later in the reverse scan, so it still holds
  its value from before the pass. One pass is therefore ``x[h, w] = x_before[h + dy, w + dx]`` for all
  destination pixels at once: the same result as the loop (given the same draws), not an approximation.
  This reproduces the published CIFAR-10-C data, not a true pixel swap.
* defocus_blur: cv2's anti-aliasing ``GaussianBlur`` of the disk and ``filter2D`` are done with
  ``scipy.ndimage`` (``mirror`` = OpenCV's BORDER_REFLECT_101); identical up to float rounding.
* elastic_transform: cv2's ``getAffineTransform`` / ``warpAffine`` (bilinear, BORDER_REFLECT_101) become a
  3x3 linear solve and ``scipy.ndimage.map_coordinates(order=1, mode='mirror')``; OpenCV quantises the
  bilinear weights to 1/32 px, this does not.
* spatter (severities 1-3): ``cv2.Canny`` -> ``skimage.feature.canny`` (sigma 0, same thresholds; L2 instead of
  L1 gradient norm, no edges on the 1-pixel border), ``cv2.distanceTransform(DIST_L2, 5)`` (a 5x5 chamfer
  approximation) -> exact ``scipy.ndimage.distance_transform_edt``; box blurs, ``equalizeHist`` and the 8-bit
  ``filter2D`` are re-implemented to OpenCV's definitions. The liquid layer is clipped to [0, 1] before its
  uint8 cast (the reference would wrap around above 1, which practically never happens).
* zoom_blur, snow: ``clipped_zoom`` applies scipy's own ``zoom(order=1)`` interpolation weights as two
  matrix products over the batch (:func:`_clipped_zoom`); equal to the per-image ``zoom`` up to float rounding.
* fog, the noises, brightness, contrast, saturate, gaussian_blur, pixelate, jpeg: the same
  operations (scipy ``zoom``, skimage ``gaussian`` / ``random_noise`` / ``rgb2hsv``, PIL), only batched; the
  random draws differ from the reference's global-RNG stream, as they must.
"""

from __future__ import annotations

from io import BytesIO
from typing import Callable, Sequence

import numpy as np
from scipy import ndimage

from .registry import CORRUPTIONS, SEVERITIES

__all__ = ["CORRUPTIONS", "SEVERITIES", "corrupt", "corrupt_all", "corruption_seed"]


# ------------------------------------------------------------------------------------------- helpers
def _gaussian(x: np.ndarray, sigma: float, **kw) -> np.ndarray:
    """skimage's ``gaussian`` (mode 'nearest', truncate 4 by default) over (N, H, W, C), not across images."""
    from skimage.filters import gaussian
    return gaussian(x, sigma=(0.0, sigma, sigma), channel_axis=-1, preserve_range=True, **kw)


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Hendrycks' ``clipped_zoom`` on a batch (N, H, H, C): zoom the centre crop by ``factor`` and trim back
    to H x H.

    ``scipy.ndimage.zoom(crop, (factor, factor), order=1)`` is separable and linear, so it equals
    ``L @ crop @ L.T`` with ``L = zoom(eye(ch), (factor, 1), order=1)`` -- scipy's own interpolation
    weights, applied to the whole batch as two matrix products (equal to a per-image zoom up to float
    rounding, and ~10x faster than a 4-D ``zoom``)."""
    h = x.shape[1]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    weights = ndimage.zoom(np.eye(ch), (factor, 1), order=1)  # (round(ch * factor), ch)
    trim = (weights.shape[0] - h) // 2
    weights = weights[trim:trim + h].astype(x.dtype)
    crop = x[:, top:top + ch, top:top + ch]
    out = np.einsum("ri,nijc->nrjc", weights, crop, optimize=True)
    return np.einsum("sj,nrjc->nrsc", weights, out, optimize=True)


def _motion_blur(x: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """ImageMagick's MotionBlurImage(radius, sigma, angle) on (N, H, W, C) values in [0, 255], one angle
    (degrees) per image; returns floats rounded to 8-bit levels, as ImageMagick writes its PNG.

    The kernel is one-sided: tap ``i`` (0 .. width-1) has weight exp(-i^2 / (2 sigma^2)) / sum and reads the
    pixel ``i`` steps along the angle (column offset ceil(i cos a - 0.5), row offset ceil(i sin a - 0.5));
    off-image reads take the nearest edge pixel (ImageMagick's default 'edge' virtual pixels)."""
    n, h, w = x.shape[:3]
    width = int(2 * np.ceil(radius) + 1)
    taps = np.arange(width, dtype=np.float64)
    kernel = np.exp(-taps ** 2 / (2.0 * sigma ** 2))
    kernel /= kernel.sum()
    a = np.deg2rad(np.asarray(angles, dtype=np.float64))
    # point = width * (sin a, cos a) and hypot(point) = width, so offset_i = ceil(i * cos|sin a - 0.5)
    off_c = np.ceil(taps[None, :] * np.cos(a)[:, None] - 0.5).astype(np.int64)  # (N, width)
    off_r = np.ceil(taps[None, :] * np.sin(a)[:, None] - 0.5).astype(np.int64)
    batch = np.arange(n)[:, None, None]
    rows, cols = np.arange(h), np.arange(w)
    out = np.zeros(x.shape, dtype=np.float64)
    for i in range(width):
        r = np.clip(rows[None, :] + off_r[:, i:i + 1], 0, h - 1)  # (N, H)
        c = np.clip(cols[None, :] + off_c[:, i:i + 1], 0, w - 1)  # (N, W)
        out += kernel[i] * x[batch, r[:, :, None], c[:, None, :]]
    return np.clip(np.rint(out), 0, 255)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """Hendrycks' anti-aliased disk kernel (cv2.GaussianBlur with BORDER_REFLECT_101), cropped to its support."""
    if radius <= 8:
        coords, ksize = np.arange(-8, 8 + 1), 3
    else:
        coords, ksize = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(coords, coords)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    t = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-t ** 2 / (2.0 * alias_blur ** 2))
    g /= g.sum()
    k = ndimage.correlate1d(ndimage.correlate1d(disk, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")
    nz = np.nonzero(k)
    m = max(abs(nz[0] - len(coords) // 2).max(), abs(nz[1] - len(coords) // 2).max())
    c = len(coords) // 2
    return k[c - m:c + m + 1, c - m:c + m + 1]  # zeros outside contribute nothing; cropping is exact


def _plasma_fractal(rng: np.random.Generator, n: int, mapsize: int, wibbledecay: float) -> np.ndarray:
    """Hendrycks' diamond-square plasma fractal, ``n`` independent maps at once, each scaled to [0, 1]."""
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    maparray = np.zeros((n, mapsize, mapsize), dtype=np.float64)
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        # squares: the centre of each square is the mean of its corners plus wibble
        corner = maparray[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corner + np.roll(corner, -1, axis=1)
        square += np.roll(square, -1, axis=2)
        maparray[:, half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        # diamonds
        dr = maparray[:, half:mapsize:stepsize, half:mapsize:stepsize]
        ul = maparray[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=2)
        maparray[:, 0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(lt)
        tt = dr + np.roll(dr, 1, axis=2) + ul + np.roll(ul, -1, axis=1)
        maparray[:, half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(tt)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min(axis=(1, 2), keepdims=True)
    return maparray / maparray.max(axis=(1, 2), keepdims=True)


def _frost_texture(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """A procedural stand-in for Hendrycks' frost photographs: (n, size, size, 3) floats in [0, 255].

    Three seeded layers, per image: (1) ice-crystal filaments, the zero-crossing networks of smoothed noise
    at three scales ("ridged noise", ``exp(-(f / 0.35)^2)``); (2) needles, sparse random seeds streaked along
    three random directions with the motion-blur line kernel and combined by maximum; (3) a smooth haze.
    The mix (0.45, 0.35, 0.2) is min-max normalised per image, brightened by a gamma of 0.7 (mean ~0.45, std
    ~0.2, like a bright frost crop) and tinted bluish white. Fully determined by ``rng``."""
    shape = (n, size, size)

    def unit(a):  # per-image min-max to [0, 1]
        lo = a.min(axis=(1, 2), keepdims=True)
        return (a - lo) / (a.max(axis=(1, 2), keepdims=True) - lo + 1e-12)

    ridges = np.zeros(shape)
    for scale, weight in ((1.0, 1.0), (2.0, 0.7), (4.0, 0.5)):
        f = ndimage.gaussian_filter(rng.standard_normal(shape), (0, scale, scale), mode="wrap")
        f /= f.std(axis=(1, 2), keepdims=True) + 1e-12
        ridges += weight / 2.2 * np.exp(-(f / 0.35) ** 2)
    needles = np.zeros(shape)
    for _ in range(3):
        seeds = (rng.random(shape) < 0.04) * rng.uniform(0.5, 1.0, shape)
        streak = _motion_blur(255 * seeds[..., None], 5, 4, rng.uniform(0, 360, n))[..., 0] / 255
        needles = np.maximum(needles, streak)
    needles /= needles.max(axis=(1, 2), keepdims=True) + 1e-12
    haze = unit(ndimage.gaussian_filter(rng.standard_normal(shape), (0, 6.0, 6.0), mode="wrap"))
    tex = unit(0.45 * ridges + 0.35 * needles + 0.2 * haze) ** 0.7
    tint = np.array([0.86, 0.93, 1.0])  # R, G, B: frost photographs are bluish white
    return 255.0 * tex[..., None] * tint


def _box3(x: np.ndarray) -> np.ndarray:
    """cv2.blur(x, (3, 3)) on (N, H, W): a 3x3 mean with BORDER_REFLECT_101."""
    return ndimage.uniform_filter(x, size=(1, 3, 3), mode="mirror")


def _equalize_hist(img: np.ndarray) -> np.ndarray:
    """cv2.equalizeHist on (N, H, W) uint8, per image."""
    n = img.shape[0]
    flat = img.reshape(n, -1).astype(np.int64)
    hist = np.bincount((flat + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n).reshape(n, 256)
    total = flat.shape[1]
    first = np.argmax(hist > 0, axis=1)
    first_count = hist[np.arange(n), first]
    cum = np.cumsum(hist, axis=1) - first_count[:, None]  # sum of hist[first+1 .. j]
    scale = 255.0 / np.maximum(total - first_count, 1)
    lut = np.clip(np.rint(cum * scale[:, None]), 0, 255)
    lut[np.arange(256)[None, :] <= first[:, None]] = 0
    constant = first_count == total  # OpenCV maps a one-level image to itself
    lut[constant] = first[constant, None]
    return np.take_along_axis(lut, flat, axis=1).reshape(img.shape).astype(np.uint8)


def _spatter_water_mask(liquid: np.ndarray) -> np.ndarray:
    """The water-drop shading of spatter severities 1-3 (before scaling), (N, H, W) float32."""
    from skimage.feature import canny
    liquid_u8 = (np.clip(liquid, 0, 1) * 255).astype(np.uint8)
    dist = np.empty(liquid.shape, dtype=np.float64)
    for i, img in enumerate(liquid_u8):
        edges = canny(img, sigma=0, low_threshold=50, high_threshold=150, mode="nearest")
        if edges.any():  # distance to the nearest edge pixel, truncated at 20
            dist[i] = np.minimum(ndimage.distance_transform_edt(~edges), 20)
        else:
            dist[i] = 20.0
    dist = _box3(dist).astype(np.uint8)
    dist = _equalize_hist(dist)
    ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    dist = ndimage.correlate(dist.astype(np.float64), ker[None], mode="mirror")  # filter2D is a correlation
    dist = np.clip(np.rint(dist), 0, 255)  # to CV_8U
    dist = _box3(dist).astype(np.float32)
    return liquid_u8.astype(np.float32) * dist


def _hsv_adjust(x: np.ndarray, channel: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv
    hsv = rgb2hsv(x)
    hsv[..., channel] = np.clip(fn(hsv[..., channel]), 0, 1)
    return hsv2rgb(hsv)


# --------------------------------------------------------------------------------------- corruptions
# Each takes x: float64 (N, H, W, 3) in [0, 1], the severity (1..5) and a Generator, and returns values in
# [0, 255] (float: truncated to uint8 by ``corrupt``, like the reference's np.uint8).

def gaussian_noise(x, severity, rng):
    c = [0.04, 0.06, .08, .09, .10][severity - 1]
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, severity, rng):
    c = [500, 250, 100, 75, 50][severity - 1]
    return np.clip(rng.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x, severity, rng):
    from skimage.util import random_noise
    c = [.01, .02, .03, .05, .07][severity - 1]
    return np.clip(random_noise(x, mode="s&p", amount=c, rng=rng), 0, 1) * 255


def speckle_noise(x, severity, rng):
    c = [.06, .1, .12, .16, .2][severity - 1]
    return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1) * 255


def gaussian_blur(x, severity, rng):
    c = [.4, .6, 0.7, .8, 1][severity - 1]
    return np.clip(_gaussian(x, c), 0, 1) * 255


def _glass_shuffle(y: np.ndarray, max_delta: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """The local pixel shuffling of glass blur, in place on uint8 (N, H, W, C); returns ``y``.

    The reference loops ``for h in range(H - d, d, -1): for w in range(W - d, d, -1)`` and "swaps"
    ``x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]`` with ``dx, dy = randint(-d, d)``. On numpy
    views that statement is a copy ``x[h, w] = x[h + dy, w + dx]``, and for d = 1 (dx, dy in {-1, 0}) the
    source lies up/left, i.e. later in the reverse scan, so it is still unmodified when read. Hence each pass
    is exactly ``x[h, w] = x_before[h + dy, w + dx]`` for every destination at once (the same result as the
    loop for the same draws; draws are per image, per pass, per destination pixel)."""
    if max_delta != 1:  # for d > 1 some sources lie below/right and were already overwritten: not vectorisable
        raise NotImplementedError("the vectorised glass-blur shuffle is exact only for max_delta == 1")
    n, h, w = y.shape[:3]
    d = max_delta
    rows, cols = np.arange(d + 1, h - d + 1), np.arange(d + 1, w - d + 1)  # range(H - d, d, -1), any H
    batch = np.arange(n)[:, None, None]
    for _ in range(iterations):
        dx, dy = rng.integers(-d, d, size=(2, n, len(rows), len(cols)))  # randint(-d, d): {-1, 0}
        src = y[batch, rows[None, :, None] + dy, cols[None, None, :] + dx]
        y[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = src
    return y


def glass_blur(x, severity, rng):
    # sigma, max_delta, iterations
    sigma, max_delta, iterations = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    y = (_gaussian(x, sigma) * 255).astype(np.uint8)
    y = _glass_shuffle(y, max_delta, iterations, rng)
    return np.clip(_gaussian(y / 255., sigma), 0, 1) * 255


def defocus_blur(x, severity, rng):
    radius, alias_blur = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    k = _disk(radius, alias_blur).astype(np.float64)
    return np.clip(ndimage.correlate(x, k[None, :, :, None], mode="mirror"), 0, 1) * 255


def motion_blur(x, severity, rng):
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    img = np.rint(x * 255)  # the reference blurs the 8-bit image
    return _motion_blur(img, radius, sigma, rng.uniform(-45, 45, size=len(x)))


def zoom_blur(x, severity, rng):
    c = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
         np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)][severity - 1]
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for factor in c:
        out += _clipped_zoom(x, factor)
    return np.clip((x + out) / (len(c) + 1), 0, 1) * 255


def snow(x, severity, rng):
    c = [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
         (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
         (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
         (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
         (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
    x = x.astype(np.float32)
    n, h, w = x.shape[:3]
    layer = rng.normal(size=(n, h, w, 1), loc=c[0], scale=c[1])
    layer = _clipped_zoom(layer, c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8).astype(np.float64)
    layer = _motion_blur(layer, c[4], c[5], rng.uniform(-135, -45, size=n)) / 255.
    grey = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]  # cv2 RGB2GRAY
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2, axes=(1, 2)), 0, 1) * 255


def frost(x, severity, rng):
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    tex = _frost_texture(rng, len(x), x.shape[1])
    return np.clip(c[0] * (x * 255) + c[1] * tex, 0, 255)


def fog(x, severity, rng):
    c = [(.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    n, h, w = x.shape[:3]
    mapsize = max(32, 1 << int(np.ceil(np.log2(max(h, w)))))
    max_val = x.max(axis=(1, 2, 3), keepdims=True)
    x = x + c[0] * _plasma_fractal(rng, n, mapsize, c[1])[:, :h, :w, None]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def brightness(x, severity, rng):
    c = [.05, .1, .15, .2, .3][severity - 1]
    return np.clip(_hsv_adjust(x, 2, lambda v: v + c), 0, 1) * 255


def contrast(x, severity, rng):
    c = [.75, .5, .4, .3, 0.15][severity - 1]
    means = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def saturate(x, severity, rng):
    c = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    return np.clip(_hsv_adjust(x, 1, lambda s: s * c[0] + c[1]), 0, 1) * 255


def _pil_each(x: np.ndarray, fn) -> np.ndarray:
    from PIL import Image
    imgs = np.rint(x * 255).astype(np.uint8)
    return np.stack([np.asarray(fn(Image.fromarray(img)), dtype=np.uint8) for img in imgs]).astype(np.float64)


def jpeg_compression(x, severity, rng):
    from PIL import Image
    c = [80, 65, 58, 50, 40][severity - 1]

    def fn(img):
        buf = BytesIO()
        img.save(buf, "JPEG", quality=c)
        buf.seek(0)
        return Image.open(buf).convert("RGB")
    return _pil_each(x, fn)


def pixelate(x, severity, rng):
    from PIL import Image
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[1:3]
    return _pil_each(x, lambda img: img.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX))


def elastic_transform(x, severity, rng):
    size = 32  # CIFAR's IMSIZE: the parameters stay in CIFAR pixels for every image size
    c = [(size * 0, size * 0, size * 0.08),
         (size * 0.05, size * 0.2, size * 0.07),
         (size * 0.08, size * 0.06, size * 0.06),
         (size * 0.1, size * 0.04, size * 0.05),
         (size * 0.1, size * 0.03, size * 0.03)][severity - 1]
    x = x.astype(np.float32)
    n, h, w, ch = x.shape
    # random affine: three points (x = column, y = row) around the centre, each moved by U(-c2, c2)
    center = np.float32([w, h]) // 2
    sq = min(h, w) // 3
    pts1 = np.float32([center + sq, [center[0] + sq, center[1] - sq], center - sq])
    pts2 = pts1[None] + rng.uniform(-c[2], c[2], size=(n, 3, 2)).astype(np.float32)
    # warpAffine samples the source at M^-1 (dst); M^-1 maps pts2 -> pts1, solved directly.
    a = np.concatenate([pts2, np.ones((n, 3, 1), np.float32)], axis=2).astype(np.float64)  # (N, 3, 3)
    inv = np.linalg.solve(a, np.broadcast_to(pts1.astype(np.float64), (n, 3, 2)))       # (N, 3, 2)
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    src_c = gx[None] * inv[:, 0, 0, None, None] + gy[None] * inv[:, 1, 0, None, None] + inv[:, 2, 0, None, None]
    src_r = gx[None] * inv[:, 0, 1, None, None] + gy[None] * inv[:, 1, 1, None, None] + inv[:, 2, 1, None, None]
    # map_coordinates over (N*C, H, W) planes: the plane index is an integer coordinate, so interpolation
    # never mixes images or channels (and 3-D order-1 interpolation is twice as fast as 4-D).
    planes = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(n * ch, h, w)
    pi = np.broadcast_to(np.arange(n * ch, dtype=np.float64).reshape(n, ch, 1, 1), (n, ch, h, w))

    def warp(img, rows, cols, mode):  # bilinear sampling of every plane at per-image (N, H, W) coordinates
        coords = [pi, np.broadcast_to(rows[:, None], pi.shape), np.broadcast_to(cols[:, None], pi.shape)]
        return ndimage.map_coordinates(img, coords, order=1, mode=mode).reshape(n * ch, h, w)

    planes = warp(planes, src_r, src_c, "mirror")  # cv2.warpAffine, BORDER_REFLECT_101
    # elastic: smooth random displacement fields
    from skimage.filters import gaussian
    fields = rng.uniform(-1, 1, size=(2, n, h, w))
    if c[1] > 0:
        fields = gaussian(fields, sigma=(0, 0, c[1], c[1]), mode="reflect", truncate=3)
    dx = (fields[0] * c[0]).astype(np.float32)
    dy = (fields[1] * c[0]).astype(np.float32)
    out = warp(planes, gy[None] + dy, gx[None] + dx, "reflect")
    return np.clip(out.reshape(n, ch, h, w).transpose(0, 2, 3, 1), 0, 1) * 255


def spatter(x, severity, rng):
    c = [(0.62, 0.1, 0.7, 0.7, 0.5, 0),
         (0.65, 0.1, 0.8, 0.7, 0.5, 0),
         (0.65, 0.3, 1, 0.69, 0.5, 0),
         (0.65, 0.1, 0.7, 0.69, 0.6, 1),
         (0.65, 0.1, 0.5, 0.68, 0.6, 1)][severity - 1]
    x = x.astype(np.float32)
    n, h, w = x.shape[:3]
    from skimage.filters import gaussian
    liquid = rng.normal(size=(n, h, w), loc=c[0], scale=c[1])
    liquid = gaussian(liquid, sigma=(0, c[2], c[2]))
    liquid[liquid < c[3]] = 0
    if c[5] == 0:  # water drops, pale turquoise
        m = _spatter_water_mask(liquid)
        peak = m.max(axis=(1, 2), keepdims=True)
        m = (m / np.where(peak > 0, peak, 1) * c[4])[..., None]
        color = np.array([175, 238, 238], dtype=np.float32) / 255.
        return np.clip(x + m * color, 0, 1) * 255
    # mud, brown
    m = np.where(liquid > c[3], 1, 0).astype(np.float32)
    m = gaussian(m, sigma=(0, c[4], c[4]))
    m[m < 0.8] = 0
    m = m[..., None]
    color = np.array([63, 42, 20], dtype=np.float32) / 255. * m
    return np.clip(x * (1 - m) + color, 0, 1) * 255


_FUNCS: dict[str, Callable] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur,
    "zoom_blur": zoom_blur, "snow": snow, "frost": frost, "fog": fog, "brightness": brightness,
    "contrast": contrast, "elastic_transform": elastic_transform, "pixelate": pixelate,
    "jpeg_compression": jpeg_compression, "speckle_noise": speckle_noise, "gaussian_blur": gaussian_blur,
    "spatter": spatter, "saturate": saturate,
}
assert tuple(_FUNCS) == tuple(CORRUPTIONS)


# ------------------------------------------------------------------------------------------------ API
def _check_name(name: str) -> None:
    if name not in _FUNCS:
        raise ValueError(f"unknown corruption {name!r}; valid corruptions: {', '.join(CORRUPTIONS)}")


def _check_severity(severity: int) -> None:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity!r}")


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise ValueError(f"images must be a uint8 numpy array, got {getattr(images, 'dtype', type(images))}")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (N, H, H, 3), got {images.shape}")


def corruption_seed(seed: int, name: str, severity: int) -> int:
    """The seed ``corrupt_all(images, seed)`` uses for (``name``, ``severity``): an independent stream per
    pair, derived with ``np.random.SeedSequence([seed, index of name in CORRUPTIONS, severity])``, so the
    same whichever subset of names or severities is asked for."""
    _check_name(name)
    _check_severity(severity)
    ss = np.random.SeedSequence([int(seed), CORRUPTIONS.index(name), int(severity)])
    return int(ss.generate_state(1, np.uint64)[0])


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corruption ``name`` at ``severity`` (1..5) of uint8 images (N, H, H, 3); uint8, same shape.

    Deterministic for ``seed`` (any value ``np.random.default_rng`` accepts)."""
    _check_name(name)
    _check_severity(severity)
    _check_images(images)
    if len(images) == 0:
        return images.copy()
    rng = np.random.default_rng(seed)
    out = _FUNCS[name](images.astype(np.float64) / 255., int(severity), rng)
    return np.clip(out, 0, 255).astype(np.uint8)  # truncation, as the reference's np.uint8(...)


def corrupt_all(images: np.ndarray, seed: int, names: Sequence[str] = CORRUPTIONS,
                severities: Sequence[int] = SEVERITIES, progress: bool = True) -> np.ndarray:
    """Every (corruption, severity) of ``images``: uint8 (len(names), len(severities), N, H, W, 3).

    Entry [i, j] equals ``corrupt(images, names[i], severities[j], corruption_seed(seed, names[i],
    severities[j]))``."""
    _check_images(images)
    for name in names:
        _check_name(name)
    for severity in severities:
        _check_severity(severity)
    out = np.empty((len(names), len(severities)) + images.shape, dtype=np.uint8)
    jobs = [(i, j) for i in range(len(names)) for j in range(len(severities))]
    if progress:
        from ..io import progress as progress_bar
        jobs = progress_bar(jobs, desc="corruptions")
    for i, j in jobs:
        name, severity = names[i], severities[j]
        out[i, j] = corrupt(images, name, severity, corruption_seed(seed, name, severity))
    return out
