"""AGA's figures: Fig. 1 (toy gradients), Fig. 2 (insertion curves), Fig. 3 (attacked maps, upper-bound test)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...plotting import plt
from ...io import read_arrays as npz
from ...render import Figure, combine


FIG2B_GAMMAS = (0.05, 0.2, 0.4, 0.6)   # the paper's Fig. 2(b)


def reconstruct(x: np.ndarray, heat: np.ndarray, fill, gamma: float) -> np.ndarray:
    """An insertion image: the top floor(gamma * H * W) pixels of x (C, H, W) by ``heat`` (H, W), ties
    by pixel index (as ``metrics.insertion_curve``), the ``fill`` colour (per channel) elsewhere."""
    c, h, w = x.shape
    order = np.argsort(-heat.reshape(-1), kind="stable")
    keep = np.zeros(h * w, dtype=bool)
    keep[order[:math.floor(round(gamma * h * w, 6))]] = True
    base = np.broadcast_to(np.asarray(fill, dtype=x.dtype).reshape(-1, 1, 1), x.shape)
    return np.where(keep.reshape(1, h, w), x, base)


def insertion_curves(curves: pd.DataFrame, title: str = "", maps: list[dict] | None = None,
                     labels: list[str] | None = None, gammas=FIG2B_GAMMAS):
    """AGA Fig. 2: (a) insertion (solid) and adv-insertion (dashed) curves, one panel per attribution,
    one colour per model (``model`` column); (b) with ``maps`` (one per model, ``labels``): the first
    test image reconstructed from its top-gamma Gradient pixels, per model and gamma."""
    methods = list(dict.fromkeys(curves["method"]))
    if maps:
        fig = plt.figure(figsize=(max(3.6 * len(methods), 1.3 * len(gammas) * 2), 3.6 + 1.5 * len(maps)))
        outer = fig.add_gridspec(2, 1, height_ratios=[3.3, 1.4 * len(maps)], hspace=0.45)
        top, bottom = outer[0].subgridspec(1, len(methods), wspace=0.3), outer[1].subgridspec(len(maps), len(gammas))
        axes = [[fig.add_subplot(top[0, j]) for j in range(len(methods))]]
        grid = [[fig.add_subplot(bottom[i, j]) for j in range(len(gammas))] for i in range(len(maps))]
        for i, (m, label) in enumerate(zip(maps, labels)):
            for j, gamma in enumerate(gammas):
                img = reconstruct(m["x"][0], m["map"][0], m["fill"], gamma)
                ax = grid[i][j]
                ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1).squeeze(), cmap="gray" if img.shape[0] == 1 else None)
                ax.set(xticks=[], yticks=[])
                if i == 0:
                    ax.set_title(f"γ = {gamma:g}", fontsize=8)
                if j == 0:
                    ax.set_ylabel(label, fontsize=8)
        grid[0][0].annotate(f"{title}: reconstructed from the top-γ Gradient pixels", (0, 1.35),
                            xycoords="axes fraction", fontsize=9)
    else:
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



# ------------------------------------------------------------------------- render functions (registry)
def fig1(inputs):
    d = npz(inputs["toy"][0])
    return Figure(toy_gradients(d), pd.DataFrame({"variant": d["variants"], "l2": d["l2"], "cosine": d["cosine"]}))


def mean_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Insertion curves averaged over seeds (``probability`` = the mean, ``std`` over seeds)."""
    g = curves.groupby(["model", "method", "kind", "fraction"], sort=False, dropna=False)["probability"]
    return g.agg(probability="mean", std="std", seeds="count").reset_index()


def fig2(inputs, *, labels, title, seeds=None):
    from .tables import with_seeds
    numbers = mean_curves(with_seeds(inputs["curves"], labels, seeds))
    maps, rows = None, None
    if inputs.get("maps"):
        files, rows = _first_seed(inputs["maps"], labels)
        maps = [npz(p) for p in files]
    return Figure(insertion_curves(numbers, title, maps, rows), numbers)


def _first_seed(files: list, labels: list[str]) -> tuple[list, list[str]]:
    """One file per row (its first seed): Fig. 3 shows one model per row."""
    first = {}
    for f, label in zip(files, labels):
        first.setdefault(label, f)
    return list(first.values()), list(first)


def fig3(inputs, *, labels, title, seeds=None):
    if not (len(inputs["maps"]) == len(labels) == len(inputs["bounds"])):
        raise ValueError(f"{len(inputs['maps'])} maps, {len(labels)} labels, {len(inputs['bounds'])} bounds: "
                         "one each per model")
    map_files, rows = _first_seed(inputs["maps"], labels)
    bound_files, _ = _first_seed(inputs["bounds"], labels)
    maps = [npz(p) for p in map_files]
    fig = attacked_maps(maps, [pd.read_csv(p) for p in bound_files], rows, title)
    return Figure(fig, combine(bound_files, rows))
