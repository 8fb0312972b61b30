"""``interprobust config show [--configfile F ...]``: the resolved configuration and each recipe's effective settings."""


def cmd_config_show(a) -> int:
    # here, not at import: every job builds the parser, and the config package imports jsonschema
    from ..config import DEFAULT_FILES, load, resolve, show
    print(show(resolve(load([*DEFAULT_FILES, *a.configfile]))), end="")
    return 0


def register(sub) -> None:
    """Add the `config` command (with `show`) to an argparse sub-parsers object."""
    c = sub.add_parser("config", help="the pipeline's configuration").add_subparsers(dest="sub", required=True)
    s = c.add_parser("show", help="print the resolved configuration and each recipe's effective settings")
    s.add_argument("--configfile", nargs="+", action="extend", default=[],
                   help="overlays merged over config.yaml and config/papers/*.yaml, in order")
    s.set_defaults(func=cmd_config_show)
