"""Tables built from per-model CSVs: tidy CSV for machines, a pivoted Markdown view for people."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def combine(inputs: list[str | Path], labels: list[str]) -> pd.DataFrame:
    """Concatenate per-model CSVs, adding a leading ``model`` column from ``labels``."""
    if len(inputs) != len(labels):
        raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
    frames = []
    for path, label in zip(inputs, labels):
        df = pd.read_csv(path)
        df.insert(0, "model", label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


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
