import math

import numpy as np
import pytest
import torch

from interprobust.explain import glime as G
from toy_models import LinearInFeatures


def _problem(seed=0, n=60, d=8, noise=0.02):
    """LIME-like samples: binary masks (first row all ones), a noisy linear response, positive weights."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d)) < 0.5).astype(float)
    X[0] = 1
    beta = rng.normal(size=d) * 0.1
    y = 0.3 + X @ beta + noise * rng.normal(size=n)
    w = rng.random(n) + 0.1
    prior = rng.normal(size=d) * 0.1
    return X, y, w, prior


def _augmented(X, y, w, prior, lam2):
    Xw, yw, _, _ = G.weighted_centred(X, y, w)
    d = X.shape[1]
    return np.vstack([Xw, math.sqrt(lam2) * np.eye(d)]), np.concatenate([yw, math.sqrt(lam2) * prior])


# ------------------------------------------------------------------------------ the ElasticNet path
def test_path_is_lars_path_on_the_augmented_system_and_ends_at_the_prior_ridge():
    from sklearn.linear_model import lars_path
    X, y, w, prior = _problem()
    path = G.elastic_net_path(X, y, w, prior, lam2=1.5)
    A, c = _augmented(X, y, w, prior, 1.5)
    alphas, _, coefs = lars_path(A, c, method="lasso")
    np.testing.assert_allclose(path.alphas, alphas, atol=1e-12)
    np.testing.assert_allclose(path.coefs, coefs, atol=1e-12)
    np.testing.assert_allclose(path.lambda1, 2 * (len(X) + X.shape[1]) * alphas)
    assert path.alphas[-1] == 0
    # l1 -> 0: argmin ||Xw b - yw||^2 + l2 ||b - prior||^2 in closed form
    Xw, yw, xm, ym = G.weighted_centred(X, y, w)
    ridge = np.linalg.solve(Xw.T @ Xw + 1.5 * np.eye(8), Xw.T @ yw + 1.5 * prior)
    np.testing.assert_allclose(path.coef, ridge, atol=1e-10)
    assert path.intercept == pytest.approx(ym - xm @ ridge)


def test_path_equals_a_direct_lasso_solve_of_eq7_at_several_l1():
    from sklearn.linear_model import Lasso
    X, y, w, prior = _problem(seed=1)
    lam2 = 2.0
    path = G.elastic_net_path(X, y, w, prior, lam2=lam2)
    A, c = _augmented(X, y, w, prior, lam2)
    L = path.lambda1
    # between breakpoints (the interpolation), at a breakpoint, beyond the first one (all zero)
    for lam1 in (0.7 * L[1] + 0.3 * L[2], 0.5 * L[3] + 0.5 * L[4], L[5], 0.1 * L[-2], 1.5 * L[0]):
        direct = Lasso(alpha=lam1 / (2 * len(A)), fit_intercept=False, tol=1e-14, max_iter=200000).fit(A, c).coef_
        np.testing.assert_allclose(path.coef_at(lam1), direct, atol=1e-5)
        # and the same point minimises the original objective of Eq. 7 (with weights and an intercept)
        b = path.coef_at(lam1)
        Xw, yw, _, _ = G.weighted_centred(X, y, w)
        f = lambda v: ((Xw @ v - yw) ** 2).sum() + lam1 * np.abs(v).sum() + lam2 * ((v - prior) ** 2).sum()
        rng = np.random.default_rng(0)
        assert all(f(b) <= f(b + 1e-4 * rng.normal(size=b.shape)) + 1e-12 for _ in range(20))


def test_zero_prior_path_equals_sklearn_elasticnet_with_intercept_and_weights():
    from sklearn.linear_model import ElasticNet
    X, y, w, _ = _problem(seed=2)
    lam2 = 1.0
    path = G.elastic_net_path(X, y, w, None, lam2=lam2)
    S = w.sum()  # ElasticNet rescales sample weights to sum to n: its loss is (1 / 2S) sum_i w_i r_i^2
    for lam1 in (0.5 * path.lambda1[2] + 0.5 * path.lambda1[3], 0.3 * path.lambda1[-2]):
        # 2S * [ (1/2S)||r||_w^2 + a r ||b||_1 + a (1 - r)/2 ||b||^2 ]: l1 = 2 S a r, l2 = S a (1 - r)
        a = (lam1 / 2 + lam2) / S
        ratio = (lam1 / 2) / (lam1 / 2 + lam2)
        enet = ElasticNet(alpha=a, l1_ratio=ratio, tol=1e-14, max_iter=200000).fit(X, y, sample_weight=w)
        b = path.coef_at(lam1)
        np.testing.assert_allclose(b, enet.coef_, atol=1e-5)
        _, _, xm, ym = G.weighted_centred(X, y, w)
        assert ym - xm @ b == pytest.approx(enet.intercept_, abs=1e-5)


def test_ranking_is_the_order_in_which_coefficients_become_nonzero():
    from sklearn.linear_model import lasso_path
    X, y, w, prior = _problem(seed=3, n=80, d=10)
    path = G.elastic_net_path(X, y, w, prior, lam2=1.0)
    # on the path itself: the first k ranked features are exactly the ones nonzero by each entry step
    for s in range(path.coefs.shape[1]):
        entered = set(np.flatnonzero((path.coefs[:, : s + 1] != 0).any(1)))
        assert entered == set(path.ranking[: len(entered)])
    # independently: coordinate descent on the augmented LASSO over a fine grid of l1
    A, c = _augmented(X, y, w, prior, 1.0)
    grid = path.alphas[0] * np.logspace(0, -6, 3000)
    _, cd, _ = lasso_path(A, c, alphas=grid, tol=1e-12, max_iter=100000)
    first = np.where((cd != 0).any(1), (cd != 0).argmax(1), len(grid))
    pos = np.empty(10, int)
    pos[path.ranking] = np.arange(10)
    assert len(set(first)) >= 8  # the grid separates (almost) every entry
    for i in range(10):
        for j in range(10):
            if first[i] < first[j]:
                assert pos[i] < pos[j]


def test_entry_ranking_ties_and_never_entered_features():
    coefs = np.array([[0, 0, 1, 2],     # enters at step 2
                      [0, 1, 1, 1],     # step 1
                      [0, 0, 3, -5],    # step 2, larger |final| than feature 0
                      [0, 0, 0, 0],     # never
                      [0, 2, 0, 0.0]])  # step 1, leaves again: keeps its first entry
    ranking, entry = G.entry_ranking(coefs)
    assert entry.tolist() == [2, 1, 2, 4, 1]
    assert ranking.tolist() == [1, 4, 2, 0, 3]


# --------------------------------------------------------------------------- LIME and G-LIME-x
def test_lime_selection_ridge_matches_the_lime_package():
    from lime.lime_base import LimeBase
    from sklearn.linear_model import Ridge
    X, y, w, _ = _problem(seed=4, n=120, d=12, noise=0.05)
    base = LimeBase(kernel_fn=lambda d: d)
    for k in (3, 6, 12):
        fit = G.lime_selection_ridge(X, y, w, n_features=k, alpha=1.0)
        used = base.feature_selection(X, y, w, k, "lasso_path")
        assert sorted(fit.selected.tolist()) == sorted(np.asarray(used).tolist())
        assert len(fit.selected) <= k
        ref = Ridge(alpha=1.0).fit(X[:, used], y, sample_weight=w)
        np.testing.assert_allclose(fit.coef[used], ref.coef_, atol=1e-5)
        assert np.all(fit.coef[np.setdiff1d(np.arange(12), used)] == 0)
        assert fit.intercept == pytest.approx(ref.intercept_, abs=1e-5)
        assert sorted(fit.ranking.tolist()) == list(range(12))
        top = fit.ranking[: len(used)]
        assert set(top.tolist()) == set(np.asarray(used).tolist())
        assert np.all(np.diff(np.abs(fit.coef[top])) <= 1e-12)


def test_glime_ridge_pulls_to_the_prior_and_is_lime_with_zero_prior():
    X, y, w, prior = _problem(seed=5, n=100, d=10)
    lime = G.lime_selection_ridge(X, y, w, 5, alpha=2.0)
    zero = G.glime_ridge(X, y, w, np.zeros(10), 5, lam2=2.0)
    np.testing.assert_allclose(zero.coef, lime.coef, atol=1e-6)
    fit = G.glime_ridge(X, y, w, prior, 5, lam2=2.0)
    s = fit.selected
    np.testing.assert_array_equal(s, lime.selected)
    Xw, yw, xm, ym = G.weighted_centred(X[:, s], y, w)
    direct = np.linalg.solve(Xw.T @ Xw + 2.0 * np.eye(len(s)), Xw.T @ yw + 2.0 * prior[s])
    np.testing.assert_allclose(fit.coef[s], direct, atol=1e-5)
    assert fit.intercept == pytest.approx(ym - xm @ direct, abs=1e-5)
    strong = G.glime_ridge(X, y, w, prior, 5, lam2=1e7)
    np.testing.assert_allclose(strong.coef[s], prior[s], atol=1e-4)


# -------------------------------------------------------------------------------------- priors
B = np.array([[1.0, 0.0, -2.0, 0.0],
              [0.0, 3.0, 1.0, 0.0],
              [2.0, -1.0, 0.0, 0.0]])


def test_global_priors_on_a_hand_computed_example():
    r3 = math.sqrt(3)
    np.testing.assert_allclose(G.global_prior(B, "SP"), [r3, 2, r3, 0])
    np.testing.assert_allclose(G.global_prior(B, "avg"), [1.5, 2, 1.5, 0])
    # rows' L1 norms 3, 4, 3: B^2/|B_i|_1 summed per column = [5/3, 31/12, 19/12, 0], each over 2 nonzeros
    np.testing.assert_allclose(G.global_prior(B, "NormLIME"), [5 / 6, 31 / 24, 19 / 24, 0])
    np.testing.assert_allclose(G.global_prior(B, "N"), G.global_prior(B, "normlime"))
    # classes [0, 1, 0]: per-class sums of |B| are [3, 1, 2, 0] and [0, 3, 1, 0]
    ent = lambda a, b: -(a * math.log(a) + b * math.log(b))
    h1 = ent(1 / (1 + r3), r3 / (1 + r3))
    h2 = ent(math.sqrt(2) / (1 + math.sqrt(2)), 1 / (1 + math.sqrt(2)))   # H_min = 0 (column 0), H_max = h2
    expect = [r3 * 1.0, 2 * (1 - h1 / h2), 0.0, 0.0]
    np.testing.assert_allclose(G.global_prior(B, "Homogeneity", classes=[0, 1, 0]), expect, atol=1e-12)
    np.testing.assert_allclose(G.global_prior(B, "H", classes=np.array(["a", "b", "a"])), expect, atol=1e-12)


def test_prior_errors_are_clear():
    with pytest.raises(ValueError, match="Homogeneity prior needs the class label"):
        G.global_prior(B, "Homogeneity")
    with pytest.raises(ValueError, match="SP, AVG, NormLIME, Homogeneity"):
        G.global_prior(B, "median")
    with pytest.raises(ValueError, match="one label per row"):
        G.global_prior(B, "H", classes=[0, 1])


# ------------------------------------------------------------------------- the explainer itself



@pytest.mark.parametrize("standardize,prior_norm", [(True, "l1"), (False, None)])
def test_the_true_prior_ranks_the_top_features_from_few_samples(standardize, prior_norm):
    g = torch.Generator().manual_seed(0)
    beta = torch.rand(64, generator=g) * 0.004
    top = torch.randperm(64, generator=g)[:5]
    beta[top] = torch.tensor([0.2, 0.15, 0.12, 0.1, 0.08])
    model, x, t = LinearInFeatures(beta, 4), torch.ones(1, 3, 32, 32), torch.zeros(1, dtype=torch.long)
    common = dict(n_samples=15, patch=4, fill="constant", fill_value=0.0, seed=4)   # 15 samples, 64 features
    plain = G.GLime(standardize=standardize, **common).explain(model, x, t)
    guided = G.GLime(prior_norm=prior_norm, standardize=standardize, **common).explain(model, x, t, prior=beta[None])
    assert set(guided.ranking[0][:5].tolist()) == set(top.tolist())   # the top-5 set (entry order within it varies)
    assert len(set(plain.ranking[0][:5].tolist()) & set(top.tolist())) < 5
    # the path of the result is the estimator on the shared LIME samples
    res = guided.lime
    p = beta.double().numpy()
    direct = G.elastic_net_path(res.masks[0].double().numpy(), res.targets[0].double().numpy(),
                                res.weights[0].double().numpy(), p / p.sum() if prior_norm else p, 1.0,
                                standardize=standardize)
    np.testing.assert_array_equal(guided.ranking[0], direct.ranking)


def test_batched_explain_with_different_superpixel_counts_equals_per_image_work():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                                torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    seg = torch.zeros(2, 16, 16, dtype=torch.long)
    seg[0] = torch.arange(16)[:, None] // 4 * 4 + torch.arange(16)[None, :] // 4  # 16 features
    seg[1] = (torch.arange(16)[:, None] // 8) * 2 + torch.arange(16)[None, :] // 8  # 4 features
    prior = [np.linspace(0.1, 0.5, 16), np.array([0.4, 0.3, 0.2, 0.1])]
    for method in ("path", "ridge"):
        res = G.GLime(method=method, n_samples=80, features="superpixels", seed=0, n_features=3).explain(
            model, x, segments=seg, prior=prior)
        assert res.coef.shape == (2, 16) and torch.all(res.coef[1, 4:] == 0)
        assert sorted(res.ranking[1].tolist()) == [0, 1, 2, 3]
        for b, d in ((0, 16), (1, 4)):
            X = res.lime.masks[b, :, :d].double().numpy()
            y, w = res.lime.targets[b].double().numpy(), res.lime.weights[b].double().numpy()
            p = prior[b] / np.abs(prior[b]).sum()
            ref = (G.elastic_net_path(X, y, w, p, 1.0, standardize=True) if method == "path"
                   else G.glime_ridge(X, y, w, p, 3, 1.0, standardize=True))
            np.testing.assert_allclose(res.coef[b, :d].numpy(), ref.coef, atol=1e-6)
            np.testing.assert_array_equal(res.ranking[b], ref.ranking)
    assert res.heatmap().shape == (2, 16, 16)
    with pytest.raises(ValueError, match="path, ridge"):
        G.GLime(method="lars")


# ----------------------------------------------------------------------- superpixel clustering
def _naive_features(stem, images, segments, centroid):
    rows = []
    for i in range(len(images)):
        f = stem(images[i:i + 1]).float()
        f = torch.nn.functional.interpolate(f, size=images.shape[-2:], mode="bilinear", align_corners=False)[0]
        for s in range(int(segments[i].max()) + 1):
            m = segments[i] == s
            mean = f[:, m].mean(1)
            if centroid:
                r, c = torch.nonzero(m, as_tuple=True)
                cy, cx = int(r.double().mean() + 0.5), int(c.double().mean() + 0.5)
                mean = torch.cat([f[:, cy, cx], mean])
            rows.append(mean / mean.norm())
    return torch.stack(rows)


@pytest.mark.parametrize("centroid", [False, True])
def test_superpixel_features_equal_a_naive_loop(centroid):
    from interprobust.explain.lime import superpixels
    torch.manual_seed(0)
    stem = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, stride=2, padding=1), torch.nn.ReLU())  # half resolution
    imgs = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    seg = torch.from_numpy(superpixels((imgs.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8), method="slic",
                                       n_segments=12))
    feats = G.superpixel_features(stem, imgs, seg, centroid=centroid, batch_size=2)  # two chunks
    ref = _naive_features(stem, imgs, seg, centroid)
    assert feats.shape == (int((seg.flatten(1).amax(1) + 1).sum()), 10 if centroid else 5)
    torch.testing.assert_close(feats, ref, atol=1e-5, rtol=1e-5)


def test_kmeans_is_deterministic_for_a_seed_and_assignment_is_nearest_centre():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(m, 0.1, size=(40, 4)) for m in (-2, 0, 2)])
    c1 = G.fit_clusters(feats, k=3, seed=7)
    c2 = G.fit_clusters(torch.from_numpy(feats), k=3, seed=7)
    np.testing.assert_array_equal(c1, c2)
    ids = G.assign_clusters(feats, c1)
    brute = np.argmin(((feats[:, None, :] - c1[None]) ** 2).sum(-1), 1)
    np.testing.assert_array_equal(ids, brute)
    assert len(set(ids[:40])) == len(set(ids[40:80])) == len(set(ids[80:])) == 1
    with pytest.raises(ValueError, match="at least k"):
        G.fit_clusters(feats[:2], k=3)


def test_cluster_space_round_trip():
    coef = np.array([0.5, -0.2, 0.3, 0.1])
    ids = np.array([2, 0, 2, 4])
    np.testing.assert_allclose(G.to_cluster_space(coef, ids, 5), [-0.2, 0, 0.4, 0, 0.1])
    np.testing.assert_allclose(G.to_cluster_space(coef, ids, 5, reduce="sum"), [-0.2, 0, 0.8, 0, 0.1])
    np.testing.assert_allclose(G.prior_for_image(np.arange(5) * 1.0, ids), [2, 0, 2, 4])


_STAGES = {  # what the first stage must compute, written out per architecture
    "resnet18": lambda m, x: m.stem[2](m.stem[1](m.stem[0](m.normalize(x)))),
    "convnet": lambda m, x: m.body[2](m.body[1](m.body[0](m.normalize(x)))),
    "lenet": lambda m, x: m.body[1](m.body[0](m.normalize(x))),
    "mobilenetv2": lambda m, x: m.stem(m.normalize(x)),
    "wrn28": lambda m, x: m.stem(m.normalize(x)),
}


@pytest.mark.parametrize("arch", list(_STAGES))
def test_first_stage_is_the_models_own_first_conv_block(arch):
    from interprobust.models import build_model
    torch.manual_seed(0)
    model = build_model(arch, num_classes=3, in_channels=3, image_size=16, mean=[0.5] * 3, std=[0.25] * 3,
                        width=0.125 if arch != "wrn28" else 0.05).eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # non-trivial BN statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    stage = G.first_stage(model)
    assert isinstance(stage[0], type(model.normalize)) and isinstance(stage[1], torch.nn.Conv2d)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(stage(x), _STAGES[arch](model, x))
    assert not any(p.requires_grad for p in stage.parameters()) and not stage.training
    model.train()
    assert not stage.training and stage[1] is not G.first_stage(model)[1]  # a frozen copy


def test_first_stage_of_a_torchvision_network():
    from interprobust.models import build_model
    torch.manual_seed(0)
    model = build_model("efficientnet_b0", num_classes=3, in_channels=1, image_size=32, mean=[0.5], std=[0.25]).eval()
    stage = G.first_stage(model)
    assert [type(m).__name__ for m in stage] == ["Normalize", "RepeatChannels", "Conv2d", "BatchNorm2d", "SiLU"]
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(stage(x), model.body.features[0](model.to_rgb(model.normalize(x))))


# ------------------------------------------------------------------------------ the invariants
@pytest.mark.parametrize("seed", [0, 4])
def test_modified_elastic_net_satisfies_its_kkt_conditions_along_the_path(seed):
    """At every l1, b minimises ||Xw b - yw||^2 + l1 ||b||_1 + l2 ||b - p||^2 iff the gradient of the smooth
    part g = 2 Xw'(Xw b - yw) + 2 l2 (b - p) satisfies g_j = -l1 sign(b_j) where b_j != 0, |g_j| <= l1 else."""
    X, y, w, prior = _problem(seed=seed)
    lam2 = 0.8
    path = G.elastic_net_path(X, y, w, prior, lam2=lam2)
    Xw, yw, _, _ = G.weighted_centred(X, y, w)
    L = path.lambda1
    for lam1 in [0.5 * (L[i] + L[i + 1]) for i in range(len(L) - 1)] + list(L[1:-1]):
        b = path.coef_at(lam1)
        g = 2 * Xw.T @ (Xw @ b - yw) + 2 * lam2 * (b - prior)
        active = b != 0
        np.testing.assert_allclose(g[active], -lam1 * np.sign(b[active]), atol=1e-8)
        assert (np.abs(g[~active]) <= lam1 + 1e-8).all()


def test_huge_lam2_returns_the_prior_and_zero_lam2_with_zero_prior_is_the_lasso_path():
    from sklearn.linear_model import lars_path
    X, y, w, prior = _problem(seed=5)
    far = G.elastic_net_path(X, y, w, prior, lam2=1e9)
    np.testing.assert_allclose(far.coef, prior, atol=1e-6)                 # the l1 -> 0 end
    np.testing.assert_allclose(far.coef_at(far.lambda1[0] * 1e-9), prior, atol=1e-6)
    lasso = G.elastic_net_path(X, y, w, None, lam2=0.0)
    Xw, yw, _, _ = G.weighted_centred(X, y, w)
    alphas, _, coefs = lars_path(Xw, yw, method="lasso")
    # the same path; alphas differ only by the row count each normalises with (n + d vs n)
    np.testing.assert_allclose(lasso.coefs, coefs, atol=1e-10)
    np.testing.assert_allclose(lasso.lambda1, 2 * len(X) * alphas, rtol=1e-10)


# ------------------------------------------------------------- standardisation (the authors' recipe)
def _informative(n, d=20, seed=0):
    """LIME-like samples (LIME's kernel weights) of a sparse linear response and an informative prior
    (|beta|, L1-normalised)."""
    from interprobust.explain.lime import kernel_weights
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d)) < 0.5).astype(float)
    X[0] = 1
    w = kernel_weights(torch.from_numpy(X).bool()[None]).double().numpy()[0]
    beta = np.zeros(d)
    beta[:5] = [0.2, 0.15, 0.1, 0.08, 0.05]
    beta[5:] = rng.normal(size=d - 5) * 0.01
    y = 0.2 + X @ beta + 0.1 * rng.normal(size=n)
    return X, y, w, np.abs(beta) / np.abs(beta).sum()


def _relative_change(X, y, w, prior, lam2, standardize):
    lime = G.lime_selection_ridge(X, y, w, X.shape[1], lam2, standardize=standardize)
    glime = G.glime_ridge(X, y, w, prior, X.shape[1], lam2, standardize=standardize)
    return np.linalg.norm(glime.coef - lime.coef) / np.linalg.norm(lime.coef), lime, glime


def test_standardised_glime_keeps_its_prior_at_3000_samples_and_is_lime_at_zero_lam2():
    X, y, w, prior = _informative(3000)
    change, _, _ = _relative_change(X, y, w, prior, 1.0, True)
    assert change > 0.5                                 # the prior still acts at n = 3000 (stated margin)
    old, _, _ = _relative_change(X, y, w, prior, 1.0, False)
    assert old < 0.01                                   # the unscaled variant: the prior has vanished
    zero, lime, glime = _relative_change(X, y, w, prior, 0.0, True)
    np.testing.assert_allclose(glime.coef, lime.coef, atol=1e-10)
    for method in ("path", "ridge"):                    # and through the explainer's own fit
        a = G.GLime(method=method, lam2=0.0).fit_samples(X, y, w, prior)[0]
        b = G.GLime(method=method, lam2=0.0).fit_samples(X, y, w, None)[0]
        np.testing.assert_allclose(a, b, atol=1e-8)


def test_standardised_fit_is_the_ridge_on_unit_norm_columns_in_model_units():
    X, y, w, prior = _informative(200, d=8, seed=3)
    fit = G.glime_ridge(X, y, w, prior, 8, 1.5, standardize=True)
    sw = w / w.sum()
    Xc, yc = X - sw @ X, y - sw @ y
    sx, sy = np.linalg.norm(Xc, axis=0), np.linalg.norm(yc)
    Xs, ys = Xc / sx * np.sqrt(w)[:, None], yc / sy * np.sqrt(w)
    b = np.linalg.solve(Xs.T @ Xs + 1.5 * np.eye(8), Xs.T @ ys + 1.5 * prior)
    np.testing.assert_allclose(fit.coef, b * sy / sx, atol=1e-12)
    assert fit.intercept == pytest.approx(sw @ y - (sw @ X) @ fit.coef)
    np.testing.assert_array_equal(fit.ranking, np.lexsort((np.arange(8), -np.abs(b))))
    path = G.elastic_net_path(X, y, w, prior, 1.5, standardize=True)
    np.testing.assert_allclose(path.coefs[:, -1], b, atol=1e-9)        # the path lives on the unit scale
    np.testing.assert_allclose(path.coef, b * sy / sx, atol=1e-9)      # its end in model units


def test_pull_factor_is_constant_in_n_when_standardised_and_vanishes_without():
    pulls = {n: (G.pull_factor(*_informative(n)[::2], 1.0, True), G.pull_factor(*_informative(n)[::2], 1.0, False))
             for n in (100, 1000, 3000)}
    assert pulls[3000][0] == pytest.approx(pulls[100][0], rel=0.05) and 0.3 < pulls[3000][0] < 0.9
    assert pulls[3000][1] < 0.01 < pulls[100][1]


# --------------------------------------------------------- Table 5: pixel-level deletion / insertion
class _Linear2(torch.nn.Module):
    """Two logits: sum(a * x) - offset and 0, so p(class 0) rises with every pixel's a * x."""

    def __init__(self, a, offset):
        super().__init__()
        self.a, self.offset = a, offset

    def forward(self, x):
        z = (x * self.a).flatten(1).sum(1) - self.offset
        return torch.stack([z, torch.zeros_like(z)], 1)


def test_pixel_protocol_on_a_linear_model_ranks_the_true_attribution_first():
    from interprobust import metrics as M
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 12, 12, generator=g) ** 4 * 2.0           # a few pixels matter a lot
    x = 0.5 + 0.5 * torch.rand(2, 3, 12, 12, generator=g)           # brighter than the grey fill
    model = _Linear2(a, offset=float((a * 0.75).sum()))
    target = torch.zeros(2, dtype=torch.long)
    true = a * (x - 0.5)                                            # exact contributions against grey
    candidates = {"true": true, "gradient": a.expand_as(x), "random": torch.rand(x.shape, generator=g),
                  "reversed": 1.0 / (true + 1e-3)}
    scores = {}
    for name, attr in candidates.items():
        c = M.pixel_deletion_insertion_curves(model, x, target, M.pixel_saliency(attr), steps=20, fill=0.5)
        assert c.deletion.shape == c.insertion.shape == (2, 21)
        with torch.no_grad():
            clean = torch.softmax(model(x), 1)[:, 0]
            grey = torch.softmax(model(torch.full_like(x, 0.5)), 1)[:, 0]
        torch.testing.assert_close(c.deletion[:, 0], clean)         # deletion starts at the image,
        torch.testing.assert_close(c.deletion[:, -1], grey)         # ends on the grey canvas,
        torch.testing.assert_close(c.insertion[:, -1], clean)       # insertion ends with the full image
        scores[name] = (M.auc(c.insertion) - M.auc(c.deletion)).mean().item()
    assert max(scores, key=scores.get) == "true"
    assert scores["true"] > scores["gradient"] > scores["random"] > scores["reversed"]


def test_pixel_protocol_deletes_exact_percentile_counts():
    from interprobust import metrics as M
    # a model that counts the grey pixels: p(class 0) = sigmoid(number of pixels equal to 0.5 - 50)
    class Count(torch.nn.Module):
        def forward(self, x):
            z = (x[:, 0] == 0.5).flatten(1).sum(1).float() * 0.01
            return torch.stack([z, torch.zeros_like(z)], 1)
    x = torch.ones(1, 3, 10, 10)
    sal = torch.arange(100.0).view(1, 10, 10)
    c = M.pixel_deletion_insertion_curves(Count(), x, torch.zeros(1, dtype=torch.long), sal, steps=20)
    grey_del = torch.logit(c.deletion[0]) / 0.01
    torch.testing.assert_close(grey_del, torch.arange(0, 101, 5).float(), atol=1e-3, rtol=0)
    grey_ins = torch.logit(c.insertion[0]) / 0.01
    torch.testing.assert_close(grey_ins, torch.tensor([100 - 5.0 * i for i in range(1, 21)] + [0.0]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("standardize", [True, False])
def test_prior_norms_l1_and_match(standardize):
    """l1 (default): the prior over the image's features sums to 1 in absolute value; match (the old
    variant): to the L1 norm of the image's own no-prior fit on the same scale."""
    X, y, w, prior = _informative(300, d=10, seed=5)
    raw = prior * 7.0
    idx = np.arange(10)
    for norm, want in (("l1", 1.0), (None, 7.0)):
        est = G.GLime(method="ridge", prior_norm=norm, standardize=standardize)
        assert np.abs(est._prior([raw], 0, idx, X, y, w)).sum() == pytest.approx(want)
    match = G.GLime(method="ridge", prior_norm="match", standardize=standardize)
    own = match._fit(X, y, w, None)[0]
    assert np.abs(match._prior([raw], 0, idx, X, y, w)).sum() == pytest.approx(np.abs(own).sum())
