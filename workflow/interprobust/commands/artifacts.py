"""``interprobust render <paper>/<id>`` draws one table or figure; ``interprobust where <file>`` names the
rule and the function that make a file."""

from __future__ import annotations

from pathlib import Path

from .common import json_arg, set_threads


def render(a):
    from .. import registry
    from ..render import write
    art = registry.get(a.artifact)
    inputs = {values[0]: values[1:] for values in a.inputs or []}
    options = dict(a.options)
    if art.stage:   # its render function runs a model
        set_threads(a.threads)
        options.update(device=a.device, threads=a.threads)
    write(art.function()(inputs, **options), art.files_from_stem(a.stem))


def where(a):
    from .. import registry
    if a.list:
        for art in registry.artifacts():
            print(f"{art.rule:32s} {' '.join(art.patterns().values())}  <- {art.where()}")
        return
    art, wildcards = registry.where(str(Path(a.file)))
    print(f"{a.file}\n  rule:     {art.rule}   (snakemake {a.file})\n  function: {art.where()}\n"
          f"  what:     {art.title}" + (f"\n  instance: {wildcards}" if wildcards else ""))


def register(sub) -> None:
    r = sub.add_parser("render", help="draw one declared table or figure from cached intermediates")
    r.add_argument("artifact", help="<paper>/<id>, e.g. limeref/fig04 (see `interprobust where --list`)")
    r.add_argument("--in", dest="inputs", nargs="+", action="append", type=str, metavar=("NAME", "PATH"),
                   help="a named input and its files (repeatable)")
    r.add_argument("--options", type=json_arg, default={}, help="JSON keyword arguments of the render function")
    r.add_argument("--stem", required=True, help="the output path without extension")
    r.add_argument("--device", default="auto")
    r.add_argument("--threads", type=int)
    r.set_defaults(func=render)
    w = sub.add_parser("where", help="which rule and which function make a table or figure file")
    w.add_argument("file", nargs="?", help="e.g. results/limeref/fig04_cifar10.pdf")
    w.add_argument("--list", action="store_true", help="every declared table and figure")
    w.set_defaults(func=where)
