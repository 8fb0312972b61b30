"""LIMEREF's detection split: a seeded, class-stratified part of the training set that LIME analyses and
that no LIMEREF model trains on (the spec's default for the paper's "test inputs")."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...data.subsets import holdout_split


def detection_split(train_y, images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out detection indices): disjoint, sorted, covering the training set."""
    n = len(np.asarray(train_y))
    if int(images) >= n:
        raise ValueError(f"limeref.detection.images = {images} holds out the whole training set ({n} images): "
                         f"lower it")
    return holdout_split(train_y, int(images), int(seed))


def training_view(data, holdout: dict):
    """``data`` without the held-out detection images (``holdout``: {images, seed}); and the kept indices."""
    rest, _ = detection_split(data.train_y, holdout["images"], holdout.get("seed", 0))
    view = dataclasses.replace(data, train_x=np.asarray(data.train_x)[rest], train_y=np.asarray(data.train_y)[rest])
    return view, rest
