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


# ---------------------------------------------------------------- the threshold rule on synthetic scores
def _planted_scores(seed=0, n=400, classes=10, cells=8):
    """Scores of n images on a cells x cells grid: a centre-peaked object (the 4 centre cells, in every
    class), a class-specific planted patch on the border in 90 % of images, noise, and a per-image scale
    spread over 3 orders of magnitude (as LIME coefficients and gradients differ between images)."""
    rng = np.random.default_rng(seed)
    d = cells * cells
    y = rng.integers(0, classes, n)
    centre = [27, 28, 35, 36]
    patch_cell = np.array([c for c in range(d) if c // cells in (0, cells - 1) or c % cells in (0, cells - 1)])[
        :classes * 2:2]
    imp = np.abs(rng.normal(0, 0.3, (n, d)))
    imp[:, centre] += 2.0 + rng.normal(0, 0.3, (n, 4))
    carries = rng.random(n) < 0.9
    imp[np.flatnonzero(carries), patch_cell[y[carries]]] += 2.5
    imp *= 10 ** rng.uniform(-1.5, 1.5, (n, 1))
    truth = np.zeros((classes, d), bool)
    truth[np.arange(classes), patch_cell] = True
    return spurious.FeatureScores(imp, imp.copy(), np.zeros_like(imp), y, y), truth, centre


def test_within_image_ranking_finds_the_planted_patch_and_not_the_object():
    scores, truth, centre = _planted_scores()
    found = spurious.detect(scores, 10, criteria=("importance",), tau_quantile=0.95, min_frequency=0.5,
                            min_contrast=0.25)
    assert np.array_equal(found.per_class, truth)            # every class's patch, nothing else
    assert not found.global_mask[centre].any()               # the object (shared by all classes) is not F
    # the old rule (quantiles over all pairs of raw scores) sees only the large-scale images: F is empty
    old = spurious.detect(scores, 10, criteria=("importance",), normalise="none", min_contrast=0.0)
    assert old.global_mask.sum() == 0
    # ranking without the class contrast takes the object's cells too (flagged in most images of every class)
    no_contrast = spurious.detect(scores, 10, criteria=("importance",), min_frequency=0.3, min_contrast=0.0)
    assert no_contrast.global_mask[centre].any() and (no_contrast.per_class >= truth).all()


def test_normalise_within_image():
    s = np.array([[1.0, 2.0, 3.0, 3.0], [10.0, 10.0, 10.0, 10.0]])
    r = spurious.normalise_within_image(s, "rank")
    assert r[0].tolist() == [0.0, 1 / 3, 2.5 / 3, 2.5 / 3] and r[1].tolist() == [0.5] * 4
    assert spurious.normalise_within_image(s * 7, "rank").tolist() == r.tolist()   # scale-free
    assert spurious.normalise_within_image(s, "max")[0].tolist() == [1 / 3, 2 / 3, 1.0, 1.0]
    with pytest.raises(ValueError, match="valid"):
        spurious.normalise_within_image(s, "zscore")


def test_an_empty_F_warns_and_is_recorded(capsys):
    from interprobust.papers.limeref.tables import spurious_table
    rng = np.random.default_rng(0)
    imp = rng.random((50, 16))                               # i.i.d. scores: nothing stands out
    scores = spurious.FeatureScores(imp, imp, np.zeros_like(imp), rng.integers(0, 5, 50), np.zeros(50))
    found = spurious.detect(scores, 5, criteria=("importance",))
    assert found.global_mask.sum() == 0
    with pytest.warns(spurious.EmptySpuriousSet, match="EMPTY"):
        rec = spurious.detection_record(found, None, patch=8, image_size=[32, 32], n_images=50)
    assert "WARNING" in capsys.readouterr().err
    assert rec["empty"] and rec["size"] == {"global": 0, "this_round": 0, "per_class": [0] * 5}
    import json
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(rec, f)
    table = spurious_table({"spurious": [f.name]})
    assert table.table["empty"].tolist() == [True] and "F_spurious is empty" in table.markdown
    # a non-empty round after it: accumulated, not empty, no warning
    found.per_class[2, 3] = True
    found.global_mask[3] = True
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec2 = spurious.detection_record(found, rec, patch=8, image_size=[32, 32], n_images=50)
    assert not rec2["empty"] and rec2["size"]["global"] == 1 and rec2["size"]["per_class"][2] == 1


def test_detection_split_is_disjoint_from_every_training_index(small_digits, tmp_path):
    """The train command (with LIMEREF's holdout) and the detect command save their indices: disjoint,
    together the whole training set, and the detection split class-stratified."""
    import json

    from interprobust.cli import main
    from interprobust.data.subsets import read_indices
    holdout = {"images": 30, "seed": 3}
    settings = json.dumps({"loss": "ce", "loss_params": {}, "model": {"width": 0.125}, "holdout": holdout,
                           "training": {"epochs": 1, "batch_size": 32, "lr": 0.05, "crop_padding": 0}})
    out = tmp_path / "m"
    assert main(["train", "--data", str(small_digits.path), "--arch", "convnet", "--recipe", "ce", "--settings",
                 settings, "--device", "cpu", "--model-out", str(out / "model.pt"),
                 "--history-out", str(out / "history.csv")]) == 0
    det = {"images": 30, "split_seed": 3, "patch": 8, "n_samples": 10, "repeats": 1, "criteria": ["importance"]}
    assert main(["limeref", "detect", "--model", str(out / "model.pt"), "--data", str(small_digits.path),
                 "--settings", json.dumps(det), "--device", "cpu", "--out", str(tmp_path / "d" / "spurious.json")]) == 0
    trained = np.asarray(read_indices(out / "train_indices.json"))
    held = np.asarray(read_indices(tmp_path / "d" / "detection_indices.json"))
    n = len(small_digits.train_y)
    assert len(held) == 30 and len(trained) == n - 30
    assert not set(held.tolist()) & set(trained.tolist())
    assert sorted(held.tolist() + trained.tolist()) == list(range(n))
    counts = np.bincount(np.asarray(small_digits.train_y)[held], minlength=10)
    assert counts.min() >= 2 and counts.max() <= 4                  # stratified: 3 per class of 10
    rec = json.loads((tmp_path / "d" / "spurious.json").read_text())
    assert rec["n_images"] == 30 and "size" in rec and "empty" in rec


@pytest.fixture
def small_digits(embedded_dir, tmp_path):
    d = store.load_prepared(embedded_dir / "digits_rgb32")
    store.write_prepared(tmp_path / "small", name="small", train_x=np.asarray(d.train_x[:200]),
                         train_y=np.asarray(d.train_y[:200]), test_x=np.asarray(d.test_x[:20]),
                         test_y=np.asarray(d.test_y[:20]), classes=d.meta["classes"])
    return store.load_prepared(tmp_path / "small")


def test_lime_scores_do_not_depend_on_the_batch_an_image_falls_in():
    """Each image's LIME masks come from (seed, its index): batching differently gives the same scores,
    and two images of one batch never share masks."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
    x = torch.rand(6, 3, 8, 8)
    y = np.zeros(6, dtype=np.int64)
    a = spurious.feature_scores(model, x, y, patch=4, n_samples=40, repeats=1, batch_size=2, show_progress=False)
    b = spurious.feature_scores(model, x, y, patch=4, n_samples=40, repeats=1, batch_size=6, show_progress=False)
    np.testing.assert_allclose(a.importance, b.importance, rtol=1e-5, atol=1e-7)
