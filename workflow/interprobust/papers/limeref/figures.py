"""LIMEREF's figures (Fig. 2-15): baseline vs refined model over epochs, eps and corruptions."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...render import Figure, combine


def metric_over_epochs(histories: list[pd.DataFrame], labels: list[str], metric: str, ylabel: str, title: str = ""):
    """One metric (e.g. test accuracy) per epoch, one line per model; returns (figure, plotted numbers)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    rows = []
    for i, (h, label) in enumerate(zip(histories, labels)):
        if metric not in h:
            raise ValueError(f"history has no column {metric!r}; columns: {', '.join(h.columns)}")
        ax.plot(h["epoch"], h[metric], marker="o", ms=3, color=f"C{i}", label=label)
        rows += [dict(model=label, epoch=int(e), **{metric: float(v)}) for e, v in zip(h["epoch"], h[metric])]
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig, pd.DataFrame(rows)


def corruption_over_epochs(history: pd.DataFrame, title: str = ""):
    """Test accuracy per corruption (columns ``corruption:<name>``) over epochs; returns (figure, numbers)."""
    cols = [c for c in history.columns if c.startswith("corruption:")]
    if not cols:
        raise ValueError("history has no per-corruption columns: train with --track-corruptions")
    fig, ax = plt.subplots(figsize=(7, 4))
    cmap = plt.get_cmap("tab20")
    for i, c in enumerate(cols):
        ax.plot(history["epoch"], history[c], color=cmap(i % 20), lw=1.2, label=c.split(":", 1)[1])
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    long = history.melt(id_vars=["epoch"], value_vars=cols, var_name="corruption", value_name="accuracy")
    long["corruption"] = long["corruption"].str.split(":", n=1).str[1]
    return fig, long



# ------------------------------------------------------------------------- render functions (registry)
def metric_curves_figure(inputs, *, labels, metric, title):
    fig, numbers = metric_over_epochs([pd.read_csv(p) for p in inputs["histories"]], labels, metric, metric, title)
    return Figure(fig, numbers)


def corruption_epochs_figure(inputs, *, title):
    return Figure(*corruption_over_epochs(pd.read_csv(inputs["history"][0]), title))


def eps_sweep_figure(inputs, *, labels, attack, title):
    from ..overview.figures import accuracy_vs_eps, select
    numbers = select(combine(inputs["evals"], labels), attack, keep_clean=True)
    return Figure(accuracy_vs_eps(numbers, title), numbers)


def corruption_attack_figure(inputs, *, labels, attack, eps, title):
    from ..overview.figures import corruption_bars, select
    numbers = select(combine(inputs["evals"], labels), attack, eps)
    return Figure(corruption_bars(numbers, title), numbers)
