"""interprobust: one package for replicating four papers on interpretability and robustness.

Shared building blocks, one concept each: ``data`` (datasets), ``nn`` (small torch utilities),
``models``, ``losses`` (training objectives by name), ``train``, ``attacks``, ``explain``
(attributions, LIME, G-LIME, normalised maps, the explanation attack), ``metrics`` and
``evaluation``; per-paper experiments in ``papers/<paper>``; ``figures`` and ``tables``. The command
line lives in ``cli``.
Nothing here imports Snakemake: the workflow calls the CLI.
"""

__version__ = "0.1.0"
