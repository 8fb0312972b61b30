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


ATTRIBUTION_SHORT = {"gradient": "Grad", "input_x_gradient": "xGrad", "guided_backprop": "GBP", "lrp": "LRP",
                     "integrated_gradients": "IG", "smoothgrad": "SG"}


def aga_table1(df: pd.DataFrame) -> pd.DataFrame:
    """AGA Table 1 from combined explanation scores (``model`` = row label): accuracy, then per
    attribution RPS (cosine at the largest eps), Insertion and Adv-Insertion (percent)."""
    out = []
    for model, g in df.groupby("model", sort=False):
        row = {"model": model, "acc": float(g.loc[g.metric == "accuracy", "value"].iloc[0])}
        for method in dict.fromkeys(g.loc[g.method != "none", "method"]):
            m = g[g.method == method]
            cos = m[m.metric == "rps_cosine"]
            short = ATTRIBUTION_SHORT.get(method, method)
            row[f"{short} RPS"] = float(cos.loc[cos.eps.idxmax(), "value"])
            row[f"{short} Ins"] = float(m.loc[m.metric == "insertion", "value"].iloc[0])
            row[f"{short} A-Ins"] = float(m.loc[m.metric == "adv_insertion", "value"].iloc[0])
        out.append(row)
    return pd.DataFrame(out)


def aga_grid(df: pd.DataFrame, reference: str, max_drop: float = 1.0) -> pd.DataFrame:
    """AGA's hyper-parameter selection (Appendix C): for each grid point (``model`` = its label), test
    accuracy, its drop below the ``reference`` row (CE only), and Grad-RPS (cosine, largest eps); the
    point selected is the one with the highest Grad-RPS among those within ``max_drop`` points."""
    if reference not in set(df["model"]):
        raise ValueError(f"reference row {reference!r} is not among the grid's rows {sorted(set(df['model']))}")
    rows = []
    for model, g in df.groupby("model", sort=False):
        cos = g[(g.metric == "rps_cosine") & (g.method == "gradient")]
        if cos.empty:
            raise ValueError(f"row {model!r} has no Gradient RPS (cosine); evaluate it with the gradient attribution")
        rows.append({"model": model, "acc": float(g.loc[g.metric == "accuracy", "value"].iloc[0]),
                     "Grad RPS": float(cos.loc[cos.eps.idxmax(), "value"])})
    out = pd.DataFrame(rows)
    ref_acc = float(out.loc[out.model == reference, "acc"].iloc[0])
    out["acc drop"] = ref_acc - out["acc"]
    out["eligible"] = (out["model"] != reference) & (out["acc drop"] <= max_drop + 1e-9)
    out["selected"] = False
    if out["eligible"].any():
        out.loc[out.loc[out.eligible, "Grad RPS"].idxmax(), "selected"] = True
    return out


def aga_rps_table(df: pd.DataFrame) -> pd.DataFrame:
    """AGA's appendix RPS table: one row per (model, attribution), columns similarity x eps (in /255)."""
    r = df[df.metric.str.startswith("rps_")].copy()
    r["column"] = [f"{m[4:]} ε={e * 255:.0f}/255" for m, e in zip(r.metric, r.eps)]
    order = list(dict.fromkeys(r["column"]))
    wide = r.pivot_table(index=["model", "method"], columns="column", values="value", sort=False)[order]
    return wide.reset_index()
