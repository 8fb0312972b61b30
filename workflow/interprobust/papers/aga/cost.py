"""AGA Table 2's measurement: the time (and CUDA peak memory) of one training step of each recipe."""

from __future__ import annotations

import pandas as pd


def step_costs(data_meta: str, *, arch: str, rows: dict, steps: int, seed: int = 0, device="auto") -> pd.DataFrame:
    """One row per recipe (``rows``: label -> resolved training settings), on the first batches of the data.

    Every row is timed at the *first* row's batch size (equal batch: ``seconds_per_step``, ``peak_mib``),
    and, where its own batch size differs, again at its own (``own_seconds_per_step``);
    ``seconds_per_epoch`` = the own-batch step time × ceil(N_train / own batch size)."""
    import math

    import torch

    from ...data import batches
    from ...data.store import load_prepared
    from ...models import build_for_data
    from ...models.store import resolve_device
    from ...train import step_cost
    device = resolve_device(device)
    data = load_prepared(data_meta)
    out = []
    sizes = [int(settings["training"].get("batch_size", 128)) for settings in rows.values()]
    n_train = len(data.train_y)

    def timed(settings, n):
        x = batches.to_tensor(data.train_x[:n], device)
        size = int(settings["training"].get("resized_crop", 0) or 0)
        if size:   # the training batch as train.fit makes it (ImageNet-100's stored images are larger)
            x = batches.random_resized_crop(x, size, torch.Generator().manual_seed(seed))
        y = torch.tensor(data.train_y[:n], dtype=torch.long, device=device)
        model = build_for_data(arch, data.meta, settings.get("model", {}), seed)[1].to(device)
        return step_cost(model, settings["loss"], settings["loss_params"], x, y, steps=steps, seed=seed)

    for (label, settings), own in zip(rows.items(), sizes):
        c = timed(settings, sizes[0])
        own_step = c["seconds_per_step"] if own == sizes[0] else timed(settings, own)["seconds_per_step"]
        out.append(dict(model=label, loss=settings["loss"], batch_size=sizes[0], own_batch_size=own,
                        device=str(device), **c, own_seconds_per_step=own_step,
                        seconds_per_epoch=own_step * math.ceil(n_train / own)))
        print(out[-1], flush=True)
    return pd.DataFrame(out)
