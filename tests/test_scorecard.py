"""The scorecard matches paper cells to our result files; a missing output is "not run"."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from interprobust import scorecard as S

ROOT = Path(__file__).resolve().parents[1]
VALUES = {
    "AGA": {"source": "x", "table1": {"cifar10_resnet18": {"CE": {"acc": 94.0, "grad": [0.724, 40.8, 31.7]}}},
            "table2_cost": {"cifar10_resnet18": {"Hessian": [8.95, 6.62]}}},
    "SEP": {"table2_grad_x_input": {"cifar10": {"convnet": {"MAT": [16.913, 6.906, 64.85, 35.11]}}}},
}


def test_paper_cells_name_list_positions():
    cells = {(c["paper"], c["table"], c["key"]): c["paper_value"] for c in S.paper_cells(VALUES)}
    assert cells[("AGA", "table1", ("cifar10_resnet18", "CE", "grad", "a_ins"))] == 31.7
    assert cells[("AGA", "table2_cost", ("cifar10_resnet18", "Hessian", "memory"))] == 6.62
    assert cells[("SEP", "table2_grad_x_input", ("cifar10", "convnet", "MAT", "adv_acc"))] == 35.11
    assert not any(c["table"] == "source" for c in S.paper_cells(VALUES))


def _write(results, rel, rows):
    path = results / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_cells_match_our_outputs_and_missing_ones_are_not_run(tmp_path):
    tidy = _write(tmp_path, "aga/table1_main_tidy.csv", [
        dict(model="CE", method="none", metric="accuracy", eps=0.0, value=93.0, n=10),
        dict(model="CE", method="gradient", metric="rps_cosine", eps=0.0157, value=0.5, n=10),
        dict(model="CE", method="gradient", metric="rps_cosine", eps=0.0627, value=0.70, n=10),
        dict(model="CE", method="gradient", metric="insertion", eps=0.0, value=50.0, n=10)])
    sep = _write(tmp_path, "sep/table2.csv", [dict(model="cifar10 ConvNet MAT", expl_start=16.0, expl_end=9.0,
                                                   clean_acc=60.0, adv_acc=35.0)])
    main = {"name": "main", "stands_for": "cifar10_resnet18"}   # our setting "main" stands for the paper's
    manifest = {"scale": "embedded", "artifacts": {
        "aga/table1": [{**main, "files": {"csv": str(tmp_path / "aga/table1_main.csv"), "tidy": tidy}}],
        "aga/table2": [{**main, "files": {"csv": str(tmp_path / "aga/table2_main.csv")}}],   # declared, not written
        "sep/table2": [{"files": {"csv": sep}}]}}
    card = S.scorecard(VALUES, manifest).set_index("key")
    assert card.loc["cifar10_resnet18/CE/acc", "ours"] == 93.0
    assert card.loc["cifar10_resnet18/CE/acc", "verdict"] == "within tolerance"      # 1 point off, accuracy
    assert card.loc["cifar10_resnet18/CE/acc", "source"] == tidy                      # the manifest's file
    assert card.loc["cifar10_resnet18/CE/grad/rps", "ours"] == 0.70                   # cosine at the largest eps
    assert card.loc["cifar10_resnet18/CE/grad/rps", "verdict"] == "differs"      # 0.024 off: AGA's RPS is ±0.02 absolute
    assert card.loc["cifar10_resnet18/CE/grad/rps", "tolerance"] == "±0.02"
    assert card.loc["cifar10_resnet18/CE/grad/ins", "verdict"] == "differs"           # 50 vs 40.8: 23 % off
    assert card.loc["cifar10_resnet18/CE/grad/a_ins", "verdict"] == "not run"         # no adv_insertion row
    assert pd.isna(card.loc["cifar10_resnet18/CE/grad/a_ins", "ours"])
    assert card.loc["cifar10_resnet18/Hessian/time", "verdict"] == "not run"          # no table2 file
    assert card.loc["cifar10/convnet/MAT/expl_end", "verdict"] == "differs"           # 9.0 vs 6.906
    assert card.loc["cifar10/convnet/MAT/adv_acc", "verdict"] == "within tolerance"
    assert (card.loc[card.verdict != "not run", "scale"] == "embedded").all()
    assert (card.loc[card.verdict == "not run", "scale"] == "").all()


def test_a_setting_that_stands_for_no_paper_setting_is_not_run(tmp_path):
    tidy = _write(tmp_path, "t.csv", [dict(model="CE", method="none", metric="accuracy", eps=0.0, value=93.0)])
    manifest = {"artifacts": {"aga/table1": [{"name": "x", "stands_for": "imagenet100_resnet18",
                                              "files": {"tidy": tidy}}]}}
    card = S.scorecard(VALUES, manifest).set_index("key")
    assert card.loc["cifar10_resnet18/CE/acc", "verdict"] == "not run"


def test_the_embedded_manifest_points_the_scorecard_at_the_registry_files():
    """The scorecard's paths come from the registry: the embedded AGA setting `main` stands for
    cifar10_resnet18, so that paper cell reads results/aga/table1_main_tidy.csv."""
    from interprobust import registry
    from interprobust.config import DEFAULT_FILES, load, resolve
    from interprobust.plan import Plan
    from interprobust.results import Results
    plan = Plan(resolve(load([str(ROOT / f) for f in DEFAULT_FILES] + [str(ROOT / "config/embedded.yaml")])))
    results = Results({"artifacts": registry.manifest(plan)})
    assert str(results.file("aga/table1", "tidy", stands_for="cifar10_resnet18")) == "results/aga/table1_main_tidy.csv"
    assert str(results.file("limeref/fig04", role="cifar10")) == "results/limeref/fig04_digits_rgb32.csv"
    assert str(results.file("glime/table2")) == "results/glime/table2_main.csv"
    every_csv = {p for p in registry.targets(plan) if p.endswith(".csv")}
    assert {str(results.file("sep/table2"))} <= every_csv


@pytest.mark.parametrize("paper,ours,kind,tol,want", [
    (50.0, 52.9, "points", 3.0, "within tolerance"), (50.0, 53.1, "points", 3.0, "differs"),
    (0.2, 0.219, "relative", 0.1, "within tolerance"), (0.2, 0.23, "relative", 0.1, "differs"),
    (0.2, None, "relative", 0.1, "not run")])
def test_verdicts(paper, ours, kind, tol, want):
    assert S.verdict(paper, ours, kind, tol) == want


def test_the_shipped_paper_values_cover_the_four_papers():
    values = yaml.safe_load((ROOT / "workflow/resources/paper_values.yaml").read_text())
    assert set(values) == {"LIMEREF", "GLIME", "AGA", "SEP"}
    cells = S.paper_cells(values)
    assert len(cells) > 500 and {c["paper"] for c in cells} == set(values)


def test_aga_rps_tolerance_is_absolute_and_separates_the_rows():
    """±10 % of 0.90 (0.81..0.99) spans AGA's CE through L2+Cosd rows; ±0.02 absolute does not."""
    cell = {"paper": "AGA", "table": "table1", "key": ("cifar10_resnet18", "L2+Cosd", "grad", "rps")}
    assert S.tolerance(cell) == ("absolute", 0.02)
    assert S.verdict(0.931, 0.915, "absolute", 0.02) == "within tolerance"
    assert S.verdict(0.931, 0.905, "absolute", 0.02) == "differs"
    assert S.tolerance({**cell, "key": cell["key"][:3] + ("ins",)}) == ("relative", 0.10)
    assert S.tolerance({**cell, "key": ("cifar10_resnet18", "CE", "acc")}) == ("points", 3.0)


def test_aga_table2_atex_step3_is_our_atex_row(tmp_path):
    from interprobust.papers.aga.scorecard import lookup
    from interprobust.results import Results
    t2 = _write(tmp_path, "aga/table2_x.csv", [dict(model="CE", time_vs_first=1.0, memory_vs_first=1.0),
                                               dict(model="ATEX", time_vs_first=2.5, memory_vs_first=3.0)])
    results = Results({"artifacts": {"aga/table2": [{"name": "x", "stands_for": "cifar10_lenet",
                                                     "files": {"csv": t2}}]}})
    assert lookup(results, "table2_cost", ("cifar10_lenet", "ATEX_step3", "time"))[0] == 2.5
    assert lookup(results, "table2_cost", ("cifar10_lenet", "ATEX_step3", "memory"))[0] == 3.0
