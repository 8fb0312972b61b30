"""The overview's tables and figures, per trained dataset (every model the DAG trains for it)."""

from __future__ import annotations

from ...layout import eval_dir, model_dir, model_label
from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact

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
    return lambda plan, w: {"table": [f"results/overview/{w['dataset']}_{name}_tidy.csv"]}


ARTIFACTS = [
    Artifact("overview", "training_curves", "test / train accuracy and loss per epoch, every model of a dataset",
             "results/overview/{dataset}_training_curves", FIG, "papers.overview.figures:training_curves_figure",
             _files("history.csv", model_dir), _datasets, lambda p, w: {**_labels(p, w), **_title(p, w)},
             caption="training_curves.rst", category="Overview"),
    Artifact("overview", "robustness_table", "clean accuracy and accuracy under FGSM / PGD per eps",
             "results/overview/{dataset}_robustness", (*TABLE_FORMATS, "tidy"),
             "papers.overview.tables:robustness_table", _files("robustness.csv"), _datasets, _labels,
             caption="robustness_table.rst", category="Overview"),
    Artifact("overview", "robustness_figure", "accuracy against eps, one panel per attack",
             "results/overview/{dataset}_robustness", FIG, "papers.overview.figures:robustness_figure",
             _tidy("robustness"), _datasets, _title, caption="robustness.rst", category="Overview"),
    Artifact("overview", "corruptions_table", "accuracy per corruption and severity",
             "results/overview/{dataset}_corruptions", (*TABLE_FORMATS, "tidy"),
             "papers.overview.tables:corruptions_table", _files("corruptions.csv"), _corrupted, _labels,
             caption="corruptions_table.rst", category="Overview"),
    Artifact("overview", "corruptions_figure", "accuracy per corruption (mean over severities)",
             "results/overview/{dataset}_corruptions", FIG, "papers.overview.figures:corruptions_figure",
             _tidy("corruptions"), _corrupted, _title, caption="corruptions.rst", category="Overview"),
]
