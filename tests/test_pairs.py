"""SEP's representative pairs: K-Means on penultimate features, the images nearest each centroid
(checked against a brute-force computation), all ordered pairs with correct intra-cluster flags;
class labels play no part."""

import inspect

import numpy as np
import pytest
import torch

from interprobust.papers.sep import pairs as P
from interprobust.models import build_model


def _blobs(n_per=60, k=10, dim=16, seed=0):
    """k well-separated Gaussian blobs (plus 'labels' that a wrong implementation might use)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, dim))
    f = np.concatenate([c + rng.normal(0, 1, (n_per, dim)) for c in centres]).astype(np.float32)
    labels = rng.integers(0, 10, len(f))
    return f, labels


def test_representative_images_nearest_each_centroid_brute_force():
    f, _ = _blobs()
    r = P.representative_images(f, k=10, per_cluster=15, seed=0)
    assert r.indices.shape == (150,) and r.clusters.shape == (150,) and r.distances.shape == (150,)
    assert r.indices.dtype == np.int64 and r.clusters.dtype == np.int64
    assert np.array_equal(np.bincount(r.clusters, minlength=10), np.full(10, 15))
    assert len(np.unique(r.indices)) == 150                      # each image at most once
    # brute force: nearest centroid of every image, then the 15 nearest members of each cluster
    f64 = f.astype(np.float64)
    d = np.array([[np.linalg.norm(row - c) for c in r.centroids] for row in f64])
    assign = d.argmin(1)
    assert np.array_equal(assign, r.assignment)
    for c in range(10):
        members = np.flatnonzero(assign == c)
        expected = members[np.argsort(d[members, c], kind="stable")][:15]
        got = r.indices[r.clusters == c]
        assert np.array_equal(got, expected)
        np.testing.assert_allclose(r.distances[r.clusters == c], d[expected, c], rtol=1e-12)
        assert np.all(np.diff(r.distances[r.clusters == c]) >= 0)
        # nothing outside the chosen ones is nearer to this centroid among its members
        rest = np.setdiff1d(members, got)
        assert rest.size == 0 or d[rest, c].min() >= d[got, c].max()
    # the well-separated blobs are recovered: each chosen group comes from one blob
    blob = r.indices // 60
    for c in range(10):
        assert len(np.unique(blob[r.clusters == c])) == 1
    # the centroids are the K-Means fixed point: the mean of their members
    for c in range(10):
        np.testing.assert_allclose(r.centroids[c], f64[assign == c].mean(0), atol=1e-3)


def test_labels_are_never_used_and_seeded():
    params = inspect.signature(P.representative_images).parameters
    assert not any(p in params for p in ("y", "labels", "label", "targets"))
    # no labels go in, so permuting the labels cannot change anything; the result is a function
    # of the features and the seed only
    f, _ = _blobs(seed=1)
    a = P.representative_images(f, k=10, per_cluster=5, seed=3)
    b = P.representative_images(f.copy(), k=10, per_cluster=5, seed=3)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_small_cluster_gives_all_its_members():
    rng = np.random.default_rng(0)
    f = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(50, 0.1, (3, 2))])
    r = P.representative_images(f, k=2, per_cluster=10, seed=0)
    counts = np.bincount(r.clusters, minlength=2)
    assert sorted(counts.tolist()) == [3, 10]
    small = r.clusters[r.indices >= 30]
    assert np.array_equal(np.sort(r.indices[r.clusters == small[0]]), np.arange(30, 33))
    with pytest.raises(ValueError):
        P.representative_images(f[:1], k=2)


def test_ordered_pairs_count_and_intra_flags():
    clusters = np.array([0, 0, 1, 2, 2, 2])
    v, t, intra = P.ordered_pairs(clusters)
    n = len(clusters)
    assert len(v) == len(t) == len(intra) == n * (n - 1)
    assert v.dtype == np.int64 and t.dtype == np.int64 and intra.dtype == bool
    assert np.all(v != t)
    assert len(set(zip(v.tolist(), t.tolist()))) == n * (n - 1)           # all distinct, all ordered
    assert np.array_equal(intra, clusters[v] == clusters[t])
    assert int(intra.sum()) == 2 * 1 + 0 + 3 * 2
    assert (v[0], t[0]) == (0, 1) and (v[n - 1], t[n - 1]) == (1, 0)      # victim-major order
    # SEP's size: 10 clusters x 15 images -> 150 * 149 pairs, 10 * 15 * 14 of them intra-cluster
    v, t, intra = P.ordered_pairs(np.repeat(np.arange(10), 15))
    assert len(v) == 150 * 149 == 22350 and int(intra.sum()) == 10 * 15 * 14


def test_penultimate_features_uint8_and_float():
    torch.manual_seed(0)
    model = build_model("convnet", num_classes=4, in_channels=3, image_size=8, mean=[0.5] * 3,
                        std=[0.25] * 3, width=0.125, activation="softplus")
    model.train()
    x8 = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    xf = torch.from_numpy(x8).permute(0, 3, 1, 2).float() / 255
    f8 = P.penultimate_features(model, x8, batch_size=4)
    ff = P.penultimate_features(model, xf, batch_size=3)
    assert model.training                                    # mode restored
    assert f8.shape == (10, 8) and f8.dtype == np.float32
    np.testing.assert_allclose(f8, ff, rtol=1e-5, atol=1e-6)
    model.eval()
    with torch.no_grad():
        ref = model.features(xf).numpy()
    np.testing.assert_allclose(f8, ref, rtol=1e-5, atol=1e-6)
    # the features feed the clustering directly
    r = P.representative_images(f8, k=2, per_cluster=3, seed=0)
    assert len(r.indices) == 6
