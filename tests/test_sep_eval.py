"""SEP's evaluation on a tiny model: pairs without labels, the attack row, the landscape at sigma = 0."""

from pathlib import Path

import numpy as np
import pytest
import torch

from interprobust.papers.matrix.evaluate import cross_paper_row
from interprobust.papers.sep import evaluate as E
from interprobust import attacks as A
from interprobust.data.store import Prepared
from interprobust.models import build_model


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 8, 8, 3)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, n)
    return Prepared(Path("."), {}, None, None, x, y)


def _model():
    torch.manual_seed(0)
    return build_model("convnet", num_classes=3, in_channels=3, image_size=8, mean=[0.5] * 3, std=[0.25] * 3,
                       width=0.125, activation="softplus").eval()


@pytest.fixture(scope="module")
def setup():
    data, model = _data(), _model()
    pairs = E.sep_pairs(model, data, clusters=3, per_cluster=3, seed=0)
    return data, model, pairs


def test_pairs_are_every_ordered_pair_of_the_representatives_and_ignore_labels(setup):
    data, model, pairs = setup
    m = len(pairs["images"])
    assert m == 9 and len(pairs["victim"]) == m * (m - 1)
    assert (pairs["victim"] != pairs["target"]).all()
    relabelled = Prepared(Path("."), {}, None, None, data.test_x, np.zeros_like(data.test_y))
    again = E.sep_pairs(model, relabelled, clusters=3, per_cluster=3, seed=0)
    for k in pairs:
        np.testing.assert_array_equal(pairs[k], again[k])


def test_attack_row_and_landscape_agree_at_zero_noise(setup):
    data, model, pairs = setup
    row = E.sep_explanation_robustness(model, data, pairs, explain="input_x_gradient",
                                       attack_settings={"eps": 0.05, "steps": 5, "lr": 0.01},
                                       pgd_settings={"steps": 3, "step_size": 0.01}, adv_eps=0.03,
                                       show_progress=False).iloc[0]
    assert row.pairs == 72
    # the accuracies are the foundation's, on the whole test set, with the PGD of ``pgd_settings``
    assert row.clean_acc == A.clean_accuracy(model, data.test_x, data.test_y)
    assert row.adv_acc == A.robust_accuracy(model, data.test_x, data.test_y,
                                            A.PGD(0.03, steps=3, step_size=0.01)) and row.adv_eps == 0.03
    assert row.expl_end <= row.expl_start + 1e-9            # the attack keeps its best iterate, the start included
    n_intra = int(pairs["intra"].sum())
    mixed = (row.expl_start_intra * n_intra + row.expl_start_inter * (72 - n_intra)) / 72
    assert mixed == pytest.approx(row.expl_start, rel=1e-6)
    land = E.sep_landscape(model, data, pairs, explain="input_x_gradient", sigmas=[0.0, 0.1], draws=2)
    assert land.expl_loss.iloc[0] == pytest.approx(row.expl_start, rel=1e-5)
    assert land.expl_loss.iloc[1] != land.expl_loss.iloc[0]
    sal = E.sep_saliency(model, data, pairs, explain="gradient", n_images=2)
    assert sal["x"].shape == (2, 3, 8, 8) and np.allclose(sal["maps"].reshape(2, -1).sum(1), 1, atol=1e-5)


def test_cross_paper_row_has_every_metric(setup):
    data, model, pairs = setup
    s = {"eps": 0.03, "max_samples": 16, "rps_eps": 0.06, "n_noise": 2, "attack_eps": 0.01, "attack_steps": 2,
         "sep_attack": {"eps": 0.03, "steps": 2, "lr": 0.01}, "lime": {"n_samples": 20, "patch": 4, "images": 2},
         "pgd": {"steps": 3, "step_size": 0.01}}
    row = cross_paper_row(model, data, pairs, settings=s).iloc[0]
    from interprobust.papers.matrix.tables import MATRIX_COLUMNS
    assert list(row.index) == MATRIX_COLUMNS
    x, y = data.test_x[:16], data.test_y[:16]                # max_samples
    assert row.clean_acc == A.clean_accuracy(model, x, y)
    assert row.fgsm_acc == A.robust_accuracy(model, x, y, A.FGSM(0.03))
    assert row.pgd_acc == A.robust_accuracy(model, x, y, A.PGD(0.03, steps=3, step_size=0.01))
    assert row.lime_stability > 0                            # the two LIME runs draw different samples
    # the AGA columns are AGA's own evaluation with the same settings
    from interprobust.papers.aga.evaluate import explanation_robustness
    scores, _ = explanation_robustness(model, data, methods=["gradient"], rps_eps=[0.06], n_noise=2, attack_eps=0.01,
                                       attack_steps=2, max_samples=16, batch_size=256, seed=0, show_progress=False)
    aga = scores.set_index("metric").value
    assert (row.grad_rps, row.insertion, row.adv_insertion) == (aga["rps_cosine"], aga["insertion"],
                                                                aga["adv_insertion"])
    no_pairs = cross_paper_row(model, data, None, settings=s).iloc[0]
    assert "expl_end" not in no_pairs.index
