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


# ------------------------------------------------------------------------------------------- G-LIME
GLIME_MAIN_ROWS = ["LIME", "LIME-Path", "G-LIME-N", "G-LIME-N-Path", "G-LIME-AVG", "G-LIME-AVG-Path"]
GLIME_RIDGE_ROWS = ["LIME", "G-LIME-N", "G-LIME-AVG", "G-LIME-SP", "G-LIME-H"]


def _order(df: pd.DataFrame, rows: list[str], column: str = "estimator") -> pd.DataFrame:
    """Rows in the paper's order: those of ``rows`` present first, then any others."""
    rank = {r: i for i, r in enumerate(rows)}
    return df.sort_values(column, key=lambda c: c.map(lambda v: rank.get(v, len(rank))), kind="stable")


def glime_by_n(scores: pd.DataFrame, metric: str, lam2: float) -> pd.DataFrame:
    """G-LIME Tables 2 / 3: mean ``metric`` (deletion or insertion) per estimator and number of samples
    n (first sample set, the main lam2), and the global-prior-only rows GP-x in a "prior only" column."""
    main = scores[(scores["repeat"] == 0) & ((scores["lam2"] - lam2).abs() < 1e-9) & (scores["n"] > 0)]
    wide = main.pivot_table(index="estimator", columns="n", values=metric, aggfunc="mean")
    wide.columns = [f"n={c}" for c in wide.columns]
    gp = scores[scores["n"] == 0].groupby("estimator")[metric].mean().rename("prior only")
    out = wide.join(gp, how="outer").reset_index()
    return _order(out, GLIME_MAIN_ROWS + ["GP-N", "GP-AVG"])


def glime_stability(stab: pd.DataFrame) -> pd.DataFrame:
    """G-LIME Table 4: mean stability (expected L2 distance between repeated explanations) per n."""
    wide = stab.pivot_table(index="estimator", columns="n", values="stability", aggfunc="mean")
    wide.columns = [f"n={c}" for c in wide.columns]
    return _order(wide.reset_index(), GLIME_RIDGE_ROWS)


def glime_methods(scores: pd.DataFrame, baselines: pd.DataFrame, n: int, lam2: float) -> pd.DataFrame:
    """G-LIME Table 5: deletion, insertion and ABPC, mean over images per repeat, then mean and standard
    deviation over the repeats; the gradient baselines beside LIME and G-LIME-x at ``n`` samples."""
    lime = scores[(scores["n"] == n) & ((scores["lam2"] - lam2).abs() < 1e-9)]
    both = pd.concat([baselines, lime[lime.estimator.isin(["LIME"] + [e for e in lime.estimator.unique()
                                                                     if e.startswith("G-LIME") and "Path" not in e])]])
    per_rep = both.groupby(["estimator", "repeat"])[["deletion", "insertion", "abpc"]].mean()
    agg = per_rep.groupby("estimator").agg(["mean", "std"])
    agg.columns = [f"{m}" if s == "mean" else f"{m}_std" for m, s in agg.columns]
    agg["repeats"] = per_rep.groupby("estimator").size()
    order = ["gradcam", "integrated_gradients", "smoothgrad", "LIME", "G-LIME-N", "G-LIME-AVG"]
    return _order(agg.reset_index(), order)


def glime_fidelity(scores: pd.DataFrame, n: int, lam2: float, rows: list[str] | None = None) -> pd.DataFrame:
    """G-LIME Tables 6 / 7: weighted R^2 and MSE of the surrogate on its samples, deletion and insertion,
    means at ``n`` samples (first sample set) for the Ridge estimators (LIME and G-LIME-x); a ``model``
    column (several networks) is kept as the first key."""
    s = scores[(scores["n"] == n) & (scores["repeat"] == 0) & ((scores["lam2"] - lam2).abs() < 1e-9)]
    rows = rows or GLIME_RIDGE_ROWS
    keys = (["model"] if "model" in s.columns else []) + ["estimator"]
    out = s[s.estimator.isin(rows)].groupby(keys, sort=False)[["r2", "mse", "deletion", "insertion"]].mean()
    out = out.reset_index()
    models = {m: i for i, m in enumerate(dict.fromkeys(out["model"]))} if "model" in out else {}
    rank = {r: i for i, r in enumerate(rows)}
    key = out.apply(lambda r: (models.get(r.get("model"), 0), rank[r["estimator"]]), axis=1)
    return out.iloc[sorted(range(len(out)), key=lambda i: key.iloc[i])].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- SEP
SEP_COLUMNS = ["expl_start", "expl_end", "clean_acc", "adv_acc", "expl_start_intra", "expl_end_intra",
               "expl_start_inter", "expl_end_inter", "pred_kept", "explain", "pairs"]


def sep_table(df: pd.DataFrame) -> pd.DataFrame:
    """A SEP table: one row per labelled model (``model``), "expl at start / end" (units of 1e-7; also
    intra- / inter-cluster), clean and adversarial accuracy, the share of attacks that kept the prediction."""
    return df[["model"] + [c for c in SEP_COLUMNS if c in df.columns]].reset_index(drop=True)


# ------------------------------------------------------------------------------------ cross-paper matrix
MATRIX_COLUMNS = ["clean_acc", "fgsm_acc", "pgd_acc", "grad_rps", "insertion", "adv_insertion", "expl_start",
                  "expl_end", "lime_stability"]


def matrix_table(df: pd.DataFrame) -> pd.DataFrame:
    """The cross-paper matrix: one row per model (``model`` = paper / recipe label), every metric."""
    return df[["model"] + [c for c in MATRIX_COLUMNS if c in df.columns]].reset_index(drop=True)


def spearman(a, b) -> float:
    """Spearman's rank correlation of two columns (NaN rows dropped; NaN with fewer than 3 rows)."""
    pair = pd.DataFrame({"a": a, "b": b}).dropna()
    return float(pair["a"].rank().corr(pair["b"].rank())) if len(pair) >= 3 else float("nan")
