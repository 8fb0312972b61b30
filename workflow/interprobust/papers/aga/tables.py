"""AGA's tables: Table 1, the appendix RPS table, the hyper-parameter grid's selection."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine


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



# ------------------------------------------------------------------------- render functions (registry)
def table1(inputs, *, labels):
    df = combine(inputs["scores"], labels)
    return Table(aga_table1(df), tidy=df)


def rps_table(inputs, *, labels):
    df = combine(inputs["scores"], labels)
    return Table(aga_rps_table(df), tidy=df)


def grid_table(inputs, *, labels, reference, max_drop):
    return Table(aga_grid(combine(inputs["scores"], labels), reference, max_drop))


def cost_table(inputs, *, arch, rows, steps, seed=0, device="auto", threads=None):
    """AGA Table 2: training-step time (and CUDA peak memory) of each row's recipe relative to the first."""
    from .cost import step_costs
    df = step_costs(inputs["data"][0], arch=arch, rows=rows, steps=steps, seed=seed, device=device)
    df["time_vs_first"] = df["seconds_per_step"] / df["seconds_per_step"].iloc[0]
    df["memory_vs_first"] = df["peak_mib"] / df["peak_mib"].iloc[0]
    return Table(df)
