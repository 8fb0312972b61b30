"""AGA Table 2's measurement: the time (and CUDA peak memory) of one training step of each recipe."""

from __future__ import annotations

import pandas as pd


def step_costs(data_meta: str, *, arch: str, rows: dict, steps: int, seed: int = 0, device="auto") -> pd.DataFrame:
    """One row per recipe (``rows``: label -> resolved training settings), on the first batch of the data."""
    import torch

    from ...data import batches
    from ...data.store import load_prepared
    from ...models import build_for_data
    from ...models.store import resolve_device
    from ...train import step_cost
    device = resolve_device(device)
    data = load_prepared(data_meta)
    out = []
    for label, settings in rows.items():
        n = int(settings["training"].get("batch_size", 128))
        x = batches.to_tensor(data.train_x[:n], device)
        y = torch.tensor(data.train_y[:n], dtype=torch.long, device=device)
        model = build_for_data(arch, data.meta, settings.get("model", {}), seed)[1].to(device)
        c = step_cost(model, settings["loss"], settings["loss_params"], x, y, steps=steps, seed=seed)
        out.append(dict(model=label, loss=settings["loss"], batch_size=n, device=str(device), **c))
        print(out[-1], flush=True)
    return pd.DataFrame(out)
