"""LIMEREF's tables: the honesty check (stronger attacks) and the planted-spurious-feature check."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine
from ..overview.tables import robustness_wide


def honesty_table(inputs, *, labels):
    """Baseline and refined model under the sweep's and the stronger attacks, side by side."""
    df = combine(inputs["baseline"] + inputs["refined"], labels)
    return Table(robustness_wide(df), tidy=df, digits=2)


def planted_check_table(inputs, *, labels, device="auto", threads=None):
    """Detection against the planted patches, and accuracy with and without them (loads the models)."""
    from ...io import dataframe_to_markdown, read_json
    from ...models.store import load_model, resolve_device
    from ...data.store import load_prepared
    from .spurious import planted_check
    device = resolve_device(device)
    if len(inputs["models"]) != len(labels):
        raise ValueError(f"{len(inputs['models'])} models but {len(labels)} labels")
    models = {label: load_model(p, device)[0] for label, p in zip(labels, inputs["models"])}
    df = pd.DataFrame(planted_check(load_prepared(inputs["data"][0]), [read_json(p) for p in inputs["spurious"]],
                                    models, device))
    md = "\n\n".join(f"### {part}\n\n" + dataframe_to_markdown(
        g.pivot_table(index="item", columns="metric", values="value", sort=False).reset_index(), digits=3)
        for part, g in df.groupby("part", sort=False))
    return Table(df, markdown=md)
