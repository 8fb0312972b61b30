"""The replication scorecard: every number of ``paper_values.yaml`` beside the value this run produced.

``paper_cells`` flattens the paper values into cells (paper, table, key, paper value); ``our_value``
finds each cell's counterpart through the paper's own lookup (``papers/<paper>/scorecard.py``) in the
run's manifest (a missing file, row or column gives None: "not run", never a guess); ``scorecard`` adds
the difference and a verdict within a stated tolerance. Plain data in (nested dicts, the manifest), a
DataFrame out.
"""

from __future__ import annotations

import math

import pandas as pd

from .results import NotRun, Results

SKIP = {"source", "note", "approx", "restored", "setting", "units"}
LIST_COLUMNS = {  # what the positions of a list value mean, by paper and table
    ("AGA", "table1"): ["rps", "ins", "a_ins"],
    ("AGA", "table2_cost"): ["time", "memory"],
    ("SEP", "*"): ["expl_start", "expl_end", "clean_acc", "adv_acc"],
}
TOLERANCE = {"accuracy": 3.0, "relative": 0.10,   # accuracy cells: +-3 points; every other cell: +-10 %
             "aga_rps": 0.02}                      # AGA's RPS (cosine): +-0.02 absolute (+-10 % spans CE..ours)
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


def _lookups() -> dict:
    from .papers.aga.scorecard import lookup as aga
    from .papers.glime.scorecard import lookup as glime
    from .papers.limeref.scorecard import lookup as limeref
    from .papers.sep.scorecard import lookup as sep
    return {"LIMEREF": limeref, "GLIME": glime, "AGA": aga, "SEP": sep}



def flag(cell: dict, results: Results, ours: float | None) -> str | None:
    """A verdict that overrides the tolerance check (``inflated``: the number does not survive the strong
    attacks), or None."""
    check = _paper_hook(cell["paper"], "flag")
    try:
        return check(results, cell["table"], cell["key"], ours) if check else None
    except NotRun:
        return None


def honesty(cell: dict, results: Results, ours: float | None) -> str:
    """The paper module's honesty check of a cell (``honesty(results, table, key, ours)``, where defined):
    e.g. LIMEREF's "inflated", "honest" or "strong set not run at ε = 0.1" for a robustness cell; ""
    where the paper has no check or the cell is not one it checks."""
    check = _paper_hook(cell["paper"], "honesty")
    try:
        return (check(results, cell["table"], cell["key"], ours) or "") if check else ""
    except NotRun:
        return ""


def our_value(cell: dict, results: Results) -> tuple[float | None, str]:
    """This run's counterpart of one paper cell and the file it comes from; None when not produced."""
    try:
        return _lookups()[cell["paper"]](results, cell["table"], cell["key"])
    except NotRun:
        return None, ""


def _paper_hook(paper: str, name: str):
    """``papers/<p>/scorecard.py``'s optional function ``name`` (None where the paper has none)."""
    import importlib
    module = {"LIMEREF": "limeref", "GLIME": "glime", "AGA": "aga", "SEP": "sep"}.get(paper)
    return getattr(importlib.import_module(f".papers.{module}.scorecard", __package__), name, None) \
        if module else None


def not_comparable(cell: dict) -> str | None:
    """The paper module's reason (``comparable(table, key)``, where defined) why a cell's value is on a
    scale ours cannot match; None: compare it."""
    check = _paper_hook(cell["paper"], "comparable")
    return check(cell["table"], cell["key"]) if check else None


def tolerance(cell: dict) -> tuple[str, float]:
    """("points", 3) for accuracies, ("absolute", 0.02) for AGA's RPS, ("relative", 0.1) for every other number."""
    last = cell["key"][-1] if cell["key"] else ""
    if cell["paper"] == "AGA" and cell["table"] == "table1" and last == "rps":
        return "absolute", TOLERANCE["aga_rps"]
    if last in ACCURACY_KEYS or cell["table"] in ("fgsm", "pgd") or "accuracy" in cell["key"]:
        return "points", TOLERANCE["accuracy"]
    if cell["paper"] == "LIMEREF":
        return "points", TOLERANCE["accuracy"]
    return "relative", TOLERANCE["relative"]


def verdict(paper: float, ours: float | None, kind: str, tol: float) -> str:
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return "not run"
    gap = abs(ours - paper) if kind in ("points", "absolute") else abs(ours - paper) / max(abs(paper), 1e-12)
    return "within tolerance" if gap <= tol else "differs"


def inconsistent_cells(values: dict) -> dict[tuple[str, str, tuple], str]:
    """(paper, table, key) -> why, for the cells a paper's ``scorecard.inconsistent(values)`` flags as
    contradicting the paper itself (judged "paper inconsistent", not against our value)."""
    hooks = {p: _paper_hook(p, "inconsistent") for p in values}
    return {(p, t, k): why for p, hook in hooks.items() if hook
            for (t, k), why in hook(values[p]).items()}


def scorecard(values: dict, manifest: dict) -> pd.DataFrame:
    """One row per paper number: paper, table, key, paper value, ours, difference, tolerance, scale,
    verdict ("within tolerance", "differs", "not run", "paper inconsistent" for a cell the paper
    contradicts elsewhere (:func:`inconsistent_cells`, the reason in ``note``), a paper's honesty flag
    such as LIMEREF's "inflated" (the number does not survive the strong attacks), or a paper module's
    reason such as "scale not comparable": such cells are judged by order in the claims), the honesty
    check's outcome (``honesty``: "inflated", "honest", "strong set not run at ε = …", or "" for a cell
    no honesty check applies to: an unchecked robustness cell says so, it never reads as fine) and the
    file our value comes from. ``manifest`` is the registry's (``registry.manifest``): which artifact instances
    this run built, and their files."""
    rows = []
    results = Results(manifest)
    scale = results.scale
    flagged = inconsistent_cells(values)
    for cell in paper_cells(values):
        ours, source = our_value(cell, results)
        kind, tol = tolerance(cell)
        note = flagged.get((cell["paper"], cell["table"], cell["key"]), "")
        judged = verdict(cell["paper_value"], ours, kind, tol)
        reason = not_comparable(cell)
        override = flag(cell, results, ours)
        if note:
            judged = "paper inconsistent"       # the paper contradicts itself: not judged against ours
        elif override:
            judged = override                   # e.g. "inflated": our number does not survive strong attacks
        elif reason and judged != "not run":
            judged = reason                     # judged by order in the claims, not by value
        rows.append(dict(paper=cell["paper"], table=cell["table"], key="/".join(cell["key"]),
                         paper_value=cell["paper_value"], ours=ours,
                         difference=None if ours is None else ours - cell["paper_value"],
                         tolerance={"points": f"±{tol:g} points", "absolute": f"±{tol:g}"}.get(kind, f"±{tol:.0%}"),
                         scale=scale if ours is not None else "", verdict=judged,
                         honesty=honesty(cell, results, ours),
                         source=source if ours is not None else "", note=note))
    return pd.DataFrame(rows)


def summary(card: pd.DataFrame) -> pd.DataFrame:
    """Cells per paper and verdict."""
    out = card.pivot_table(index="paper", columns="verdict", values="key", aggfunc="count", fill_value=0)
    return out.reset_index()
