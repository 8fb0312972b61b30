"""The overview's figures per dataset: training curves, accuracy under attack, accuracy per corruption."""

from __future__ import annotations

import pandas as pd

from ...plotting import plt
from ...render import Figure


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



# ------------------------------------------------------------------------- render functions (registry)
def training_curves_figure(inputs, *, labels, title):
    if len(inputs["histories"]) != len(labels):
        raise ValueError(f"{len(inputs['histories'])} inputs but {len(labels)} labels")
    return Figure(training_curves([pd.read_csv(p) for p in inputs["histories"]], labels, title))


def robustness_figure(inputs, *, title):
    return Figure(accuracy_vs_eps(pd.read_csv(inputs["table"][0]), title))


def corruptions_figure(inputs, *, title):
    return Figure(corruption_bars(pd.read_csv(inputs["table"][0]), title))


def select(df: pd.DataFrame, attack: str | None = None, eps: float | None = None, keep_clean: bool = False):
    """The rows of one attack (and the clean rows when ``keep_clean``) at one eps."""
    if attack:
        df = df[(df["attack"] == attack) | ((df["attack"] == "clean") if keep_clean else False)]
    if eps is not None:
        df = df[(df["eps"] - eps).abs() < 1e-9]
    if df.empty:
        raise ValueError(f"no rows for attack={attack} eps={eps}")
    return df
