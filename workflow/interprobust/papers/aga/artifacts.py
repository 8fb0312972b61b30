"""AGA's tables (Table 1, Table 2, the appendix RPS table, the grid's selection) and figures (Fig. 1-3)."""

from __future__ import annotations

from ...layout import prepared
from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact


def _settings(plan):
    return plan.aga.instances()


def _rows(**names):
    """Named inputs: one file per row of the setting, e.g. scores="scores.csv"."""
    return lambda plan, w: {k: plan.aga.row_files(w["name"], f) for k, f in names.items()}


def _labels(plan, w):
    return {"labels": plan.aga.row_labels(w["name"]), "seeds": plan.aga.row_seeds(w["name"])}


def _titled(plan, w):
    return {**_labels(plan, w), "title": w["name"]}


def _cost_options(plan, w):
    s = plan.aga.setting(w["name"])
    rows = plan.aga.cost_rows(w["name"])
    # the options travel as sorted JSON: the row order and the reference (CE, the first row) go explicitly
    return {"arch": s["arch"], "rows": rows, "order": list(rows), "reference": next(iter(rows)),
            "steps": plan.aga.s.get("cost_steps", 3)}


def _grid_options(plan, w):
    g = plan.aga.grid_entry(w["name"])
    runs = plan.aga.grid_runs(w["name"])
    return {"labels": [p["label"] for p, _ in runs], "seeds": [s for _, s in runs],
            "recipes": {p["label"]: p["recipe"] for p in g["points"][1:]},
            "reference": g.get("reference", "CE"), "max_drop": plan.aga.s.get("grid_max_drop", 1.0)}


ARTIFACTS = [
    Artifact("aga", "fig1", "two-layer nets on a 2-D toy set: level curves and gradients at two nearby points",
             "results/aga/fig1_toy", FIGURE_FORMATS, "papers.aga.figures:fig1",
             lambda plan, w: {"toy": ["results/aga/toy/fig1_data.npz"]}, lambda plan: [{}] if plan.aga else [],
             caption="aga_fig1.rst", category="AGA"),
    Artifact("aga", "table1", "accuracy; RPS, Insertion and Adv-Insertion per attribution",
             "results/aga/table1_{name}", (*TABLE_FORMATS, "tidy"), "papers.aga.tables:table1",
             _rows(scores="scores.csv"), _settings, _labels, caption="aga_table1.rst", category="AGA"),
    Artifact("aga", "rps", "the appendix RPS table: cosine / Pearson / SSIM per eps",
             "results/aga/rps_{name}", (*TABLE_FORMATS, "tidy"), "papers.aga.tables:rps_table",
             _rows(scores="scores.csv"), _settings, _labels, caption="aga_rps.rst", category="AGA"),
    Artifact("aga", "fig2", "insertion and adv-insertion curves per attribution; images reconstructed at γ",
             "results/aga/fig2_{name}", FIGURE_FORMATS, "papers.aga.figures:fig2",
             _rows(curves="curves.csv", maps="maps.npz"), _settings, _titled, caption="aga_fig2.rst", category="AGA"),
    Artifact("aga", "table2", "training-step time and memory of each regulariser relative to CE",
             "results/aga/table2_{name}", TABLE_FORMATS, "papers.aga.tables:cost_table",
             lambda plan, w: {"data": [prepared(plan.aga.setting(w["name"])["dataset"])]}, _settings, _cost_options,
             caption="aga_table2.rst", category="AGA", stage="train"),
    Artifact("aga", "fig3", "gradient maps before / after the attack; the upper-bound test",
             "results/aga/fig3_{name}", FIGURE_FORMATS, "papers.aga.figures:fig3",
             _rows(maps="maps.npz", bounds="bound.csv"), _settings, _titled, caption="aga_fig3.rst", category="AGA"),
    Artifact("aga", "grid", "Appendix C: the grid's points, highest Grad-RPS within grid_max_drop of CE",
             "results/aga/grid_{name}", TABLE_FORMATS, "papers.aga.tables:grid_table",
             lambda plan, w: {"scores": plan.aga.grid_files(w["name"])},
             lambda plan: [{"name": g["name"]} for g in plan.aga.grid()], _grid_options,
             caption="aga_grid.rst", category="AGA"),
]
