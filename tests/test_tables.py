"""Tables built from per-model CSVs: AGA's grid selection on hand-made scores, the matrix."""

import numpy as np
import pandas as pd
import pytest

from interprobust import cli
from interprobust.papers.aga import tables
from interprobust.papers.matrix import tables as matrix_tables


def _scores(acc, rps):
    return pd.DataFrame([dict(method="none", metric="accuracy", eps=0.0, value=acc, n=10),
                         dict(method="gradient", metric="rps_cosine", eps=0.0314, value=rps - 0.05, n=10),
                         dict(method="gradient", metric="rps_cosine", eps=0.0627, value=rps, n=10)])


def _combined(rows):
    frames = []
    for label, (acc, rps) in rows.items():
        df = _scores(acc, rps)
        df.insert(0, "model", label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_grid_selects_the_highest_grad_rps_within_the_accuracy_drop():
    df = _combined({"CE": (90.0, 0.70), "a": (89.5, 0.80), "b": (88.0, 0.95), "c": (89.0, 0.85)})
    out = tables.aga_grid(df, "CE", max_drop=1.0)
    assert list(out.loc[out.selected, "model"]) == ["c"]          # b has the best RPS but drops 2 points
    assert list(out.eligible) == [False, True, False, True]       # the reference is never selected
    assert np.allclose(out["acc drop"], [0.0, 0.5, 2.0, 1.0])
    assert np.allclose(out["Grad RPS"], [0.70, 0.80, 0.95, 0.85])  # the largest eps
    wide = tables.aga_grid(df, "CE", max_drop=5.0)
    assert list(wide.loc[wide.selected, "model"]) == ["b"]


def test_grid_with_no_eligible_point_selects_the_smallest_drop_and_a_missing_reference_is_named():
    df = _combined({"CE": (90.0, 0.7), "a": (80.0, 0.9), "b": (85.0, 0.8)})
    out = tables.aga_grid(df, "CE")
    assert not out.eligible.any() and list(out.loc[out.selected, "model"]) == ["b"]   # Table 1 needs a model
    with pytest.raises(ValueError, match="reference row 'CE-only'"):
        tables.aga_grid(df, "CE-only")


def test_grid_judges_the_rule_on_means_over_seeds():
    """a: seeds at 89.8 and 88.0 (mean drop 1.1, not eligible though one seed is); b: mean drop 0.5."""
    rows = []
    for label, seed, acc, rps in [("CE", 0, 90.0, 0.7), ("CE", 1, 90.0, 0.7), ("a", 0, 89.8, 0.99),
                                  ("a", 1, 88.0, 0.99), ("b", 0, 89.5, 0.80), ("b", 1, 89.5, 0.90)]:
        df = _scores(acc, rps)
        df.insert(0, "model", label)
        df.insert(1, "seed", seed)
        rows.append(df)
    out = tables.aga_grid(pd.concat(rows, ignore_index=True), "CE", max_drop=1.0, recipes={"a": "r-a", "b": "r-b"})
    assert list(out.model) == ["CE", "a", "b"] and list(out.seeds) == [2, 2, 2]
    assert np.allclose(out["acc"], [90.0, 88.9, 89.5]) and np.allclose(out["Grad RPS"], [0.7, 0.99, 0.85])
    assert np.allclose(out["Grad RPS ±"], [0.0, 0.0, np.std([0.8, 0.9], ddof=1)])
    assert list(out.eligible) == [False, False, True] and list(out.loc[out.selected, "recipe"]) == ["r-b"]


def test_table1_shows_means_and_stds_over_seeds(tmp_path):
    paths, labels, seeds = [], [], []
    for label, seed, acc in [("CE", 0, 90.0), ("CE", 1, 92.0), ("L2", 0, 88.0), ("L2", 1, 88.0)]:
        df = _scores(acc, 0.8 + seed / 10)
        df = pd.concat([df, pd.DataFrame([dict(method="gradient", metric="insertion", eps=0.0, value=40.0 + seed, n=10),
                                          dict(method="gradient", metric="adv_insertion", eps=0.01, value=30.0, n=10)])])
        paths.append(tmp_path / f"{label}{seed}.csv")
        df.to_csv(paths[-1], index=False)
        labels.append(label)
        seeds.append(seed)
    t = tables.table1({"scores": paths}, labels=labels, seeds=seeds)
    row = t.table.set_index("model").loc["CE"]
    assert row["seeds"] == 2 and row["acc"] == pytest.approx(91.0) and row["acc ±"] == pytest.approx(np.sqrt(2))
    assert row["Grad RPS"] == pytest.approx(0.85) and row["Grad Ins"] == pytest.approx(40.5)
    assert row["Grad A-Ins ±"] == pytest.approx(0.0)
    assert "91.0 ± 1.4" in t.markdown
    tidy = t.tidy
    assert set(tidy.columns) >= {"model", "method", "metric", "eps", "value", "std", "seeds"}
    assert len(tidy[(tidy.model == "CE") & (tidy.metric == "accuracy")]) == 1     # one row per cell: the mean
    with pytest.raises(ValueError, match="one each per model"):
        tables.table1({"scores": paths}, labels=labels, seeds=seeds[:3])


def test_grid_table_cli(tmp_path):
    paths = []
    for i, (acc, rps) in enumerate([(90.0, 0.7), (89.9, 0.9)]):
        paths.append(tmp_path / f"s{i}.csv")
        _scores(acc, rps).to_csv(paths[-1], index=False)
    csv, md = tmp_path / "grid.csv", tmp_path / "grid.md"
    options = '{"labels": ["CE", "lam=1"], "seeds": [0, 0], "recipes": {"lam=1": "r-grid0"}, "reference": "CE", "max_drop": 1.0}'
    assert cli.main(["render", "aga/grid", "--in", "scores", *map(str, paths), "--options", options,
                     "--stem", str(tmp_path / "grid")]) == 0
    out = pd.read_csv(csv)
    assert list(out.selected) == [False, True] and "lam=1" in md.read_text()
    assert list(out.recipe.fillna("")) == ["", "r-grid0"]   # the selection file names the selected recipe


def test_spearman_and_matrix_table():
    assert matrix_tables.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert matrix_tables.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(matrix_tables.spearman([1, 2], [1, 2]))
    df = pd.DataFrame([dict(model="m", pgd_acc=1.0, extra=5, clean_acc=2.0)])
    assert list(matrix_tables.matrix_table(df).columns) == ["model", "clean_acc", "pgd_acc"]


# ---------------------------------------------------------------------------------------------- LIMEREF
def test_limeref_honesty_table_side_by_side_with_worst_case_inflation_and_empty_F(tmp_path):
    import json

    from interprobust.papers.limeref.tables import honesty_table
    labels = ["baseline", "FGSM-only control", "refined"]
    evals, strong = [], []
    for m, clean, pgd, worst in (("b", 90, 3, 2), ("c", 85, 35, 33), ("r", 84, 39, 31)):
        e, s = tmp_path / f"{m}_sweep.csv", tmp_path / f"{m}_strong.csv"
        pd.DataFrame([dict(attack="clean", eps=0.0, accuracy=clean, n=64), dict(attack="pgd", eps=0.03, accuracy=pgd, n=64),
                      dict(attack="pgd", eps=0.1, accuracy=pgd / 3, n=64)]).to_csv(e, index=False)
        pd.DataFrame([dict(attack="clean", eps=0.0, accuracy=clean, n=32),
                      dict(attack="apgd-dlr", eps=0.03, accuracy=worst + 1, n=32),
                      dict(attack="square", eps=0.03, accuracy=worst + 2, n=32),
                      dict(attack="worst-case", eps=0.03, accuracy=worst, n=32)]).to_csv(s, index=False)
        evals.append(str(e))
        strong.append(str(s))
    sp = tmp_path / "spurious.json"
    sp.write_text(json.dumps({"patch": 8, "image_size": [32, 32], "sets": {"global": [0] * 16,
                                                                            "per_class": [[0] * 16] * 10}}))
    t = honesty_table({"evals": evals, "strong": strong, "spurious": [str(sp)]}, labels=labels)
    wide = t.table.set_index("model")
    assert list(wide.index) == labels
    assert {"clean", "pgd ε=0.03", "apgd-dlr ε=0.03", "square ε=0.03", "worst-case ε=0.03"} <= set(wide.columns)
    assert wide.loc["refined", "pgd-40 − worst ε=0.03"] == 8.0
    inflated = t.tidy[t.tidy.inflated.fillna(False).astype(bool)]
    assert inflated.model.tolist() == ["refined"]            # 8 points; the others lose 1 and 2
    assert "inflated" in t.markdown and "refined at ε = 0.03" in t.markdown
    assert "EMPTY" in t.markdown and wide.loc["refined", "|F_spurious|"] == 0
    # the sweep's eps 0.1 has no strong-set row: said so, never silently fine
    assert "strong set not run** at ε = 0.1:" in t.markdown and "ε = 0.03" not in t.markdown.split("not run**")[1]


def test_limeref_corrupted_honesty_names_the_figure_eps_the_strong_set_did_not_run_at(tmp_path):
    """Fig. 12-15's sweep runs FGSM 0.1 / 0.3 and PGD 0.01 / 0.03; a strong set at 0.03 only leaves the
    other three unchecked, and the table says so."""
    from interprobust.papers.limeref.tables import corrupted_honesty_table, unchecked_eps
    labels = ["baseline", "refined"]
    evals, strong = [], []
    for m, pgd, worst in (("b", 5.0, 4.0), ("r", 40.0, 30.0)):
        e, s = tmp_path / f"{m}_c.csv", tmp_path / f"{m}_cs.csv"
        pd.DataFrame([dict(corruption="fog", severity=3, attack=a, eps=ep, accuracy=pgd)
                      for a, ep in (("fgsm", 0.1), ("fgsm", 0.3), ("pgd", 0.01), ("pgd", 0.03))]).to_csv(e, index=False)
        pd.DataFrame([dict(corruption="fog", severity=3, attack="pgd", eps=0.03, accuracy=pgd),
                      dict(corruption="fog", severity=3, attack="worst-case", eps=0.03, accuracy=worst)]
                     ).to_csv(s, index=False)
        evals.append(str(e))
        strong.append(str(s))
    t = corrupted_honesty_table({"evals": evals, "strong": strong}, labels=labels)
    assert t.table.set_index("model").loc["refined", "inflated ε=0.03"]
    assert "strong set not run** at ε = 0.01, 0.1, 0.3: the FGSM / PGD cells" in t.markdown
    sweep = pd.read_csv(evals[0])
    assert unchecked_eps(sweep, pd.read_csv(strong[0])) == [("fgsm", 0.1), ("fgsm", 0.3), ("pgd", 0.01)]
    # the strong set at every figure eps: nothing unchecked, no note
    full = pd.DataFrame([dict(attack="worst-case", eps=e, accuracy=1.0) for e in (0.01, 0.03, 0.1, 0.3)])
    assert unchecked_eps(sweep, full) == []


def test_limeref_curves_on_a_cumulative_epoch_axis():
    from interprobust.papers.limeref.figures import chain_histories
    h = lambda n, v: pd.DataFrame({"epoch": range(1, n + 1), "test_acc": [v] * n})   # noqa: E731
    base, rnd, own = h(3, 1.0), h(2, 2.0), h(2, 3.0)
    joined = chain_histories([base, base, rnd, own], [1, 3], cumulative=True)
    assert joined[0].epoch.tolist() == [1, 2, 3]
    assert joined[1].epoch.tolist() == [1, 2, 3, 4, 5, 6, 7] and joined[1].test_acc.tolist() == [1] * 3 + [2] * 2 + [3] * 2
    own_only = chain_histories([base, base, rnd, own], [1, 3], cumulative=False)
    assert own_only[1].test_acc.tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="chains"):
        chain_histories([base], [2])


def test_limeref_worst_case_label_is_the_evaluations():
    from interprobust.evaluation.robustness import WORST_CASE
    from interprobust.papers.limeref import claims, scorecard, tables
    assert tables.WORST_CASE == scorecard.WORST == claims.WORST == WORST_CASE
    assert tables.INFLATION_POINTS == scorecard.INFLATION_POINTS == 3.0


def test_limeref_honesty_compares_pgd40_and_the_worst_case_on_the_same_images():
    from interprobust.papers.limeref.tables import honesty_frame
    sweep = pd.DataFrame([dict(model="refined", attack="pgd", eps=e, accuracy=a, n=64) for e, a in ((0.03, 40.0), (0.1, 5.0))])
    strong = pd.DataFrame([dict(model="refined", attack="pgd", eps=0.03, accuracy=36.0, n=32),   # the reference
                           dict(model="refined", attack="worst-case", eps=0.03, accuracy=34.0, n=32)])
    df = honesty_frame(sweep, strong)
    gap = df[df.attack == "pgd-40 − worst"]
    assert gap.accuracy.tolist() == [2.0] and not gap.inflated.iloc[0]     # 36 - 34 on the strong images, not 40 - 34
    assert df[(df.attack == "pgd") & (df.eps == 0.1)].accuracy.tolist() == [5.0]   # other eps keep the sweep's
    assert len(df[(df.attack == "pgd") & (df.eps == 0.03)]) == 1


def test_limeref_fig11_says_it_shows_the_last_training_stage_only_under_fine_tune():
    """Fig. 10/11 plot each model's own history (rounds do not track corruptions): under fine_tune the
    refined curve starts from a trained model, and its title says so; from scratch it is the whole run."""
    from pathlib import Path

    from interprobust.papers.limeref.artifacts import LAST_STAGE, epochs_title
    assert epochs_title("11", "refined", "d", fine_tune=True) == f"Fig. 11: d, refined, {LAST_STAGE}"
    assert LAST_STAGE not in epochs_title("10", "baseline", "d", fine_tune=True)   # its history is its whole run
    assert LAST_STAGE not in epochs_title("11", "refined", "d", fine_tune=False)
    caption = (Path(__file__).parents[1] / "workflow/report/limeref_corrupted_epochs.rst").read_text()
    assert "last training stage only" in caption and 'schedule"] == "fine_tune"' in caption
