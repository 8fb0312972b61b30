"""The paper-shaped run: config.yaml's DAG (every rule, paper architectures and input sizes) on miniature
archives in each real dataset's published layout, with only counts cut (config/paper-shaped.yaml +
the overlay.yaml ``interprobust data miniature`` writes).

- ``test_the_paper_shaped_dag_has_every_paper_scale_rule`` (dry runs only, ~1 min) runs by default.
- ``test_the_ci_subset_runs`` (marker ``paper_shaped``) runs a chosen set of targets covering every rule
  of the dry-run job list and every (dataset, architecture) the paper-scale DAG trains; it is opt-in:
  ``INTERPROBUST_PAPER_SHAPED=1 pytest -m paper_shaped tests/test_paper_shaped.py``.
- ``INTERPROBUST_PAPER_SHAPED=full`` runs the whole DAG instead (docs/performance.md: the times).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODE = os.environ.get("INTERPROBUST_PAPER_SHAPED", "")
MODEL = re.compile(r"results/models/(?P<dataset>[^/]+)/(?P<arch>[^/]+)/(?P<recipe>[^/]+)/seed\d+/model\.pt$")
AGGREGATE_SHARE = 0.5   # a job that needs more than this share of the DAG is an aggregate (scorecard, all)


def snakemake(workdir: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "snakemake", "--nolock", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the repository plus the miniature archives and their overlay.yaml."""
    from interprobust.data.miniature import write_overlay
    wd = tmp_path_factory.mktemp("paper_shaped")
    for name in ("Snakefile", "config.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, wd / name)
    for name in ("config", "workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, wd / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    papers = sorted(str(p) for p in (wd / "config/papers").glob("*.yaml"))
    write_overlay(wd / "miniature", recipes_from=[str(wd / "config.yaml"), *papers])
    return wd


def overlay_args(wd: Path) -> list[str]:
    return ["--configfile", "config/paper-shaped.yaml", str(wd / "miniature/overlay.yaml")]


def jobs(proc: subprocess.CompletedProcess) -> list[dict]:
    """The dry run's jobs: rule, inputs, outputs (from ``snakemake -n`` blocks)."""
    out, job = [], None
    for line in proc.stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\S+):$", line)
        if m:
            job = {"rule": m.group(1), "input": [], "output": []}
            out.append(job)
        elif job is not None and re.match(r"^    (input|output): ", line):
            key, _, files = line.strip().partition(": ")
            job[key] = [f.strip() for f in files.split(", ") if f.strip()]
        elif not line.strip():
            job = None
    return out


def dry_run(wd: Path, *configs: str) -> list[dict]:
    proc = snakemake(wd, "-n", "--forceall", "--cores", "1", *configs, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"the paper-shaped overlay does not resolve (a config change elsewhere?):\n{proc.stderr[-3000:]}")
    found = jobs(proc)
    assert found, proc.stdout[-2000:]
    return found


def closure(all_jobs: list[dict]) -> list[set[int]]:
    """Per job, the indices of the jobs it needs (itself included)."""
    producer = {f: i for i, j in enumerate(all_jobs) for f in j["output"]}
    needs: list[set[int] | None] = [None] * len(all_jobs)

    def visit(i: int) -> set[int]:
        if needs[i] is None:
            needs[i] = {i}
            for f in all_jobs[i]["input"]:
                if f in producer and producer[f] != i:
                    needs[i] |= visit(producer[f])
        return needs[i]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    return [visit(i) for i in range(len(all_jobs))]


def ci_subset(all_jobs: list[dict]) -> tuple[list[int], list[str]]:
    """(chosen jobs, rules left out and why): per rule the job adding the fewest new jobs to those chosen,
    per trained (dataset, arch) the cheapest train job; rules whose every job needs most of the DAG
    (the final aggregates) are left out: the full opt-in run and the embedded run cover them."""
    needs = closure(all_jobs)
    chosen: set[int] = set()
    picks: list[int] = []
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, j in enumerate(all_jobs):
        groups[("rule", j["rule"])].append(i)
        for f in j["output"]:
            m = MODEL.search(f)
            if m and j["rule"] == "train":
                groups[("model", m["dataset"], m["arch"])].append(i)
    left_out = []
    # train coverage first (their closures are small), then the rules with the fewest candidate jobs
    for key in sorted(groups, key=lambda k: (k[0] != "model", len(groups[k]), k)):
        best = min(groups[key], key=lambda i: (len(needs[i] - chosen), len(needs[i]), i))
        if len(needs[best]) > AGGREGATE_SHARE * len(all_jobs):
            left_out.append(f"{key[1]} (each job needs {len(needs[best])} of {len(all_jobs)} jobs)")
            continue
        chosen |= needs[best]
        picks.append(best)
    return picks, left_out


def test_the_paper_shaped_dag_has_every_paper_scale_rule(workdir):
    paper = dry_run(workdir)
    shaped = dry_run(workdir, *overlay_args(workdir))
    assert {j["rule"] for j in paper} <= {j["rule"] for j in shaped}
    assert len(shaped) == len(paper)                   # the same jobs: only counts were cut
    trained = {(m["dataset"], m["arch"]) for j in paper for f in j["output"] if (m := MODEL.search(f))}
    assert trained == {(m["dataset"], m["arch"]) for j in shaped for f in j["output"] if (m := MODEL.search(f))}
    picks, left_out = ci_subset(shaped)
    rules = {shaped[i]["rule"] for i in picks}
    assert rules | {r.split(" ")[0] for r in left_out} == {j["rule"] for j in shaped}
    # left out: only the few aggregates over most of the DAG (all, scorecard, claims, cost, matrix table)
    assert len(left_out) <= 10 and {"train", "prepare_dataset", "download_dataset"} <= rules, left_out
    print(f"CI subset: {len(set().union(*(closure(shaped)[i] for i in picks)))} of {len(shaped)} jobs, "
          f"{len(rules)} rules; left out: {left_out}")


@pytest.mark.paper_shaped
@pytest.mark.skipif(MODE not in ("1", "full"), reason="the paper-shaped run is opt-in: "
                    "INTERPROBUST_PAPER_SHAPED=1 (CI subset) or =full (every job); see docs/performance.md")
def test_the_ci_subset_runs(workdir):
    shaped = dry_run(workdir, *overlay_args(workdir))
    if MODE == "full":
        targets: list[str] = []
        left_out: list[str] = []
    else:
        picks, left_out = ci_subset(shaped)
        targets = [shaped[i]["output"][0] for i in picks]
    cores = os.environ.get("INTERPROBUST_PAPER_SHAPED_CORES", "1")
    start = time.monotonic()
    proc = snakemake(workdir, *targets, "--cores", cores, "--keep-going", *overlay_args(workdir),  # targets first:
                     # --configfile takes every argument after it
                     timeout=float(os.environ.get("INTERPROBUST_PAPER_SHAPED_TIMEOUT", 7200)))
    took = time.monotonic() - start
    print(f"paper-shaped {'full run' if MODE == 'full' else f'CI subset ({len(targets)} targets)'}: "
          f"{took:.0f} s on {cores} core(s); left out: {left_out}")
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    missing = [t for t in targets if not (workdir / t).exists()]
    assert not missing, missing


def test_the_readmes_paper_shaped_commands_are_the_ones_tested():
    """The README's paper-shaped block is run by this file (not by the embedded README test): its two
    commands must be the ones the fixture and ``overlay_args`` reproduce."""
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if "paper-shaped" in b)
    lines = [line.split("#")[0].split() for line in block.strip().splitlines()]
    assert lines[0] == ["interprobust", "data", "miniature", "--out", "resources/miniature"]
    assert lines[1][:3] == ["snakemake", "--cores", "all"]
    assert lines[1][3:] == ["--configfile", "config/paper-shaped.yaml", "resources/miniature/overlay.yaml"]
