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
    from interprobust.evaluation.robustness import subset
    x, y = subset(data.test_x, data.test_y, 16)              # max_samples: the seeded stratified subset
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


# ------------------------------------------------------------------------ issue #17

ATTACK = {"eps": 0.05, "steps": 4, "lr": 0.01, "pairs_per_call": 20, "batch_size": None, "record_steps": [2, 4]}
PGD = {"steps": 3, "step_size": 0.01}


def _row(setup, tmp=None, **kw):
    data, model, pairs = setup
    return E.sep_explanation_robustness(model, data, pairs, explain="input_x_gradient", attack_settings=ATTACK,
                                        pgd_settings=PGD, adv_eps=0.03, show_progress=False, parts_dir=tmp, **kw)


def test_an_interrupted_attack_resumes_from_its_saved_chunks_with_the_same_numbers(setup, tmp_path, monkeypatch):
    from interprobust.explain.manipulation import ExplanationAttack
    whole = _row(setup).iloc[0]                                   # uninterrupted, no parts
    real_run, calls = ExplanationAttack.run, []

    def run(self, *a, **kw):
        if self.steps == ATTACK["steps"]:                         # the attack proper, not the memory probe
            calls.append(1)
            if len(calls) > 2:
                raise KeyboardInterrupt                            # killed after 2 of the 4 chunks
        return real_run(self, *a, **kw)

    monkeypatch.setattr(ExplanationAttack, "run", run)
    with pytest.raises(KeyboardInterrupt):
        _row(setup, tmp_path / "parts")
    assert len(list((tmp_path / "parts").glob("pairs_*.npz"))) == 2
    monkeypatch.setattr(ExplanationAttack, "run", lambda self, *a, **kw: (calls.append(1) if self.steps == 4 else None,
                                                                   real_run(self, *a, **kw))[1])
    calls.clear()
    resumed = _row(setup, tmp_path / "parts").iloc[0]
    assert len(calls) == 2                                         # only the 2 missing chunks (72 pairs / 20) ran
    for k in ("expl_start", "expl_end", "pred_kept", "expl_end_at2", "expl_end_at4", "expl_start_intra",
              "expl_end_inter", "clean_acc", "adv_acc", "steps_run"):
        assert resumed[k] == whole[k], k
    assert whole.expl_end_at4 == whole.expl_end and whole.attack_steps == 4 and whole.early_stop == "off"
    assert whole.mib_per_pair > 0                                  # batch_size null: planned from memory


def test_saved_chunks_of_another_model_are_not_reused(setup, tmp_path):
    data, model, pairs = setup
    _row(setup, tmp_path)
    other = _model()
    with torch.no_grad():
        next(other.parameters()).mul_(1.5)
    fresh = E.sep_explanation_robustness(other, data, pairs, explain="input_x_gradient", attack_settings=ATTACK,
                                         pgd_settings=PGD, adv_eps=0.03, show_progress=False).iloc[0]
    again = E.sep_explanation_robustness(other, data, pairs, explain="input_x_gradient", attack_settings=ATTACK,
                                         pgd_settings=PGD, adv_eps=0.03, show_progress=False,
                                         parts_dir=tmp_path).iloc[0]
    assert again.expl_start == fresh.expl_start and again.expl_end == fresh.expl_end


def test_examples_are_the_attacked_images_of_spread_pairs(setup):
    data, model, pairs = setup
    row, ex = _row(setup, examples=3)
    intra = np.asarray(pairs["intra"])
    assert len(ex["pair"]) == 3 and ex["x_adv"].shape == (3, 3, 8, 8)
    assert list(ex["intra"]) == list(intra[ex["pair"]]) and intra[ex["pair"]].sum() == 2   # 2 same-, 1 other-cluster
    assert ex["pair"][0] == np.flatnonzero(intra)[0] and ex["pair"][-1] == np.flatnonzero(intra)[-1]
    d = np.abs(ex["x_adv"] - ex["victim"]).max()
    assert 0 < d <= ATTACK["eps"] + 1e-6 and ex["adv_map"].shape == (3, 8, 8)


def test_landscape_explains_the_clean_victims_class(setup):
    from interprobust.explain.manipulation import explanation_maps
    from interprobust.explain.maps import explanation_loss
    from toy_models import train_briefly
    data, _, pairs = setup
    model = _model()                                               # fitted a little: varied predictions
    x = torch.as_tensor(data.test_x).permute(0, 3, 1, 2).float() / 255
    train_briefly(model, x, torch.as_tensor(data.test_y), epochs=20, batch=8, lr=1e-2,
                  generator=torch.Generator().manual_seed(0))
    sigma = 0.5                                                    # enough noise to change predictions
    land = E.sep_landscape(model, data, pairs, explain="input_x_gradient", sigmas=[sigma], draws=1, seed=3)
    victims, targets = E._pair_images(data, pairs, "cpu")
    gen = torch.Generator().manual_seed(3)
    noisy = victims + sigma * torch.randn(victims.shape, generator=gen)
    with torch.no_grad():
        clean, moved = model(victims).argmax(1), model(noisy).argmax(1)
    assert (clean != moved).any()                                  # the two readings differ on this data
    tmaps = explanation_maps(model, targets, "input_x_gradient")

    def value(y):
        return float(explanation_loss(explanation_maps(model, noisy, "input_x_gradient", y), tmaps).mean()) * E.SEP_SCALE

    assert land.expl_loss.iloc[0] == pytest.approx(value(clean), rel=1e-5)
    assert land.expl_loss.iloc[0] != pytest.approx(value(moved), rel=1e-5)
    labels = torch.as_tensor(data.test_y[pairs["images"][pairs["victim"]]])
    ce = torch.nn.functional.cross_entropy(model(noisy), labels).item()
    assert land.ce_loss.iloc[0] == pytest.approx(ce, rel=1e-5)


def test_grey_mat_recipe_reaches_the_boundary_of_its_ball():
    """Paper scale: MAT on grey images (eps 0.3) takes 10 steps whose sum exceeds eps with room, and its
    PGD examples on a real model lie on the ball's boundary; the grey adversarial-accuracy attack too."""
    from interprobust import config as C
    from interprobust.losses.adversarial import madry_examples
    from interprobust.plan import Plan
    import shlex
    root = Path(__file__).resolve().parents[1]
    from interprobust.data.registry import DATASETS
    cfg = C.resolve(C.load([str(root / f) for f in C.DEFAULT_FILES]))
    grey = sorted(n for n, d in DATASETS.items() if d.channels == 1)
    assert {"mnist", "fmnist", "mnist5k"} <= set(grey)
    # every grey dataset SEP may run on, under the paper config and every overlay laid over it
    # (config/real-mnist.yaml once cut mnist5k's step to 0.01: 10 x 0.01 never leaves a third of the ball)
    for overlay in [None, *sorted((root / "config").glob("*.yaml"))]:
        files = [str(root / f) for f in C.DEFAULT_FILES] + ([str(overlay)] if overlay else [])
        oc = cfg if overlay is None else C.resolve(C.load(files))
        for dataset in grey:
            for recipe in ("sep_mat_convnet", "sep_pos_convnet", "sep_neg_resnet18"):
                if recipe not in oc["recipes"]:
                    continue
                p = C.effective(oc, recipe, dataset)["loss_params"]
                if overlay is None or overlay.name == "real-mnist.yaml":   # the paper's recipe, uncut
                    assert p["eps"] == 0.3 and p["steps"] == 10, (overlay, dataset, recipe)
                if p["eps"] >= 0.1:                                  # a grey threat model
                    assert p["steps"] * p["step_size"] >= 2 * p["eps"], (overlay, dataset, recipe, p)
    s = __import__("json").loads(shlex.split(Plan(cfg).sep.settings("mnist"))[0])
    assert s["adv_eps"] == 0.3 and s["pgd"]["steps"] * s["pgd"]["step_size"] >= 2 * s["adv_eps"]
    assert s["attack"]["eps"] == 0.3
    p = C.effective(cfg, "sep_mat_convnet", "mnist")["loss_params"]
    torch.manual_seed(0)
    model = build_model("convnet", num_classes=10, in_channels=1, image_size=28, mean=[0.13], std=[0.3],
                        width=0.25, activation="softplus", softplus_beta=1.0).eval()
    x = torch.rand(16, 1, 28, 28) * 0.4 + 0.3                         # away from the [0, 1] edges
    y = torch.randint(0, 10, (16,))
    d = (madry_examples(model, x, y, p) - x).abs().flatten(1).amax(1)
    assert torch.allclose(d, torch.full_like(d, 0.3), atol=1e-5)       # every example touches the boundary

    def reach(step_size):                                              # from the clean image (no random start)
        pgd = A.PGD(0.3, steps=p["steps"], step_size=step_size, random_start=False)
        return (pgd(model, x, y) - x).abs().flatten(1).amax(1)

    assert torch.allclose(reach(p["step_size"]), torch.full((16,), 0.3), atol=1e-5)
    assert (reach(0.01) <= 0.1 + 1e-5).all()                           # the old 10 x 0.01 stops at a third


def test_cluster_examples_and_the_new_figures_render(setup, tmp_path):
    import pandas as pd
    from interprobust.papers.sep import figures as Fg
    data, model, pairs = setup
    rows = E.cluster_examples(pairs["cluster"], 4)
    c = np.asarray(pairs["cluster"])[rows]
    assert len(rows) == 3 and (c[:, 0] == c[:, 1]).all() and (c[:, 0] != c[:, 2]).all()
    assert (rows[:, 0] != rows[:, 1]).all()
    sal = E.sep_saliency(model, data, pairs, explain="input_x_gradient", n_images=2)
    assert sal["cl_x"].shape == (2, 3, 3, 8, 8) and sal["cl_loss"].shape == (2, 2)
    assert np.allclose(sal["cl_maps"].reshape(6, -1).sum(1), 1, atol=1e-5)
    _, ex = _row(setup, examples=2)
    assert len(Fg.sep_manipulation([ex], ["m"]).axes) == 2 * 6
    assert len(Fg.sep_clusters([sal, sal], ["a", "b"]).axes) == 4 * 6
    land = E.sep_landscape(model, data, pairs, explain="input_x_gradient", sigmas=[0.0, 0.1], draws=1)
    fig = Fg.sep_two_landscapes(pd.concat([land.assign(model="a"), land.assign(model="b")]), "t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2


def test_tables_show_the_recorded_steps_and_the_setting_behind_each_row(setup):
    from interprobust.papers.sep.tables import sep_table
    row = _row(setup)
    t = sep_table(row.assign(model="m"))
    assert list(t.columns[-5:]) == ["expl_end_at2", "expl_end_at4", "attack_steps", "early_stop", "steps_run"]
    assert t.attack_steps.iloc[0] == 4 and t.early_stop.iloc[0] == "off"
    stopped = E.sep_explanation_robustness(
        setup[1], setup[0], setup[2], explain="input_x_gradient",
        attack_settings={**ATTACK, "early_stop": {"window": 2, "min_improvement": 0.9}}, pgd_settings=PGD,
        adv_eps=0.03, show_progress=False).iloc[0]
    assert stopped.early_stop == "window 2, < 0.9" and stopped.steps_run < 4


def test_flatness_readings_are_what_they_say():
    """The config's readings of Eq. 4: pixel sum = H*W x pixel mean (same noise), 'none' skips the
    normalisation (a model scaled by 3 scales the unnormalised term by 9, leaves the normalised one)."""
    from interprobust.losses.sep import explanation_flatness
    model = _model()
    x, y = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0])

    def term(m, **kw):
        torch.manual_seed(5)
        return explanation_flatness(m, x, y, 0.1, **kw).item()

    mean, total = term(model), term(model, reduction="sum")
    assert mean > 0 and total == pytest.approx(64 * mean, rel=1e-5)

    class Scaled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, z):
            return 3 * self.m(z)

    assert term(Scaled(model)) == pytest.approx(mean, rel=1e-4)
    assert term(Scaled(model), normalize="none") == pytest.approx(9 * term(model, normalize="none"), rel=1e-4)
    with pytest.raises(ValueError, match="flat_reduction"):
        explanation_flatness(model, x, y, 0.1, reduction="median")


def test_the_flatness_pilot_runs_on_real_mnist(tmp_path):
    """The pilot (docs/replication-notes.md, SEP) is a script a reader reruns, on the stand-in or on real
    MNIST: a tiny run gives MAT, SEP_pos and SEP_neg rows with finite numbers and a per-reading verdict
    that follows the rule it states (SEP_pos < MAT < SEP_neg in expl at start, accuracies within tolerance)."""
    from interprobust.papers.sep import pilot
    df = pilot.main(["--out", str(tmp_path / "p.csv"), "--dataset", "mnist5k", "--epochs", "1", "--train", "60",
                     "--readings", "mean_s0.05_sum", "--clusters", "2", "--per-cluster", "2",
                     "--attack-steps", "2", "--acc-tolerance", "100"])
    assert list(df.variant) == ["MAT", "SEP_pos", "SEP_neg"] and (tmp_path / "p.csv").exists()
    assert np.isfinite(df[["expl_start", "expl_end", "clean_acc", "adv_acc"]].to_numpy()).all()
    mat, pos, neg = (df.set_index("variant").loc[v] for v in ("MAT", "SEP_pos", "SEP_neg"))
    assert bool(df.directions_ok.iloc[1]) == bool(pos.expl_start < mat.expl_start < neg.expl_start)
