import numpy as np
import pytest
import torch

from interprobust import train
from interprobust.papers.limeref import spurious
from interprobust.data import embedded, store


@pytest.fixture(scope="module")
def patch_reliant_model(embedded_dir):
    """A small CNN trained on digits_rgb32_spurious, where 90 % of training images carry their class's patch."""
    data = store.load_prepared(embedded_dir / "digits_rgb32_spurious")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 10))
    train.fit(model, data, config=train.TrainConfig(epochs=4, batch_size=32, lr=0.01, optimizer="adam",
                                                    weight_decay=0, crop_padding=0, flip=False),
              show_progress=False)
    return model.eval(), data


def test_detection_flags_the_planted_patch(patch_reliant_model):
    model, data = patch_reliant_model
    boxes = data.extra("train_patch_boxes")
    held_out = np.flatnonzero(boxes[:, 0] >= 0)[-60:]  # images that carry their class's patch
    x, y = np.asarray(data.train_x[held_out]), np.asarray(data.train_y[held_out])
    # grey fill: lime's default (each feature's own mean colour) would leave a uniform patch unchanged
    scores = spurious.feature_scores(model, x, y, patch=4, n_samples=200, repeats=2, show_progress=False,
                                     lime_options={"fill": "constant", "fill_value": 0.5})
    found = spurious.detect(scores, 10, criteria=("importance",), tau_quantile=0.9, min_frequency=0.5)
    truth = np.zeros((10, 64), bool)
    for c, (r, col, h, w) in enumerate(data.extra("class_patch_boxes")):
        truth[c, (r // 4) * 8 + col // 4] = True
    seen = np.isin(np.arange(10), scores.predicted)
    m = spurious.overlap_with_truth(found.per_class[seen], truth[seen])
    assert m["recall"] >= 0.7, m          # the patch cell of most classes is flagged
    # the patch cell is the single most important feature far more often than chance (1/64)
    top = scores.importance.argmax(1)
    patch_cell = truth.argmax(1)[scores.predicted]
    assert (top == patch_cell).mean() > 0.5
    assert (scores.sensitivity.argmax(1) == patch_cell).mean() > 0.5


def test_detect_thresholds_and_aggregation_on_known_scores():
    imp = np.zeros((4, 3))
    imp[:2, 0] = 1.0      # class 0 images: feature 0 stands out
    imp[2:, 2] = 1.0      # class 1 images: feature 2 stands out
    s = spurious.FeatureScores(imp, np.zeros_like(imp), np.zeros_like(imp), np.array([0, 0, 1, 1]), np.zeros(4))
    found = spurious.detect(s, 2, criteria=("importance",), tau_quantile=0.5)
    assert found.per_class.tolist() == [[True, False, False], [False, False, True]]
    assert found.global_mask.tolist() == [True, False, True]
    again = spurious.SpuriousSet.from_dict(found.to_dict())
    assert np.array_equal(again.per_class, found.per_class)
    with pytest.raises(ValueError, match="valid: "):
        spurious.detect(s, 2, criteria=("entropy",))


def test_overlap_metrics_and_pixel_mask():
    m = spurious.overlap_with_truth(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert (m["precision"], m["recall"], m["iou"]) == (0.5, 0.5, pytest.approx(1 / 3))
    pm = spurious.pixel_mask(np.array([False, True, False, False]), 4, 4, 2)
    assert pm.sum() == 4 and pm[:2, 2:].all()
