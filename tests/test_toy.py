"""AGA Fig. 1's toy experiment: two-layer nets on two moons, trained with the registry's losses."""

import numpy as np
import pytest

from interprobust import cli
from interprobust.papers.aga import toy

SMALL = dict(n=60, hidden=8, steps=40, grid=12, distance=0.05,
             variant_params={"Softplus + MaxEnt": {"lam": 1.0},
                             "Softplus + ours": {"lam_l2": 0.01, "lam_cos": 1.0, "eps": 0.05}})


def test_toy_data_lies_in_the_unit_square_and_is_seeded():
    x, y = toy.toy_data(200, seed=3)
    assert x.min() >= 0 and x.max() <= 1 and set(np.unique(y)) == {0, 1}
    assert np.array_equal(x, toy.toy_data(200, seed=3)[0]) and not np.array_equal(x, toy.toy_data(200, seed=4)[0])


def test_toy_experiment_reports_the_gradients_it_plots_and_is_deterministic():
    a, b = toy.toy_experiment(**SMALL), toy.toy_experiment(**SMALL)
    assert list(a["variants"]) == list(toy.VARIANTS)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert np.linalg.norm(a["pair"][0] - a["pair"][1]) == pytest.approx(0.05, rel=1e-4)
    g = a["gradients"]                                                     # (variants, 2 points, 2)
    assert np.allclose(a["l2"], np.linalg.norm(g[:, 0] - g[:, 1], axis=1))
    cos = (g[:, 0] * g[:, 1]).sum(1) / np.linalg.norm(g[:, 0], axis=1) / np.linalg.norm(g[:, 1], axis=1)
    assert np.allclose(a["cosine"], cos, atol=1e-6)
    assert a["levels"].shape == (4, 12, 12)


def test_trained_toy_net_separates_the_moons():
    x, y = toy.toy_data(200, seed=0)
    net = toy.train_toy(x, y, activation="softplus", loss="ce", hidden=32, steps=300, lr=0.02)
    logit, _ = toy.logit_and_gradient(net, x)
    assert ((logit > 0) == (y == 1)).mean() > 0.85


def test_toy_cli_and_figure(tmp_path):
    import json
    npz, csv = tmp_path / "toy.npz", tmp_path / "toy.csv"
    assert cli.main(["aga", "toy", "--settings", json.dumps(SMALL), "--out", str(npz), "--csv", str(csv)]) == 0
    assert cli.main(["render", "aga/fig1", "--in", "toy", str(npz), "--stem", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f.png").stat().st_size > 0
    assert (tmp_path / "f.csv").read_text().splitlines()[0] == "variant,l2,cosine"
