"""The claims' verdict logic on hand-made result tables."""

import pandas as pd

from interprobust import claims as C

SETTINGS = {"scale": "embedded", "limeref": {"datasets": {"cifar10": "d"}},
            "glime": {"settings": [{"name": "g"}], "table6_samples": 200}, "aga": {"settings": [{"name": "a"}]}}


def _write(results, rel, rows):
    path = results / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _verdicts(results):
    df = C.check_claims(results, SETTINGS)
    return dict(zip(df.claim, df.verdict)), df


def test_every_claim_is_not_run_without_results(tmp_path):
    verdicts, df = _verdicts(tmp_path)
    assert set(verdicts.values()) == {"not run"} and len(df) == len(C.CLAIMS)
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
    _write(tmp_path, "aga/table1_a.csv", [
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
        "does not hold",  # G-LIME-AVG deletion 0.21 is not below LIME's 0.20
        "not run",        # no table 3
        "holds",          # G-LIME-N more stable at both n
        "holds",          # L2+Cosd 0.9 is the highest Grad-RPS at the largest eps
        "holds",          # 1 point drop
        "not run",        # no cost table
        "holds",          # SEP_pos: 2 < 6 at 30.5 vs 30
        "does not hold",  # SEP_neg: higher end, but adversarial accuracy 3 points lower
        "not run",        # no TRADES table
    ], df[["claim", "verdict", "numbers"]].to_string()
    assert "refined 50.0 % vs baseline 10.0 %" in df.numbers[0]


def test_null_sections_are_not_run(tmp_path):
    """`papers: []` leaves every section empty or null: every claim and cell is "not run", no error."""
    from interprobust import scorecard
    empty = {"scale": "embedded", "limeref": {"datasets": None}, "glime": {"settings": None}, "aga": {"settings": []}}
    assert set(C.check_claims(tmp_path, empty).verdict) == {"not run"}
    values = {"GLIME": {"table2_deletion": {"LIME": {"100": 0.2}}}, "LIMEREF": {"cifar10": {"fgsm": {"0.01": {"baseline": 5}}}}}
    assert set(scorecard.scorecard(values, tmp_path, empty).verdict) == {"not run"}
