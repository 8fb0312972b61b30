"""SEP's figures (Fig. 3-7): landscapes, saliency maps, bars of expl at start / end."""

from __future__ import annotations

import numpy as np
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


def _show(ax, img):
    img = np.asarray(img).transpose(1, 2, 0)
    ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1)


def sep_manipulation(examples: list[dict], labels: list[str]):
    """SEP Fig. 1(a): per pair (rows), victim, target, attacked victim and their maps (the attacked
    victim's map is pulled towards the target's)."""
    rows = [(label, ex, j) for label, ex in zip(labels, examples) for j in range(len(ex.get("pair", [])))]
    cols = ["victim", "target", "attacked", "victim map", "target map", "attacked map"]
    fig, axes = plt.subplots(max(1, len(rows)), 6, figsize=(9, 1.6 * max(1, len(rows))), squeeze=False)
    for r, (label, ex, j) in enumerate(rows):
        for c, key in enumerate(("victim", "target", "x_adv")):
            _show(axes[r][c], ex[key][j])
        for c, key in enumerate(("victim_map", "target_map", "adv_map"), start=3):
            axes[r][c].imshow(ex[key][j], cmap="hot")
        kind = "same cluster" if bool(ex["intra"][j]) else "other cluster"
        axes[r][0].set_ylabel(f"{label}\npair {int(ex['pair'][j])} ({kind})", fontsize=6)
    for c, name in enumerate(cols):
        axes[0][c].set_title(name, fontsize=7)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    return fig


def sep_two_landscapes(curves: pd.DataFrame, title: str = ""):
    """SEP Fig. 1(b) and 3: the classification-loss landscape (cross-entropy of the noisy victims) beside
    the explanation-loss one, against the noise magnitude, one line per model."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, (model, g) in enumerate(curves.groupby("model", sort=False)):
        a.plot(g["sigma"], g["ce_loss"], marker="o", ms=3, color=f"C{i % 10}", label=model)
        b.plot(g["sigma"], g["expl_loss"], marker="o", ms=3, color=f"C{i % 10}", label=model)
    a.set(xlabel="noise magnitude σ", ylabel="classification loss (cross-entropy)", title=f"{title}: classification")
    b.set(xlabel="noise magnitude σ", ylabel="explanation loss (×1e-7)", title=f"{title}: explanation")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    b.legend(fontsize=7)
    return fig


def sep_clusters(maps: list[dict], labels: list[str]):
    """SEP Fig. 2 / 8: per model and anchor (rows) an image, one of the same cluster and one of another
    cluster, with their maps; the titles give the explanation loss to the anchor's map (x1e-7)."""
    rows = [(label, m, j) for label, m in zip(labels, maps) for j in range(len(m.get("cl_x", [])))]
    fig, axes = plt.subplots(max(1, len(rows)), 6, figsize=(9, 1.7 * max(1, len(rows))), squeeze=False)
    for r, (label, m, j) in enumerate(rows):
        for c in range(3):
            _show(axes[r][c], m["cl_x"][j, c])
            axes[r][c + 3].imshow(m["cl_maps"][j, c], cmap="hot")
        axes[r][4].set_xlabel(f"loss to image: {m['cl_loss'][j, 0]:.3g}", fontsize=6)
        axes[r][5].set_xlabel(f"loss to image: {m['cl_loss'][j, 1]:.3g}", fontsize=6)
        axes[r][0].set_ylabel(f"{label}\ncluster {int(m['cl_cluster'][j, 0])}", fontsize=6)
    for c, name in enumerate(["image", "same cluster", "other cluster", "its map", "map (same)", "map (other)"]):
        axes[0][c].set_title(name, fontsize=7)
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


def manipulation_figure(inputs, *, labels, title):
    return Figure(sep_manipulation([npz(p) for p in inputs["examples"]], labels))


def landscapes_figure(inputs, *, labels, title):
    return Figure(sep_two_landscapes(combine(inputs["landscape"], labels), title))


def clusters_figure(inputs, *, labels, title):
    return Figure(sep_clusters([npz(p) for p in inputs["saliency"]], labels))


def bars_figure(inputs, *, labels, title):
    from .tables import sep_table
    return Figure(sep_bars(sep_table(combine(inputs["evals"], labels)), title))
