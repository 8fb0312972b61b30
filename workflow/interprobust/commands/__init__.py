"""The shared subcommands of ``interprobust``: data, train, evaluate, render, where, scorecard, claims,
estimate, config; each paper's own live in ``papers/<paper>/cli.py``. Every module has ``register(sub)``."""
