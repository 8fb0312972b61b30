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


def test_grid_with_no_eligible_point_selects_none_and_a_missing_reference_is_named():
    df = _combined({"CE": (90.0, 0.7), "a": (80.0, 0.9)})
    assert not tables.aga_grid(df, "CE").selected.any()
    with pytest.raises(ValueError, match="reference row 'CE-only'"):
        tables.aga_grid(df, "CE-only")


def test_grid_table_cli(tmp_path):
    paths = []
    for i, (acc, rps) in enumerate([(90.0, 0.7), (89.9, 0.9)]):
        paths.append(tmp_path / f"s{i}.csv")
        _scores(acc, rps).to_csv(paths[-1], index=False)
    csv, md = tmp_path / "grid.csv", tmp_path / "grid.md"
    options = '{"labels": ["CE", "lam=1"], "reference": "CE", "max_drop": 1.0}'
    assert cli.main(["render", "aga/grid", "--in", "scores", *map(str, paths), "--options", options,
                     "--stem", str(tmp_path / "grid")]) == 0
    out = pd.read_csv(csv)
    assert list(out.selected) == [False, True] and "lam=1" in md.read_text()


def test_spearman_and_matrix_table():
    assert matrix_tables.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert matrix_tables.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(matrix_tables.spearman([1, 2], [1, 2]))
    df = pd.DataFrame([dict(model="m", pgd_acc=1.0, extra=5, clean_acc=2.0)])
    assert list(matrix_tables.matrix_table(df).columns) == ["model", "clean_acc", "pgd_acc"]
