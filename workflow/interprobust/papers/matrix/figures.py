"""The cross-paper matrix's figure."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...render import Figure, combine


def matrix_figure(table: pd.DataFrame):
    """The cross-paper matrix: (a) every metric per model, each column scaled to [0, 1]; (b) SEP's
    question across all four papers' models: PGD accuracy vs explanation loss at the end of the attack
    (and vs Grad-RPS), with Spearman's rank correlation."""
    import numpy as np

    from .tables import MATRIX_COLUMNS, spearman
    cols = [c for c in MATRIX_COLUMNS if c in table.columns]
    vals = table[cols].astype(float)
    span = (vals.max() - vals.min()).replace(0, 1)
    scaled = (vals - vals.min()) / span
    fig, axes = plt.subplots(1, 2, figsize=(12, max(3.5, 0.32 * len(table) + 1.5)),
                             gridspec_kw={"width_ratios": [1.4, 1]})
    axes[0].imshow(scaled.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    axes[0].set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=7)
    axes[0].set_yticks(range(len(table)), table["model"], fontsize=6)
    for i in range(len(table)):
        for j, c in enumerate(cols):
            v = vals.iloc[i, j]
            if np.isfinite(v):
                axes[0].text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=5, color="w")
    axes[0].set_title("every model x every metric (colour: column-scaled)")
    ax = axes[1]
    for y, marker in (("expl_end", "o"), ("grad_rps", "s")):
        if y in table:
            rho = spearman(table["pgd_acc"], table[y])
            ax.scatter(table["pgd_acc"], scaled[y] if y in scaled else table[y], marker=marker, s=18,
                       label=f"{y} (scaled), Spearman {rho:.2f}")
    ax.set(xlabel="PGD accuracy (%)", ylabel="explanation robustness (column-scaled)",
           title="classification vs explanation robustness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig



# ------------------------------------------------------------------------- render functions (registry)
def matrix(inputs, *, labels):
    from .tables import matrix_table
    return Figure(matrix_figure(matrix_table(combine(inputs["evals"], labels))))
