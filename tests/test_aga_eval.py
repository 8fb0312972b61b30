"""AGA's evaluation of one model: accuracy on the whole test set, explanation metrics on a seeded
class-stratified subset (the same helper as every paper), every attribution attacked (LRP included),
the insertion settings."""

from pathlib import Path

import numpy as np
import pytest
import torch

from interprobust import metrics
from interprobust.attacks import clean_accuracy
from interprobust.data.store import Prepared
from interprobust.data.subsets import stratified_indices
from interprobust.models import build_model
from interprobust.papers.aga import evaluate as E


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sorted_data(n=30, seed=0):
    """A class-sorted test split (as ImageNet-100's is stored): 10 images of class 0, then 1, then 2."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 8, 8, 3)) * 255).astype(np.uint8)
    y = np.repeat(np.arange(3), n // 3)
    return Prepared(Path("."), {}, None, None, x, y)


def _model():
    torch.manual_seed(0)
    return build_model("lenet", num_classes=3, in_channels=3, image_size=8, mean=[0.5, 0.4, 0.3],
                       std=[0.25] * 3, width=0.125, activation="softplus").eval()


KW = dict(rps_eps=[0.06], n_noise=2, attack_eps=0.03, attack_steps=2, batch_size=4, seed=3, show_progress=False)


def test_accuracy_on_the_whole_test_set_and_metrics_on_a_stratified_subset():
    data, model = _sorted_data(), _model()
    scores, _ = E.explanation_robustness(model, data, methods=["gradient"], max_samples=6, **KW)
    acc = scores[scores.metric == "accuracy"].iloc[0]
    assert acc.n == 30 and acc.value == clean_accuracy(model, data.test_x, data.test_y)
    assert set(scores[scores.method != "none"].n) == {6}
    idx = E.evaluation_indices(data, 6, seed=3)
    np.testing.assert_array_equal(idx, stratified_indices(data.test_y, 6, 3))
    assert np.bincount(data.test_y[idx]).tolist() == [2, 2, 2]        # not the first 6 (all class 0)
    # the metrics are those of exactly that subset
    sub = Prepared(Path("."), {}, None, None, data.test_x[idx], data.test_y[idx])
    alone, _ = E.explanation_robustness(model, sub, methods=["gradient"], max_samples=None, **KW)
    mine = scores[scores.method != "none"].set_index("metric").value
    theirs = alone[alone.method != "none"].set_index("metric").value
    assert mine.to_dict() == pytest.approx(theirs.to_dict(), rel=1e-6)
    assert np.array_equal(E.evaluation_indices(data, None, 3), np.arange(30))


def test_lrp_is_attacked_like_every_map():
    data, model = _sorted_data(), _model()
    scores, curves = E.explanation_robustness(model, data, methods=["lrp"], max_samples=3, **KW)
    adv = scores[scores.metric == "adv_insertion"].value
    assert len(adv) == 1 and np.isfinite(adv).all()
    assert np.isfinite(curves[curves.kind == "adv_insertion"].probability).all()


def test_insertion_settings_default_to_robustagas_code():
    model = _model()
    opts = E.insertion_settings(model)
    assert opts["fractions"] == metrics.AGA_CODE_FRACTIONS and len(opts["fractions"]) == 20
    assert opts["baseline"] == pytest.approx([0.5, 0.4, 0.3])    # zero in normalised space = the mean colour
    text = E.insertion_settings(model, "black", 21)
    assert text["baseline"] == 0.0 and text["fractions"] == metrics.INSERTION_FRACTIONS
    with pytest.raises(ValueError, match="baseline"):
        E.insertion_settings(model, "grey")
    with pytest.raises(ValueError, match="20"):
        E.insertion_settings(model, "mean", 11)
    # at fraction 0 the model sees the mean colour everywhere: zero after its Normalize
    x, t = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    curve = metrics.insertion_curve(model, x, t, torch.rand(2, 8, 8), **opts)
    mean_img = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1).expand(2, 3, 8, 8)
    assert torch.allclose(model.normalize(mean_img), torch.zeros(2, 3, 8, 8), atol=1e-6)
    with torch.no_grad():
        p0 = torch.softmax(model(mean_img), 1).gather(1, t[:, None])[:, 0]
    assert curve.shape == (2, 20) and torch.allclose(curve[:, 0], p0, atol=1e-6)


# ----------------------------------------------------------------- seeds, grids and the selected point
ROOT = Path(__file__).resolve().parents[1]


def _plan(*overlays):
    from interprobust.config import DEFAULT_FILES, load, resolve
    from interprobust.plan import Plan
    return Plan(resolve(load([str(ROOT / f) for f in DEFAULT_FILES] + [str(ROOT / o) for o in overlays])))


def test_paper_scale_plan_has_every_row_with_three_seeds_and_a_grid_per_regularised_row():
    aga = _plan().aga
    assert aga.seeds() == [0, 1, 2]
    for s in aga.settings():
        rows = list(s["recipes"])
        runs = aga.row_runs(s["name"])
        assert [(r, sd) for r, sd, _ in runs] == [(r, sd) for r in rows for sd in (0, 1, 2)]
        for row, seed, grid in runs:
            assert (grid is None) == (row == "CE"), (s["name"], row)   # every regularised row is gridded
        files = aga.row_files(s["name"], "scores.csv")
        assert len(files) == len(set(files)) == 3 * len(rows)
        gridded = [f for f in files if "/eval_selected/" in f]
        assert len(gridded) == 3 * (len(rows) - 1)
    assert {"ATEX", "IGA"} <= set(aga.setting("cifar10_lenet")["recipes"])
    g = aga.grid_entry("cifar10_lenet_l2")
    assert [p["label"] for p in g["points"]] == ["CE", "lam_l2=0.001", "lam_l2=0.01", "lam_l2=0.1"]
    assert len(aga.grid_files("cifar10_lenet_l2")) == 4 * 3
    assert aga.candidate_recipes("cifar10_lenet_l2")[1] == "aga_lenet_l2"          # its own point reuses the row
    assert len(aga.candidate_models("cifar10_lenet_l2", 2)) == 3
    assert all(m.endswith("/seed2/model.pt") for m in aga.candidate_models("cifar10_lenet_l2", 2))


def test_embedded_plan_is_one_seed_and_own_points():
    aga = _plan("config/embedded.yaml").aga
    assert aga.seeds() == [0]
    for g in aga.grid():
        assert len(g["points"]) == 2 and g["points"][1]["recipe"] == aga.setting("main")["recipes"][g["row"]]


def test_the_selected_model_is_the_candidate_the_grid_table_marks(tmp_path):
    import pandas as pd
    from interprobust.papers.aga.cli import selected_model
    table = tmp_path / "grid.csv"
    pd.DataFrame({"model": ["CE", "a", "b"], "recipe": ["", "r-a", "r-b"],
                  "selected": [False, False, True]}).to_csv(table, index=False)
    assert selected_model(str(table), ["m/r-a.pt", "m/r-b.pt"], ["r-a", "r-b"]) == "m/r-b.pt"
    with pytest.raises(SystemExit, match="candidates"):
        selected_model(str(table), ["m/r-a.pt"], ["r-a"])
    pd.DataFrame({"model": ["CE", "a"], "recipe": ["", "r-a"], "selected": [False, False]}).to_csv(table, index=False)
    with pytest.raises(SystemExit, match="not exactly one"):
        selected_model(str(table), ["m/r-a.pt"], ["r-a"])


# ------------------------------------------------------------------ Fig. 2(b), Fig. 3(b), Table 2
def test_reconstruction_keeps_the_top_gamma_pixels_and_fills_the_rest():
    from interprobust.papers.aga.figures import reconstruct
    x = np.arange(2 * 2 * 5, dtype=np.float32).reshape(2, 2, 5) / 20
    heat = np.array([[0.1, 0.9, 0.3, 0.9, 0.0], [0.5, 0.2, 0.8, 0.0, 0.4]])
    out = reconstruct(x, heat, [0.5, 0.25], 0.2)                 # floor(0.2 * 10) = 2 pixels: the two 0.9s
    keep = np.zeros((2, 5), dtype=bool)
    keep[0, 1] = keep[0, 3] = True
    assert np.array_equal(out[:, keep], x[:, keep])
    assert np.all(out[0, ~keep] == 0.5) and np.all(out[1, ~keep] == 0.25)
    assert np.array_equal(reconstruct(x, heat, [0, 0], 1.0), x)


def test_bound_curve_perturbs_per_pixel_gaussian_by_default():
    from interprobust import metrics as M
    data, model = _sorted_data(), _model()
    df = E.crc_bound_curve(model, data, eps=[0.01], max_samples=6, batch_size=6, seed=5)
    assert df.direction.tolist() == ["gaussian"]
    idx = E.evaluation_indices(data, 6, 5)
    from interprobust.data import batches
    x = batches.to_tensor(np.asarray(data.test_x[idx]), "cpu")
    y = torch.tensor(data.test_y[idx])
    bound, crc = M.crc_upper_bound(model, x, y, 0.01, seed=5, direction="gaussian")
    assert df.bound.iloc[0] == pytest.approx(float(bound.mean()), rel=1e-5)
    unit, _ = M.crc_upper_bound(model, x, y, 0.01, seed=5, direction="unit")
    # the same draws: a per-pixel N(0, 1) direction is ||d|| = sqrt(CHW) ~ 13.9 times longer here
    assert float(bound.mean()) > 5 * float(unit.mean())
    with pytest.raises(ValueError, match="direction"):
        M.crc_upper_bound(model, x, y, 0.01, direction="sphere")


def test_table2_compares_rows_at_equal_batch_size_and_reports_epochs(tmp_path, monkeypatch):
    from interprobust.papers.aga import cost, tables
    from interprobust import train
    calls = []

    def fake(model, loss, params, x, y, steps, seed):
        calls.append((loss, len(x)))
        return {"seconds_per_step": {"ce": 1.0, "hessian": 4.0}[loss] * len(x) / 64, "peak_mib": float("nan")}

    monkeypatch.setattr(train, "step_cost", fake)
    data = Prepared(Path("."), {"num_classes": 3, "image_size": [8, 8], "channels": 3, "mean": [0.5] * 3,
                                "std": [0.25] * 3}, *(_sorted_data(255).test_x, _sorted_data(255).test_y) * 2)
    monkeypatch.setattr("interprobust.data.store.load_prepared", lambda meta: data)
    rows = {"CE": {"loss": "ce", "loss_params": {}, "training": {"batch_size": 64}},
            "Hessian": {"loss": "hessian", "loss_params": {}, "training": {"batch_size": 32}}}
    df = cost.step_costs("meta.json", arch="lenet", rows=rows, steps=1, device="cpu")
    assert calls == [("ce", 64), ("hessian", 64), ("hessian", 32)]
    assert list(df.batch_size) == [64, 64] and list(df.own_batch_size) == [64, 32]
    t = tables.cost_table({"data": ["meta.json"]}, arch="lenet", rows=rows, steps=1, device="cpu").table
    assert t.time_vs_first.tolist() == pytest.approx([1.0, 4.0])            # per step, equal batch
    assert t.epoch_time_vs_first.tolist() == pytest.approx([1.0, 4.0])      # 2.0 s x 8 steps vs 1.0 s x 4
    # the options' JSON sorts the rows: the order and the reference are explicit
    rows = {"Hessian": rows["Hessian"], "CE": rows["CE"]}
    calls.clear()
    t = tables.cost_table({"data": ["meta.json"]}, arch="lenet", rows=rows, order=["CE", "Hessian"],
                          reference="CE", steps=1, device="cpu").table
    assert list(t.model) == ["CE", "Hessian"] and t.time_vs_first.tolist() == pytest.approx([1.0, 4.0])
    assert calls[0] == ("ce", 64)                                            # CE's batch size for every row


# ------------------------------------------------------- ImageNet-100's RandomResizedCrop on the device
def test_crop_resize_is_the_box_at_its_own_size_and_boxes_follow_torchvision():
    from interprobust.data import batches as B
    x = torch.rand(3, 2, 12, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    boxes = torch.tensor([[0, 0, 12, 10], [2, 3, 6, 6], [5, 1, 6, 6]], dtype=torch.float64)
    full = B.crop_resize(x[:1], boxes[:1], 12)[:, :, :, :]
    assert full.shape == (1, 2, 12, 12)
    six = B.crop_resize(x, boxes, 6)
    torch.testing.assert_close(six[1], x[1, :, 2:8, 3:9])       # a box at its own size is the slice
    torch.testing.assert_close(six[2], x[2, :, 5:11, 1:7])
    same = B.crop_resize(x[:, :, :10, :10], torch.tensor([[0, 0, 10, 10]] * 3, dtype=torch.float64), 10)
    torch.testing.assert_close(same, x[:, :, :10, :10])
    b = B.resized_crop_boxes(4000, 256, 256, torch.Generator().manual_seed(1))
    top, left, h, w = b.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 256).all() and (left + w <= 256).all()
    area = h * w / 256 ** 2
    assert area.min() >= 0.07 and area.max() <= 1.0 and 0.45 < area.mean() < 0.6     # U(0.08, 1) of the area
    r = w / h
    assert r.min() >= 0.74 and r.max() <= 1.36
    again = B.resized_crop_boxes(4000, 256, 256, torch.Generator().manual_seed(1))
    assert torch.equal(b, again)                                 # seeded
    out = B.random_resized_crop(torch.rand(2, 3, 32, 32), 24, torch.Generator().manual_seed(2))
    assert out.shape == (2, 3, 24, 24)


def test_training_takes_a_resized_crop_when_asked():
    """Stored 12x12 training images, an 8x8 model: train.fit crops them to 8x8 on the device first."""
    from interprobust import train
    rng = np.random.default_rng(0)
    data = Prepared(Path("."), {}, (rng.random((16, 12, 12, 3)) * 255).astype(np.uint8), np.arange(16) % 3,
                    (rng.random((6, 8, 8, 3)) * 255).astype(np.uint8), np.arange(6) % 3)
    model = _model()                                            # LeNet for 8x8 inputs: 12x12 would not fit
    shapes = []
    model.register_forward_pre_hook(lambda m, inp: shapes.append(tuple(inp[0].shape[-2:])))
    cfg = train.TrainConfig.from_dict({"resized_crop": 8, "crop_padding": 0, "epochs": 1, "batch_size": 8,
                                       "optimizer": "adam", "lr": 1e-3, "schedule": "constant"})
    train.fit(model, data, config=cfg, show_progress=False)
    assert shapes and set(shapes) == {(8, 8)}


def test_fig2_averages_seeds_and_draws_the_reconstructions(tmp_path):
    import pandas as pd
    from interprobust.io import write_arrays
    from interprobust.papers.aga import figures
    curves, maps, labels, seeds = [], [], [], []
    for label, seed, p in [("CE", 0, 0.2), ("CE", 1, 0.4), ("L2", 0, 0.5)]:
        c = tmp_path / f"{label}{seed}.csv"
        pd.DataFrame([dict(method="gradient", kind=k, fraction=f, probability=p + f / 10)
                      for k in ("insertion", "adv_insertion") for f in (0.0, 0.5)]).to_csv(c, index=False)
        m = tmp_path / f"{label}{seed}.npz"
        write_arrays(m, {"x": np.full((1, 3, 8, 8), seed, np.float32), "map": np.random.rand(1, 8, 8),
                         "fill": np.array([0.5, 0.4, 0.3], np.float32)})
        curves.append(c)
        maps.append(m)
        labels.append(label)
        seeds.append(seed)
    fig = figures.fig2({"curves": curves, "maps": maps}, labels=labels, title="t", seeds=seeds)
    n = fig.numbers
    ce = n[(n.model == "CE") & (n.kind == "insertion") & (n.fraction == 0.0)].iloc[0]
    assert ce.probability == pytest.approx(0.3) and ce.seeds == 2
    assert len(fig.figure.axes) == 1 + 2 * len(figures.FIG2B_GAMMAS)   # (a) one panel; (b) rows x gammas
