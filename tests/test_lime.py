import numpy as np
import pytest
import torch

from interprobust.explain import lime as L
from toy_models import LinearInFeatures



def test_recovers_the_coefficients_of_a_linear_model():
    g = torch.Generator().manual_seed(0)
    beta = torch.rand(16, generator=g) * 0.8 / 16
    model = LinearInFeatures(beta, patch=4)
    x = torch.ones(2, 3, 16, 16)
    res = L.Lime(n_samples=300, patch=4, fill="constant", fill_value=0.0, alpha=1e-8, seed=1).explain(
        model, x, target=torch.zeros(2, dtype=torch.long))
    assert torch.allclose(res.coef, beta.expand(2, -1), atol=1e-5)
    assert torch.allclose(res.intercept, torch.full((2,), 0.1), atol=1e-5)
    assert torch.allclose(res.score, torch.ones(2), atol=1e-6)


def test_surrogate_equals_sklearn_ridge():
    from sklearn.linear_model import Ridge
    g = torch.Generator().manual_seed(3)
    X = (torch.rand(2, 200, 7, generator=g) < 0.5).float()
    y = torch.rand(2, 200, generator=g)
    w = torch.rand(2, 200, generator=g)
    coef, intercept, score = L.fit_surrogate(X, y, w, alpha=1.0)
    for b in range(2):
        r = Ridge(alpha=1.0).fit(X[b].numpy(), y[b].numpy(), sample_weight=w[b].numpy())
        np.testing.assert_allclose(coef[b].numpy(), r.coef_, atol=1e-5)
        assert intercept[b].item() == pytest.approx(r.intercept_, abs=1e-5)
        assert score[b].item() == pytest.approx(r.score(X[b].numpy(), y[b].numpy(), sample_weight=w[b].numpy()),
                                                abs=1e-5)


def _small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                               torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3))


@pytest.mark.parametrize("features", ["grid", "superpixels"])
def test_matches_the_lime_package_on_identical_masks(features):
    from lime.lime_base import LimeBase
    from sklearn.metrics import pairwise_distances
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model = _small_cnn()
    explainer = L.Lime(n_samples=500, features=features, patch=8, seed=2,
                       segmentation={"kernel_size": 1, "max_dist": 5})
    res = explainer.explain(model, x, target=torch.tensor([1]))
    data = res.masks[0].numpy().astype(float)
    labels = np.stack([1 - res.targets[0].numpy(), res.targets[0].numpy()], 1)
    distances = pairwise_distances(data, data[0:1], metric="cosine").ravel()
    kernel = lambda d: np.sqrt(np.exp(-(d ** 2) / 0.25 ** 2))  # lime_image's kernel, width 0.25
    intercept, exp, score, _ = LimeBase(kernel, random_state=0).explain_instance_with_data(
        data, labels, distances, 1, data.shape[1], feature_selection="none")
    ref = np.zeros(data.shape[1])
    for j, v in exp:
        ref[j] = v
    np.testing.assert_allclose(res.coef[0].numpy(), ref, atol=1e-5)
    assert res.intercept.item() == pytest.approx(intercept, abs=1e-5)
    assert res.score.item() == pytest.approx(score, abs=1e-5)


def test_perturbed_images_equal_lime_style_construction():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    seg = L.grid_segments(8, 8, 4).expand(2, 8, 8)
    masks = L.sample_masks(2, 6, 4, torch.Generator().manual_seed(0))
    fill = L.fill_images(x, seg, 4, "mean")
    seen = []
    model = lambda imgs: (seen.append(imgs.clone()), torch.zeros(len(imgs), 2))[1]
    L.Lime(batch_size=5).query(model, x, seg, masks, fill, torch.zeros(2, dtype=torch.long))
    got = torch.cat(seen).view(2, 6, 3, 8, 8)
    for b in range(2):
        for i in range(6):
            expect = x[b].clone()
            for f in torch.nonzero(~masks[b, i]).flatten():   # lime's loop: paint each hidden feature
                where = seg[b] == f
                expect[:, where] = fill[b][:, where]
            assert torch.equal(got[b, i], expect)
    assert masks[:, 0].all()
    # mean fill: a hidden patch shows its own mean colour
    assert torch.allclose(fill[0, :, :4, :4], x[0, :, :4, :4].mean((1, 2))[:, None, None].expand(3, 4, 4))


def test_bad_names_list_valid_ones():
    with pytest.raises(ValueError, match="valid: grid, superpixels"):
        L.Lime(features="pixels")
    with pytest.raises(ValueError, match="valid: quickshift, slic"):
        L.superpixels(np.zeros((1, 8, 8, 3), np.uint8), method="felzen")


def test_masks_depend_on_seed_and_image_index_only():
    """Images at the same chunk position no longer share masks; chunking does not change an image's masks."""
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    model = _small_cnn()
    lime = L.Lime(n_samples=40, patch=4, seed=7)
    whole = lime.explain(model, x)
    first, second = lime.explain(model, x[:2], index=[0, 1]), lime.explain(model, x[2:], index=[2, 3])
    torch.testing.assert_close(torch.cat([first.masks, second.masks]), whole.masks)
    torch.testing.assert_close(torch.cat([first.coef, second.coef]), whole.coef)
    # chunk position 0 of both chunks: different images, different masks
    assert not torch.equal(first.masks[0], second.masks[0])
    assert not torch.equal(whole.masks[0], whole.masks[1])
    assert whole.masks[:, 0].all()                                   # the first sample is still the image
    other = L.Lime(n_samples=40, patch=4, seed=8).explain(model, x)
    assert not torch.equal(other.masks, whole.masks)
    with pytest.raises(ValueError, match="one position per image"):
        lime.explain(model, x, index=[0, 1])
