"""Seeded, class-stratified subsets: the one way every paper picks the images it evaluates on.

Stored splits are often class-sorted (CUB, ImageNet-style folders), so "the first N" covers a few
classes only. ``stratified_indices`` draws N indices whose class counts are proportional to the
full set's (largest remainder; every class gets at least one when N ≥ the number of classes),
seeded, and returns them sorted. ``holdout_split`` returns a stratified held-out part and the rest,
disjoint. ``write_indices`` saves the chosen indices next to the results they produced.
"""

from __future__ import annotations

import os

import numpy as np

from ..io import read_json, write_json


def _allocate(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many of each class: proportional to ``counts`` (largest remainder, ties broken by
    ``rng``), summing to ``n``, and at least one per present class when ``n`` allows."""
    present = np.flatnonzero(counts > 0)
    if n < len(present):                        # fewer draws than classes: a seeded choice of classes
        take = np.zeros_like(counts)
        take[rng.choice(present, size=n, replace=False, p=counts[present] / counts.sum())] = 1
        return take
    share = counts * (n / counts.sum())
    take = np.floor(share).astype(counts.dtype)
    left = n - int(take.sum())
    if left:
        frac = share - take + rng.random(len(counts)) * 1e-9      # seeded tie-break
        take[np.argsort(-frac, kind="stable")[:left]] += 1
    for c in present[take[present] == 0]:       # cover every class: move one from the largest surplus
        donor = int(np.argmax(np.where(take > 1, take - share, -np.inf)))
        take[donor] -= 1
        take[c] += 1
    return take


def stratified_indices(labels, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded, class-stratified subset of size ``n`` of ``labels``.

    ``n`` None (or ≥ the set's size) means the whole set. Class counts are proportional to the
    set's, each class is covered when ``n`` ≥ the number of classes, and the same (labels, n, seed)
    always gives the same indices.
    """
    y = np.asarray(labels).reshape(-1)
    total = len(y)
    if n is None or n >= total:
        return np.arange(total)
    if n < 0:
        raise ValueError(f"a subset size must be ≥ 0 or null (the whole set), got {n}")
    # sklearn's stratified splitters refuse n < number of classes and one-member classes; tiny
    # embedded subsets need both, so the allocation is written here (tests compare it with sklearn).
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(y, return_inverse=True)
    take = _allocate(np.bincount(inverse, minlength=len(classes)), n, rng)
    picked = [rng.choice(np.flatnonzero(inverse == c), size=int(t), replace=False)
              for c, t in enumerate(take) if t]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def holdout_split(labels, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held_out): a stratified held-out subset of ``n_holdout`` and its complement,
    both sorted, disjoint, covering every index."""
    held = stratified_indices(labels, n_holdout, seed)
    mask = np.ones(len(np.asarray(labels).reshape(-1)), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held


def write_indices(path: str | os.PathLike, indices, *, labels=None, **provenance) -> None:
    """Save a subset's indices (and, given ``labels``, its class counts) as JSON, atomically."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    record = {"n": int(len(idx)), **provenance, "indices": idx.tolist()}
    if labels is not None:
        cls, cnt = np.unique(np.asarray(labels).reshape(-1)[idx], return_counts=True)
        record["class_counts"] = {str(int(c)): int(k) for c, k in zip(cls, cnt)}
    write_json(path, record)


def read_indices(path: str | os.PathLike) -> np.ndarray:
    return np.asarray(read_json(path)["indices"], dtype=np.int64)
