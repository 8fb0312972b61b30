"""SEP's claims, checked on this run's Tables 1 and 2."""

from __future__ import annotations

from ...results import Claim, NotRun, Results, row


def _vs_mat(variant: str, direction: str):
    def check(results: Results):
        df, _ = results.read("sep/table2")
        pairs = [(m, m.replace(" MAT", f" {variant}")) for m in df.model if m.endswith(" MAT")]
        pairs = [(a, b) for a, b in pairs if b in set(df.model)]
        if not pairs:
            raise NotRun(f"no MAT / {variant} row pairs in table2")
        ok, notes = True, []
        for mat, sep in pairs:
            a, b = row(df, "model", mat), row(df, "model", sep)
            moved = b.expl_end < a.expl_end if direction == "lower" else b.expl_end > a.expl_end
            same_adv = abs(b.adv_acc - a.adv_acc) <= 1.0
            ok &= bool(moved and same_adv)
            notes.append(f"{sep}: expl at end {b.expl_end:.3g} vs MAT {a.expl_end:.3g}, adversarial accuracy "
                         f"{b.adv_acc:.1f} vs {a.adv_acc:.1f} %")
        return ok, "; ".join(notes)
    return check


def _trades_beta(results: Results):
    df, _ = results.read("sep/table1")
    beta = df.model.str.extract(r"beta=([0-9.]+)")[0].astype(float)
    df = df.assign(beta=beta).dropna(subset=["beta"]).sort_values("beta")
    if len(df) < 2:
        raise NotRun("fewer than two TRADES rows")
    ok = bool((df.adv_acc.diff().dropna() >= -1.0).all() and (df.expl_start.diff().dropna() >= 0).all())
    return ok, "; ".join(f"β {b:g}: adv {a:.1f} %, expl at start {e:.3g}"
                         for b, a, e in zip(df.beta, df.adv_acc, df.expl_start))


CLAIMS = [
    Claim("SEP", "SEP_pos lowers expl at end below MAT at equal adversarial accuracy (±1 point)", _vs_mat("SEP_pos", "lower")),
    Claim("SEP", "SEP_neg raises expl at end above MAT at equal adversarial accuracy (±1 point)", _vs_mat("SEP_neg", "higher")),
    Claim("SEP", "a larger TRADES β gives no lower adversarial accuracy (−1 point) and a higher expl at start",
          _trades_beta),
]
