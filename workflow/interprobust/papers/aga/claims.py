"""AGA's claims, checked on this run's Table 1 (tidy rows) and Table 2 in every setting."""

from __future__ import annotations

from ...results import Claim, NotRun, Results


def _settings(results: Results, key: str) -> list[dict]:
    found = results.instances(key)
    if not found:
        raise NotRun("AGA not configured")
    return found


def _highest_grad_rps(results: Results):
    notes, ok = [], True
    for inst in _settings(results, "aga/table1"):
        df, _ = results.read("aga/table1", "tidy", name=inst["name"])
        r = df[(df.metric == "rps_cosine") & (df.method == "gradient")]
        r = r[(r.eps - r.eps.max()).abs() < 1e-9].set_index("model").value
        if "L2+Cosd" not in r:
            raise NotRun(f"{inst['name']}: no L2+Cosd row")
        ok &= bool(r["L2+Cosd"] >= r.max() - 1e-12)
        notes.append(f"{inst['name']}: " + ", ".join(f"{m} {v:.3f}" for m, v in r.items()))
    return ok, "; ".join(notes)


def _accuracy_kept(results: Results):
    notes, ok = [], True
    for inst in _settings(results, "aga/table1"):
        df, _ = results.read("aga/table1", "tidy", name=inst["name"])
        acc = df[df.metric == "accuracy"].set_index("model").value
        if not {"CE", "L2+Cosd"} <= set(acc.index):
            raise NotRun(f"{inst['name']}: no CE / L2+Cosd rows")
        ok &= bool(acc["CE"] - acc["L2+Cosd"] <= 1.5)
        notes.append(f"{inst['name']}: CE {acc['CE']:.1f} %, L2+Cosd {acc['L2+Cosd']:.1f} %")
    return ok, "; ".join(notes)


def _cheaper_than_hessian(results: Results):
    notes, ok = [], True
    for inst in _settings(results, "aga/table2"):
        df, _ = results.read("aga/table2", name=inst["name"])
        df = df.set_index("model")
        if not {"Hessian", "L2+Cosd"} <= set(df.index):
            raise NotRun(f"{inst['name']}: no Hessian / L2+Cosd rows")
        t = df.time_vs_first
        ok &= bool(t["L2+Cosd"] < t["Hessian"])
        notes.append(f"{inst['name']}: L2+Cosd ×{t['L2+Cosd']:.2f}, Hessian ×{t['Hessian']:.2f} of CE")
    return ok, "; ".join(notes)


CLAIMS = [
    Claim("AGA", "l2 + cosd has the highest Grad-RPS in every setting", _highest_grad_rps),
    Claim("AGA", "l2 + cosd keeps accuracy within 1.5 points of CE", _accuracy_kept),
    Claim("AGA", "l2 + cosd trains faster than the Hessian regulariser", _cheaper_than_hessian),
]
