"""SEP's tables (Tables 1-4, 6-9: one row per model and test-time attribution; Table 5 is the recipes)
and figures (Fig. 1(a) manipulation examples, 1(b) classification- beside explanation-loss landscapes,
2 / 8 same- vs other-cluster saliency, 3-7), each drawing the rows of one table."""

from __future__ import annotations

from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact
from .dag import row_file

FIG = FIGURE_FORMATS[:2]      # pdf, png
TABLES = {"table1": "TRADES beta sweep", "table2": "Normal, MAT, SEP_pos, SEP_neg per dataset and architecture",
          "table3": "per test-time attribution", "table4": "the SEP weight gamma",
          "table6": "other architectures", "table7": "integrated gradients and other attributions at test time",
          "table8": "TRADES with SEP", "table9": "training epochs"}
# figure -> (kind, the table whose rows it draws); the config's sep.figures only picks rows
FIGURES = {"fig1a": ("manipulation", "table2"), "fig1b": ("landscapes", "table1"), "fig2": ("clusters", "table2"),
           "fig3": ("landscape", "table1"), "fig4": ("saliency", "table2"), "fig5": ("bars", "table7"),
           "fig6": ("bars", "table8"), "fig7": ("landscape", "table2"), "fig8": ("clusters", "table2")}
ROW_FILE = {"landscape": "landscape", "landscapes": "landscape", "saliency": "saliency", "clusters": "saliency",
            "manipulation": "examples", "bars": "eval"}
INPUT_KEY = {"landscape": "landscape", "landscapes": "landscape", "saliency": "saliency", "clusters": "saliency",
             "manipulation": "examples", "bars": "evals"}


def _table(tid):
    return Artifact("sep", tid, TABLES[tid], f"results/sep/{tid}", TABLE_FORMATS, "papers.sep.tables:table",
                    lambda plan, w: {"evals": [row_file(r, "eval") for r in plan.sep.rows(tid)]},
                    lambda plan: [{}] if plan.sep.rows(tid) else [],
                    lambda plan, w: {"labels": [r["label"] for r in plan.sep.rows(tid)]},
                    caption="sep_table.rst", category="SEP")


def _figure(fid):
    kind, tid = FIGURES[fid]
    key = INPUT_KEY[kind]
    return Artifact("sep", fid, f"{kind} of {tid}'s rows", f"results/sep/{fid}", FIG,
                    f"papers.sep.figures:{kind}_figure",
                    lambda plan, w: {key: [row_file(r, ROW_FILE[kind]) for r in plan.sep.figure_rows(fid, tid)]},
                    lambda plan: [{}] if fid in (plan.sep.s.get("figures") or {}) and plan.sep.rows(tid) else [],
                    lambda plan, w: {"labels": [r["label"] for r in plan.sep.figure_rows(fid, tid)], "title": tid},
                    caption="sep_figure.rst", category="SEP", extra={"table": tid, "kind": kind})


ARTIFACTS = [_table(t) for t in TABLES] + [_figure(f) for f in FIGURES]
