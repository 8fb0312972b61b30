"""What a configuration will cost: jobs and estimated GPU-hours per paper.

An estimate, not a measurement. Each job of the target configuration (usually the paper-scale one) is
timed by a job of the same rule that ran in a measured configuration (usually the embedded one, whose
jobs recorded their wall time in benchmark TSVs), scaled by the ratio of their work:

    work = image passes (dataset size x epochs x attack steps / LIME samples per image) x model FLOPs

and, for a job that asks for a GPU, divided by ``speedup`` (how many times faster the target GPU runs
our jobs than the machine that recorded the timings; 1 when that machine was the GPU). A fixed start-up
time per job (interpreter and imports; the median time of the measured jobs without a work model:
tables, figures) is not scaled.

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
    """Forward FLOPs of one image through ``arch`` built for ``dataset``: the FLOP table's forward pass
    (:mod:`interprobust.flops`, counted with torch's FLOP counter; measured afresh for a model it lacks)."""
    from . import flops
    spec = DATASETS[dataset]
    return flops.per_image(arch, spec.channels, spec.image_size, spec.num_classes,
                           json.loads(model_options))["forward"]


def _cap(n: int, cap) -> int:
    return n if cap is None else min(n, int(cap))


_DEFAULT_STEPS = {"fgsm": 1, "pgd": 40, "apgd": 100}   # the attacks' own defaults (interprobust.attacks)


def _passes(name: str, attack: dict | None) -> int:
    """Forward-backward passes per image of one attack run: steps x restarts (FGSM: 1)."""
    attack = attack or {}
    kind = attack.get("attack", name)
    if kind == "square":   # gradient-free: one forward pass per query, counted as a whole pass (an upper bound)
        return max(1, int(attack.get("n_queries") or 5000))
    steps = 1 if kind == "fgsm" else (attack.get("steps") or _DEFAULT_STEPS.get(kind, 1))
    return max(1, int(steps)) * max(1, int(attack.get("restarts") or 1))


def _attacks(attacks: dict) -> int:
    return sum(_passes(name, a) for name, a in attacks.items())


def _glime_baseline_passes(s: dict, explain: str) -> int:
    """Gradient passes of one of G-LIME's Table 5 baselines (``ig_steps`` / ``smoothgrad_samples``)."""
    return int({"integrated_gradients": s.get("ig_steps", 50),
                "smoothgrad": s.get("smoothgrad_samples", 50)}.get(explain, 1))


def _explainer_passes(s: dict, explain: str) -> int:
    """Gradient passes of one explanation: IG's steps or SmoothGrad's samples, else 1."""
    opts = (s.get("explain_options") or {}).get(explain, {})
    return int({"integrated_gradients": opts.get("steps", 50), "smoothgrad": opts.get("n", 50)}.get(explain, 1))


@dataclass(frozen=True)
class _Context:
    """What a work formula may need beyond the settings: the command's options, the number of SEP
    pairs it attacks (None without --pairs), and the sizes of a per-epoch tracked corrupted set."""

    opts: dict
    pairs: int | None = None
    tracked: Sizes | None = None

    def given(self, option: str) -> bool:
        return bool(self.opts.get(option))


def _train(s, d, c):
    epochs = int(s["training"]["epochs"])
    passes = d.n_train * epochs * (1 + int(s["loss_params"].get("steps") or 0))
    if c.tracked is not None:   # per-epoch accuracy on every (corruption, severity): forward passes only
        n = _cap(c.tracked.n_test, (c.opts.get("track-samples") or [None])[0])
        passes += epochs * c.tracked.sets * n / 3
    return passes


def _sep_evaluate(s, d, c):
    attack = s.get("attack", {})
    explain = (c.opts.get("attribution") or ["input_x_gradient"])[0]
    pairs = c.pairs or 0
    per_explanation = _explainer_passes(s, explain)
    work = pairs * int(attack.get("steps") or 1500) * per_explanation
    work += _cap(d.n_test, s.get("max_samples")) * (1 + _passes("pgd", s.get("pgd")))
    if c.given("landscape-out"):
        land = s.get("landscape", {})
        work += pairs * len(land.get("sigmas", [])) * int(land.get("draws") or 4) * per_explanation
    return work


def _matrix(s, d, c):
    n = _cap(d.n_test, s.get("max_samples"))
    work = n * (2 + _passes("pgd", s.get("pgd")) + int(s.get("n_noise", 10)) + int(s.get("attack_steps", 100)))
    if c.pairs:
        work += c.pairs * int(s.get("sep_attack", {}).get("steps") or 1500) + n * (1 + _passes("pgd", s.get("pgd")))
    lime = s.get("lime", {})
    return work + 2 * int(lime.get("images", 8)) * int(lime.get("n_samples", 200))   # two LIME runs


def _explanations(s, d, c):
    n = _cap(d.n_test, s.get("max_samples"))
    work = n * (1 + len(s["attributions"]) * (int(s.get("n_noise", 10)) * len(s["rps_eps"])
                                              + int(s.get("attack_steps", 100))))
    if c.given("bound-out"):
        work += _cap(d.n_test, s.get("bound_samples", 100)) * len(s.get("bound_eps", [])) * 2
    return work


def _glime_runs(s) -> list[int]:
    return list(s.get("run_samples") or s["samples"])


# Image passes of each command: its dominant terms, from its own settings, its options and its dataset's
# sizes. Constant factors cancel (a target job is scaled by a measured job of the same rule). Not counted:
# G-LIME's deletion / insertion curves (one forward pass per superpixel and estimator; superpixel counts
# are only known once the images are segmented).
WORK = {
    "train": _train,
    "evaluate robustness": lambda s, d, c: _cap(d.n_test, s.get("max_samples")) * (
        1 + len(s["eps"]) * _attacks(s["attacks"])),
    "evaluate corruptions": lambda s, d, c: d.sets * _cap(d.n_test, s.get("max_samples")),
    "evaluate corrupted-attacks": lambda s, d, c: (
        max(1, d.corruptions) * len(s.get("severities") or range(max(1, d.severities)))
        * _cap(d.n_test, s.get("max_samples"))
        * sum(len(eps) * _passes(a, s["attacks"].get(a, {})) for a, eps in s["attack_eps"].items())),
    "limeref corrupted-strong": lambda s, d, c: (
        max(1, d.corruptions) * len(s.get("severities") or range(max(1, d.severities)))
        * _cap(d.n_test, s.get("max_samples"))
        * (1 + len(s["eps"]) * (_attacks(s["attacks"]) + _attacks(s.get("reference") or {})))),
    "aga evaluate": _explanations,
    "render aga/table2": lambda s, d, c: 1,   # a fixed number of timed steps per row: only the model's FLOPs scale
    "aga toy": lambda s, d, c: 1,    # a fixed two-moons problem on the CPU
    "limeref detect": lambda s, d, c: int(s["images"]) * int(s["n_samples"]) * int(s["repeats"]),
    "glime segments": lambda s, d, c: int(s["reference_images"]) + int(s["test_images"]),
    "glime clusters": lambda s, d, c: int(s["reference_images"]) + int(s["test_images"]),
    "glime priors": lambda s, d, c: int(s["reference_images"]) * int(s["prior_samples"]),
    "glime explain": lambda s, d, c: int(s["test_images"]) * (
        sum(_glime_runs(s)) + (int(s.get("repeats", 1)) - 1) * max(_glime_runs(s))),
    "glime stability": lambda s, d, c: int(s["stability_images"]) * sum(s["stability_samples"]) * int(
        s["stability_repeats"]),
    "glime baselines": lambda s, d, c: int(s["test_images"]) * int(s["baseline_repeats"]) * sum(
        _glime_baseline_passes(s, b) for b in s["baselines"]),
    "sep pairs": lambda s, d, c: d.n_test,
    "sep evaluate": _sep_evaluate,
    "matrix evaluate": _matrix,
    "data prepare": lambda s, d, c: d.n_train + d.n_test * d.sets,
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
    """A parsed listing with what its jobs' work needs: which job prepares each dataset, trains each
    model (and with which loss) and makes each SEP pairs file."""

    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self.datasets: dict[str, str] = {}     # meta.json path -> dataset name
        self.models: dict[str, tuple[str, str, str]] = {}   # model path -> (arch, dataset, model options)
        self.pairs: dict[str, int] = {}        # pairs file -> number of ordered pairs
        parsed = [parse_command(job.command) for job in jobs]
        for cmd, opts in parsed:
            if cmd == "data prepare" and opts.get("meta"):
                self.datasets[opts["meta"][0]] = opts["dataset"][0]
        for cmd, opts in parsed:
            if cmd == "train" and opts.get("model-out"):
                settings = json.loads(opts["settings"][0])
                self.models[opts["model-out"][0]] = (opts["arch"][0], self._dataset(opts["data"][0]),
                                                     json.dumps(settings.get("model", {}), sort_keys=True))
            elif cmd == "sep pairs" and opts.get("out"):
                settings = json.loads(opts["settings"][0])
                n = int(settings.get("clusters", 1)) * int(settings.get("per_cluster", 1))
                self.pairs[opts["out"][0]] = n * (n - 1)

    def _dataset(self, meta: str) -> str:
        if meta in self.datasets:
            return self.datasets[meta]
        name = Path(meta).parent.name   # a dataset prepared outside this listing: its folder's name
        if name not in DATASETS:
            raise ValueError(f"no job of the listing prepares {meta}, and {name!r} is not a dataset")
        return name

    def signature(self, job: Job) -> tuple:
        """What makes two jobs of one rule cost alike per unit of work: a training job's loss (and its
        base for SEP), otherwise nothing."""
        cmd, opts = parse_command(job.command)
        if cmd != "train" or not opts.get("settings"):
            return ()
        settings = json.loads(opts["settings"][0])
        return settings.get("loss"), (settings.get("loss_params") or {}).get("base")

    def work(self, job: Job) -> JobWork | None:
        """The job's work, or None for a job whose command has no work model (tables, figures, ...)."""
        cmd, opts = parse_command(job.command)
        if cmd not in WORK:
            return None
        try:
            return self._work(cmd, opts)
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(f"rule {job.rule} ({job.key}): the work model of `interprobust {cmd}` cannot read "
                             f"its settings ({type(e).__name__}: {e}); update estimate.WORK for this "
                             "command's settings") from e
        except ValueError as e:
            raise ValueError(f"rule {job.rule} ({job.key}): {e}") from e

    def _work(self, cmd: str, opts: dict) -> JobWork:
        settings, opts, meta, sizes, tracked, pairs = job_context(self, cmd, opts)
        if opts.get("pairs") and pairs is None:
            raise ValueError(f"no `sep pairs` job of the listing makes {opts['pairs'][0]}")
        passes = float(WORK[cmd](settings, sizes, _Context(opts, pairs, tracked)))
        flops = None
        if cmd == "train":
            flops = model_flops(opts["arch"][0], self._dataset(opts["data"][0]),
                                json.dumps(settings.get("model", {}), sort_keys=True))
        elif cmd == "render aga/table2":
            rows = settings["rows"]
            model = next(iter(rows.values()), {}).get("model", {})
            flops = model_flops(settings["arch"], self._dataset(meta), json.dumps(model, sort_keys=True))
        elif opts.get("model") or opts.get("candidates"):
            model = (opts.get("model") or opts["candidates"])[0]   # aga's selected point: any candidate's FLOPs
            if model not in self.models:
                raise ValueError(f"no train job of the listing makes {model}")
            flops = model_flops(*self.models[model])
        elif cmd == "glime clusters":   # no --model: the pretrained ResNet-101's stem (its whole forward: an upper bound)
            flops = model_flops("resnet101", self._dataset(meta))
        return JobWork(passes, flops)


def read_seconds(path: str | Path) -> float | None:
    """Wall-clock seconds of one benchmark TSV (column ``s``); None when the file is missing."""
    path = Path(path)
    if not path.exists():
        return None
    df = pd.read_csv(path, sep="\t")
    if "s" not in df.columns:
        raise ValueError(f"{path} is not a benchmark TSV (no 's' column)")
    if df.empty:
        raise ValueError(f"{path} holds no timing: delete it, and its job runs again and records one")
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

    A target job is scaled from a measured job of the same rule, preferring the same training loss,
    then the most shared wildcard values, then the closest in work; with none, from a measured job
    running the same command; with none, at the measured jobs' median seconds per unit of work (of
    its kind: with or without a model). Returns the table and the start-up seconds per job (the median
    time of the measured jobs with no work model: tables, figures), which are not scaled.
    """
    if speedup <= 0:
        raise ValueError(f"speedup must be > 0; got {speedup}")
    m_listing, t_listing = Listing(measured), Listing(target)
    timed = []
    for job in measured:
        s = seconds(job.benchmark) if job.benchmark else None
        if s is not None:
            timed.append((job, s, m_listing.work(job), m_listing.signature(job)))
    if not timed:
        raise ValueError("no measured job has a benchmark file: run the measured configuration first "
                         "(its rules write results/benchmarks/)")
    plain = [s for _, s, w, _ in timed if w is None]
    startup = float(pd.Series(plain).median()) if plain else 0.0
    median_rate = {}   # seconds per unit of work, for jobs with a model (True) and without (False)
    for with_model in (True, False):
        rates = [max(s - startup, 0.0) / w.total for _, s, w, _ in timed
                 if w is not None and w.total > 0 and (w.flops is not None) == with_model]
        median_rate[with_model] = float(pd.Series(rates).median()) if rates else 0.0
    rows = []
    for job in target:
        work, signature = t_listing.work(job), t_listing.signature(job)
        same, basis = [t for t in timed if t[0].rule == job.rule], "same rule"
        command = parse_command(job.command)[0]
        if not same and command:   # e.g. a LIMEREF refinement round: the `train` command of another rule
            same, basis = [t for t in timed if parse_command(t[0].command)[0] == command], "same command"
        row = {"rule": job.rule, "job": job.key, "wildcards": ", ".join(f"{k}={v}" for k, v in job.wildcards.items()),
               "gpu": job.gpu}
        if same:
            ref, s, w, _ = max(same, key=lambda t: (t[3] == signature, _similarity(t[0], job),
                                                    -_log_distance(t[2], work)))
            row.update(basis=basis, reference=ref.key, measured_s=s)
            if work is None or w is None or w.total <= 0:   # no work model: it takes what it took
                row.update(work_ratio=1.0, estimated_s=s, gflop=float("nan"))
                rows.append(row)
                continue
            compute, ratio = max(s - startup, 0.1 * s), work.total / w.total
            row["work_ratio"] = ratio
        elif work is not None:
            compute, ratio = median_rate[work.flops is not None] * work.total, 1.0
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



# ================================================================ the FLOP model: cost from first principles
# Each job's FLOPs = images x passes of each kind x that kind's FLOPs per image (interprobust.flops:
# forward, train step, input-gradient step, double-backprop step, measured on the real ops), divided by
# the GPU's sustained rate (cost.gpu: tflops x utilisation, or the utilisation a GPU calibration file
# measured); its peak memory = saved tensors per image of its largest step x the planned batch.

@dataclass
class FlopWork:
    """A job's FLOPs by kind of pass ({kind: images x passes}), its attack part, and its planned batch
    for the largest step (kind, images at once)."""

    passes: dict[str, float]
    per_image: dict[str, float]
    peak_kind: str = "forward"
    peak_batch: int = 1
    attack_passes: float = 0.0      # SEP's explanation-attack pair-steps (x path points for IG)
    host_bytes: float = 0.0         # the job's images in host memory (uint8)

    @property
    def flops(self) -> float:
        return sum(n * self.per_image[k] for k, n in self.passes.items())

    @property
    def attack_flops(self) -> float:
        return self.attack_passes * self.per_image["attack"]

    @property
    def peak_bytes(self) -> float:
        return self.per_image[f"saved_{self.peak_kind}"] * self.peak_batch + 16 * self.per_image["params"]


def _add(passes: dict, kind: str, n: float) -> None:
    passes[kind] = passes.get(kind, 0.0) + float(n)


def _train_step_passes(loss: str, params: dict) -> dict[str, float]:
    """Passes of each kind per training image and step of a loss (its attack steps included)."""
    steps = int(params.get("steps") or 10)
    p: dict[str, float] = {}
    base = params.get("base", "madry") if loss == "sep" else loss
    if base in ("ce", "maxent", "gradient_alignment", "hessian", "limeref"):
        _add(p, "train", 1)
    if base == "madry":
        _add(p, "input_grad", steps), _add(p, "train", 1)
    if base == "trades":
        _add(p, "forward", 1), _add(p, "input_grad", steps), _add(p, "train", 2)
    if loss == "sep" and float(params.get("gamma", 0) or 0):
        _add(p, "double_train", 2)            # the map at x and at x + xi, one batch of 2B
    if loss == "gradient_alignment" and (params.get("lam_l2") or params.get("lam_cos")):
        _add(p, "input_grad", 1), _add(p, "double_train", 1)
    if loss == "hessian" and params.get("lam"):
        _add(p, "double_train", 1.5)          # g with its graph, then Hv with its graph, then backward
    if loss == "limeref":
        if params.get("alpha"):
            _add(p, "input_grad", 1), _add(p, "train", 1)
        if params.get("lam"):
            _add(p, "double_train", 1)
    return p


def _flop_work(listing: "Listing", cmd: str, opts: dict, settings: dict, sizes: Sizes, ctx: _Context,
               per_image: dict[str, float]) -> FlopWork:
    passes: dict[str, float] = {}
    peak_kind, peak_batch, attack = "forward", int(settings.get("batch_size") or 256), 0.0
    if cmd == "train":
        t = settings["training"]
        epochs, n = int(t["epochs"]), sizes.n_train
        for kind, k in _train_step_passes(settings["loss"], settings.get("loss_params") or {}).items():
            _add(passes, kind, n * epochs * k)
        _add(passes, "forward", epochs * sizes.n_test)                   # the per-epoch test evaluation
        if ctx.tracked is not None:
            _add(passes, "forward", epochs * ctx.tracked.sets *
                 _cap(ctx.tracked.n_test, (opts.get("track-samples") or [None])[0]))
        factor = 2 if "double_train" in passes and settings["loss"] == "sep" else 1
        peak_kind = "double_train" if "double_train" in passes else "train"
        peak_batch = int(t.get("batch_size", 128)) * factor
    elif cmd == "sep evaluate":
        attack_s = settings.get("attack", {})
        explain = (opts.get("attribution") or ["input_x_gradient"])[0]
        per_map = _explainer_passes(settings, explain)
        pairs, steps = ctx.pairs or 0, int(attack_s.get("steps") or 1500)
        attack = pairs * steps * per_map
        _add(passes, "attack", attack)        # one step of the real attack, counted (interprobust.flops)
        _add(passes, "input_grad", 2 * pairs * per_map)                   # the victim's and target's maps
        n = _cap(sizes.n_test, settings.get("max_samples"))
        _add(passes, "forward", 2 * n)
        _add(passes, "input_grad", n * _passes("pgd", settings.get("pgd")))
        if ctx.given("landscape-out"):
            land = settings.get("landscape", {})
            _add(passes, "input_grad", pairs * len(land.get("sigmas", [])) * int(land.get("draws") or 4) * per_map)
        peak_kind = "double"
        chunk = attack_s.get("batch_size") or attack_s.get("pairs_per_call") or pairs or 1
        peak_batch = int(min(chunk, pairs or chunk)) * (per_map if explain == "integrated_gradients" else 1)
    elif cmd in ("evaluate robustness",):
        n = _cap(sizes.n_test, settings.get("max_samples"))
        _add(passes, "forward", n * (1 + len(settings["eps"]) * len(settings["attacks"])))
        _add(passes, "input_grad", n * len(settings["eps"]) * _attacks(settings["attacks"]))
        peak_kind = "input_grad"
    elif cmd == "evaluate corruptions":
        _add(passes, "forward", sizes.sets * _cap(sizes.n_test, settings.get("max_samples")))
    else:   # every other command: its work model's image passes, each an input-gradient step (an upper
        # bound for the forward-only ones), of which explanation-attack steps count as attack steps
        work = float(WORK[cmd](settings, sizes, ctx))
        if cmd == "matrix evaluate" and ctx.pairs:
            attack = ctx.pairs * int(settings.get("sep_attack", {}).get("steps") or 1500)
        elif cmd == "aga evaluate":
            attack = _cap(sizes.n_test, settings.get("max_samples")) * len(settings["attributions"]) * int(
                settings.get("attack_steps", 100))
        _add(passes, "attack", attack)
        _add(passes, "input_grad", max(work - attack, 0.0))
        peak_kind = "double" if attack else "input_grad"
    return FlopWork(passes, per_image, peak_kind, max(1, peak_batch), attack)


def _per_image(arch: str, dataset: str, model_options: str) -> dict[str, float]:
    from . import flops
    spec = DATASETS[dataset]
    return flops.per_image(arch, spec.channels, spec.image_size, spec.num_classes, json.loads(model_options))


def job_context(listing: "Listing", cmd: str, opts: dict) -> tuple[dict, dict, str | None, "Sizes", "Sizes | None", object]:
    """What both work models read off one job's command: its settings, its options (a render job's
    ``--in data <meta>`` as ``data``), its dataset's meta.json, that dataset's sizes, the tracked
    corruption set's, its pairs."""
    settings = json.loads(opts["settings"][0]) if opts.get("settings") and cmd != "data prepare" else {}
    if cmd.startswith("render "):   # a table whose render function runs a model: --options, --in data <meta>
        settings = json.loads(opts["options"][0])
        opts = {**opts, "data": opts["in"][1:2]}
    meta = (opts.get("meta") or opts.get("data") or [None])[0]
    sizes = dataset_sizes(listing._dataset(meta), meta) if meta else Sizes(1, 1)
    tracked = None
    if opts.get("track-corruptions"):
        tracked_meta = str(Path(opts["track-corruptions"][0]) / "meta.json")
        tracked = dataset_sizes(listing._dataset(tracked_meta), tracked_meta)
    pairs = listing.pairs.get(opts["pairs"][0]) if opts.get("pairs") else None
    return settings, opts, meta, sizes, tracked, pairs


def listing_flop_work(listing: "Listing", job: Job) -> FlopWork | None:
    """The FLOP model of one job (None: a job that runs no model: tables, figures, data preparation)."""
    cmd, opts = parse_command(job.command)
    if cmd not in WORK or cmd in ("data prepare", "aga toy"):
        return None
    settings, opts, meta, sizes, tracked, pairs = job_context(listing, cmd, opts)
    if cmd == "train":
        model = (opts["arch"][0], listing._dataset(opts["data"][0]), json.dumps(settings.get("model", {}), sort_keys=True))
    elif cmd == "render aga/table2":
        rows = settings["rows"]
        model = (settings["arch"], listing._dataset(meta),
                 json.dumps(next(iter(rows.values()), {}).get("model", {}), sort_keys=True))
    elif opts.get("model") and opts["model"][0] in listing.models:
        model = listing.models[opts["model"][0]]
    else:
        return None
    if cmd == "render aga/table2":
        return FlopWork({"double_train": float(len(settings["rows"]) * 20 * int(settings.get("batch_size", 64)))},
                        _per_image(*model), "double_train", int(settings.get("batch_size", 64)))
    w = _flop_work(listing, cmd, opts, settings, sizes, _Context(opts, pairs, tracked), _per_image(*model))
    spec = DATASETS[model[1]]
    w.host_bytes = (sizes.n_train + sizes.n_test * sizes.sets) * spec.channels * spec.image_size ** 2
    return w


@dataclass(frozen=True)
class Gpu:
    """The device the FLOP model runs on: peak dense TFLOP/s and the share of it our jobs sustain."""

    name: str
    tflops: float
    utilisation: float

    @property
    def flop_per_s(self) -> float:
        return self.tflops * 1e12 * self.utilisation


def read_calibration(path: str | Path | None, gpu: Gpu) -> tuple[Gpu, str]:
    """``gpu`` with the utilisation a ``benchmarks/gpu_check.py`` JSON measured (its ResNet-18 training
    and SEP attack rates against the same GPU's peak), when that file exists; and where it came from."""
    if not path or not Path(path).exists():
        return gpu, f"assumed utilisation {gpu.utilisation:g} (cost.gpu)"
    cal = json.loads(Path(path).read_text())
    if cal.get("device_type") != "cuda" or not cal.get("achieved_tflops"):
        return gpu, f"assumed utilisation {gpu.utilisation:g} (the calibration {path} is not from a GPU)"
    achieved = float(pd.Series(list(cal["achieved_tflops"].values())).median())
    return Gpu(cal.get("device_name", gpu.name), gpu.tflops, achieved / gpu.tflops), \
        f"utilisation {achieved / gpu.tflops:.3f} measured on {cal.get('device_name')} ({path})"


def flop_estimate(target: list[Job], gpu: Gpu, *, startup_s: float = 30.0, safety: float = 2.0) -> pd.DataFrame:
    """One row per target job of the FLOP model: GFLOP (and its SEP-attack part), seconds on ``gpu``,
    peak GPU memory (MiB) and the SLURM request made from them (``runtime`` minutes and ``gpu_mem_mb``
    with the ``safety`` factor)."""
    listing, rows = Listing(target), []
    for job in target:
        w = listing_flop_work(listing, job)
        row = {"rule": job.rule, "job": job.key, "wildcards": ", ".join(f"{k}={v}" for k, v in job.wildcards.items()),
               "gpu": job.gpu}
        if w is None:
            row.update(flop_gflop=0.0, attack_gflop=0.0, flop_s=startup_s, peak_gpu_mib=0.0, host_mib=0.0)
        else:
            row.update(flop_gflop=w.flops / 1e9, attack_gflop=w.attack_flops / 1e9,
                       flop_s=startup_s + w.flops / gpu.flop_per_s, peak_gpu_mib=w.peak_bytes / 2 ** 20,
                       host_mib=w.host_bytes / 2 ** 20)
        row["runtime_min"] = max(5, math.ceil(safety * row["flop_s"] / 60))
        row["gpu_mem_mb"] = math.ceil(safety * row["peak_gpu_mib"]) if row["peak_gpu_mib"] else 0
        # host: the interpreter, torch and CUDA's context (~3 GB), the job's images, and on a CPU-only
        # job its activations too
        row["mem_mb"] = math.ceil(safety * (3072 + row["host_mib"] + (0 if job.gpu else row["peak_gpu_mib"])))
        rows.append(row)
    return pd.DataFrame(rows)


def resources_by_job(flop_jobs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{rule|wildcards: {runtime, gpu_mem_mb}}``: what common.smk's ``res()`` reads per job."""
    return {job_id(r.rule, r.wildcards): {"runtime": int(r.runtime_min), "mem_mb": int(r.mem_mb),
                                          "gpu_mem_mb": int(r.gpu_mem_mb)} for r in flop_jobs.itertuples()}


def job_id(rule: str, wildcards) -> str:
    """What names one job for its resources (:func:`interprobust.plan.job_id`); a listing's ``k=v, ...``."""
    from .plan import job_id as plan_job_id
    return plan_job_id(rule, _pairs(wildcards) if isinstance(wildcards, str) else wildcards)


def flop_report(flop_jobs: pd.DataFrame, parts: dict[str, set[str]], gpu: Gpu, source: str, safety: float) -> str:
    from .io import dataframe_to_markdown

    def row(name, df):
        return {"part": name, "jobs": len(df), "PFLOP": df.flop_gflop.sum() / 1e6,
                "explanation-attack PFLOP": df.attack_gflop.sum() / 1e6, "gpu_hours": df[df.gpu > 0].flop_s.sum() / 3600,
                "largest_peak_GiB": df.peak_gpu_mib.max() / 1024 if len(df) else 0.0}
    summary = pd.DataFrame([row(n, flop_jobs[flop_jobs.job.isin(k)]) for n, k in parts.items()]
                           + [row("total (each job once)", flop_jobs)])
    by_rule = (flop_jobs.groupby("rule").agg(jobs=("job", "size"), PFLOP=("flop_gflop", "sum"),
                                             gpu_hours=("flop_s", "sum"), peak_GiB=("peak_gpu_mib", "max"),
                                             longest_request_min=("runtime_min", "max"))
               .assign(PFLOP=lambda d: d.PFLOP / 1e6, gpu_hours=lambda d: d.gpu_hours / 3600,
                       peak_GiB=lambda d: d.peak_GiB / 1024)
               .sort_values("PFLOP", ascending=False).reset_index())
    return "\n".join([
        "## From first principles: FLOPs",
        "",
        f"Each job's FLOPs are its images × passes of each kind × that kind's FLOPs per image, counted on the "
        f"real ops with torch's FlopCounterMode (`interprobust/flops.py`: forward; training step ≈ 3×; attack "
        f"step ≈ 2×; double-backprop step ≈ 5–6×), divided by **{gpu.name}** at {gpu.tflops:g} TFLOP/s × "
        f"{source}: {gpu.flop_per_s / 1e12:.1f} TFLOP/s sustained, plus 30 s start-up per job. Peak GPU memory "
        f"is the saved tensors per image of the job's largest step × its planned batch, plus weights and "
        f"optimiser state. The SLURM profile's per-job `runtime` (and `gpu_mem_mb`) are these × {safety:g} "
        "(`cost.safety`), written to results/cost/resources.json.",
        "",
        dataframe_to_markdown(summary, digits=2),
        "",
        "### By rule (FLOP model)",
        "",
        dataframe_to_markdown(by_rule.head(20), digits=2),
    ]) + "\n"


# ------------------------------------------------------------------ the FLOP table of the paper-scale models
def listing_models(jobs: list[Job]) -> list[tuple[str, int, int, int, dict]]:
    """Every (arch, channels, size, classes, options) a job listing trains (its `train` jobs)."""
    from .flops import MODEL_OPTIONS, key
    seen = {}
    for arch, dataset, options in Listing(jobs).models.values():
        spec = DATASETS[dataset]
        entry = (arch, spec.channels, spec.image_size, spec.num_classes,
                 {k: v for k, v in json.loads(options).items() if k in MODEL_OPTIONS})
        seen[key(*entry)] = entry
    return list(seen.values())


def paper_listing() -> list[Job]:
    """The paper-scale DAG's jobs (a dry run of this repository's Snakefile with config.yaml)."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--forceall",
                           "--nolock"], cwd=root, capture_output=True, text=True, check=True)
    return read_listing(proc.stdout)


def update_flop_table(remeasure: bool = False) -> int:
    """Add to ``resources/flops.json`` every paper-scale model it lacks (``remeasure``: all anew)."""
    from . import flops
    out = {} if remeasure else dict(flops.table())
    for m in listing_models(paper_listing()):
        if flops.key(*m) not in out:
            out[flops.key(*m)] = flops.measure(*m)
    flops.TABLE_PATH.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    flops.table.cache_clear()
    return len(out)
