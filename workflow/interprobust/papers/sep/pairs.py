"""SEP's representative (victim, target) pairs for the explanation attack, chosen by clustering.

SEP (Section 3): penultimate-layer features of a normally trained ResNet-18 on the test set,
K-Means with k = 10, the 15 images closest to each centroid (150 images), and every ordered
(victim, target) pair among them, split into intra-cluster and inter-cluster pairs. Class labels
are never used (no function here takes them).

Choices (documented in the replication notes):

* "the images closest to each centroid" are taken among the images *assigned* to that centroid
  (the nearest centroid of every image, recomputed in float64 from the fitted centroids), so every
  image belongs to exactly one cluster and is chosen at most once, and the intra / inter split is
  well defined. A cluster with fewer than ``per_cluster`` members contributes all of them.
* distances are Euclidean in the raw feature space (no standardisation); ties are broken by the
  lower image index.
* K-Means: scikit-learn's ``KMeans`` (Lloyd, k-means++ initialisation, ``n_init=10`` runs, the
  lowest-inertia one kept), seeded with ``seed``, on float64 features.

Everything is plain numpy in and out (torch only inside :func:`penultimate_features`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["penultimate_features", "representative_images", "RepresentativeImages", "ordered_pairs"]


def penultimate_features(model, x, batch_size: int = 256, device=None) -> np.ndarray:
    """``model.features(x)`` (the penultimate, pre-classifier representation) of every image,
    flattened to (N, D) float32 numpy. ``x``: uint8 (N, H, W, C) arrays (the prepared format) or
    float (N, C, H, W) in [0, 1] (tensor or array). Eval mode (each submodule's mode is restored),
    no gradients, batches of ``batch_size`` on ``device`` (default: the model's)."""
    import torch

    from ...data.batches import as_images
    from ...nn import eval_mode, model_device

    device = model_device(model) if device is None else torch.device(device)
    n = len(x)
    out = []
    with eval_mode(model), torch.no_grad():
        for i in range(0, n, int(batch_size)):
            xb = as_images(x[i:i + int(batch_size)], device)
            f = model.features(xb)
            out.append(f.reshape(f.shape[0], -1).float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


class RepresentativeImages(NamedTuple):
    """``indices`` (M,) int64: the chosen images (rows of the features), grouped by cluster
    (cluster 0 first), nearest first within a cluster; ``clusters`` (M,) int64 their clusters;
    ``distances`` (M,) float64 their distances to their centroid; ``centroids`` (k, D) float64;
    ``assignment`` (N,) int64 the nearest centroid of every image."""

    indices: np.ndarray
    clusters: np.ndarray
    distances: np.ndarray
    centroids: np.ndarray
    assignment: np.ndarray


def _distances(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N, k) Euclidean distances, computed directly (no ||a||^2 - 2ab + ||b||^2 cancellation)."""
    out = np.empty((features.shape[0], centroids.shape[0]), dtype=np.float64)
    for j, c in enumerate(centroids):
        out[:, j] = np.sqrt(np.square(features - c).sum(1))
    return out


def representative_images(features, k: int = 10, per_cluster: int = 15, seed: int = 0,
                          n_init: int = 10) -> RepresentativeImages:
    """K-Means (``k`` clusters) on ``features`` (N, D), then the ``per_cluster`` images of each
    cluster nearest its centroid (among the images assigned to it; see the module docstring)."""
    from sklearn.cluster import KMeans

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (N, D); got shape {f.shape}")
    k, per_cluster = int(k), int(per_cluster)
    if k < 1 or per_cluster < 1:
        raise ValueError("k and per_cluster must be >= 1")
    if f.shape[0] < k:
        raise ValueError(f"{f.shape[0]} images for k = {k} clusters")
    km = KMeans(n_clusters=k, init="k-means++", n_init=int(n_init), random_state=int(seed),
                algorithm="lloyd").fit(f)
    centroids = np.asarray(km.cluster_centers_, dtype=np.float64)
    dist = _distances(f, centroids)
    assignment = dist.argmin(1).astype(np.int64)
    idx, clu, dd = [], [], []
    order_all = np.arange(f.shape[0])
    for c in range(k):
        members = order_all[assignment == c]
        d = dist[members, c]
        order = np.lexsort((members, d))[:per_cluster]   # by distance, then by index
        idx.append(members[order])
        clu.append(np.full(len(order), c, dtype=np.int64))
        dd.append(d[order])
    return RepresentativeImages(indices=np.concatenate(idx).astype(np.int64),
                                clusters=np.concatenate(clu), distances=np.concatenate(dd),
                                centroids=centroids, assignment=assignment)


def ordered_pairs(cluster_of_image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair (i, j), i != j, of the M images whose clusters are ``cluster_of_image``
    (M,): ``(victim_idx, target_idx, intra)``, the indices being positions 0..M-1 in that array
    (victim-major order: (0, 1), (0, 2), ..., (1, 0), ...), ``intra`` True where both images are in
    the same cluster. M * (M - 1) pairs."""
    c = np.asarray(cluster_of_image).reshape(-1)
    m = c.shape[0]
    vi, ti = np.meshgrid(np.arange(m, dtype=np.int64), np.arange(m, dtype=np.int64), indexing="ij")
    keep = vi != ti
    victim, target = vi[keep], ti[keep]
    return victim, target, c[victim] == c[target]
