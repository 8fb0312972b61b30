"""AGA's tables: Table 1, the appendix RPS table, the hyper-parameter grid's selection."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine

KEYS = ["model", "method", "metric", "eps"]


def with_seeds(inputs, labels, seeds=None) -> pd.DataFrame:
    """Per-model CSVs combined (``model`` = the row label), with a ``seed`` column (0 when not given)."""
    seeds = [0] * len(labels) if seeds is None else list(seeds)
    if not (len(seeds) == len(labels) == len(inputs)):
        raise ValueError(f"{len(inputs)} inputs, {len(labels)} labels, {len(seeds)} seeds: one each per model")
    frames = [combine([p], [label]) for p, label in zip(inputs, labels)]
    for f, seed in zip(frames, seeds):
        f.insert(1, "seed", seed)
    return pd.concat(frames, ignore_index=True)


def seed_means(df: pd.DataFrame) -> pd.DataFrame:
    """Tidy scores averaged over seeds: value = the mean, std = the sample std (NaN for one seed),
    seeds = how many; one row per (model, method, metric, eps), in first-seen order."""
    if "seed" not in df:
        df = df.assign(seed=0)
    g = df.groupby(KEYS, sort=False, dropna=False)
    out = g["value"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "value", "std": "std", "count": "seeds"})
    if "n" in df:
        out.insert(len(KEYS) + 1, "n", g["n"].first().values)
    return out


ATTRIBUTION_SHORT = {"gradient": "Grad", "input_x_gradient": "xGrad", "guided_backprop": "GBP", "lrp": "LRP",
                     "integrated_gradients": "IG", "smoothgrad": "SG"}


def aga_table1(df: pd.DataFrame) -> pd.DataFrame:
    """AGA Table 1 from combined explanation scores (``model`` = row label; several seeds per row are
    averaged, see :func:`seed_means`): accuracy, then per attribution RPS (cosine at the largest eps),
    Insertion and Adv-Insertion (percent), each as the mean over seeds with a ``<column> ±`` column
    holding the std over seeds (NaN for one seed)."""
    df = seed_means(df) if "seeds" not in df else df
    out = []
    for model, g in df.groupby("model", sort=False):
        a = g[g.metric == "accuracy"].iloc[0]
        row = {"model": model, "seeds": int(a.seeds), "acc": float(a.value), "acc ±": float(a["std"])}
        for method in dict.fromkeys(g.loc[g.method != "none", "method"]):
            m = g[g.method == method]
            cos = m[m.metric == "rps_cosine"]
            short = ATTRIBUTION_SHORT.get(method, method)
            cells = {"RPS": cos.loc[cos.eps.idxmax()], "Ins": m[m.metric == "insertion"].iloc[0],
                     "A-Ins": m[m.metric == "adv_insertion"].iloc[0]}
            for name, r in cells.items():
                row[f"{short} {name}"] = float(r.value)
                row[f"{short} {name} ±"] = float(r["std"])
        out.append(row)
    return pd.DataFrame(out)


def mean_std_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A table whose ``<column> ±`` columns are folded into their column as "mean ± std"."""
    from ...io import dataframe_to_markdown
    shown = table.copy()
    for col in [c for c in table.columns if not str(c).endswith(" ±") and f"{c} ±" in table.columns]:
        fmt = (lambda v: f"{v:.1f}") if table[col].abs().max() > 1.5 else (lambda v: f"{v:.3f}")
        shown[col] = [fmt(m) + ("" if pd.isna(s) else f" ± {fmt(s)}") for m, s in zip(table[col], table[f"{col} ±"])]
    shown = shown[[c for c in table.columns if not str(c).endswith(" ±")]]
    return dataframe_to_markdown(shown, digits)


def aga_grid(df: pd.DataFrame, reference: str, max_drop: float = 1.0, recipes: dict | None = None) -> pd.DataFrame:
    """AGA's hyper-parameter selection (Appendix C): for each grid point (``model`` = its label), test
    accuracy (the whole test set) and Grad-RPS (cosine, largest eps), both means over the seeds, with
    their std; the accuracy drop below the ``reference`` row (CE only); the point selected is the one
    with the highest mean Grad-RPS among those within ``max_drop`` points. When none is, the point with
    the smallest drop is selected (``eligible`` stays False: the table shows the rule was not met).
    ``recipes`` (label -> recipe) adds a ``recipe`` column: the table is the selection file Table 1's
    jobs read."""
    if reference not in set(df["model"]):
        raise ValueError(f"reference row {reference!r} is not among the grid's rows {sorted(set(df['model']))}")
    df = seed_means(df)
    rows = []
    for model, g in df.groupby("model", sort=False):
        cos = g[(g.metric == "rps_cosine") & (g.method == "gradient")]
        if cos.empty:
            raise ValueError(f"row {model!r} has no Gradient RPS (cosine); evaluate it with the gradient attribution")
        acc, rps = g[g.metric == "accuracy"].iloc[0], cos.loc[cos.eps.idxmax()]
        rows.append({"model": model, "seeds": int(acc.seeds), "acc": float(acc.value), "acc ±": float(acc["std"]),
                     "Grad RPS": float(rps.value), "Grad RPS ±": float(rps["std"])})
    out = pd.DataFrame(rows)
    if recipes is not None:
        out.insert(1, "recipe", [recipes.get(m, "") for m in out.model])
    ref_acc = float(out.loc[out.model == reference, "acc"].iloc[0])
    out["acc drop"] = ref_acc - out["acc"]
    candidate = out["model"] != reference
    out["eligible"] = candidate & (out["acc drop"] <= max_drop + 1e-9)
    out["selected"] = False
    if out["eligible"].any():
        out.loc[out.loc[out.eligible, "Grad RPS"].idxmax(), "selected"] = True
    elif candidate.any():
        out.loc[out.loc[candidate, "acc drop"].idxmin(), "selected"] = True
    return out


def aga_rps_table(df: pd.DataFrame) -> pd.DataFrame:
    """AGA's appendix RPS table: one row per (model, attribution), columns similarity x eps (in /255),
    means over seeds (``<column> ±``: their std)."""
    df = seed_means(df) if "seeds" not in df else df
    r = df[df.metric.str.startswith("rps_")].copy()
    r["column"] = [f"{m[4:]} ε={e * 255:.0f}/255" for m, e in zip(r.metric, r.eps)]
    order = list(dict.fromkeys(r["column"]))
    wide = r.pivot_table(index=["model", "method"], columns="column", values="value", sort=False,
                         dropna=False)[order]
    spread = r.pivot_table(index=["model", "method"], columns="column", values="std", sort=False,
                           dropna=False).reindex(columns=order)
    spread.columns = [f"{c} ±" for c in spread.columns]
    cols = [c for pair in zip(order, spread.columns) for c in pair]
    return wide.join(spread)[cols].reset_index()



# ------------------------------------------------------------------------- render functions (registry)
def table1(inputs, *, labels, seeds=None):
    """Table 1 (means ± std over seeds); its tidy file holds the means (``value``), ``std`` and ``seeds``."""
    tidy = seed_means(with_seeds(inputs["scores"], labels, seeds))
    t = aga_table1(tidy)
    return Table(t, tidy=tidy, markdown=mean_std_markdown(t))


def rps_table(inputs, *, labels, seeds=None):
    tidy = seed_means(with_seeds(inputs["scores"], labels, seeds))
    t = aga_rps_table(tidy)
    return Table(t, tidy=tidy, markdown=mean_std_markdown(t))


def grid_table(inputs, *, labels, reference, max_drop, seeds=None, recipes=None):
    t = aga_grid(with_seeds(inputs["scores"], labels, seeds), reference, max_drop, recipes)
    return Table(t, markdown=mean_std_markdown(t))


def cost_table(inputs, *, arch, rows, steps, order=None, reference=None, seed=0, device="auto", threads=None):
    """AGA Table 2: training-step time (and CUDA peak memory) of each row's recipe relative to the
    ``reference`` row (CE; default the first of ``order``), every row at the reference's batch size,
    and the time per epoch at each recipe's own batch size relative to the reference's. ``order``: the
    rows' order (the options' JSON sorts ``rows``)."""
    from .cost import step_costs
    order = list(order or rows)
    reference = reference or order[0]
    if reference not in rows or set(order) != set(rows):
        raise ValueError(f"Table 2: reference {reference!r} / order {order} do not match the rows {sorted(rows)}")
    timed_first = [reference] + [r for r in order if r != reference]      # the first row sets the batch size
    df = step_costs(inputs["data"][0], arch=arch, rows={r: rows[r] for r in timed_first}, steps=steps, seed=seed,
                    device=device)
    df = df.set_index("model").loc[order].reset_index()
    ref = df.set_index("model").loc[reference]
    df["time_vs_first"] = df["seconds_per_step"] / ref["seconds_per_step"]
    df["memory_vs_first"] = df["peak_mib"] / ref["peak_mib"]
    df["epoch_time_vs_first"] = df["seconds_per_epoch"] / ref["seconds_per_epoch"]
    return Table(df)
