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
               "configuration did not produce the cell. Column honesty (LIMEREF robustness cells): inflated / honest / "
               "strong set not run at that ε (unchecked).\n\n" + dataframe_to_markdown(head) + "\n\n"
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
    gpu, source = est.read_calibration(a.calibration, est.Gpu(**a.gpu))
    flop_jobs = est.flop_estimate(target, gpu, safety=a.safety)
    jobs = jobs.merge(flop_jobs.drop(columns=["rule", "wildcards", "gpu"]), on="job", how="left")
    write_dataframe(jobs, a.jobs_csv)
    write_dataframe(summary, a.csv)
    write_text(a.md, est.report(summary, jobs, speedup=a.speedup, startup=startup, measured_jobs=n_timed)
               + "\n" + est.flop_report(flop_jobs, parts, gpu, source, a.safety))
    print("Cost estimate (an estimate, not a measurement; see " + a.md + "):")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


def resources(a):
    """The FLOP model's per-job requests (runtime minutes, GPU memory) for common.smk's ``res()``."""
    from .. import estimate as est
    from ..io import write_json
    gpu, source = est.read_calibration(a.calibration, est.Gpu(**a.gpu))
    jobs = est.flop_estimate(est.read_listing(Path(a.listing).read_text()), gpu, safety=a.safety)
    write_json(a.out, {"gpu": gpu.__dict__, "source": source, "safety": a.safety, "jobs": est.resources_by_job(jobs)})
    print(f"{len(jobs)} jobs: runtime and GPU memory from the FLOP model ({source}) -> {a.out}")


def flop_table(a):
    from .. import estimate as est
    from ..flops import TABLE_PATH
    print(f"{est.update_flop_table(a.all)} models -> {TABLE_PATH}")


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
    e.add_argument("--gpu", type=json_arg, default={"name": "GPU", "tflops": 989, "utilisation": 0.1},
                   help='JSON {"name", "tflops", "utilisation"}: the device of the FLOP model (cost.gpu)')
    e.add_argument("--calibration", help="a benchmarks/gpu_check.py JSON: its measured utilisation replaces the assumed one")
    e.add_argument("--safety", type=float, default=2.0, help="factor on the FLOP model's time and memory for requests")
    e.add_argument("--md", required=True)
    e.add_argument("--csv", required=True)
    e.add_argument("--jobs-csv", required=True)
    e.set_defaults(func=estimate)

    r = sub.add_parser("resources", help="per-job SLURM runtime and GPU memory from the FLOP model of a job listing")
    r.add_argument("--listing", required=True, help="a dry run's job listing (this run's)")
    r.add_argument("--gpu", type=json_arg, required=True, help='JSON {"name", "tflops", "utilisation"} (cost.gpu)')
    r.add_argument("--calibration", help="a benchmarks/gpu_check.py JSON")
    r.add_argument("--safety", type=float, default=2.0)
    r.add_argument("--out", required=True, help="resources.json: {rule|wildcards: {runtime, gpu_mem_mb}}")
    r.set_defaults(func=resources)

    f = sub.add_parser("flop-table", help="measure FLOPs / saved bytes per image of the paper-scale models the "
                       "table (interprobust/resources/flops.json) lacks")
    f.add_argument("--all", action="store_true", help="remeasure every model")
    f.set_defaults(func=flop_table)
