"""The shared subcommands of ``interprobust`` (data, train, evaluate, render, where, reports); each
paper's own subcommands live in ``papers/<paper>/cli.py``. Every module has ``register(sub)``."""
