"""Command line of the pipeline: every Snakemake rule is one call of ``interprobust <command>``.

    interprobust data download --dataset cifar10 --marker resources/downloads/cifar10/verified.json
    interprobust data prepare  --dataset digits_rgb32 --meta results/data/digits_rgb32/meta.json
    interprobust train ...      interprobust evaluate robustness ...
    interprobust table robustness ...      interprobust figure training-curves ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json(s: str):
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {s[:200]}") from None


def _threads(n: int | None) -> None:
    if n:
        import torch
        torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------- data
def cmd_data_download(a):
    from .data import download, registry
    from .io import write_json
    spec = registry.get(a.dataset)
    marker = Path(a.marker)
    checksums = download.download_dataset(spec, marker.parent, url_overrides=a.url_overrides)
    write_json(marker, {"dataset": spec.name, "files": checksums})


def cmd_data_prepare(a):
    from .data import registry
    spec = registry.get(a.dataset)
    out = Path(a.meta).parent
    if spec.kind == "embedded":
        from .data.embedded import prepare_embedded
        meta = prepare_embedded(spec.name, out, source_dir=a.source, **a.options)
    else:
        from .data.real import PREPARERS
        if spec.needs_download and a.raw is None:
            raise SystemExit(f"{spec.name} needs --raw: the folder its archives were downloaded to")
        meta = PREPARERS[spec.name](Path(a.raw) if a.raw else None, out, **a.options)
    print(f"prepared {spec.name}: {meta['n_train']} train / {meta['n_test']} test images in {out}")


# ------------------------------------------------------------------------------------------ train
def cmd_train(a):
    import pandas as pd

    from . import models
    from .artifacts import resolve_device, save_model, versions
    from .data.store import load_prepared
    from .io import atomic_path
    from .train import TrainConfig, fit

    _threads(a.threads)
    s = a.settings
    data = load_prepared(a.data)
    opts = dict(s.get("model", {}))
    sig = models.model_signature(arch=a.arch, num_classes=data.meta["num_classes"],
                                 in_channels=data.meta["channels"], image_size=data.meta["image_size"][0],
                                 mean=data.meta["mean"], std=data.meta["std"], **opts)
    model = models.build_from_signature(sig)
    device = resolve_device(a.device)
    cfg = TrainConfig.from_dict(s.get("training", {}))
    print(f"training {a.arch} on {data.meta['name']} with {a.method} (loss {s['loss']}), seed {a.seed}, "
          f"device {device}, {cfg.epochs} epochs", flush=True)
    history = fit(model, data, method=s["loss"], method_params=s.get("loss_params", {}), config=cfg,
                  seed=a.seed, device=device, checkpoint_dir=a.checkpoint_dir)
    meta = dict(signature=sig, dataset=data.meta["name"], method=a.method, settings=s, seed=a.seed,
                data_checksums=data.meta["arrays"], versions=versions(), final=history[-1])
    hist = pd.DataFrame(history)
    with atomic_path(a.history_out) as tmp:
        hist.to_csv(tmp, index=False)
    save_model(a.model_out, model, meta)


# --------------------------------------------------------------------------------------- evaluate
def _load_for_eval(a):
    from .artifacts import load_model, resolve_device
    from .data.store import load_prepared
    _threads(a.threads)
    device = resolve_device(a.device)
    model, meta = load_model(a.model, device)
    return model, meta, load_prepared(a.data), device


def cmd_evaluate_robustness(a):
    from . import evaluate
    from .io import write_dataframe
    model, meta, data, device = _load_for_eval(a)
    s = a.settings
    df = evaluate.robustness(model, data, eps=s["eps"], attack_settings=s["attacks"], batch_size=s["batch_size"],
                             max_samples=s.get("max_samples"), device=device)
    write_dataframe(df, a.out)
    print(df.to_string(index=False))


def cmd_evaluate_corruptions(a):
    from . import evaluate
    from .io import write_dataframe
    model, meta, data, device = _load_for_eval(a)
    if not data.corrupted:
        raise SystemExit(f"{a.data} is not a corrupted test set")
    s = a.settings
    df = evaluate.corruption_accuracy(model, data, batch_size=s["batch_size"], max_samples=s.get("max_samples"),
                                      device=device)
    write_dataframe(df, a.out)
    print(df.groupby("corruption", sort=False)["accuracy"].mean().to_string())


# ---------------------------------------------------------------------------------- tables/figures
def cmd_table(a):
    from . import tables
    from .io import write_dataframe, write_text, dataframe_to_markdown
    df = tables.combine(a.inputs, a.labels)
    wide = tables.robustness_wide(df) if a.kind == "robustness" else tables.corruptions_wide(df)
    write_dataframe(df, a.csv)
    write_text(a.md, dataframe_to_markdown(wide, digits=2) + "\n")


def cmd_figure(a):
    import pandas as pd

    from . import figures
    if a.kind == "training-curves":
        if len(a.inputs) != len(a.labels):
            raise SystemExit(f"{len(a.inputs)} inputs but {len(a.labels)} labels")
        fig = figures.training_curves([pd.read_csv(p) for p in a.inputs], a.labels, a.title)
    elif a.kind == "robustness":
        fig = figures.accuracy_vs_eps(pd.read_csv(a.table), a.title)
    else:
        fig = figures.corruption_bars(pd.read_csv(a.table), a.title)
    figures.save(fig, a.pdf, a.png)


def _user_errors() -> tuple[type[BaseException], ...]:
    from .data.download import DataError
    from .train import NonFiniteLossError
    return (KeyError, ValueError, FileNotFoundError, DataError, NonFiniteLossError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interprobust", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="download and prepare datasets").add_subparsers(dest="sub", required=True)
    d = data.add_parser("download", help="download and checksum-verify a real dataset's archives")
    d.add_argument("--dataset", required=True)
    d.add_argument("--marker", required=True, help="verified.json written on success; archives go beside it")
    d.add_argument("--url-overrides", type=_json, default={}, help='JSON {"file name": "url or path"}')
    d.set_defaults(func=cmd_data_download)
    d = data.add_parser("prepare", help="prepare a dataset into the uniform array format")
    d.add_argument("--dataset", required=True)
    d.add_argument("--meta", required=True, help="meta.json to write; arrays go beside it")
    d.add_argument("--raw", help="folder holding the downloaded archives")
    d.add_argument("--source", help="prepared folder of the dataset this one derives from")
    d.add_argument("--options", type=_json, default={})
    d.set_defaults(func=cmd_data_prepare)

    t = sub.add_parser("train", help="train one model")
    t.add_argument("--data", required=True, help="prepared dataset (its meta.json)")
    t.add_argument("--arch", required=True)
    t.add_argument("--method", required=True, help="the recipe's name (recorded in the model's metadata)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--settings", type=_json, required=True,
                   help='JSON {"loss", "loss_params", "training", "model"}')
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int)
    t.add_argument("--checkpoint-dir")
    t.add_argument("--model-out", required=True)
    t.add_argument("--history-out", required=True)
    t.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a trained model").add_subparsers(dest="sub", required=True)
    for name, func in (("robustness", cmd_evaluate_robustness), ("corruptions", cmd_evaluate_corruptions)):
        e = ev.add_parser(name)
        e.add_argument("--model", required=True)
        e.add_argument("--data", required=True)
        e.add_argument("--settings", type=_json, required=True)
        e.add_argument("--device", default="auto")
        e.add_argument("--threads", type=int)
        e.add_argument("--out", required=True)
        e.set_defaults(func=func)

    tb = sub.add_parser("table", help="combine per-model CSVs into a table")
    tb.add_argument("kind", choices=["robustness", "corruptions"])
    tb.add_argument("--inputs", nargs="+", required=True)
    tb.add_argument("--labels", nargs="+", required=True)
    tb.add_argument("--csv", required=True)
    tb.add_argument("--md", required=True)
    tb.set_defaults(func=cmd_table)

    f = sub.add_parser("figure", help="draw a figure from cached CSVs")
    f.add_argument("kind", choices=["training-curves", "robustness", "corruptions"])
    f.add_argument("--inputs", nargs="*", default=[])
    f.add_argument("--labels", nargs="*", default=[])
    f.add_argument("--table")
    f.add_argument("--title", default="")
    f.add_argument("--pdf", required=True)
    f.add_argument("--png")
    f.set_defaults(func=cmd_figure)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Exception as e:  # noqa: BLE001 - only known user-facing errors are shortened, see below
        if not isinstance(e, _user_errors()):
            raise
        # These carry a message that names the problem and the fix: show it, not a traceback.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"interprobust {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
