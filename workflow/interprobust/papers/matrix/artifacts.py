"""The cross-paper matrix: every model of every paper under every metric (no paper has it)."""

from __future__ import annotations

from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact


def _inputs(plan, w):
    return {"evals": [plan.matrix.file(m) for m in plan.matrix.models()]}


def _labels(plan, w):
    return {"labels": [plan.matrix.label(m) for m in plan.matrix.models()]}


ARTIFACTS = [
    Artifact("matrix", "table", "every model under every metric", "results/matrix", TABLE_FORMATS,
             "papers.matrix.tables:matrix", _inputs, options=_labels, caption="matrix.rst",
             category="Cross-paper matrix"),
    Artifact("matrix", "figure", "every metric per model; PGD accuracy against explanation robustness",
             "results/matrix", FIGURE_FORMATS[:2], "papers.matrix.figures:matrix", _inputs, options=_labels,
             caption="matrix.rst", category="Cross-paper matrix"),
]
