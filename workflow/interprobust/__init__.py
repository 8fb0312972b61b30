"""interprobust: one package for replicating four papers on interpretability and robustness.

Modules, one concept each: ``data`` (datasets), ``models``, ``train`` (training methods registry),
``attacks``, ``evaluate``, ``figures`` and ``tables``. The command line lives in ``cli``.
Nothing here imports Snakemake: the workflow calls the CLI.
"""

__version__ = "0.1.0"
