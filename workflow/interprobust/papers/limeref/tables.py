"""LIMEREF's tables: the honesty check (stronger attacks) and the planted-spurious-feature check."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine
from ..overview.tables import robustness_wide


INFLATION_POINTS = 3.0   # a PGD-40 accuracy more than this above the strong worst case is marked inflated
WORST_CASE = "worst-case"   # evaluation.robustness.WORST_CASE (not imported: tables do not import torch)


def honesty_frame(sweep: pd.DataFrame, strong: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows (model, attack, eps, accuracy, n) of the sweep and the strong set, clean once per model,
    plus per (model, eps) of the strong set ``pgd-40 − worst`` and whether it is ``inflated``."""
    strong = strong[strong.attack != "clean"]
    # the strong job runs PGD-40 on its own images (the reference): at those eps it replaces the sweep's,
    # so PGD-40 and the worst case are compared on the same images
    ref = strong[strong.attack == "pgd"]
    if len(ref):
        same = sweep.attack.eq("pgd") & sweep.eps.round(9).isin(ref.eps.round(9))
        sweep = sweep[~same]
    df = pd.concat([sweep, strong], ignore_index=True)
    sweep = df
    gaps = []
    for (model, eps), g in strong[strong.attack == WORST_CASE].groupby(["model", "eps"], sort=False):
        pgd = sweep[(sweep.model == model) & (sweep.attack == "pgd") & ((sweep.eps - eps).abs() < 1e-9)]
        if len(pgd):
            gap = float(pgd.accuracy.iloc[0]) - float(g.accuracy.iloc[0])
            gaps.append(dict(model=model, attack="pgd-40 − worst", eps=eps, accuracy=gap, n=g.n.iloc[0],
                             inflated=gap > INFLATION_POINTS))
    out = pd.concat([df, pd.DataFrame(gaps)], ignore_index=True)
    return out


def unchecked_eps(sweep: pd.DataFrame, strong: pd.DataFrame) -> list[tuple[str, float]]:
    """(attack, eps) of the sweep's FGSM / PGD cells at an eps where the strong set has no worst-case row:
    cells with no honesty check, which the tables name ("strong set not run") rather than leave silent."""
    checked = {round(float(e), 9) for e in strong.loc[strong.attack == WORST_CASE, "eps"]} if len(strong) else set()
    cells = sweep[sweep.attack.isin(["fgsm", "pgd"])][["attack", "eps"]].drop_duplicates()
    return [(a, float(e)) for a, e in cells.itertuples(index=False) if round(float(e), 9) not in checked]


def _unchecked_notes(sweep: pd.DataFrame, strong: pd.DataFrame) -> list[str]:
    cells = unchecked_eps(sweep, strong)
    if not cells:
        return []
    eps = ", ".join(f"{e:g}" for e in sorted({e for _, e in cells}))
    attacks = " / ".join(sorted({a.upper() for a, _ in cells}))
    return [f"- **strong set not run** at ε = {eps}: the {attacks} cells there have no honesty check "
            "(unchecked, not shown to be honest)"]


def honesty_table(inputs, *, labels, schedule="from_scratch"):
    """Baseline, controls and refined model under the sweep's attacks (FGSM, PGD-40) and the strong set
    (PGD-100 with restarts, APGD-CE, APGD-DLR, Square, the per-sample worst case), side by side; a
    note says whether F_spurious was empty (the refined model is then FGSM training only)."""
    from ...io import dataframe_to_markdown, read_json
    sweep, strong = combine(inputs["evals"], labels), combine(inputs["strong"], labels)
    tidy = honesty_frame(sweep, strong)
    wide = robustness_wide(tidy.drop(columns=["inflated"], errors="ignore"))
    flagged = tidy[tidy.get("inflated", pd.Series(False, index=tidy.index)).fillna(False).astype(bool)]
    notes = [f"- **inflated**: {r.model} at ε = {r.eps:g}: PGD-40 is {r.accuracy:.1f} points above the strong "
             f"worst case (> {INFLATION_POINTS:g})" for r in flagged.itertuples()]
    notes += _unchecked_notes(sweep, strong)
    for p in inputs.get("spurious", []):
        rec = read_json(p)
        size = rec.get("size", {}).get("global", int(sum(rec["sets"]["global"])))
        status = ("EMPTY: the refined model trained with FGSM only (no masking, no L_reg); compare it with the "
                  "FGSM-only control" if size == 0 else f"{size} of {len(rec['sets']['global'])} features")
        notes.append(f"- F_spurious (last round, global): {status}")
        wide["|F_spurious|"] = [size if m == "refined" else None for m in wide["model"]]
    if schedule == "from_scratch":
        notes.append("- schedule from_scratch: every model trains from new weights for the same epochs, so the "
                     "baseline is the equal-budget baseline")
    md = dataframe_to_markdown(wide, digits=2) + ("\n\n" + "\n".join(notes) if notes else "")
    return Table(wide, tidy=tidy, digits=2, markdown=md)


def corrupted_honesty_table(inputs, *, labels):
    """Per (model, corruption), mean over severities: PGD-40 and the strong set's attacks and worst case
    at each eps of the strong set, the gap and whether it is inflated (> 3 points); a note names every
    eps of Fig. 12-15 the strong set did not run at ("strong set not run": those cells are unchecked)."""
    from ...io import dataframe_to_markdown
    sweep = combine(inputs["evals"], labels)
    strong = combine(inputs["strong"], labels)
    notes = _unchecked_notes(sweep, strong)
    eps = sorted(strong.eps.unique())
    # PGD-40 on the strong job's own images when it ran it (the reference), else the sweep's
    sweep = sweep[(sweep.attack == "pgd") & sweep.eps.round(9).isin([round(e, 9) for e in eps])]
    df = strong if (strong.attack == "pgd").any() else pd.concat([sweep, strong], ignore_index=True)
    mean = df.groupby(["model", "corruption", "attack", "eps"], sort=False)["accuracy"].mean().reset_index()
    wide = mean.assign(column=[f"{a} ε={e:g}" for a, e in zip(mean.attack, mean.eps)]).pivot_table(
        index=["model", "corruption"], columns="column", values="accuracy", sort=False).reset_index()
    for e in eps:
        p, w = f"pgd ε={e:g}", f"{WORST_CASE} ε={e:g}"
        if p in wide and w in wide:
            wide[f"pgd-40 − worst ε={e:g}"] = wide[p] - wide[w]
            wide[f"inflated ε={e:g}"] = wide[p] - wide[w] > INFLATION_POINTS
    order = {m: i for i, m in enumerate(labels)}
    wide = wide.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    md = dataframe_to_markdown(wide, digits=2) + ("\n\n" + "\n".join(notes) if notes else "")
    return Table(wide, tidy=mean, digits=2, markdown=md)


def spurious_rows(records: list[dict]) -> pd.DataFrame:
    """One row per refinement round: |F| (accumulated, global), this round's own |F|, |F| per class, empty."""
    rows = []
    for r, rec in enumerate(records):
        per_class = [int(sum(c)) for c in rec["sets"]["per_class"]]
        size = int(sum(rec["sets"]["global"]))
        rows.append({"round": r, "images analysed": rec.get("n_images"), "|F| (global)": size,
                     "|F| this round": int(sum(rec.get("this_round", rec["sets"])["global"])),
                     "|F| per class": " ".join(map(str, per_class)), "features": len(rec["sets"]["global"]),
                     "empty": size == 0})
    return pd.DataFrame(rows)


def spurious_table(inputs):
    """F_spurious per round; an empty F is stated in the Markdown view, loudly."""
    from ...io import dataframe_to_markdown, read_json
    df = spurious_rows([read_json(p) for p in inputs["spurious"]])
    md = dataframe_to_markdown(df, digits=3)
    if len(df) and bool(df["empty"].iloc[-1]):
        md += ("\n\n**WARNING: F_spurious is empty after the last round: the refined model is the FGSM-only "
               "recipe (no masking, no sensitivity term).**")
    return Table(df, tidy=df, markdown=md)


def planted_check_table(inputs, *, labels, device="auto", threads=None):
    """Detection against the planted patches, and accuracy with and without them (loads the models)."""
    from ...io import dataframe_to_markdown, read_json
    from ...models.store import load_model, resolve_device
    from ...data.store import load_prepared
    from .spurious import planted_check
    device = resolve_device(device)
    if len(inputs["models"]) != len(labels):
        raise ValueError(f"{len(inputs['models'])} models but {len(labels)} labels")
    models = {label: load_model(p, device)[0] for label, p in zip(labels, inputs["models"])}
    df = pd.DataFrame(planted_check(load_prepared(inputs["data"][0]), [read_json(p) for p in inputs["spurious"]],
                                    models, device))
    md = "\n\n".join(f"### {part}\n\n" + dataframe_to_markdown(
        g.pivot_table(index="item", columns="metric", values="value", sort=False).reset_index(), digits=3)
        for part, g in df.groupby("part", sort=False))
    return Table(df, markdown=md)
