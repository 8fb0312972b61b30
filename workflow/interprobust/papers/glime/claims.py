"""G-LIME's claims, checked on this run's tables (the first main setting)."""

from __future__ import annotations

from ...results import Claim, NotRun, Results, row


def _vs_lime(table: str, better: str):
    def check(results: Results):
        inst = next(iter(results.instances(f"glime/{table}")), None)
        if inst is None:
            raise NotRun("G-LIME not configured")
        df, _ = results.read(f"glime/{table}")
        col = f"n={inst['n']}"
        if col not in df.columns:
            raise NotRun(f"no column {col}")
        lime = float(row(df, "estimator", "LIME")[col])
        ours = {e: float(row(df, "estimator", e)[col]) for e in ("G-LIME-N", "G-LIME-AVG")}
        ok = all((v < lime) if better == "lower" else (v > lime) for v in ours.values())
        return ok, f"n = {inst['n']}: LIME {lime:.4f}; " + ", ".join(f"{k} {v:.4f}" for k, v in ours.items())
    return check


def _stability(results: Results):
    df, _ = results.read("glime/table4")
    cols = [c for c in df.columns if c.startswith("n=")]
    lime, glime = row(df, "estimator", "LIME"), row(df, "estimator", "G-LIME-N")
    ok = all(float(glime[c]) < float(lime[c]) for c in cols)
    return ok, "; ".join(f"{c}: G-LIME-N {float(glime[c]):.3f} vs LIME {float(lime[c]):.3f}" for c in cols)


def _fidelity_order(results: Results):
    """Table 6 by order: every G-LIME-x (Ridge, any prior) fits the model more closely than LIME (lower
    MSE); the paper's MSE values are on a scale we cannot recover (scorecard: scale not comparable)."""
    inst = next(iter(results.instances("glime/table6")), None)
    if inst is None:
        raise NotRun("G-LIME not configured")
    df, _ = results.read("glime/table6")
    lime = float(row(df, "estimator", "LIME")["mse"])
    ours = {e: float(v) for e, v in zip(df.estimator, df.mse) if str(e).startswith("G-LIME")}
    if not ours:
        raise NotRun("no G-LIME row in Table 6")
    ok = all(v < lime for v in ours.values())
    return ok, f"n = {inst.get('n')}: MSE LIME {lime:.4g}; " + ", ".join(f"{k} {v:.4g}" for k, v in ours.items())


CLAIMS = [
    Claim("GLIME", "G-LIME (N and AVG) has a lower deletion AUC than LIME at table6_samples", _vs_lime("table2", "lower")),
    Claim("GLIME", "G-LIME (N and AVG) has a higher insertion AUC than LIME at table6_samples",
          _vs_lime("table3", "higher")),
    Claim("GLIME", "G-LIME-N is more stable than LIME at every number of samples", _stability),
    Claim("GLIME", "every G-LIME-x has a lower local-fidelity MSE than LIME at table6_samples (by order)",
          _fidelity_order),
]
