"""LIMEREF's figures (Fig. 2-15): baseline vs refined model over epochs, eps and corruptions."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...render import Figure, combine


def chain_histories(histories: list[pd.DataFrame], lengths: list[int] | None = None,
                    cumulative: bool = False) -> list[pd.DataFrame]:
    """One history per model: ``lengths`` consecutive histories per model (its training chain: e.g. the
    baseline, each refinement round, the final model) joined on a cumulative-epoch axis, or with
    ``cumulative`` False the chain's last history only (its own epochs)."""
    lengths = lengths or [1] * len(histories)
    if sum(lengths) != len(histories):
        raise ValueError(f"{len(histories)} histories but chains of lengths {lengths}")
    out, i = [], 0
    for n in lengths:
        chain = histories[i:i + n]
        i += n
        if not cumulative:
            out.append(chain[-1])
            continue
        parts, offset = [], 0
        for h in chain:
            h = h.copy()
            h["epoch"] = h["epoch"] + offset
            offset = int(h["epoch"].max())
            parts.append(h)
        out.append(pd.concat(parts, ignore_index=True))
    return out


def metric_over_epochs(histories: list[pd.DataFrame], labels: list[str], metric, ylabel: str, title: str = "",
                       xlabel: str = "epoch"):
    """One or more metrics (e.g. test accuracy; or train and test loss) per epoch, one colour per model
    (a second metric dashed); returns (figure, plotted numbers)."""
    metrics = [metric] if isinstance(metric, str) else list(metric)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    rows = []
    for i, (h, label) in enumerate(zip(histories, labels)):
        for k, m in enumerate(metrics):
            if m not in h:
                raise ValueError(f"history has no column {m!r}; columns: {', '.join(h.columns)}")
            ax.plot(h["epoch"], h[m], marker="o", ms=3, color=f"C{i}", ls=("-", "--", ":")[k % 3],
                    label=label if len(metrics) == 1 else f"{label}, {m.replace('_', ' ')}")
            rows += [dict(model=label, epoch=int(e), metric=m, value=float(v)) if len(metrics) > 1 else
                     dict(model=label, epoch=int(e), **{m: float(v)}) for e, v in zip(h["epoch"], h[m])]
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig, pd.DataFrame(rows)


def masks_grid(records: list[dict], title: str = ""):
    """F_spurious per class (columns) and round (rows), each a grid of the LIME cells (flagged = dark);
    returns (figure, the flagged cells as rows: round, class, cell, row, col)."""
    import numpy as np
    n_rounds = len(records)
    n_classes = len(records[0]["sets"]["per_class"]) if records else 0
    fig, axes = plt.subplots(max(n_rounds, 1), max(n_classes, 1), squeeze=False,
                             figsize=(1.0 * max(n_classes, 1) + 0.5, 1.1 * max(n_rounds, 1) + 0.4))
    rows = []
    for r, rec in enumerate(records):
        h = rec["image_size"][0] // rec["patch"]
        for c, cells in enumerate(rec["sets"]["per_class"]):
            grid = np.asarray(cells, dtype=float).reshape(h, -1)
            ax = axes[r][c]
            ax.imshow(grid, cmap="Greys", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"r{r} c{c}: {int(grid.sum())}", fontsize=6)
            rows += [dict(round=r, cls=c, cell=int(j), row=int(j) // grid.shape[1], col=int(j) % grid.shape[1])
                     for j in np.flatnonzero(grid.reshape(-1))]
    fig.suptitle(title + ("" if any(not rec["empty"] for rec in records) else " (F EMPTY in every round)"),
                 fontsize=8)
    return fig, pd.DataFrame(rows, columns=["round", "cls", "cell", "row", "col"])


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
def metric_curves_figure(inputs, *, labels, title, metrics=None, metric=None, lengths=None, cumulative=False):
    shown = metrics or [metric]
    histories = chain_histories([pd.read_csv(p) for p in inputs["histories"]], lengths, cumulative)
    ylabel = " / ".join(m.replace("_", " ") for m in shown)
    xlabel = "cumulative epoch (baseline + refinement)" if cumulative else "epoch"
    fig, numbers = metric_over_epochs(histories, labels, shown if len(shown) > 1 else shown[0], ylabel, title, xlabel)
    return Figure(fig, numbers)


def masks_figure(inputs, *, title):
    from ...io import read_json
    return Figure(*masks_grid([read_json(p) for p in inputs["spurious"]], title))


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
