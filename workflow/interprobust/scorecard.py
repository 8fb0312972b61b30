"""The replication scorecard: every number of ``paper_values.yaml`` beside the value this run produced.

``paper_cells`` flattens the paper values into cells (paper, table, key, paper value); ``our_value``
finds each cell's counterpart in the run's result files (a missing file, row or column gives None:
"not run", never a guess); ``scorecard`` adds the difference and a verdict within a stated tolerance.
Plain data in (nested dicts, a results folder, the run's settings), a DataFrame out.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .papers.sep.labels import row_label

SKIP = {"source", "note", "approx", "restored", "setting", "units"}
LIST_COLUMNS = {  # what the positions of a list value mean, by paper and table
    ("AGA", "table1"): ["rps", "ins", "a_ins"],
    ("AGA", "table2_cost"): ["time", "memory"],
    ("SEP", "*"): ["expl_start", "expl_end", "clean_acc", "adv_acc"],
}
TOLERANCE = {"accuracy": 3.0, "relative": 0.10}   # accuracy cells: +-3 points; every other cell: +-10 %
AGA_METHODS = {"grad": "gradient", "xgrad": "input_x_gradient", "gbp": "guided_backprop", "lrp": "lrp"}
ACCURACY_KEYS = ("acc", "clean_acc", "adv_acc", "baseline", "refined", "clean", "adv", "baseline_peak")


def paper_cells(values: dict) -> list[dict]:
    """Numeric leaves of the paper values: dicts of paper, table, key (a tuple below the table), value."""
    cells = []

    def walk(paper, table, key, node):
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k) not in SKIP:
                    walk(paper, table, key + (str(k),), v)
        elif isinstance(node, list):
            if key and key[-1].endswith("range"):
                return                       # a range, not a number to compare
            names = LIST_COLUMNS.get((paper, table), LIST_COLUMNS.get((paper, "*")))
            for i, v in enumerate(node):
                name = names[i] if names and i < len(names) and not isinstance(v, dict) else str(i)
                walk(paper, table, key + (name,), v)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            cells.append(dict(paper=paper, table=table, key=key, paper_value=float(node)))

    for paper, tables in values.items():
        for table, node in tables.items():
            if table not in SKIP:
                walk(paper, table, (), node)
    return cells


def _csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def _one(df: pd.DataFrame | None, column: str, **where) -> float | None:
    if df is None or column not in df.columns:
        return None
    sel = df
    for k, v in where.items():
        if k not in sel.columns:
            return None
        sel = sel[(sel[k] - v).abs() < 1e-6] if isinstance(v, float) else sel[sel[k].astype(str) == str(v)]
    vals = sel[column].dropna()
    return float(vals.mean()) if len(vals) else None


def _limeref(results: Path, settings: dict, table: str, key: tuple) -> tuple[float | None, str]:
    datasets = (settings.get("limeref") or {}).get("datasets") or {}
    role = table
    if role in ("cifar10", "cifar100"):
        ds = datasets.get(role)
        figs = {"cifar10": ("02", "04", "05"), "cifar100": ("06", "08", "09")}[role]
        if key[0] == "clean_accuracy":
            f = results / f"limeref/fig{figs[0]}_{ds}.csv"
            df = _csv(f)
            if df is None or key[1] not in ("baseline", "refined"):
                return None, str(f)
            last = df[df.model == key[1]]
            return (float(last.sort_values("epoch").test_acc.iloc[-1]) if len(last) else None), str(f)
        fig = figs[1] if key[0] == "fgsm" else figs[2]
        f = results / f"limeref/fig{fig}_{ds}.csv"
        return _one(_csv(f), "accuracy", model=key[2], attack=key[0], eps=float(key[1])), str(f)
    if role == "cifar10c" and len(key) == 3 and key[0] != "clean_accuracy":
        ds = datasets.get((settings.get("limeref") or {}).get("corrupted") or "cifar10")
        attack, eps = key[0].split("_")
        fig = {("fgsm", "0.1"): "12", ("fgsm", "0.3"): "13", ("pgd", "0.01"): "14", ("pgd", "0.03"): "15"}.get((attack, eps))
        f = results / f"limeref/fig{fig}_{ds}.csv"
        return _one(_csv(f), "accuracy", model=key[2], corruption=key[1], attack=attack, eps=float(eps)), str(f)
    return None, ""


def _glime(results: Path, settings: dict, table: str, key: tuple) -> tuple[float | None, str]:
    mains = (settings.get("glime") or {}).get("settings") or []
    if not mains:
        return None, ""
    name = mains[0]["name"]
    number = table[5] if table.startswith("table") else None
    f = results / f"glime/table{number}_{name}.csv"
    df = _csv(f)
    est = {"Grad-CAM": "gradcam", "IG": "integrated_gradients", "SmoothGrad": "smoothgrad"}
    if table in ("table2_deletion", "table3_insertion", "table4_stability"):
        if key[0] == "global_only":
            return _one(df, "prior only", estimator=key[1]), str(f)
        return _one(df, f"n={key[1]}", estimator=key[0]), str(f)
    if table in ("table5_methods", "table6_priors"):
        return _one(df, key[1], estimator=est.get(key[0], key[0])), str(f)
    if table == "table7_networks":
        return _one(df, key[2], model=key[0], estimator=key[1]), str(f)
    return None, str(f)


def _aga_setting(settings: dict, paper_setting: str) -> str:
    """Our name of the setting that runs in place of the paper's (its `stands_for`; absent: the same name)."""
    ours = (settings.get("aga") or {}).get("settings") or []
    return next((s["name"] for s in ours if s.get("stands_for", s["name"]) == paper_setting), paper_setting)


def _aga(results: Path, settings: dict, table: str, key: tuple) -> tuple[float | None, str]:
    if table == "table1":
        f = results / f"aga/table1_{_aga_setting(settings, key[0])}.csv"
        df = _csv(f)
        if key[2] == "acc":
            return _one(df, "value", model=key[1], metric="accuracy"), str(f)
        method = AGA_METHODS.get(key[2])
        if df is None or method is None:
            return None, str(f)
        rows = df[(df.model == key[1]) & (df.method == method)]
        if key[3] == "rps":
            r = rows[rows.metric == "rps_cosine"]
            return (float(r.loc[r.eps.idxmax(), "value"]) if len(r) else None), str(f)
        metric = {"ins": "insertion", "a_ins": "adv_insertion"}[key[3]]
        return _one(rows, "value", metric=metric), str(f)
    if table == "table2_cost":
        f = results / f"aga/table2_{_aga_setting(settings, key[0])}.csv"
        column = {"time": "time_vs_first", "memory": "memory_vs_first"}[key[2]]
        return _one(_csv(f), column, model=key[1]), str(f)
    return None, ""


def _sep_label(table: str, key: tuple) -> tuple[str | None, str | None, str]:
    """(our table file stem, row label, column) of a SEP cell; grid rows' labels come from row_label."""
    number = table.split("_")[0]
    if number == "table1":
        return number, f"beta={float(key[0]):g}", key[1]
    if number in ("table2", "table3", "table6"):
        return number, row_label(key[1], key[2], lead=key[0]), key[3]
    if number == "table7":
        return number, row_label(key[1], key[2], lead=key[0].replace("test_", "")), key[3]
    if number == "table8":
        a, beta = key[0].split("_beta")
        return number, row_label(a, key[1], beta=float(beta)), key[2]
    if number == "table9":
        return number, f"{key[0]} epochs", key[1]
    return None, None, ""


def _sep(results: Path, settings: dict, table: str, key: tuple) -> tuple[float | None, str]:
    stem, label, column = _sep_label(table, key)
    if stem is None:
        return None, ""
    f = results / f"sep/{stem}.csv"
    return _one(_csv(f), column, model=label), str(f)


LOOKUPS = {"LIMEREF": _limeref, "GLIME": _glime, "AGA": _aga, "SEP": _sep}


def our_value(cell: dict, results: Path, settings: dict) -> tuple[float | None, str]:
    """This run's counterpart of one paper cell and the file it comes from; None when not produced."""
    try:
        return LOOKUPS[cell["paper"]](Path(results), settings, cell["table"], cell["key"])
    except (KeyError, IndexError, ValueError):
        return None, ""


def tolerance(cell: dict) -> tuple[str, float]:
    """("points", 3) for accuracies, ("relative", 0.1) for every other number."""
    last = cell["key"][-1] if cell["key"] else ""
    if last in ACCURACY_KEYS or cell["table"] in ("fgsm", "pgd") or "accuracy" in cell["key"]:
        return "points", TOLERANCE["accuracy"]
    if cell["paper"] == "LIMEREF":
        return "points", TOLERANCE["accuracy"]
    return "relative", TOLERANCE["relative"]


def verdict(paper: float, ours: float | None, kind: str, tol: float) -> str:
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return "not run"
    gap = abs(ours - paper) if kind == "points" else abs(ours - paper) / max(abs(paper), 1e-12)
    return "within tolerance" if gap <= tol else "differs"


def scorecard(values: dict, results: str | Path, settings: dict) -> pd.DataFrame:
    """One row per paper number: paper, table, key, paper value, ours, difference, tolerance, scale,
    verdict ("within tolerance", "differs", "not run") and the file our value comes from."""
    rows = []
    scale = settings.get("scale", "paper")
    for cell in paper_cells(values):
        ours, source = our_value(cell, Path(results), settings)
        kind, tol = tolerance(cell)
        rows.append(dict(paper=cell["paper"], table=cell["table"], key="/".join(cell["key"]),
                         paper_value=cell["paper_value"], ours=ours,
                         difference=None if ours is None else ours - cell["paper_value"],
                         tolerance=f"±{tol:g} points" if kind == "points" else f"±{tol:.0%}",
                         scale=scale if ours is not None else "", verdict=verdict(cell["paper_value"], ours, kind, tol),
                         source=source if ours is not None else ""))
    return pd.DataFrame(rows)


def summary(card: pd.DataFrame) -> pd.DataFrame:
    """Cells per paper and verdict."""
    out = card.pivot_table(index="paper", columns="verdict", values="key", aggfunc="count", fill_value=0)
    return out.reset_index()
