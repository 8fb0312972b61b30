"""What a configuration will cost: jobs and estimated GPU-hours per paper.

An estimate, not a measurement. Each job of the target configuration (usually the paper-scale one) is
timed by the job of the same rule that ran in a measured configuration (usually the embedded one, whose
jobs recorded their wall time in benchmark TSVs), scaled by the ratio of their work:

    work = image passes (dataset size x epochs x attack steps / LIME samples per image) x model FLOPs

and, for a job that asks for a GPU, divided by ``speedup`` (how many times faster the target GPU runs
our jobs than the machine that recorded the timings; 1 when that machine was the GPU). A fixed start-up
time per job (interpreter and imports; the median time of the measured jobs that run no model) is not
scaled.

Plain data in: job listings (blocks of ``rule NAME:`` with ``output:``, ``benchmark:``, ``wildcards:``,
``resources:`` and the job's ``interprobust`` command, as a dry run prints them), benchmark TSVs with a
seconds column ``s``, and the datasets' sizes. Out: one row per job and one row per part (paper).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .data.registry import DATASETS


@dataclass
class Job:
    """One job of a listing: its rule, wildcards, output files, benchmark file, GPUs and command."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    benchmark: str | None = None
    gpu: int = 0
    command: str = ""

    @property
    def key(self) -> str:
        """What identifies the job across listings: its first output (or its rule, for a target rule)."""
        return self.outputs[0] if self.outputs else self.rule


_FIELD = re.compile(r"^\s+(input|output|log|benchmark|jobid|reason|wildcards|resources|priority|threads)"
                    r":\s?(.*)$")


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(", "):
        k, sep, v = item.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def read_listing(text: str) -> list[Job]:
    """The jobs of a listing, in order. Raises ValueError when the text holds no job."""
    jobs: list[Job] = []
    job = None
    for line in text.splitlines():
        head = re.match(r"^(?:local)?(?:checkpoint|rule) (\w+):$", line)
        if head:
            job = Job(head.group(1))
            jobs.append(job)
            continue
        if job is None:
            continue
        m = _FIELD.match(line)
        if m:
            key, value = m.groups()
            if key == "output":
                job.outputs = [p for p in value.split(", ") if p]
            elif key == "benchmark":
                job.benchmark = value.strip() or None
            elif key == "wildcards":
                job.wildcards = _pairs(value)
            elif key == "resources":
                job.gpu = int(float(_pairs(value).get("gpu", 0) or 0))
        elif line.startswith("Shell command:"):
            job.command = line.split(":", 1)[1].strip()
        elif line.startswith("Job stats:"):
            job = None
    if not jobs:
        raise ValueError("the job listing holds no job: make it with a dry run that prints shell commands "
                         "(snakemake -n -p --forceall)")
    return jobs


_STOP = {">", ">>", "2>", "2>&1", "&&", "||", ";", "|"}


def parse_command(command: str) -> tuple[str, dict[str, list[str]]]:
    """(subcommand, {option: values}) of an ``interprobust`` call; ("", {}) for anything else."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return "", {}
    if "interprobust" not in tokens:
        return "", {}
    tokens = tokens[tokens.index("interprobust") + 1:]
    words, opts, current = [], {}, None
    for t in tokens:
        if t in _STOP or t.startswith(">"):
            break
        if t.startswith("--"):
            current = t[2:]
            opts[current] = []
        elif current is None:
            words.append(t)
        else:
            opts[current].append(t)
    return " ".join(words), opts


@dataclass(frozen=True)
class Sizes:
    """Images of a dataset per split (a corrupted set: per corruption and severity), and its corruptions
    and severities (0 for a clean set)."""

    n_train: int
    n_test: int
    corruptions: int = 0
    severities: int = 0

    @property
    def sets(self) -> int:
        return max(1, self.corruptions) * max(1, self.severities)


def dataset_sizes(name: str, meta_path: str | None = None) -> Sizes:
    """A dataset's sizes: from its prepared meta.json when that exists, else from the registry."""
    if meta_path and Path(meta_path).exists():
        meta = json.loads(Path(meta_path).read_text())
        return Sizes(int(meta["n_train"]), int(meta["n_test"]), len(meta.get("corruptions") or []),
                     len(meta.get("severities") or []))
    spec = DATASETS.get(name)
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}")
    if spec.n_test is None:
        raise ValueError(f"{name!r} has no prepared meta.json at {meta_path} and the registry gives no size: "
                         f"prepare it first (snakemake {meta_path or f'results/data/{name}/meta.json'})")
    from .data.registry import CORRUPTIONS, SEVERITIES
    if spec.corrupted:
        return Sizes(int(spec.n_train or 0), int(spec.n_test), len(CORRUPTIONS), len(SEVERITIES))
    return Sizes(int(spec.n_train or 0), int(spec.n_test))


@lru_cache(maxsize=None)
def model_flops(arch: str, dataset: str, model_options: str = "{}") -> float:
    """Forward FLOPs of one image through ``arch`` built for ``dataset`` (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from . import models
    spec = DATASETS[dataset]
    opts = {k: v for k, v in json.loads(model_options).items() if k in ("width", "activation", "softplus_beta")}
    model = models.build_model(arch, num_classes=spec.num_classes, in_channels=spec.channels,
                               image_size=spec.image_size, mean=[0.5] * spec.channels,
                               std=[0.5] * spec.channels, **opts).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, spec.channels, spec.image_size, spec.image_size))
    return float(counter.get_total_flops())


def _cap(n: int, cap) -> int:
    return n if cap is None else min(n, int(cap))


def _passes(attack: dict) -> int:
    """Forward-backward passes per image of one attack run: 1 for FGSM, steps x restarts otherwise."""
    return max(1, int(attack.get("steps", 1))) * max(1, int(attack.get("restarts", 1)))


def _pairs_of(s: dict) -> int:
    n = int(s.get("clusters", 1)) * int(s.get("per_cluster", 1))
    return n * (n - 1)


# Image passes of each command: its dominant terms, from its own settings and its dataset's sizes.
# Constant factors cancel (a target job is scaled by a measured job of the same rule).
WORK = {
    "train": lambda s, d: d.n_train * s["training"]["epochs"] * (1 + int(s["loss_params"].get("steps", 0))),
    "evaluate robustness": lambda s, d: _cap(d.n_test, s.get("max_samples")) * (
        1 + len(s["eps"]) * sum(_passes(a) for a in s["attacks"].values())),
    "evaluate corruptions": lambda s, d: d.sets * _cap(d.n_test, s.get("max_samples")),
    "evaluate corrupted-attacks": lambda s, d: (
        max(1, d.corruptions) * len(s.get("severities") or range(max(1, d.severities)))
        * _cap(d.n_test, s.get("max_samples")) * sum(len(eps) * _passes(s["attacks"][a]) for a, eps in s["attack_eps"].items())),
    "evaluate explanations": lambda s, d: _cap(d.n_test, s.get("max_samples")) * (
        1 + len(s["attributions"]) * (int(s["n_noise"]) * len(s["rps_eps"]) + int(s["attack_steps"]))
        + len(s.get("bound_eps", [])) * 2),
    "cost": lambda s, d: 1,   # a fixed number of timed steps per row: only the model's FLOPs scale
    "toy": lambda s, d: 1,    # a fixed two-moons problem on the CPU
    "spurious detect": lambda s, d: int(s["images"]) * int(s["n_samples"]) * int(s["repeats"]),
    "glime segments": lambda s, d: int(s["reference_images"]) + int(s["test_images"]),
    "glime clusters": lambda s, d: int(s["reference_images"]),
    "glime priors": lambda s, d: int(s["reference_images"]) * int(s["prior_samples"]),
    "glime explain": lambda s, d: int(s["test_images"]) * (
        sum(s["run_samples"]) + (int(s["repeats"]) - 1) * max(s["run_samples"])
        + len(s.get("lam2_ablation", []))),
    "glime stability": lambda s, d: int(s["stability_images"]) * sum(s["stability_samples"]) * int(
        s["stability_repeats"]),
    "glime baselines": lambda s, d: int(s["test_images"]) * len(s["baselines"]) * int(s["baseline_repeats"]),
    "sep pairs": lambda s, d: _cap(d.n_test, s.get("max_samples")),
    "sep evaluate": lambda s, d: _pairs_of(s) * int(s["attack"]["steps"]) + _cap(d.n_test, s.get("max_samples")) * (
        2 + _passes(s["pgd"]) + len(s["landscape"]["sigmas"]) * int(s["landscape"]["draws"])),
    "matrix": lambda s, d: _cap(d.n_test, s.get("max_samples")) * (
        2 + _passes(s["pgd"]) + int(s["n_noise"]) + int(s["attack_steps"]) + int(s["sep_attack"]["steps"]))
        + int(s["lime"]["images"]) * int(s["lime"]["n_samples"]),
    "data prepare": lambda s, d: d.n_train + d.n_test * d.sets,
}


@dataclass
class JobWork:
    """A job's work: image passes x FLOPs per image (``flops`` None: the job runs no model)."""

    passes: float
    flops: float | None

    @property
    def total(self) -> float:
        return self.passes * (self.flops or 1.0)


class Listing:
    """A parsed listing with what its jobs' work needs: which job prepares each dataset and trains each
    model."""

    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self.datasets: dict[str, str] = {}     # meta.json path -> dataset name
        self.models: dict[str, tuple[str, str, str]] = {}   # model path -> (arch, dataset, model options)
        for job in jobs:
            cmd, opts = parse_command(job.command)
            if cmd == "data prepare" and opts.get("meta"):
                self.datasets[opts["meta"][0]] = opts["dataset"][0]
        for job in jobs:
            cmd, opts = parse_command(job.command)
            if cmd == "train" and opts.get("model-out"):
                settings = json.loads(opts["settings"][0])
                self.models[opts["model-out"][0]] = (opts["arch"][0], self._dataset(opts["data"][0]),
                                                     json.dumps(settings.get("model", {}), sort_keys=True))

    def _dataset(self, meta: str) -> str:
        if meta in self.datasets:
            return self.datasets[meta]
        name = Path(meta).parent.name   # a dataset prepared outside this listing: its folder's name
        if name not in DATASETS:
            raise ValueError(f"no job of the listing prepares {meta}, and {name!r} is not a dataset")
        return name

    def work(self, job: Job) -> JobWork | None:
        """The job's work, or None for a job whose command has no work model (tables, figures, ...)."""
        cmd, opts = parse_command(job.command)
        if cmd not in WORK:
            return None
        settings = json.loads(opts["settings"][0]) if opts.get("settings") else {}
        if cmd == "data prepare":
            settings = {}
        meta = (opts.get("meta") or opts.get("data") or [None])[0]
        sizes = dataset_sizes(self._dataset(meta), meta) if meta else Sizes(1, 1)
        passes = float(WORK[cmd](settings, sizes))
        flops = None
        if cmd == "train":
            flops = model_flops(opts["arch"][0], self._dataset(opts["data"][0]),
                                json.dumps(settings.get("model", {}), sort_keys=True))
        elif cmd == "cost":
            rows = json.loads(opts["rows"][0])
            model = next(iter(rows.values()), {}).get("model", {})
            flops = model_flops(opts["arch"][0], self._dataset(opts["data"][0]), json.dumps(model, sort_keys=True))
        elif opts.get("model"):
            model = opts["model"][0]
            if model not in self.models:
                raise ValueError(f"no train job of the listing makes {model} (needed by rule {job.rule})")
            flops = model_flops(*self.models[model])
        return JobWork(passes, flops)


def read_seconds(path: str | Path) -> float | None:
    """Wall-clock seconds of one benchmark TSV (column ``s``); None when the file is missing."""
    path = Path(path)
    if not path.exists():
        return None
    df = pd.read_csv(path, sep="\t")
    if "s" not in df.columns or df.empty:
        raise ValueError(f"{path} is not a benchmark TSV (no 's' column)")
    return float(df["s"].mean())


def _similarity(a: Job, b: Job) -> int:
    return sum(a.wildcards.get(k) == v for k, v in b.wildcards.items())


def _log_distance(a: JobWork | None, b: JobWork | None) -> float:
    if a is None or b is None or a.total <= 0 or b.total <= 0:
        return 0.0
    return abs(math.log(b.total / a.total))


def estimate_jobs(target: list[Job], measured: list[Job], *, speedup: float = 1.0,
                  seconds=read_seconds) -> tuple[pd.DataFrame, float]:
    """One row per target job: its reference measured job, the work ratio and the estimated seconds.

    A target job is scaled from the measured job of the same rule sharing the most wildcard values
    (ties: the one closest in work); with none, from a measured job running the same command; with
    none, from the measured jobs' median seconds per unit of work. Returns the table and the
    start-up seconds per job that were held fixed.
    """
    if speedup <= 0:
        raise ValueError(f"speedup must be > 0; got {speedup}")
    m_listing, t_listing = Listing(measured), Listing(target)
    timed = []
    for job in measured:
        s = seconds(job.benchmark) if job.benchmark else None
        if s is not None:
            timed.append((job, s, m_listing.work(job)))
    if not timed:
        raise ValueError("no measured job has a benchmark file: run the measured configuration first "
                         "(its rules write results/benchmarks/)")
    no_model = [s for _, s, w in timed if w is None or w.flops is None]
    startup = float(pd.Series(no_model).median()) if no_model else 0.0
    rates = [max(s - startup, 0.0) / w.total for _, s, w in timed if w is not None and w.total > 0]
    median_rate = float(pd.Series(rates).median()) if rates else 0.0
    rows = []
    for job in target:
        work = t_listing.work(job)
        same, basis = [(j, s, w) for j, s, w in timed if j.rule == job.rule], "same rule"
        command = parse_command(job.command)[0]
        if not same and command:   # e.g. a LIMEREF refinement round: the `train` command of another rule
            same, basis = [(j, s, w) for j, s, w in timed if parse_command(j.command)[0] == command], "same command"
        row = {"rule": job.rule, "job": job.key, "wildcards": ", ".join(f"{k}={v}" for k, v in job.wildcards.items()),
               "gpu": job.gpu}
        if same:
            # most shared wildcards; among those the closest in work (the least dominated by overhead)
            ref, s, w = max(same, key=lambda t: (_similarity(t[0], job), -_log_distance(t[2], work)))
            row.update(basis=basis, reference=ref.key, measured_s=s)
            if work is None or w is None or w.total <= 0:   # no work model: it takes what it took
                row.update(work_ratio=1.0, estimated_s=s)
                rows.append(row)
                continue
            compute, ratio = max(s - startup, 0.1 * s), work.total / w.total
            row["work_ratio"] = ratio
        elif work is not None:
            compute, ratio = median_rate * work.total, 1.0
            row.update(basis="median rate", reference="", measured_s=float("nan"), work_ratio=float("nan"))
        else:
            compute, ratio = 0.0, 1.0
            row.update(basis="start-up only", reference="", measured_s=float("nan"), work_ratio=float("nan"))
        row["estimated_s"] = startup + compute * ratio / (speedup if job.gpu else 1.0)
        row["gflop"] = work.passes * work.flops / 1e9 if work is not None and work.flops else float("nan")
        rows.append(row)
    return pd.DataFrame(rows), startup


def summarise(jobs: pd.DataFrame, parts: dict[str, set[str]]) -> pd.DataFrame:
    """Per part (a set of job keys) and in total: jobs, GPU jobs, estimated GPU-hours and CPU-hours."""
    def row(name, df):
        gpu = df[df.gpu > 0]
        return {"part": name, "jobs": len(df), "gpu_jobs": len(gpu),
                "gpu_hours": gpu.estimated_s.sum() / 3600,
                "cpu_hours": df[df.gpu == 0].estimated_s.sum() / 3600,
                "longest_job_h": (df.estimated_s.max() / 3600) if len(df) else 0.0}
    rows = [row(name, jobs[jobs.job.isin(keys)]) for name, keys in parts.items()]
    rows.append(row("total (each job once)", jobs))
    return pd.DataFrame(rows)


def report(summary: pd.DataFrame, jobs: pd.DataFrame, *, speedup: float, startup: float,
           measured_jobs: int) -> str:
    """The Markdown report: the estimate per part, how it was made, and the most expensive rules."""
    from .io import dataframe_to_markdown
    by_rule = (jobs.assign(compute_s=(jobs.estimated_s - startup).clip(lower=1e-9))
               .groupby("rule").agg(jobs=("job", "size"), gpu=("gpu", "max"), hours=("estimated_s", "sum"),
                                    gflop=("gflop", "sum"), compute_s=("compute_s", "sum"),
                                    basis=("basis", lambda b: ", ".join(sorted(set(b)))))
               .assign(hours=lambda d: d.hours / 3600,
                       implied_tflops=lambda d: (d.gflop / d.compute_s / 1e3).where(d.gflop > 0))
               .drop(columns=["gflop", "compute_s"]).sort_values("hours", ascending=False).reset_index())
    unmatched = sorted(set(jobs.rule[~jobs.basis.isin(["same rule", "same command"])]))
    lines = [
        "# Cost estimate",
        "",
        "**An estimate, not a measurement.** Each job is timed by the measured job of the same rule "
        f"({measured_jobs} jobs recorded benchmark timings), scaled by the ratio of their work: image passes "
        "(dataset size × epochs × attack steps or LIME samples) × the model's forward FLOPs. "
        f"GPU jobs are then divided by the assumed speedup of the target GPU over the timing machine: "
        f"**{speedup:g}×** (`cost.speedup`; 1 when the timings come from that GPU). "
        f"A start-up of {startup:.1f} s per job is not scaled. "
        "Rows overlap where papers share models: `papers: [<paper>]` runs the overview's jobs too, which "
        "are counted once, in the overview row; the total counts each job once.",
        "",
        "`implied_tflops` below is the forward-pass rate the estimate assumes per rule (image passes × "
        "forward FLOPs ÷ estimated compute time). A current data-centre GPU sustains tens of TFLOP/s on "
        "large convolutional networks: a rule implying far less is over-estimated (tiny embedded models "
        "are dominated by per-batch overhead), one implying more is under-estimated; raise or lower "
        "`cost.speedup` accordingly.",
        "",
        dataframe_to_markdown(summary, digits=2),
        "",
        "## Where the hours go (by rule)",
        "",
        dataframe_to_markdown(by_rule.head(15), digits=2),
    ]
    if unmatched:
        lines += ["", "Rules with no measured job of their own (scaled by the median rate, or start-up only): "
                  + ", ".join(unmatched) + "."]
    return "\n".join(lines) + "\n"


def parts_from_listings(overview: list[Job], papers: dict[str, list[Job]]) -> dict[str, set[str]]:
    """Each part's job keys: the overview's, and what each paper's own run adds to the overview."""
    base = {j.key for j in overview}
    parts = {"overview": base}
    for name, jobs in papers.items():
        parts[name] = {j.key for j in jobs} - base
    return parts

