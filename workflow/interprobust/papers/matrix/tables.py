"""The cross-paper matrix: one row per model, every metric, and the rank correlation."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine


MATRIX_COLUMNS = ["clean_acc", "fgsm_acc", "pgd_acc", "grad_rps", "insertion", "adv_insertion", "expl_start",
                  "expl_end", "lime_stability"]


def matrix_table(df: pd.DataFrame) -> pd.DataFrame:
    """The cross-paper matrix: one row per model (``model`` = paper / recipe label), every metric."""
    return df[["model"] + [c for c in MATRIX_COLUMNS if c in df.columns]].reset_index(drop=True)


def spearman(a, b) -> float:
    """Spearman's rank correlation of two columns (NaN rows dropped; NaN with fewer than 3 rows)."""
    pair = pd.DataFrame({"a": a, "b": b}).dropna()
    return float(pair["a"].rank().corr(pair["b"].rank())) if len(pair) >= 3 else float("nan")



# ------------------------------------------------------------------------- render functions (registry)
def matrix(inputs, *, labels):
    return Table(matrix_table(combine(inputs["evals"], labels)))
