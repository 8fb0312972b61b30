"""The overview's tables and figures, per trained dataset (every model the DAG trains for it)."""

from __future__ import annotations

from ...layout import eval_dir, model_dir, model_label
from ...registry import FIGURE_FORMATS, SUFFIX, TABLE_FORMATS, Artifact

FIG = FIGURE_FORMATS[:2]      # pdf, png


def _datasets(plan):
    return [{"dataset": d} for d in plan.trained_datasets()]


def _corrupted(plan):
    return [{"dataset": d} for d in plan.trained_datasets() if plan.corrupted_of(d)]


def _files(name, folder=eval_dir):
    return lambda plan, w: {"histories" if name == "history.csv" else "evals":
                            [f"{folder(m)}/{name}" for m in plan.models_on(w["dataset"])]}


def _labels(plan, w):
    return {"labels": [model_label(m) for m in plan.models_on(w["dataset"])]}


def _title(plan, w):
    return {"title": w["dataset"]}


def _tidy(name):
    """The figure's input: its table's tidy rows (the table artifact's ``tidy`` file)."""
    return lambda plan, w: {"table": [f"results/overview/{w['dataset']}_{name}{SUFFIX['tidy']}"]}


def _table_and_figure(name, table_what, figure_what, instances):
    """A table of every model's ``<name>.csv`` and the figure drawn from the table's tidy rows."""
    stem = f"results/overview/{{dataset}}_{name}"
    return [Artifact("overview", f"{name}_table", table_what, stem, (*TABLE_FORMATS, "tidy"),
                     f"papers.overview.tables:{name}_table", _files(f"{name}.csv"), instances, _labels,
                     caption=f"{name}_table.rst", category="Overview"),
            Artifact("overview", f"{name}_figure", figure_what, stem, FIG, f"papers.overview.figures:{name}_figure",
                     _tidy(name), instances, _title, caption=f"{name}.rst", category="Overview")]


ARTIFACTS = [
    Artifact("overview", "training_curves", "test / train accuracy and loss per epoch, every model of a dataset",
             "results/overview/{dataset}_training_curves", FIG, "papers.overview.figures:training_curves_figure",
             _files("history.csv", model_dir), _datasets, lambda p, w: {**_labels(p, w), **_title(p, w)},
             caption="training_curves.rst", category="Overview"),
    *_table_and_figure("robustness", "clean accuracy and accuracy under FGSM / PGD per eps",
                       "accuracy against eps, one panel per attack", _datasets),
    *_table_and_figure("corruptions", "accuracy per corruption and severity",
                       "accuracy per corruption (mean over severities)", _corrupted),
]
