"""``interprobust train``: one model, one recipe's resolved settings, resumable."""

from __future__ import annotations

from .common import json_arg, set_threads


def train(a):
    import pandas as pd

    from ..data.download import file_digest
    from ..data.store import load_prepared
    from ..io import atomic_path, ensure_writable
    from ..models import build_for_data
    from ..models.store import load_model, resolve_device, save_model, versions
    from ..train import TrainConfig, checkpoint_path, fit

    set_threads(a.threads)
    # a read-only or missing output folder is found now, not after hours of training
    ensure_writable(a.model_out, a.history_out, checkpoint_path(a.checkpoint_dir) if a.checkpoint_dir else None)
    s = a.settings
    data = load_prepared(a.data)
    if s.get("holdout"):  # LIMEREF: its detection images are held out of every one of its models' training
        from pathlib import Path

        from ..data.subsets import write_indices
        from ..papers.limeref.split import training_view
        labels = data.train_y
        data, kept = training_view(data, s["holdout"])
        write_indices(Path(a.model_out).with_name("train_indices.json"), kept, labels=labels,
                      purpose="training (LIMEREF's detection split held out)", **s["holdout"])
    sig, model = build_for_data(a.arch, data.meta, s.get("model", {}), a.seed)
    if a.init_from:  # fine-tune: start from another run's weights (same architecture and data shape)
        start, start_meta = load_model(a.init_from, "cpu")
        if start_meta["signature"] != sig:
            raise ValueError(f"--init-from {a.init_from}: its model ({start_meta['signature']}) differs from the "
                             f"one being trained ({sig}); fine-tune from a model of the same architecture")
        model.load_state_dict(start.state_dict())
    device = resolve_device(a.device)
    cfg = TrainConfig.from_dict(s.get("training", {}))
    if s["loss"] == "limeref" and s.get("loss_params", {}).get("reg_fraction") is not None:
        # LIMEREF: lambda so that lambda * L_reg is the stated fraction of L_task at the start (fixed then)
        from ..losses.limeref import calibration_batch
        s = {**s, "loss_params": calibration_batch(model, data, s["loss_params"], cfg.batch_size, a.seed, device)}
        print(f"limeref: lambda = {s['loss_params']['lam']:.4g} from {s['loss_params']['lam_calibrated']}", flush=True)
    print(f"training {a.arch} on {data.meta['name']} with recipe {a.recipe} (loss {s['loss']}), seed {a.seed}, "
          f"device {device}, {cfg.epochs} epochs", flush=True)
    epoch_metrics = None
    if a.track_corruptions:
        from ..evaluation import corruption_accuracy
        corrupted = load_prepared(a.track_corruptions)

        def epoch_metrics(m):  # mean accuracy over severities per corruption, on a fixed subset
            df = corruption_accuracy(m, corrupted, batch_size=cfg.eval_batch_size, max_samples=a.track_samples,
                                     device=device, show_progress=False)
            return {f"corruption:{c}": v for c, v in df.groupby("corruption", sort=False)["accuracy"].mean().items()}

    # what defines this run beyond fit's own arguments: a checkpoint of any other run is not resumed
    identity = {"model": sig, "init_from": f"sha256:{file_digest(a.init_from)}" if a.init_from else None,
                "tracking": {"corruptions": corrupted.meta.get("arrays"), "samples": a.track_samples}
                if a.track_corruptions else None, "holdout": s.get("holdout")}
    history = fit(model, data, loss=s["loss"], loss_params=s.get("loss_params", {}), config=cfg,
                  seed=a.seed, device=device, checkpoint_dir=a.checkpoint_dir, epoch_metrics=epoch_metrics,
                  identity=identity)
    meta = dict(signature=sig, dataset=data.meta["name"], recipe=a.recipe, settings=s, seed=a.seed,
                init_from=a.init_from, data_checksums=data.meta["arrays"], versions=versions(), final=history[-1])
    with atomic_path(a.history_out) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    save_model(a.model_out, model, meta)
    if a.checkpoint_dir:  # the model is written: the head start is no longer needed (it can be GBs)
        checkpoint_path(a.checkpoint_dir).unlink(missing_ok=True)


def register(sub) -> None:
    t = sub.add_parser("train", help="train one model")
    t.add_argument("--data", required=True, help="prepared dataset (its meta.json)")
    t.add_argument("--arch", required=True)
    t.add_argument("--recipe", required=True, help="the recipe's name (recorded in the model's metadata)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--settings", type=json_arg, required=True,
                   help='JSON {"loss", "loss_params", "training", "model"}: the recipe resolved for the dataset')
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int)
    t.add_argument("--checkpoint-dir")
    t.add_argument("--track-corruptions", help="a prepared corrupted test set (its folder or meta.json) to evaluate after every epoch")
    t.add_argument("--track-samples", type=int, default=None, help="images per (corruption, severity)")
    t.add_argument("--init-from", help="start from this saved model's weights (fine-tuning)")
    t.add_argument("--model-out", required=True)
    t.add_argument("--history-out", required=True)
    t.set_defaults(func=train)
