"""``interprobust scorecard|claims|estimate``: the paper numbers beside ours, the claims, the cost estimate."""

from __future__ import annotations

from pathlib import Path

from .common import json_arg

MANIFEST_HELP = "JSON {scale, artifacts}: the registry's manifest of this run's tables and figures"


def scorecard(a):
    import yaml

    from ..io import dataframe_to_markdown, write_dataframe, write_text
    from ..scorecard import scorecard, summary
    card = scorecard(yaml.safe_load(Path(a.values).read_text()), a.manifest)
    write_dataframe(card, a.csv)
    head = summary(card)
    write_text(a.md, "# Replication scorecard\n\nScale: " + str(a.manifest.get("scale", "paper"))
               + ". Tolerance: ±3 points for accuracies, ±10 % for every other number; \"not run\" = this "
               "configuration did not produce the cell.\n\n" + dataframe_to_markdown(head) + "\n\n"
               + dataframe_to_markdown(card.drop(columns=["source"]), digits=4) + "\n")
    print(head.to_string(index=False))


def claims(a):
    from ..claims import check_claims
    from ..io import dataframe_to_markdown, write_dataframe, write_text
    df = check_claims(a.manifest)
    write_dataframe(df, a.csv)
    write_text(a.md, "# Claims check\n\nScale: " + str(a.manifest.get("scale", "paper")) + ".\n\n"
               + dataframe_to_markdown(df) + "\n")
    print(df[["paper", "verdict", "claim"]].to_string(index=False))


def estimate(a):
    """Jobs and estimated GPU-hours per part of the target listing, from the measured jobs' benchmarks."""
    from .. import estimate as est
    from ..io import write_dataframe, write_text

    def listing(path):
        return est.read_listing(Path(path).read_text())
    measured, target = listing(a.measured), listing(a.target)
    parts = est.parts_from_listings(listing(a.parts[0]) if a.parts else [],
                                    {Path(p).stem: listing(p) for p in a.parts[1:]})
    jobs, startup = est.estimate_jobs(target, measured, speedup=a.speedup)
    summary = est.summarise(jobs, parts)
    n_timed = sum(1 for j in measured if j.benchmark and Path(j.benchmark).exists())
    write_dataframe(jobs, a.jobs_csv)
    write_dataframe(summary, a.csv)
    write_text(a.md, est.report(summary, jobs, speedup=a.speedup, startup=startup, measured_jobs=n_timed))
    print("Cost estimate (an estimate, not a measurement; see " + a.md + "):")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


def register(sub) -> None:
    for name, func, help in (("scorecard", scorecard, "every paper number beside this run's, with a verdict"),
                             ("claims", claims, "each paper's qualitative claims checked on this run's tables")):
        c = sub.add_parser(name, help=help)
        if name == "scorecard":
            c.add_argument("--values", required=True, help="paper_values.yaml")
        c.add_argument("--manifest", type=json_arg, required=True, help=MANIFEST_HELP)
        c.add_argument("--csv", required=True)
        c.add_argument("--md", required=True)
        c.set_defaults(func=func)

    e = sub.add_parser("estimate", help="jobs and estimated GPU-hours per paper of a configuration, from "
                       "benchmark timings of a measured run scaled by work (an estimate)")
    e.add_argument("--measured", required=True, help="job listing of the run whose benchmarks were recorded")
    e.add_argument("--target", required=True, help="job listing of the run to estimate")
    e.add_argument("--parts", nargs="*", default=[],
                   help="job listings of the target's parts: the overview's first, then one per paper "
                        "(the part is named by the file's stem)")
    e.add_argument("--speedup", type=float, default=1.0,
                   help="how many times faster the target GPU runs a job than the machine that timed it")
    e.add_argument("--md", required=True)
    e.add_argument("--csv", required=True)
    e.add_argument("--jobs-csv", required=True)
    e.set_defaults(func=estimate)
