"""Where each G-LIME paper cell is in this run's tables (the first main setting stands for CUB-200)."""

from __future__ import annotations

from ...results import NotRun, Results, one

BASELINES = {"Grad-CAM": "gradcam", "IG": "integrated_gradients", "SmoothGrad": "smoothgrad"}


def lookup(results: Results, table: str, key: tuple) -> tuple[float | None, str]:
    if not table.startswith("table"):
        raise NotRun(f"no G-LIME output holds {table}")
    df, f = results.read(f"glime/{table.split('_')[0]}")
    if table in ("table2_deletion", "table3_insertion", "table4_stability"):
        if key[0] == "global_only":
            return one(df, "prior only", estimator=key[1]), str(f)
        return one(df, f"n={key[1]}", estimator=key[0]), str(f)
    if table in ("table5_methods", "table6_priors"):
        return one(df, key[1], estimator=BASELINES.get(key[0], key[0])), str(f)
    if table == "table7_networks":
        return one(df, key[2], model=key[0], estimator=key[1]), str(f)
    raise NotRun(f"no G-LIME output holds {table}")
