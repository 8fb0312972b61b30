"""SEP's figures (Fig. 3-7): landscapes, saliency maps, bars of expl at start / end."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...io import read_arrays as npz
from ...render import Figure, combine


def sep_landscapes(curves: pd.DataFrame, title: str = ""):
    """SEP Fig. 3 / 7: mean explanation loss over all pairs vs the magnitude of Gaussian noise on the victim."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, (model, g) in enumerate(curves.groupby("model", sort=False)):
        ax.plot(g["sigma"], g["expl_loss"], marker="o", ms=3, color=f"C{i % 10}", label=model)
    ax.set(xlabel="noise magnitude σ", ylabel="explanation loss (×1e-7)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def sep_saliency(maps: list[dict], labels: list[str]):
    """SEP Fig. 4: the representative images (top row) and each model's explanation map of them."""
    n = maps[0]["x"].shape[0]
    fig, axes = plt.subplots(len(maps) + 1, n, figsize=(1.5 * n, 1.5 * (len(maps) + 1)), squeeze=False)
    for j in range(n):
        img = maps[0]["x"][j].transpose(1, 2, 0)
        axes[0][j].imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1)
        for r, m in enumerate(maps, start=1):
            axes[r][j].imshow(m["maps"][j], cmap="hot")
    for r, label in enumerate(["image"] + list(labels)):
        axes[r][0].set_ylabel(label, fontsize=7)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    return fig


def sep_bars(table: pd.DataFrame, title: str = ""):
    """SEP Fig. 5 / 6: explanation loss at start and at end of the attack per labelled model."""
    import numpy as np
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(table)), 3.4))
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["expl_start"], 0.4, label="expl at start")
    ax.bar(pos + 0.2, table["expl_end"], 0.4, label="expl at end")
    ax.set_xticks(pos, table["model"], rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="explanation loss (×1e-7)", title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return fig



# ------------------------------------------------------------------------- render functions (registry)
def landscape_figure(inputs, *, labels, title):
    return Figure(sep_landscapes(combine(inputs["landscape"], labels), title))


def saliency_figure(inputs, *, labels, title):
    return Figure(sep_saliency([npz(p) for p in inputs["saliency"]], labels))


def bars_figure(inputs, *, labels, title):
    from .tables import sep_table
    return Figure(sep_bars(sep_table(combine(inputs["evals"], labels)), title))
