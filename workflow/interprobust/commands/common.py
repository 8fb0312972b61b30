"""What every subcommand shares: JSON arguments, threads, the arguments of a model-running job."""

from __future__ import annotations

import argparse
import json


def json_arg(s: str):
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {s[:200]}") from None


def set_threads(n: int | None) -> None:
    if n:
        import torch
        torch.set_num_threads(n)


def model_job(parser, *, model: bool = True, model_help: str | None = None,
              settings_help: str | None = None, out: bool = True) -> argparse.ArgumentParser:
    """The arguments of every command that runs a model on a dataset: --model, --data, --settings (JSON),
    --device, --threads and --out."""
    if model:
        parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--data", required=True, help="prepared dataset (its meta.json)")
    parser.add_argument("--settings", type=json_arg, required=True, help=settings_help)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int)
    if out:
        parser.add_argument("--out", required=True)
    return parser


def load_for_eval(a):
    """(model, its metadata, the prepared data, the device) of a model-running command."""
    from ..data.store import load_prepared
    from ..models.store import load_model, resolve_device
    set_threads(a.threads)
    device = resolve_device(a.device)
    model, meta = load_model(a.model, device)
    return model, meta, load_prepared(a.data), device


def subcommands(sub, name: str, help: str):
    """A command group (``interprobust <name> <sub>``)."""
    return sub.add_parser(name, help=help).add_subparsers(dest="sub", required=True)
