"""CIFAR-10-C corruptions: shapes, determinism, severity ordering, exactness of the vectorised helpers."""

import numpy as np
import pytest
from scipy import ndimage

from interprobust.data import corruptions as C
from interprobust.data.corruptions import corrupt, corrupt_all, corruption_seed
from interprobust.data.registry import CORRUPTIONS, SEVERITIES

# Corruptions that draw no random numbers: the seed must not matter.
SEED_FREE = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
             "gaussian_blur", "saturate"}


def make_images(n=8, size=32, seed=0):
    """Coloured handwritten digits on smooth random colour textures: real-looking, never constant."""
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(seed)
    glyphs = load_digits().images[:n] / 16.0
    inner = round(size * 0.7)
    glyphs = np.clip(ndimage.zoom(glyphs, (1, inner / 8, inner / 8), order=1), 0, 1)
    alpha = np.zeros((n, size, size))
    off = (size - inner) // 2
    alpha[:, off:off + inner, off:off + inner] = glyphs
    bg = ndimage.gaussian_filter(rng.random((n, size, size, 3)), (0, size / 10, size / 10, 0), mode="wrap")
    lo, hi = bg.min(axis=(1, 2, 3), keepdims=True), bg.max(axis=(1, 2, 3), keepdims=True)
    bg = 0.15 + 0.55 * (bg - lo) / (hi - lo)
    fg = rng.uniform(0.45, 1.0, size=(n, 1, 1, 3))
    img = bg * (1 - alpha[..., None]) + fg * alpha[..., None]
    return np.rint(255 * img).astype(np.uint8)


IMAGES = make_images()


def mad(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def frost_share(out, x):
    """Per image and channel, fit out ~ a x + c; mean of rms(residual) / rms(a (x - mean x))."""
    ratios = []
    for o, i in zip(out.astype(np.float64), x.astype(np.float64)):
        for ch in range(3):
            xi, oi = i[..., ch].ravel(), o[..., ch].ravel()
            a, c = np.polyfit(xi, oi, 1)
            ratios.append(np.std(oi - a * xi - c) / (abs(a) * np.std(xi)))
    return float(np.mean(ratios))


@pytest.fixture(scope="module")
def outputs():
    """corrupt(IMAGES, name, severity, seed=7) for every corruption and severity, computed once."""
    return {(name, s): corrupt(IMAGES, name, s, seed=7) for name in CORRUPTIONS for s in SEVERITIES}


def test_names_and_order_match_the_registry():
    assert tuple(C._FUNCS) == CORRUPTIONS and len(CORRUPTIONS) == 19


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_severity_is_uint8_same_shape_and_changes_the_image(outputs, name):
    for s in SEVERITIES:
        out = outputs[name, s]
        assert out.dtype == np.uint8 and out.shape == IMAGES.shape
        # every image is changed, not just the batch as a whole
        assert all(np.any(o != x) for o, x in zip(out, IMAGES)), (name, s)


def _nondecreasing(values, name):
    for a, b in zip(values, values[1:]):
        # tolerance: motion blur's kernels at severities 3 and 4 (radius 6 vs 8, sigma 2) differ only in
        # taps of weight < 0.3%, so their changes are equal up to rounding
        assert b >= a - max(0.05 * a, 0.3), (name, values)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_increases_the_change(outputs, name):
    d = [mad(outputs[name, s], IMAGES) for s in SEVERITIES]
    if name == "glass_blur":
        # Severities 4-5 shuffle twice, 1-3 once. Within a pass count a larger sigma (0.25 -> 0.4) also
        # re-blurs the shuffled pixels toward their local mean, which can lower the change (3 vs 2, 5 vs 4).
        assert min(d[3:]) > max(d[:3]), d
    elif name == "frost":
        # out = a x + b frost with (a, b) = (1, .2), (1, .3), (.9, .4), (.85, .4), (.75, .45): from severity 3
        # on the image is dimmed while frost is added, which partly cancel, so the mean change is not
        # monotone (for mid-grey images severity 5 changes about as much as 1). What grows is the frost's
        # share b / a = .2, .3, .44, .47, .6: the part of the output a linear function of the image does not
        # explain, relative to the part it does.
        share = [frost_share(outputs[name, s], IMAGES) for s in SEVERITIES]
        assert all(p < q for p, q in zip(share, share[1:])), share
    elif name == "saturate":
        # Severities 1-2 desaturate (s * 0.3, s * 0.1), 3-5 oversaturate (s * 1.5, s * 2 + .1, s * 2.5 + .2):
        # two monotone branches, severity 3 (x1.5) changes less than severity 1 (x0.3).
        assert d[0] < d[1] and d[2] < d[3] < d[4] and d[4] > d[0], d
    elif name == "spatter":
        # Severities 1-3 add translucent water drops, 4-5 opaque mud with different parameters.
        assert d[0] < d[1] < d[2] and d[3] < d[4] and d[4] > d[0], d
    elif name == "elastic_transform":
        # The random affine part shrinks with severity (max shift 2.56 -> 0.96 px) while the elastic part
        # grows, and the affine shift dominates the pixel change: severity 1 changes *more* than 5. The
        # elastic part's growth is tested on a ramp image below.
        assert d[0] > d[4], d
    else:
        _nondecreasing(d, name)


def test_elastic_part_grows_with_severity():
    # A linear ramp stays linear under an affine warp (bilinear interpolation is exact on it); only the
    # elastic displacement field bends it. Severity 1 has no elastic field (alpha = 0).
    r, c = np.mgrid[0:32, 0:32]
    ramp = np.stack([30 + 4.0 * r + 2.0 * c, 200 - 3.0 * r + 1.0 * c, 60 + 2.0 * r + 3.0 * c], -1)
    x = np.repeat(np.rint(ramp)[None], 6, axis=0).astype(np.uint8)
    rr, cc = r[6:-6, 6:-6].ravel(), c[6:-6, 6:-6].ravel()
    design = np.stack([rr, cc, np.ones_like(rr)], 1).astype(np.float64)

    def nonlinearity(out):  # RMS residual of a plane fitted to each interior channel
        ys = out[:, 6:-6, 6:-6].astype(np.float64).transpose(0, 3, 1, 2).reshape(-1, rr.size).T
        coef = np.linalg.lstsq(design, ys, rcond=None)[0]
        return float(np.sqrt(((design @ coef - ys) ** 2).mean()))

    res = [nonlinearity(corrupt(x, "elastic_transform", s, seed=3)) for s in SEVERITIES]
    assert res[0] < 0.6, res  # only the uint8 truncation
    _nondecreasing(res, "elastic_transform (non-affine part)")
    assert res[4] > 3 * res[0], res


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_for_a_seed(outputs, name):
    for s in (1, 5):
        assert np.array_equal(corrupt(IMAGES, name, s, seed=7), outputs[name, s])
        other = corrupt(IMAGES, name, s, seed=8)
        if name in SEED_FREE:
            assert np.array_equal(other, outputs[name, s])
        else:
            assert not np.array_equal(other, outputs[name, s])


def test_global_rng_is_untouched():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    corrupt(IMAGES[:2], "gaussian_noise", 3, seed=1)
    corrupt(IMAGES[:2], "fog", 3, seed=1)
    assert np.random.random() == before


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown corruption 'gaussian'; valid corruptions: gaussian_noise, "
                                         "shot_noise, .*saturate"):
        corrupt(IMAGES, "gaussian", 1, seed=0)
    for bad in (0, 6, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="severity must be an integer from 1 to 5"):
            corrupt(IMAGES, "fog", bad, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(IMAGES.astype(np.float32), "fog", 1, seed=0)
    with pytest.raises(ValueError, match=r"\(N, H, H, 3\)"):
        corrupt(IMAGES[..., :1], "fog", 1, seed=0)
    with pytest.raises(ValueError, match="valid corruptions"):
        corrupt_all(IMAGES[:1], seed=0, names=("fog", "haze"), progress=False)
    with pytest.raises(ValueError, match="severity"):
        corrupt_all(IMAGES[:1], seed=0, severities=(1, 7), progress=False)


def test_corrupt_all_equals_corrupt_with_derived_seeds():
    x = IMAGES[:2]
    allc = corrupt_all(x, seed=11, progress=False)
    assert allc.shape == (19, 5, 2, 32, 32, 3) and allc.dtype == np.uint8
    for i, name in enumerate(CORRUPTIONS):
        for j, s in enumerate(SEVERITIES):
            assert np.array_equal(allc[i, j], corrupt(x, name, s, corruption_seed(11, name, s))), (name, s)
    seeds = {corruption_seed(11, n, s) for n in CORRUPTIONS for s in SEVERITIES}
    assert len(seeds) == 95  # a distinct stream per (corruption, severity)
    assert corruption_seed(12, "fog", 1) != corruption_seed(11, "fog", 1)
    # the seed of a pair does not depend on which other pairs are asked for
    sub = corrupt_all(x, seed=11, names=("snow", "gaussian_noise"), severities=(3,), progress=False)
    assert sub.shape == (2, 1, 2, 32, 32, 3)
    assert np.array_equal(sub[0, 0], allc[CORRUPTIONS.index("snow"), 2])
    assert np.array_equal(sub[1, 0], allc[0, 2])


def test_64_pixel_images_use_the_same_code():
    x = make_images(n=2, size=64, seed=1)
    for name in CORRUPTIONS:
        out = corrupt(x, name, 5, seed=0)
        assert out.shape == x.shape and out.dtype == np.uint8 and np.any(out != x), name


def test_glass_shuffle_matches_the_reference_loop():
    # Hendrycks' loop, literally (its tuple "swap" on numpy views), fed the same draws as the vectorised pass.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    fast = C._glass_shuffle(x.copy(), 1, 2, np.random.default_rng(9))
    draws = np.random.default_rng(9)
    ref = x.copy()
    rows = range(16 - 1, 1, -1)
    for _ in range(2):
        dx, dy = draws.integers(-1, 1, size=(2, 3, 14, 14))
        for n in range(3):
            img = ref[n]
            for h in rows:
                for w in rows:
                    hp, wp = h + dy[n, h - 2, w - 2], w + dx[n, h - 2, w - 2]
                    img[h, w], img[hp, wp] = img[hp, wp], img[h, w]
    assert np.array_equal(fast, ref)
    assert not np.array_equal(fast, x)


@pytest.mark.parametrize("size", [32, 64])
def test_batched_clipped_zoom_equals_scipy_per_image(size):
    x = np.random.default_rng(0).random((3, size, size, 2)).astype(np.float32)
    for factor in (1.0, 1.06, 1.25, 1.75, 2.25):
        ch = int(np.ceil(size / factor))
        top = (size - ch) // 2
        for img, got in zip(x, C._clipped_zoom(x, factor)):
            z = ndimage.zoom(img[top:top + ch, top:top + ch], (factor, factor, 1), order=1)
            t = (z.shape[0] - size) // 2
            np.testing.assert_allclose(got, z[t:t + size, t:t + size], atol=1e-5)


def test_motion_blur_kernel_is_imagemagicks_half_gaussian_line():
    x = np.zeros((2, 9, 9, 1))
    x[:, 4, 4] = 255
    out = C._motion_blur(x, radius=6, sigma=2, angles=np.array([0.0, 90.0]))
    k = np.exp(-np.arange(13) ** 2 / 8.0)
    k = np.rint(255 * k / k.sum())
    # angle 0 reads pixels to the right, so a dot trails to its left; angle 90 reads below, trails upward
    np.testing.assert_array_equal(out[0, 4, :5, 0], k[:5][::-1])
    np.testing.assert_array_equal(out[1, :5, 4, 0], k[:5][::-1])
    assert out[0].sum() == out[0, 4, :5].sum() and out[1].sum() == out[1, :5, 4].sum()
