"""Metrics: similarities against scikit-image / numpy / torch, RPS invariants, AGA insertion and
InterpretDL-style superpixel deletion / insertion (against a direct per-image port), local fidelity
against scikit-learn and stability on a hand example. Tiny models, a few seconds on 2 CPUs."""

import numpy as np
import pytest
import torch
from torch import nn

from interprobust import metrics as M


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _linear(c=3, h=8, w=8, classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, classes)).eval()


def _cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Softplus(beta=3), nn.Conv2d(6, 6, 3, padding=1),
                         nn.Softplus(beta=3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 4)).eval()


def grad_explain(model, x, target):
    """Gradient of the target logit w.r.t. the input."""
    x = x.detach().requires_grad_(True)
    out = model(x).gather(1, target[:, None]).sum()
    return torch.autograd.grad(out, x)[0]


def _probs(model, x, target):
    with torch.no_grad():
        return torch.softmax(model(x), 1).gather(1, target[:, None])[:, 0]


# ------------------------------------------------------------------------------ similarities


@pytest.mark.parametrize("window", [7, None])
def test_ssim_skimage_convention_equals_skimage(window):
    from skimage.metrics import structural_similarity
    a = torch.rand(3, 20, 24, generator=_gen(0), dtype=torch.float64)
    b = (a + 0.3 * torch.rand(3, 20, 24, generator=_gen(1), dtype=torch.float64)).clamp(0, 1)
    b[2] = torch.rand(20, 24, generator=_gen(2), dtype=torch.float64)   # an unrelated map too
    ours = M.ssim(a, b, window=window, convention="skimage")
    for i in range(3):
        ref = structural_similarity(a[i].numpy(), b[i].numpy(), win_size=window, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)
    # float32 input (what RPS feeds it) agrees as well
    ours32 = M.ssim(a.float(), b.float(), window=window, convention="skimage")
    np.testing.assert_allclose(ours32.numpy(), ours.numpy(), atol=1e-5)


def test_ssim_aga_convention_equals_a_direct_computation():
    """AGA's recipe: 7-tap normalised Gaussian, zero padding, mean over the whole map (scipy reference)."""
    from scipy.ndimage import correlate
    a = torch.rand(2, 16, 16, generator=_gen(3), dtype=torch.float64)
    b = torch.rand(2, 16, 16, generator=_gen(4), dtype=torch.float64)
    t = np.arange(7) - 3
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    g /= g.sum()
    k = np.outer(g, g)
    f = lambda z: correlate(z, k, mode="constant", cval=0.0)   # noqa: E731
    for i in range(2):
        x, y = a[i].numpy(), b[i].numpy()
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        ref = (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))).mean()
        assert M.ssim(a, b)[i].item() == pytest.approx(ref, abs=1e-10)
    assert torch.allclose(M.ssim(a, a), torch.ones(2, dtype=torch.float64))


def test_pearson_and_cosine_equal_numpy_and_torch():
    a = torch.rand(4, 10, 12, generator=_gen(5))
    b = a + torch.randn(4, 10, 12, generator=_gen(6))
    p = M.pearson(a, b)
    for i in range(4):
        assert p[i].item() == pytest.approx(np.corrcoef(a[i].flatten().numpy(), b[i].flatten().numpy())[0, 1],
                                            abs=1e-5)
    ref = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
    assert torch.allclose(M.cosine_similarity(a, b), ref, atol=1e-6)
    assert torch.allclose(M.pearson(a, 2 * a + 1), torch.ones(4), atol=1e-5)


def test_heatmap_is_abs_channel_sum_over_max():
    attr = torch.randn(2, 3, 5, 5, generator=_gen(7))
    h = M.heatmap(attr)
    ref = attr.abs().sum(1)
    assert torch.allclose(h, ref / ref.flatten(1).max(1).values[:, None, None])
    assert torch.allclose(h.flatten(1).max(1).values, torch.ones(2))
    assert torch.equal(M.heatmap(torch.zeros(1, 3, 4, 4)), torch.zeros(1, 4, 4))


# ------------------------------------------------------------------------------ RPS


def test_rps_is_one_for_a_constant_explanation_and_below_one_otherwise():
    x = torch.rand(3, 3, 8, 8, generator=_gen(8))
    target = torch.tensor([0, 1, 2])
    lin = M.rps(_linear(), grad_explain, x, target, eps=0.1, n_noise=4)
    for name, v in lin.items():
        assert v.shape == (3,)
        assert torch.allclose(v, torch.ones(3), atol=1e-5), name
    nonlin = M.rps(_cnn(), grad_explain, x, target, eps=0.1, n_noise=4)
    for name, v in nonlin.items():
        assert (v < 1 - 1e-4).all(), name
    # a larger ball moves the explanation further on average
    far = M.rps(_cnn(), grad_explain, x, target, eps=0.5, n_noise=4)
    assert far["cosine"].mean() < nonlin["cosine"].mean()


def test_rps_is_deterministic_and_its_noise_stays_in_the_ball():
    x = torch.rand(2, 3, 8, 8, generator=_gen(9))
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 1.0                   # the clamp matters at the box edges
    t = torch.tensor([1, 3])
    a = M.rps(_cnn(), grad_explain, x, t, eps=0.05, n_noise=3, seed=5)
    b = M.rps(_cnn(), grad_explain, x, t, eps=0.05, n_noise=3, seed=5, batch_size=2)  # chunked explain
    c = M.rps(_cnn(), grad_explain, x, t, eps=0.05, n_noise=3, seed=6)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6)
        assert not torch.equal(a[k], c[k])
    xr = M.rps_noise(x, 0.05, 3, _gen(1))
    assert xr.shape == (2, 3, 3, 8, 8)
    assert ((xr - x[:, None]).abs() <= 0.05 + 1e-7).all()
    assert xr.min() >= 0 and xr.max() <= 1
    assert torch.equal(xr, M.rps_noise(x, 0.05, 3, _gen(1)))
    assert (xr[:, 0] != xr[:, 1]).any()


# ------------------------------------------------------------------------------ AGA insertion


def test_insertion_endpoints_are_the_baseline_and_the_clean_probabilities():
    model = _cnn()
    x = torch.rand(3, 3, 8, 8, generator=_gen(10))
    t = torch.tensor([0, 2, 3])
    order = torch.rand(3, 8, 8, generator=_gen(11))
    curve = M.insertion_curve(model, x, t, order)
    assert curve.shape == (3, 21)
    assert torch.allclose(curve[:, -1], _probs(model, x, t), atol=1e-6)
    assert torch.allclose(curve[:, 0], _probs(model, torch.zeros_like(x), t), atol=1e-6)
    mean = torch.tensor([0.49, 0.48, 0.45])
    c2 = M.insertion_curve(model, x, t, order, baseline=mean, fractions=M.AGA_CODE_FRACTIONS, batch_size=7)
    assert c2.shape == (3, 20)
    assert torch.allclose(c2[:, 0], _probs(model, mean.view(1, 3, 1, 1).expand_as(x), t), atol=1e-6)
    assert torch.allclose(c2, M.insertion_curve(model, x, t, order, baseline=mean)[:, :20], atol=1e-6)
    # a middle point keeps exactly floor(gamma * HW) pixels of x: rebuild gamma = 0.25 by hand
    k = 16
    top = order.flatten(1).argsort(1, descending=True)[:, :k]
    keep = torch.zeros(3, 64, dtype=torch.bool).scatter_(1, top, True).view(3, 1, 8, 8)
    assert torch.allclose(curve[:, 5], _probs(model, x * keep, t), atol=1e-6)
    # batched equals per image
    single = torch.cat([M.insertion_curve(model, x[i:i + 1], t[i:i + 1], order[i:i + 1]) for i in range(3)])
    assert torch.allclose(curve, single, atol=1e-6)


def test_insertion_of_the_exact_relevance_order_beats_the_reversed_order():
    model = _linear(classes=2, seed=1)
    x = torch.rand(4, 3, 8, 8, generator=_gen(12))
    t = torch.tensor([0, 1, 0, 1])
    w = model[1].weight.view(2, 3, 8, 8)
    # logit_t - logit_other = sum relevance + const: relevance = (w_t - w_o) * x, summed over channels
    relevance = ((w[t] - w[1 - t]) * x).sum(1).detach()
    best = M.insertion_curve(model, x, t, relevance)
    worst = M.insertion_curve(model, x, t, -relevance)
    assert (best >= worst - 1e-6).all()
    assert (best.mean(1) > worst.mean(1) + 0.01).all()
    # adv-insertion is insertion with another image's order: same call, same numbers
    assert torch.equal(M.adv_insertion_curve(model, x, t, relevance), best)


# ------------------------------------------------------------------------------ superpixel deletion / insertion


def _interpretdl_port(model, img, target, seg, order, fill, limit=None):
    """InterpretDL's generate_samples_lime + compute_probas for one image, written as a loop."""
    deletion, fudged = [img], img.clone()
    for sp in order:
        fudged = fudged.clone()
        fudged[:, seg == sp] = fill
        deletion.append(fudged)
    insertion, fudged = [], torch.full_like(img, fill)
    for sp in order:
        fudged = fudged.clone()
        fudged[:, seg == sp] = img[:, seg == sp]
        insertion.append(fudged)
    insertion.append(img)
    out = []
    for images in (deletion, insertion):
        if limit is not None and limit < len(images):
            images = [images[i] for i in np.linspace(0, len(images) - 1, limit).astype(np.int32)]
        out.append(_probs(model, torch.stack(images), torch.full((len(images),), target)))
    return out


def _segments_and_rankings():
    g = _gen(13)
    seg = torch.stack([(torch.arange(8)[:, None] // 2) * 4 + torch.arange(8)[None, :] // 2,   # 16 cells
                       (torch.arange(8)[:, None] // 4) * 2 + torch.arange(8)[None, :] // 4,   # 4 cells
                       torch.randint(0, 6, (8, 8), generator=g)])                            # 6 features
    ranking = torch.full((3, 16), -1)
    ranking[0] = torch.randperm(16, generator=g)
    ranking[1, :4] = torch.randperm(4, generator=g)
    ranking[2, :3] = torch.randperm(6, generator=g)[:3]   # only the top 3 of 6 features ranked
    return seg, ranking


@pytest.mark.parametrize("steps", [None, 5])
def test_deletion_insertion_equal_the_interpretdl_loop(steps):
    model = _cnn()
    x = torch.rand(3, 3, 8, 8, generator=_gen(14))
    seg, ranking = _segments_and_rankings()
    t = torch.tensor([1, 0, 3])
    curves = M.deletion_insertion_curves(model, x, t, seg, ranking, steps=steps, batch_size=9)
    assert curves.deletion.shape == curves.insertion.shape == (3, 17 if steps is None else 5)
    clean = _probs(model, x, t)
    for i in range(3):
        k = int((ranking[i] >= 0).sum())
        ref_del, ref_ins = _interpretdl_port(model, x[i], int(t[i]), seg[i], ranking[i, :k].tolist(), 0.5, steps)
        n = len(ref_del)
        assert torch.allclose(curves.deletion[i, :n], ref_del, atol=1e-6)
        assert torch.allclose(curves.insertion[i, :n], ref_ins, atol=1e-6)
        assert torch.isnan(curves.deletion[i, n:]).all() and torch.isnan(curves.insertion[i, n:]).all()
        # first deletion point and last insertion point are the clean image
        assert curves.deletion[i, 0].item() == pytest.approx(clean[i].item(), abs=1e-6)
        assert curves.insertion[i, n - 1].item() == pytest.approx(clean[i].item(), abs=1e-6)
    # batched equals per image
    for i in range(3):
        one = M.deletion_insertion_curves(model, x[i:i + 1], t[i:i + 1], seg[i:i + 1], ranking[i:i + 1],
                                          steps=steps)
        n = one.deletion.shape[1]
        assert torch.allclose(one.deletion[0], curves.deletion[i, :n], atol=1e-6)
        assert torch.allclose(one.insertion[0], curves.insertion[i, :n], atol=1e-6)


def test_steps_subsample_like_numpy_linspace():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval()
    for k in (3, 7, 10, 15):
        for steps in (1, 2, 3, 4, 6):
            if steps >= k + 1:
                continue
            x = torch.arange(64.0).view(1, 1, 8, 8) / 64
            seg = (torch.arange(64) % 16).view(1, 8, 8)
            ranking = torch.arange(k)[None]
            # every step builds a different image, so matching values means matching steps
            full = M.deletion_insertion_curves(model, x, torch.tensor([0]), seg, ranking)
            sub = M.deletion_insertion_curves(model, x, torch.tensor([0]), seg, ranking, steps=steps)
            want = np.linspace(0, k, steps).astype(np.int32)
            assert torch.allclose(sub.deletion[0], full.deletion[0, want], atol=1e-7)
            assert torch.allclose(sub.insertion[0], full.insertion[0, want], atol=1e-7)


def test_auc_and_abpc():
    c = torch.tensor([[1.0, 0.5, 0.0], [0.2, 0.4, float("nan")]])
    assert torch.allclose(M.auc(c), torch.tensor([0.5, 0.3]))
    assert torch.allclose(M.auc(c, "trapezoid"), torch.tensor([0.5, 0.3]))
    d = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])
    assert M.auc(d).item() == pytest.approx(0.2)
    assert M.auc(d, "trapezoid").item() == pytest.approx(0.125)   # (0.5 * 1 / 4) over [0, 1]
    assert M.abpc(torch.tensor([[0.9, 0.7]]), torch.tensor([[0.3, 0.1]])).item() == pytest.approx(0.6)


# ------------------------------------------------------------------------------ fidelity and stability


def test_local_fidelity_equals_sklearn():
    from sklearn.metrics import mean_squared_error, r2_score
    y = torch.rand(2, 50, generator=_gen(15))
    pred = y + 0.1 * torch.randn(2, 50, generator=_gen(16))
    w = torch.rand(2, 50, generator=_gen(17))
    r2, mse = M.local_fidelity(y, pred, w)
    for i in range(2):
        assert r2[i].item() == pytest.approx(r2_score(y[i], pred[i], sample_weight=w[i]), abs=1e-5)
        assert mse[i].item() == pytest.approx(mean_squared_error(y[i], pred[i], sample_weight=w[i]), abs=1e-6)
    r2, mse = M.local_fidelity(y, y, w)
    assert torch.allclose(r2, torch.ones(2)) and torch.equal(mse, torch.zeros(2))


def test_stability():
    e = torch.rand(1, 2, 7, generator=_gen(18)).expand(4, 2, 7)
    assert torch.equal(M.stability(e), torch.zeros(2))
    hand = torch.tensor([[[0.0, 0.0]], [[3.0, 4.0]], [[0.0, 0.0]]])     # distances 5, 0, 5
    assert M.stability(hand).item() == pytest.approx(10 / 3)
    maps = torch.zeros(2, 1, 3, 3)
    maps[1, 0, 0, 0] = 2.0
    assert M.stability(maps).item() == pytest.approx(2.0)


# ------------------------------------------------------------------------------ AGA Fig. 3(b)


class _DiagQuadratic(nn.Module):
    """logit_k = 0.5 * sum_i a_k,i x_i^2: gradient a_k * x, input Hessian diag(a_k)."""

    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x):
        return 0.5 * (x.flatten(1).pow(2)[:, None, :] * self.a[None]).sum(-1)


def test_crc_upper_bound_equals_its_closed_form_on_a_quadratic():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 2.0, 0.25]])
    m, x, y, eps = _DiagQuadratic(a), torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 1]), 0.1
    bound, crc = M.crc_upper_bound(m, x, y, eps, seed=4)
    d = torch.randn(x.shape, generator=_gen(4)).flatten(1)
    d = d / d.norm(dim=1, keepdim=True)
    ay, xf = a[y], x.flatten(1)
    g0, g1 = ay * xf, ay * (xf + eps * d)
    assert torch.allclose(bound, eps * (ay * d).norm(dim=1) / g1.norm(dim=1), rtol=1e-5)
    assert torch.allclose(crc, (1 - torch.nn.functional.cosine_similarity(g0, g1)) / 2, atol=1e-6)


def test_crc_upper_bound_is_zero_for_a_linear_model_and_bounds_the_crc_of_a_smooth_one():
    bound, crc = M.crc_upper_bound(_linear(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]), 0.05)
    assert bound.abs().max() < 1e-6 and crc.abs().max() < 1e-6
    bound, crc = M.crc_upper_bound(_cnn(), torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1]), 1e-3)
    assert (crc <= bound + 1e-6).all() and (bound > 0).all()     # Theorem 6, small eps


def test_deletion_of_the_true_ranking_beats_random_rankings_on_a_linear_model():
    """A model whose class-0 probability is linear in the kept fraction of each 4x4 patch: removing the
    patches by decreasing true weight must give a lower deletion AUC (and a higher insertion AUC) than
    every random order."""
    from toy_models import LinearInFeatures
    beta = torch.linspace(0.0, 0.05, 16)[torch.randperm(16, generator=_gen(3))]
    model = LinearInFeatures(beta, 4)
    x, t = torch.ones(1, 3, 16, 16), torch.zeros(1, dtype=torch.long)
    seg = ((torch.arange(16)[:, None] // 4) * 4 + torch.arange(16)[None, :] // 4)[None]
    best = torch.argsort(beta, descending=True)[None]
    perfect = M.deletion_insertion_curves(model, x, t, seg, best, fill=0.0)
    for s in range(10):
        rnd = torch.randperm(16, generator=_gen(100 + s))[None]
        other = M.deletion_insertion_curves(model, x, t, seg, rnd, fill=0.0)
        assert M.auc(perfect.deletion) < M.auc(other.deletion)
        assert M.auc(perfect.insertion) > M.auc(other.insertion)
