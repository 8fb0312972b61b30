"""G-LIME's tables (Tables 2-7)."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine


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
    if "protocol" in baselines.columns:   # the paper's pixel-level protocol keeps the method's name
        baselines = baselines.assign(estimator=baselines.estimator.where(
            baselines.protocol == "pixel", baselines.estimator + " (superpixel mean)"))
    both = pd.concat([baselines, lime[lime.estimator.isin(["LIME"] + [e for e in lime.estimator.unique()
                                                                     if e.startswith("G-LIME") and "Path" not in e])]])
    per_rep = both.groupby(["estimator", "repeat"])[["deletion", "insertion", "abpc"]].mean()
    agg = per_rep.groupby("estimator").agg(["mean", "std"])
    agg.columns = [f"{m}" if s == "mean" else f"{m}_std" for m, s in agg.columns]
    agg["repeats"] = per_rep.groupby("estimator").size()
    order = ["gradcam", "integrated_gradients", "smoothgrad", "LIME", "G-LIME-N", "G-LIME-AVG",
             "gradcam (superpixel mean)", "integrated_gradients (superpixel mean)", "smoothgrad (superpixel mean)"]
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



# ------------------------------------------------------------------------- render functions (registry)
def deletion_table(inputs, *, lam2):
    return Table(glime_by_n(pd.read_csv(inputs["scores"][0]), "deletion", lam2), digits=4)


def insertion_table(inputs, *, lam2):
    return Table(glime_by_n(pd.read_csv(inputs["scores"][0]), "insertion", lam2), digits=4)


def stability_table(inputs):
    return Table(glime_stability(pd.read_csv(inputs["stability"][0])), digits=4)


def methods_table(inputs, *, n, lam2):
    return Table(glime_methods(pd.read_csv(inputs["scores"][0]), pd.read_csv(inputs["baselines"][0]), n, lam2),
                 digits=4)


def pull_factors(scores: pd.DataFrame, lam2: float) -> pd.DataFrame:
    """Mean pull factor lam2 / (lam2 + mean diag(Xw'Xw)) per number of samples n (LIME's rows at lam2:
    every estimator of one image and n shares the samples, hence the factor)."""
    if "pull" not in scores.columns:
        return pd.DataFrame(columns=["n", "pull"])
    s = scores[(scores.estimator == "LIME") & (scores["repeat"] == 0) & ((scores["lam2"] - lam2).abs() < 1e-9)]
    return s.groupby("n", as_index=False)["pull"].mean()


def priors_table(inputs, *, n, lam2, standardize=True):
    from ...io import dataframe_to_markdown
    scores = pd.read_csv(inputs["scores"][0])
    df = glime_fidelity(scores, n, lam2)
    pulls = pull_factors(scores, lam2)
    note = ("Notes. Pull factor l2 / (l2 + mean diag(Xw'Xw)) of Eq. 7 towards the prior (mean over images), "
            f"per number of samples, l2 = {lam2:g}, columns of X and y {'scaled to unit norm (the authors recipe)' if standardize else 'not scaled'}: "
            + ", ".join(f"n = {int(r.n)}: {r.pull:.3f}" for r in pulls.itertuples()) + ".")
    note += clusters_note(inputs.get("clusters") or [])
    return Table(df, digits=4, markdown=dataframe_to_markdown(df, digits=4) + "\n\n" + note + "\n")


def _clustering(path) -> str | None:
    """What one clusters file was fitted on: "K-Means on features of <stem> over the superpixels of <set>"."""
    from ...io import read_arrays
    cl = read_arrays(path)
    if "stem" not in cl:
        return None
    return f"K-Means on features of {cl['stem']} over the superpixels of {cl['cluster_reference']}"


def clusters_note(paths, labels=None) -> str:
    """Tables 6-8's note on the clustering source (pretrained stem or the model's own; ImageNet or the
    training subset): one clusters file (Tables 6 / 7), or one per labelled dataset (Table 8)."""
    if not paths:
        return ""
    if labels is None:
        what = _clustering(paths[0])
        return "" if what is None else f" Superpixel clusters: {what}; one clustering per dataset, shared by its networks."
    parts = [f"{label}: {what}" for label, what in zip(labels, map(_clustering, paths)) if what is not None]
    return f" Superpixel clusters: {'; '.join(parts)}; one clustering per dataset." if parts else ""


def networks_table(inputs, *, labels, n, lam2):
    """G-LIME Table 7: Table 6's columns per network, on the main network's clusters (said in the notes)."""
    from ...io import dataframe_to_markdown
    df = glime_fidelity(combine(inputs["scores"], labels), n, lam2, rows=["LIME", "G-LIME-N", "G-LIME-AVG"])
    note = ("Notes. Every network has its own priors, on the main network's superpixels and clusters."
            + clusters_note(inputs.get("clusters") or []))
    return Table(df, digits=4, markdown=dataframe_to_markdown(df, digits=4) + "\n\n" + note + "\n")


def datasets_table(inputs, *, labels, n, lam2):
    """G-LIME Table 8: Table 6's columns on other image datasets (the tabular and text rows are left out)."""
    from ...io import dataframe_to_markdown
    df = glime_fidelity(combine(inputs["scores"], labels), n, lam2, rows=["LIME", "G-LIME-N", "G-LIME-AVG"])
    df = df.rename(columns={"model": "dataset"})
    note = ("Notes. Each dataset runs the whole study on its own fine-tuned network, superpixels, clusters and "
            "priors. The paper's tabular (GiveMeSomeCredit) and text (IMDb) rows are left out."
            + clusters_note(inputs.get("clusters") or [], labels))
    return Table(df, digits=4, markdown=dataframe_to_markdown(df, digits=4) + "\n\n" + note + "\n")
