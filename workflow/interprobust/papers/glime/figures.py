"""G-LIME's figures (Fig. 3-9)."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...io import read_arrays as npz
from ...render import Figure


def glime_clusters(d: dict):
    """G-LIME Fig. 3: sample superpixels of the three most populous clusters (rows); the reference set's
    superpixels (left half: ImageNet in the paper) beside the explained images' (right half: CUB)."""
    halves = [("reference", d["examples"])] + ([("explained", d["test_examples"])] if "test_examples" in d else [])
    rows_, per = halves[0][1].shape[:2]
    cols = per * len(halves)
    fig, axes = plt.subplots(rows_, cols, figsize=(1.3 * cols, 1.4 * rows_), squeeze=False)
    for h, (title, ex) in enumerate(halves):
        for r in range(rows_):
            for c in range(per):
                ax = axes[r][h * per + c]
                ax.imshow(ex[r, c].squeeze(), cmap="gray" if ex.shape[-1] == 1 else None)
                ax.set(xticks=[], yticks=[])
                if r == 0 and c == 0:
                    ax.set_title(f"{title} images", fontsize=8, loc="left")
    for r in range(rows_):
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
    """G-LIME Fig. 5: mean local fidelity (weighted R^2 and weighted MSE) vs the number of samples n."""
    s = scores[(scores["repeat"] == 0) & ((scores["lam2"] - lam2).abs() < 1e-9) & (scores["n"] > 0)]
    mean = s.groupby(["estimator", "n"], sort=False)[["r2", "mse"]].mean().reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric, label in zip(axes, ("r2", "mse"), ("weighted R²", "weighted MSE")):
        for i, (name, g) in enumerate(mean.groupby("estimator", sort=False)):
            ax.plot(g["n"], g[metric], marker="o", ms=3, color=f"C{i % 10}", ls="--" if "Path" in name else "-",
                    label=name)
        ax.set(xlabel="LIME samples n", ylabel=f"{label} (local fidelity)", xscale="log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
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


def glime_lam2(scores: pd.DataFrame, ns: list[int]):
    """G-LIME Fig. 9: mean deletion and insertion vs l2 (LIME: its Ridge alpha; G-LIME-x: the pull to the
    prior) for LIME and the Ridge G-LIME-x, one column per n of ``ns`` (the paper: 100 and 1000)."""
    ridge = scores["estimator"].eq("LIME") | (scores["estimator"].str.startswith("G-LIME") &
                                              ~scores["estimator"].str.endswith("Path"))
    s = scores[scores["n"].isin(ns) & (scores["repeat"] == 0) & ridge]
    mean = s.groupby(["n", "estimator", "lam2"], sort=False)[["deletion", "insertion"]].mean().reset_index()
    mean = mean.sort_values(["n", "estimator", "lam2"], kind="stable")
    fig, axes = plt.subplots(2, len(ns), figsize=(4 * len(ns), 6.4), squeeze=False)
    for c, n in enumerate(ns):
        for r, metric in enumerate(("deletion", "insertion")):
            ax = axes[r][c]
            for i, (name, g) in enumerate(mean[mean["n"] == n].groupby("estimator", sort=False)):
                ax.plot(g["lam2"], g[metric], marker="o", ms=3, color=f"C{i % 10}", label=name)
            ax.set(xlabel="l2", ylabel=f"{metric} AUC", title=f"{metric} (n = {n})")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6, ncol=2)
    return fig, mean



# ------------------------------------------------------------------------- render functions (registry)
def clusters_figure(inputs):
    return Figure(glime_clusters(npz(inputs["clusters"][0])))


def paths_figure(inputs):
    return Figure(*glime_paths(npz(inputs["details"][0]), ["LIME-Path", "G-LIME-N-Path"]))


def fidelity_figure(inputs, *, lam2):
    return Figure(*glime_fidelity(pd.read_csv(inputs["scores"][0]), lam2))


def deletion_figure(inputs):
    return Figure(*glime_curves(npz(inputs["details"][0]), ["LIME", "G-LIME-N", "G-LIME-AVG"], "deletion"))


def insertion_figure(inputs):
    return Figure(*glime_curves(npz(inputs["details"][0]), ["LIME", "G-LIME-N", "G-LIME-AVG"], "insertion"))


def stability_figure(inputs):
    return Figure(*glime_stability_example(npz(inputs["stability"][0]), ["LIME", "G-LIME-N"]))


def lam2_figure(inputs, *, ns):
    return Figure(*glime_lam2(pd.read_csv(inputs["scores"][0]), list(ns)))
