"""Figures, each drawn from a cached CSV and written as PDF + PNG (atomically)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path  # noqa: E402


def save(fig, pdf: str | Path, png: str | Path | None = None, dpi: int = 150) -> None:
    fig.tight_layout()
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf")
    if png is not None:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def training_curves(histories: list[pd.DataFrame], labels: list[str], title: str = ""):
    """Test accuracy and loss per epoch (train curves dashed), one colour per model."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    for i, (h, label) in enumerate(zip(histories, labels)):
        c = f"C{i}"
        ax_acc.plot(h["epoch"], h["test_acc"], color=c, marker="o", ms=3, label=f"{label} (test)")
        ax_acc.plot(h["epoch"], h["train_acc"], color=c, ls="--", alpha=0.6, label=f"{label} (train)")
        ax_loss.plot(h["epoch"], h["test_loss"], color=c, marker="o", ms=3)
        ax_loss.plot(h["epoch"], h["train_loss"], color=c, ls="--", alpha=0.6)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title=f"{title}: loss")
    ax_acc.legend(fontsize=7)
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
    return fig


def accuracy_vs_eps(table: pd.DataFrame, title: str = ""):
    """One panel per attack: accuracy against ε, the clean accuracy drawn at ε = 0."""
    attacks = [a for a in dict.fromkeys(table["attack"]) if a != "clean"]
    fig, axes = plt.subplots(1, max(1, len(attacks)), figsize=(4.2 * max(1, len(attacks)), 3.5), squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        for i, (model, df) in enumerate(table.groupby("model", sort=False)):
            clean = df[df["attack"] == "clean"]
            sweep = pd.concat([clean, df[df["attack"] == attack]]).sort_values("eps")
            ax.plot(sweep["eps"], sweep["accuracy"], marker="o", color=f"C{i}", label=model)
        ax.set(xlabel="ε (L∞, [0, 1] pixel units)", ylabel="accuracy (%)", title=f"{title}: {attack.upper()}",
               ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def corruption_bars(table: pd.DataFrame, title: str = ""):
    """Grouped bars: accuracy per corruption (mean over severities), one bar per model."""
    mean = table.groupby(["corruption", "model"], sort=False)["accuracy"].mean().unstack("model")
    mean = mean.reindex(list(dict.fromkeys(table["corruption"])))
    models = list(dict.fromkeys(table["model"]))
    fig, ax = plt.subplots(figsize=(max(8, 0.5 * len(mean)), 3.8))
    width = 0.8 / max(1, len(models))
    x = range(len(mean))
    for i, m in enumerate(models):
        ax.bar([xi + i * width for xi in x], mean[m], width=width, label=m, color=f"C{i}")
    ax.set_xticks([xi + 0.4 - width / 2 for xi in x], mean.index, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="accuracy (%)", title=f"{title}: accuracy per corruption (mean of 5 severities)", ylim=(0, 100))
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return fig


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


def insertion_curves(curves: pd.DataFrame, title: str = ""):
    """AGA Fig. 2: insertion (solid) and adv-insertion (dashed) curves, one panel per attribution,
    one colour per model (``model`` column)."""
    methods = list(dict.fromkeys(curves["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.3), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for i, (model, g) in enumerate(curves[curves.method == method].groupby("model", sort=False)):
            for kind, ls in (("insertion", "-"), ("adv_insertion", "--")):
                k = g[g.kind == kind]
                if k["probability"].notna().any():
                    ax.plot(k["fraction"], k["probability"], ls=ls, color=f"C{i}",
                            label=f"{model} ({'adv-' if kind != 'insertion' else ''}ins)")
        ax.set(xlabel="fraction of pixels inserted", ylabel="true-class probability", title=f"{title}: {method}",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    return fig


def toy_gradients(d: dict):
    """AGA Fig. 1: level curves of each two-layer net's logit on the 2-D toy set, the data, and the
    gradients at the two nearby points (arrows, unit length), l2 distance and cosine in the legend."""
    import numpy as np
    names = [str(v) for v in d["variants"]]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.3), squeeze=False)
    axis, pair = d["axis"], d["pair"]
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        ax.contour(axis, axis, d["levels"][i], levels=15, linewidths=0.6, cmap="coolwarm")
        ax.contour(axis, axis, d["levels"][i], levels=[0.0], colors="k", linewidths=1.2)
        ax.scatter(d["x"][:, 0], d["x"][:, 1], c=d["y"], s=4, cmap="coolwarm", alpha=0.4)
        g = d["gradients"][i]
        unit = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        ax.quiver(pair[:, 0], pair[:, 1], unit[:, 0], unit[:, 1], color=["C2", "C4"], angles="xy",
                  scale_units="xy", scale=8, width=0.012)
        ax.plot([], [], " ", label=f"l2 = {d['l2'][i]:.3g}\ncos = {d['cosine'][i]:.3f}")
        ax.set(title=name, xlim=(0, 1), ylim=(0, 1), aspect="equal", xticks=[], yticks=[])
        ax.legend(loc="upper right", fontsize=7, handlelength=0)
    return fig


def attacked_maps(maps: list[dict], bounds: list[pd.DataFrame], labels: list[str], title: str = ""):
    """AGA Fig. 3: (a) per model, the gradient map of the first test image (row 1) and of its attacked
    version (row 2, target: the frame map); (b) Theorem 6's bound (solid) and the CRC (dotted) vs eps."""
    n = len(labels)
    fig = plt.figure(figsize=(2.0 * n + 3.6, 4.2))
    grid = fig.add_gridspec(2, n + 1, width_ratios=[1] * n + [1.8])
    for j, (m, label) in enumerate(zip(maps, labels)):
        for row, key in enumerate(("map", "map_adv")):
            ax = fig.add_subplot(grid[row, j])
            ax.imshow(m[key][0], cmap="gray", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
            if row == 0:
                ax.set_title(label, fontsize=9)
            if j == 0:
                ax.set_ylabel("original" if row == 0 else "attacked", fontsize=9)
    ax = fig.add_subplot(grid[:, n])
    for i, (b, label) in enumerate(zip(bounds, labels)):
        ax.plot(b["eps"], b["bound"], "-", color=f"C{i}", marker="o", ms=3, label=f"{label} bound")
        ax.plot(b["eps"], b["crc"], ":", color=f"C{i}", marker="o", ms=3, label=f"{label} CRC")
    ax.set(xlabel="eps", ylabel="value", title=f"{title}: upper-bound test", xscale="log", yscale="log")
    if bounds:
        ax.set_xticks(list(bounds[0]["eps"]), [f"{e * 255:.0f}/255" for e in bounds[0]["eps"]])
        ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    return fig


# ------------------------------------------------------------------------------------------- G-LIME
def glime_clusters(d: dict):
    """G-LIME Fig. 3: sample superpixels (rows: the three most populous clusters)."""
    ex = d["examples"]
    fig, axes = plt.subplots(ex.shape[0], ex.shape[1], figsize=(1.3 * ex.shape[1], 1.4 * ex.shape[0]), squeeze=False)
    for r in range(ex.shape[0]):
        for c in range(ex.shape[1]):
            ax = axes[r][c]
            ax.imshow(ex[r, c].squeeze(), cmap="gray" if ex.shape[-1] == 1 else None)
            ax.set(xticks=[], yticks=[])
        axes[r][0].set_ylabel(f"cluster {int(d['example_clusters'][r])}", fontsize=8)
    return fig


def glime_paths(d: dict, names: list[str]):
    """G-LIME Fig. 4: the solution path (coefficients vs l1) of one image, one panel per estimator."""
    import numpy as np
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.3), squeeze=False)
    rows = []
    for ax, name in zip(axes[0], names):
        lam, coefs = d[f"path_lambda/{name}"], d[f"path_coefs/{name}"]
        x = np.log10(np.maximum(lam, lam[lam > 0].min() / 10 if (lam > 0).any() else 1e-6))
        for j in range(coefs.shape[0]):
            ax.plot(x, coefs[j], lw=0.8)
            rows += [dict(estimator=name, feature=j, lambda1=float(l), coef=float(v)) for l, v in zip(lam, coefs[j])]
        ax.set(xlabel="log10 l1", ylabel="coefficient", title=name)
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    return fig, pd.DataFrame(rows)


def glime_fidelity(scores: pd.DataFrame, lam2: float):
    """G-LIME Fig. 5: mean local fidelity (weighted R^2) vs the number of samples n, per estimator."""
    s = scores[(scores["repeat"] == 0) & ((scores["lam2"] - lam2).abs() < 1e-9) & (scores["n"] > 0)]
    mean = s.groupby(["estimator", "n"], sort=False)["r2"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, (name, g) in enumerate(mean.groupby("estimator", sort=False)):
        ax.plot(g["n"], g["r2"], marker="o", ms=3, color=f"C{i % 10}", ls="--" if "Path" in name else "-", label=name)
    ax.set(xlabel="LIME samples n", ylabel="weighted R² (local fidelity)", xscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    return fig, mean


def glime_curves(d: dict, names: list[str], kind: str):
    """G-LIME Fig. 6 / 7: the deletion or insertion curve of one image per estimator."""
    import numpy as np
    fig, ax = plt.subplots(figsize=(5, 3.6))
    rows = []
    for i, name in enumerate(names):
        c = d[f"{kind}/{name}"]
        c = c[~np.isnan(c)]
        steps = np.arange(len(c))
        ax.plot(steps, c, color=f"C{i}", label=f"{name} (AUC {c.mean():.3f})")
        rows += [dict(estimator=name, step=int(s_), probability=float(p)) for s_, p in zip(steps, c)]
    ax.set(xlabel=f"superpixels {'removed' if kind == 'deletion' else 'inserted'}", ylabel="class probability",
           title=kind, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig, pd.DataFrame(rows)


def glime_stability_example(d: dict, names: list[str]):
    """G-LIME Fig. 8: the top-3 superpixels of one image in each repeated explanation, per estimator."""
    import numpy as np
    image, seg = d["image"], d["segments"]
    reps = d[f"top3/{names[0]}"].shape[0]
    fig, axes = plt.subplots(len(names), reps, figsize=(1.6 * reps, 1.7 * len(names)), squeeze=False)
    rows = []
    for r, name in enumerate(names):
        for k in range(reps):
            top = d[f"top3/{name}"][k]
            shown = np.where(np.isin(seg, top)[..., None], image, (image * 0.25).astype(image.dtype))
            axes[r][k].imshow(shown.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
            axes[r][k].set(xticks=[], yticks=[])
            rows.append(dict(estimator=name, repeat=k, top3=" ".join(map(str, top))))
        axes[r][0].set_ylabel(name, fontsize=8)
    return fig, pd.DataFrame(rows)


def glime_lam2(scores: pd.DataFrame, n: int):
    """G-LIME Fig. 9: mean deletion and insertion vs l2 for the estimators with a prior, at n samples."""
    s = scores[(scores["n"] == n) & (scores["repeat"] == 0) & scores["estimator"].str.startswith("G-LIME")]
    mean = s.groupby(["estimator", "lam2"], sort=False)[["deletion", "insertion"]].mean().reset_index()
    mean = mean.sort_values(["estimator", "lam2"], kind="stable")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, metric in zip(axes, ("deletion", "insertion")):
        for i, (name, g) in enumerate(mean.groupby("estimator", sort=False)):
            ax.plot(g["lam2"], g[metric], marker="o", ms=3, color=f"C{i % 10}", ls="--" if "Path" in name else "-",
                    label=name)
        ax.set(xlabel="l2", ylabel=f"{metric} AUC", title=f"{metric} (n = {n})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    return fig, mean


# ---------------------------------------------------------------------------------------------- SEP
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


# ------------------------------------------------------------------------------------ cross-paper matrix
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
