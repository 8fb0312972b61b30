"""The overview's tables per dataset: accuracy under attack and per corruption."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine


def robustness_wide(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model; columns ``clean`` then ``<attack> ε=<eps>`` in sweep order."""
    df = df.copy()
    df["column"] = [("clean" if a == "clean" else f"{a} ε={e:g}") for a, e in zip(df["attack"], df["eps"])]
    order = list(dict.fromkeys(df["column"]))
    wide = df.pivot_table(index="model", columns="column", values="accuracy", aggfunc="first")[order]
    return wide.reindex(list(dict.fromkeys(df["model"]))).reset_index()


def corruptions_wide(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, corruption): accuracy per severity and the mean over severities."""
    wide = df.pivot_table(index=["model", "corruption"], columns="severity", values="accuracy", sort=False)
    wide.columns = [f"severity {c}" for c in wide.columns]
    wide["mean"] = wide.mean(axis=1)
    return wide.reset_index()



# ------------------------------------------------------------------------- render functions (registry)
def robustness_table(inputs, *, labels):
    df = combine(inputs["evals"], labels)
    return Table(robustness_wide(df), tidy=df, digits=2)


def corruptions_table(inputs, *, labels):
    df = combine(inputs["evals"], labels)
    return Table(corruptions_wide(df), tidy=df, digits=2)
