"""``interprobust matrix evaluate``: one model's row of the cross-paper matrix."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, subcommands
from ...io import read_arrays as npz


def evaluate(a):
    from ...io import write_dataframe
    from .evaluate import cross_paper_row
    model, _, data, device = load_for_eval(a)
    df = cross_paper_row(model, data, npz(a.pairs) if a.pairs else None, settings=a.settings, device=device)
    write_dataframe(df, a.out)
    print(df.T.to_string())


def register(sub) -> None:
    group = subcommands(sub, "matrix", "the cross-paper matrix: one model under every metric")
    e = group.add_parser("evaluate")
    e.add_argument("--pairs", help="SEP's pairs of the model's dataset (expl at start / end)")
    model_job(e).set_defaults(func=evaluate)
