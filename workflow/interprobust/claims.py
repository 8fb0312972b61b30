"""Each paper's qualitative claims written as checks on this run's result tables.

A claim reads named tables (CSV files under the results folder) and returns a verdict: "holds",
"does not hold", or "not run" when a table or row it needs was not produced, with the numbers it
compared. Plain data in (a results folder and the run's settings), a DataFrame out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


class NotRun(Exception):
    """A table or row the claim needs is not in this run's results."""


@dataclass
class Claim:
    paper: str
    text: str
    check: Callable[[Path, dict], tuple[bool, str]]   # (holds, the numbers behind the verdict)


def _read(results: Path, rel: str) -> pd.DataFrame:
    path = results / rel
    if not path.exists():
        raise NotRun(f"{rel} not produced")
    return pd.read_csv(path)


def _row(df: pd.DataFrame, column: str, value) -> pd.Series:
    sel = df[df[column].astype(str) == str(value)]
    if sel.empty:
        raise NotRun(f"no row {column} = {value!r}")
    return sel.iloc[0]


# --------------------------------------------------------------------------------------------- LIMEREF
def _limeref_attack(attack: str, eps: float):
    def check(results: Path, settings: dict):
        ds = ((settings.get("limeref") or {}).get("datasets") or {}).get("cifar10")
        if ds is None:
            raise NotRun("LIMEREF not configured")
        df = _read(results, f"limeref/fig{'04' if attack == 'fgsm' else '05'}_{ds}.csv")
        df = df[(df.attack == attack) & ((df.eps - eps).abs() < 1e-9)]
        acc = {m: float(_row(df, "model", m).accuracy) for m in ("baseline", "refined")}
        return acc["refined"] > acc["baseline"], f"refined {acc['refined']:.1f} % vs baseline {acc['baseline']:.1f} %"
    return check


# ----------------------------------------------------------------------------------------------- GLIME
def _glime_table(results: Path, settings: dict, number: int) -> pd.DataFrame:
    mains = (settings.get("glime") or {}).get("settings") or []
    if not mains:
        raise NotRun("G-LIME not configured")
    return _read(results, f"glime/table{number}_{mains[0]['name']}.csv")


def _glime_vs_lime(number: int, better: str):
    def check(results: Path, settings: dict):
        n = (settings.get("glime") or {}).get("table6_samples")
        df = _glime_table(results, settings, number)
        col = f"n={n}"
        if col not in df.columns:
            raise NotRun(f"no column {col}")
        lime = float(_row(df, "estimator", "LIME")[col])
        ours = {e: float(_row(df, "estimator", e)[col]) for e in ("G-LIME-N", "G-LIME-AVG")}
        ok = all((v < lime) if better == "lower" else (v > lime) for v in ours.values())
        return ok, f"n = {n}: LIME {lime:.4f}; " + ", ".join(f"{k} {v:.4f}" for k, v in ours.items())
    return check


def _glime_stability(results: Path, settings: dict):
    df = _glime_table(results, settings, 4)
    cols = [c for c in df.columns if c.startswith("n=")]
    lime = _row(df, "estimator", "LIME")
    glime = _row(df, "estimator", "G-LIME-N")
    ok = all(float(glime[c]) < float(lime[c]) for c in cols)
    return ok, "; ".join(f"{c}: G-LIME-N {float(glime[c]):.3f} vs LIME {float(lime[c]):.3f}" for c in cols)


# ------------------------------------------------------------------------------------------------- AGA
def _aga_settings(settings: dict) -> list[str]:
    names = [s["name"] for s in (settings.get("aga") or {}).get("settings") or []]
    if not names:
        raise NotRun("AGA not configured")
    return names


def _aga_highest_grad_rps(results: Path, settings: dict):
    notes, ok = [], True
    for name in _aga_settings(settings):
        df = _read(results, f"aga/table1_{name}.csv")
        r = df[(df.metric == "rps_cosine") & (df.method == "gradient")]
        r = r[(r.eps - r.eps.max()).abs() < 1e-9].set_index("model").value
        if "L2+Cosd" not in r:
            raise NotRun(f"{name}: no L2+Cosd row")
        ok &= bool(r["L2+Cosd"] >= r.max() - 1e-12)
        notes.append(f"{name}: " + ", ".join(f"{m} {v:.3f}" for m, v in r.items()))
    return ok, "; ".join(notes)


def _aga_accuracy_kept(results: Path, settings: dict):
    notes, ok = [], True
    for name in _aga_settings(settings):
        df = _read(results, f"aga/table1_{name}.csv")
        acc = df[df.metric == "accuracy"].set_index("model").value
        if not {"CE", "L2+Cosd"} <= set(acc.index):
            raise NotRun(f"{name}: no CE / L2+Cosd rows")
        ok &= bool(acc["CE"] - acc["L2+Cosd"] <= 1.5)
        notes.append(f"{name}: CE {acc['CE']:.1f} %, L2+Cosd {acc['L2+Cosd']:.1f} %")
    return ok, "; ".join(notes)


def _aga_cheaper_than_hessian(results: Path, settings: dict):
    notes, ok = [], True
    for name in _aga_settings(settings):
        df = _read(results, f"aga/table2_{name}.csv").set_index("model")
        if not {"Hessian", "L2+Cosd"} <= set(df.index):
            raise NotRun(f"{name}: no Hessian / L2+Cosd rows")
        t = df.time_vs_first
        ok &= bool(t["L2+Cosd"] < t["Hessian"])
        notes.append(f"{name}: L2+Cosd ×{t['L2+Cosd']:.2f}, Hessian ×{t['Hessian']:.2f} of CE")
    return ok, "; ".join(notes)


# ------------------------------------------------------------------------------------------------- SEP
def _sep_vs_mat(row: str, direction: str):
    def check(results: Path, settings: dict):
        df = _read(results, "sep/table2.csv")
        pairs = [(m, m.replace(" MAT", f" {row}")) for m in df.model if m.endswith(" MAT")]
        pairs = [(a, b) for a, b in pairs if b in set(df.model)]
        if not pairs:
            raise NotRun(f"no MAT / {row} row pairs in table2")
        ok, notes = True, []
        for mat, sep in pairs:
            a, b = _row(df, "model", mat), _row(df, "model", sep)
            moved = b.expl_end < a.expl_end if direction == "lower" else b.expl_end > a.expl_end
            same_adv = abs(b.adv_acc - a.adv_acc) <= 1.0
            ok &= bool(moved and same_adv)
            notes.append(f"{sep}: expl at end {b.expl_end:.3g} vs MAT {a.expl_end:.3g}, adversarial accuracy "
                         f"{b.adv_acc:.1f} vs {a.adv_acc:.1f} %")
        return ok, "; ".join(notes)
    return check


def _sep_trades_beta(results: Path, settings: dict):
    df = _read(results, "sep/table1.csv")
    beta = df.model.str.extract(r"beta=([0-9.]+)")[0].astype(float)
    df = df.assign(beta=beta).dropna(subset=["beta"]).sort_values("beta")
    if len(df) < 2:
        raise NotRun("fewer than two TRADES rows")
    ok = bool((df.adv_acc.diff().dropna() >= -1.0).all() and (df.expl_start.diff().dropna() >= 0).all())
    return ok, "; ".join(f"β {b:g}: adv {a:.1f} %, expl at start {e:.3g}"
                         for b, a, e in zip(df.beta, df.adv_acc, df.expl_start))


CLAIMS = [
    Claim("LIMEREF", "the refined model beats the baseline under PGD at ε = 0.03 (CIFAR-10)", _limeref_attack("pgd", 0.03)),
    Claim("LIMEREF", "the refined model beats the baseline under FGSM at ε = 0.03 (CIFAR-10)", _limeref_attack("fgsm", 0.03)),
    Claim("GLIME", "G-LIME (N and AVG) has a lower deletion AUC than LIME at table6_samples", _glime_vs_lime(2, "lower")),
    Claim("GLIME", "G-LIME (N and AVG) has a higher insertion AUC than LIME at table6_samples", _glime_vs_lime(3, "higher")),
    Claim("GLIME", "G-LIME-N is more stable than LIME at every number of samples", _glime_stability),
    Claim("AGA", "l2 + cosd has the highest Grad-RPS in every setting", _aga_highest_grad_rps),
    Claim("AGA", "l2 + cosd keeps accuracy within 1.5 points of CE", _aga_accuracy_kept),
    Claim("AGA", "l2 + cosd trains faster than the Hessian regulariser", _aga_cheaper_than_hessian),
    Claim("SEP", "SEP_pos lowers expl at end below MAT at equal adversarial accuracy (±1 point)", _sep_vs_mat("SEP_pos", "lower")),
    Claim("SEP", "SEP_neg raises expl at end above MAT at equal adversarial accuracy (±1 point)", _sep_vs_mat("SEP_neg", "higher")),
    Claim("SEP", "a larger TRADES β gives no lower adversarial accuracy (−1 point) and a higher expl at start", _sep_trades_beta),
]


def check_claims(results: str | Path, settings: dict, claims: list[Claim] | None = None) -> pd.DataFrame:
    """paper, claim, verdict (holds | does not hold | not run), the numbers behind it."""
    rows = []
    for c in claims or CLAIMS:
        try:
            ok, numbers = c.check(Path(results), settings)
            verdict = "holds" if ok else "does not hold"
        except NotRun as e:
            verdict, numbers = "not run", str(e)
        rows.append(dict(paper=c.paper, claim=c.text, verdict=verdict, numbers=numbers))
    return pd.DataFrame(rows)
