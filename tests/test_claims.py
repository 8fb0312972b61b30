"""The claims' verdict logic on hand-made result tables."""

import pandas as pd

from interprobust import claims as C



def manifest(results):
    """What the registry declares for a small configuration: LIMEREF on dataset d, G-LIME setting g at
    n = 200, AGA setting a, SEP Tables 1 and 2 (files under ``results``)."""
    f = lambda rel, fmt="csv": {fmt: str(results / rel)}   # noqa: E731
    return {"scale": "embedded", "artifacts": {
        "limeref/fig04": [{"dataset": "d", "role": "cifar10", "files": f("limeref/fig04_d.csv")}],
        "limeref/fig05": [{"dataset": "d", "role": "cifar10", "files": f("limeref/fig05_d.csv")}],
        "limeref/honesty": [{"dataset": "d", "files": f("limeref/honesty_d_tidy.csv", "tidy")}],
        **{f"glime/table{n}": [{"name": "g", "n": 200, "files": f(f"glime/table{n}_g.csv")}] for n in (2, 3, 4, 6)},
        "aga/table1": [{"name": "a", "files": f("aga/table1_a_tidy.csv", "tidy")}],
        "aga/table2": [{"name": "a", "files": f("aga/table2_a.csv")}],
        "sep/table1": [{"files": f("sep/table1.csv")}], "sep/table2": [{"files": f("sep/table2.csv")}]}}


def _write(results, rel, rows):
    path = results / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _verdicts(results):
    df = C.check_claims(manifest(results))
    return dict(zip(df.claim, df.verdict)), df


def test_every_claim_is_not_run_without_results(tmp_path):
    verdicts, df = _verdicts(tmp_path)
    assert set(verdicts.values()) == {"not run"} and len(df) == len(C.all_claims())
    assert df.numbers.str.contains("not produced").all()


def test_claims_hold_or_fail_on_their_numbers(tmp_path):
    _write(tmp_path, "limeref/fig05_d.csv", [dict(model="baseline", attack="pgd", eps=0.03, accuracy=10.0),
                                             dict(model="refined", attack="pgd", eps=0.03, accuracy=50.0)])
    _write(tmp_path, "limeref/fig04_d.csv", [dict(model="baseline", attack="fgsm", eps=0.03, accuracy=30.0),
                                             dict(model="refined", attack="fgsm", eps=0.03, accuracy=20.0)])
    _write(tmp_path, "glime/table2_g.csv", [dict(estimator="LIME", **{"n=200": 0.20}),
                                            dict(estimator="G-LIME-N", **{"n=200": 0.18}),
                                            dict(estimator="G-LIME-AVG", **{"n=200": 0.21})])
    _write(tmp_path, "glime/table4_g.csv", [dict(estimator="LIME", **{"n=50": 0.4, "n=200": 0.2}),
                                            dict(estimator="G-LIME-N", **{"n=50": 0.3, "n=200": 0.1})])
    _write(tmp_path, "glime/table6_g.csv", [dict(estimator="LIME", r2=0.4, mse=0.25),
                                            dict(estimator="G-LIME-N", r2=0.45, mse=0.2),
                                            dict(estimator="G-LIME-AVG", r2=0.41, mse=0.26)])
    _write(tmp_path, "aga/table1_a_tidy.csv", [
        dict(model=m, method="none", metric="accuracy", eps=0.0, value=acc) for m, acc in (("CE", 80.0), ("L2+Cosd", 79.0))
    ] + [dict(model=m, method="gradient", metric="rps_cosine", eps=e, value=v)
         for m, e, v in (("CE", 0.0627, 0.7), ("L2+Cosd", 0.0627, 0.9), ("CE", 0.0157, 0.95))])
    _write(tmp_path, "sep/table2.csv", [
        dict(model="c ConvNet MAT", expl_start=10, expl_end=6.0, clean_acc=60, adv_acc=30.0),
        dict(model="c ConvNet SEP_pos", expl_start=4, expl_end=2.0, clean_acc=60, adv_acc=30.5),
        dict(model="c ConvNet SEP_neg", expl_start=12, expl_end=7.0, clean_acc=60, adv_acc=27.0)])
    _, df = _verdicts(tmp_path)
    assert list(df.verdict) == [
        "holds",          # PGD 50 > 10
        "does not hold",  # FGSM 20 < 30
        "not run",        # no honesty table: the worst case is unknown
        "not run",        # no FGSM-only control
        "does not hold",  # G-LIME-AVG deletion 0.21 is not below LIME's 0.20
        "not run",        # no table 3
        "holds",          # G-LIME-N more stable at both n
        "does not hold",  # G-LIME-AVG's MSE 0.26 is not below LIME's 0.25 (Table 6, by order)
        "holds",          # L2+Cosd 0.9 is the highest Grad-RPS at the largest eps
        "holds",          # 1 point drop
        "not run",        # no cost table
        "holds",          # SEP_pos: 2 < 6 at 30.5 vs 30
        "does not hold",  # SEP_neg: higher end, but adversarial accuracy 3 points lower
        "not run",        # no TRADES table
    ], df[["claim", "verdict", "numbers"]].to_string()
    assert "refined 50.0 % vs baseline 10.0 %" in df.numbers[0]


def test_null_sections_are_not_run(tmp_path):
    """`papers: []` declares no paper artifact: every claim and cell is "not run", no error."""
    from interprobust import scorecard
    empty = {"scale": "embedded", "artifacts": {}}
    assert set(C.check_claims(empty).verdict) == {"not run"}
    values = {"GLIME": {"table2_deletion": {"LIME": {"100": 0.2}}}, "LIMEREF": {"cifar10": {"fgsm": {"0.01": {"baseline": 5}}}}}
    assert set(scorecard.scorecard(values, empty).verdict) == {"not run"}


def _honesty(tmp_path, worst):
    """PGD-40 at 0.03: baseline 10, refined 50, control 45; strong worst case as given (model -> accuracy)."""
    pgd = {"baseline": 10.0, "refined": 50.0, "FGSM-only control": 45.0}
    _write(tmp_path, "limeref/fig05_d.csv", [dict(model=m, attack="pgd", eps=0.03, accuracy=a) for m, a in pgd.items()])
    _write(tmp_path, "limeref/fig04_d.csv", [dict(model=m, attack="fgsm", eps=0.03, accuracy=a + 10)
                                             for m, a in pgd.items()])
    _write(tmp_path, "limeref/honesty_d_tidy.csv",
           [dict(model=m, attack="pgd", eps=0.03, accuracy=a) for m, a in pgd.items()]
           + [dict(model=m, attack="worst-case", eps=0.03, accuracy=a) for m, a in worst.items()])
    verdicts, df = _verdicts(tmp_path)
    return [v for c, v in verdicts.items() if "refined" in c or "LIME adds" in c], df


def test_a_gain_the_strong_set_breaks_holds_under_pgd40_only(tmp_path):
    v, df = _honesty(tmp_path, {"baseline": 9.0, "refined": 8.0, "FGSM-only control": 7.0})
    assert v == ["holds under PGD-40 only", "holds under PGD-40 only", "does not hold", "holds"], df.to_string()
    assert "inflated" in df.numbers[0] and "refined 8.0 % vs baseline 9.0 %" in df.numbers[0]


def test_a_gain_that_survives_the_strong_set_holds(tmp_path):
    # refined loses 2 points under the strong set (within 3): not inflated; still above baseline and control
    v, df = _honesty(tmp_path, {"baseline": 5.0, "refined": 48.0, "FGSM-only control": 20.0})
    assert v == ["holds", "holds", "holds", "holds"], df.to_string()
    v, _ = _honesty(tmp_path, {"baseline": 5.0, "refined": 30.0, "FGSM-only control": 40.0})
    assert v == ["holds under PGD-40 only", "holds under PGD-40 only", "holds", "does not hold"]


def _budget_claims(tmp_path, budget):
    """PGD-40 / FGSM at 0.03: baseline 10 / 20 (short-trained), refined 50 / 60, the equal-budget baseline
    ``budget`` / ``budget + 10`` (None: not compared, as under from_scratch); worst case 1 point below
    PGD-40 for every model (nothing inflated)."""
    pgd = {"baseline": 10.0, "refined": 50.0, **({"equal-budget baseline": budget} if budget is not None else {})}
    _write(tmp_path, "limeref/fig05_d.csv", [dict(model=m, attack="pgd", eps=0.03, accuracy=a) for m, a in pgd.items()])
    _write(tmp_path, "limeref/fig04_d.csv", [dict(model=m, attack="fgsm", eps=0.03, accuracy=a + 10)
                                             for m, a in pgd.items()])
    _write(tmp_path, "limeref/honesty_d_tidy.csv",
           [dict(model=m, attack="pgd", eps=0.03, accuracy=a) for m, a in pgd.items()]
           + [dict(model=m, attack="worst-case", eps=0.03, accuracy=a - 1) for m, a in pgd.items()])
    df = C.check_claims(manifest(tmp_path))
    df = df[df.paper.eq("LIMEREF") & df.claim.str.contains("baseline")].reset_index(drop=True)
    assert len(df) == 3, df.to_string()   # PGD, FGSM, the worst case
    return list(df.verdict), df


def test_the_refined_model_must_beat_the_equal_budget_baseline_when_it_is_compared(tmp_path):
    # the short baseline (10 %) is far weaker, but CE for the same total epochs (60 %) beats the refined model
    verdicts, df = _budget_claims(tmp_path, 60.0)
    assert verdicts == ["does not hold"] * 3, df.to_string()
    assert "equal-budget baseline 60.0 %" in df.numbers[0] and "baseline 10.0 %" in df.numbers[0]
    assert "equal-budget baseline 59.0 %" in df.numbers[2]          # its worst case
    # a weaker equal-budget baseline: the gain holds against both
    verdicts, df = _budget_claims(tmp_path, 40.0)
    assert verdicts == ["holds"] * 3, df.to_string()
    # not compared (from_scratch: the baseline is the equal-budget one): judged against the baseline only
    verdicts, df = _budget_claims(tmp_path, None)
    assert verdicts == ["holds"] * 3 and not df.numbers.str.contains("equal-budget").any(), df.to_string()
