"""Command line of the pipeline: every Snakemake rule is one call of ``interprobust <command>``.

    interprobust data prepare --dataset digits_rgb32 --meta results/data/digits_rgb32/meta.json
    interprobust train ...                  interprobust evaluate robustness ...
    interprobust render limeref/fig04 ...   interprobust where results/limeref/fig04_cifar10.pdf
    interprobust config show --configfile config/embedded.yaml

Shared commands live in ``interprobust.commands``; each paper registers its own (``papers/<paper>/cli.py``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["commands.data", "commands.train", "commands.evaluate", "papers.limeref.cli", "papers.glime.cli",
            "papers.aga.cli", "papers.sep.cli", "papers.matrix.cli", "commands.artifacts", "commands.reports",
            "commands.config"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interprobust", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        importlib.import_module(f"interprobust.{module}").register(sub)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    from .config.check import ConfigError
    from .data.download import DataError
    from .io import WriteError
    errors = (KeyError, ValueError, FileNotFoundError, DataError, ConfigError, WriteError)
    train = sys.modules.get("interprobust.train")   # only a command that trained can raise its error: a
    return errors + (train.NonFiniteLossError,) if train else errors   # table's error must not import torch


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
