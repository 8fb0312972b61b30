"""End to end: the embedded DAG runs in a fresh copy of the repository, every final output exists,
and rebuilding one figure reruns exactly that figure."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ["--configfile", "config/embedded.yaml"]


def snakemake(workdir, *args, check=True):
    env = dict(os.environ)
    # the rules call `python -m interprobust`: make that the Python running these tests
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=1500)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("pipeline")
    for name in ("Snakefile", "config.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, wd / name)
    for name in ("config", "workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, wd / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return wd


@pytest.fixture(scope="module")
def embedded_run(workdir):
    proc = snakemake(workdir, "--cores", "2", *EMBEDDED)
    return proc


@pytest.mark.slow
def test_embedded_dag_produces_every_final_output(workdir, embedded_run):
    summary = snakemake(workdir, *EMBEDDED, "--cores", "1", "--summary").stdout.splitlines()
    rows = [line.split("\t") for line in summary[1:] if line.strip()]
    assert rows, summary
    files = [workdir / r[0] for r in rows]
    missing = [f for f in files if not f.exists() or f.stat().st_size == 0]
    assert not missing, missing
    produced = {str(f.relative_to(workdir)) for f in files}
    for d in ("digits_rgb32", "mnist5k"):
        for kind in ("training_curves.pdf", "training_curves.png", "robustness.pdf", "robustness.csv",
                     "robustness.md"):
            assert f"results/overview/{d}_{kind}" in produced
    assert "results/overview/digits_rgb32_corruptions.png" in produced
    assert "results/overview/mnist5k_corruptions.png" not in produced  # no corrupted set configured for mnist5k
    for name in ("table1_main.md", "table1_main_tidy.csv", "rps_main.csv", "fig2_main.png",
                 "table2_main.md", "fig1_toy.png", "fig3_main.png", "grid_main_l2cosd.md"):
        assert f"results/aga/{name}" in produced
    for t in range(2, 9):
        assert f"results/glime/table{t}_main.md" in produced
    for f in range(3, 10):
        assert f"results/glime/fig{f}_main.png" in produced
    for t in (1, 2, 3, 4, 6, 7, 8, 9):
        assert f"results/sep/table{t}.md" in produced
    for f in ("1a", "1b", 2, 3, 4, 5, 6, 7, 8):
        assert f"results/sep/fig{f}.png" in produced
    for name in ("scorecard.md", "claims.md", "matrix.md", "matrix.png", "cost/estimate.md"):
        assert f"results/{name}" in produced


@pytest.mark.slow
def test_sep_and_report_outputs_are_sane(workdir, embedded_run):
    import pandas as pd
    t2 = pd.read_csv(workdir / "results/sep/table2.csv")
    assert list(t2.model) == ["cifar10 ConvNet Normal", "cifar10 ConvNet MAT", "cifar10 ConvNet SEP_pos",
                              "cifar10 ConvNet SEP_neg"]
    assert (t2.pairs == 12 * 11).all() and (t2.expl_end <= t2.expl_start + 1e-9).all()
    assert (t2.adv_acc <= t2.clean_acc).all() and t2.clean_acc.min() > 20     # every model learned something
    card = pd.read_csv(workdir / "results/scorecard.csv")
    assert set(card.verdict) <= {"within tolerance", "differs", "not run", "inflated", "scale not comparable",
                                 "paper inconsistent"}
    produced = card[card.ours.notna()]          # "paper inconsistent" cells are flagged whether or not we ran them
    assert set(produced.paper) == {"LIMEREF", "GLIME", "AGA", "SEP"} and (produced.scale == "embedded").all()
    matrix = pd.read_csv(workdir / "results/matrix.csv")
    assert len(matrix) == 4 and matrix.drop(columns="model").notna().all().all()
    claims = pd.read_csv(workdir / "results/claims.csv")
    assert len(claims) >= 10 and set(claims.verdict) <= {"holds", "does not hold", "not run",
                                                         "holds under PGD-40 only"}


@pytest.mark.slow
def test_cost_estimate_covers_every_paper_from_the_embedded_timings(workdir, embedded_run):
    import pandas as pd
    bench = list((workdir / "results/benchmarks").rglob("*.tsv"))
    assert len(bench) > 50          # every compute job recorded its time
    summary = pd.read_csv(workdir / "results/cost/estimate.csv").set_index("part")
    assert list(summary.index) == ["overview", "limeref", "glime", "aga", "sep", "total (each job once)"]
    total = summary.loc["total (each job once)"]
    paper_dry_run = snakemake(workdir, "-n", "--forceall").stdout
    assert total.jobs == int(next(x.split()[-1] for x in paper_dry_run.splitlines() if x.startswith("total")))
    assert (summary.gpu_hours > 0).all() and total.gpu_hours >= summary.gpu_hours.drop(total.name).max()
    jobs = pd.read_csv(workdir / "results/cost/jobs.csv")
    trained = jobs[(jobs.rule == "train") & (jobs.gpu > 0)]
    assert len(trained) > 50 and (trained.basis == "same rule").all() and (trained.work_ratio > 1).all()
    text = (workdir / "results/cost/estimate.md").read_text()
    assert "An estimate, not a measurement" in text and "cost.speedup" in text


@pytest.mark.slow
def test_aga_table_is_sane(workdir, embedded_run):
    import pandas as pd
    scores = pd.read_csv(workdir / "results/aga/table1_main_tidy.csv")
    assert list(dict.fromkeys(scores.model)) == ["CE", "ATEX", "IGA", "Hessian", "L2", "L2+Cosd"]
    acc = scores[scores.metric == "accuracy"].set_index("model").value
    assert acc["CE"] > 30  # a Softplus ResNet-18 learns the digits in 4 epochs
    lrp = scores[(scores.metric == "adv_insertion") & (scores.method == "lrp")].value
    assert len(lrp) == 6 and lrp.notna().all()      # LRP is attacked like every other map, in every row
    rps = scores[scores.metric.str.startswith("rps_")].value
    assert rps.between(-1, 1).all()
    ins = scores[scores.metric.isin(["insertion", "adv_insertion"])].dropna().value
    assert ins.between(0, 100).all()
    grid = pd.read_csv(workdir / "results/aga/grid_main_l2cosd.csv")
    assert list(grid.model) == ["CE", "lam_cos=0.1"] and grid.selected.sum() <= 1
    bound = pd.read_csv(workdir / "results/aga/fig3_main.csv")
    assert (bound.crc <= bound.bound).all()      # Theorem 6 holds on the trained models


@pytest.mark.slow
def test_results_are_sane(workdir, embedded_run):
    import pandas as pd
    rob = pd.read_csv(workdir / "results/overview/digits_rgb32_robustness_tidy.csv")
    assert set(rob.model) == {"resnet18/ce/seed0", "resnet18/limeref/seed0", "resnet18/limeref_fgsm_only/seed0",
                              "resnet18/limeref_budget/seed0"}
    rob = rob[rob.model == "resnet18/ce/seed0"]
    clean = rob[rob.attack == "clean"].accuracy.iloc[0]
    assert clean > 30  # 4 epochs of a tiny ResNet-18 learn the digits far above chance (10 %)
    pgd = rob[rob.attack == "pgd"].set_index("eps").accuracy.sort_index()
    fgsm = rob[rob.attack == "fgsm"].set_index("eps").accuracy.sort_index()
    # PGD accuracy falls with eps (FGSM need not: one large step can overshoot)
    assert (pgd.to_numpy()[1:] <= pgd.to_numpy()[:-1] + 1.0).all() and pgd.iloc[0] <= clean
    assert (fgsm <= clean).all() and (pgd <= fgsm + 1.0).all()
    corr = pd.read_csv(workdir / "results/overview/digits_rgb32_corruptions_tidy.csv")
    assert len(corr) == 4 * 19 * 5 and corr.accuracy.between(0, 100).all()


@pytest.mark.slow
def test_one_figure_rebuilds_alone(workdir, embedded_run):
    target = "results/overview/digits_rgb32_robustness.pdf"
    again = snakemake(workdir, *EMBEDDED, "--cores", "1", target)
    assert "Nothing to be done" in again.stdout + again.stderr
    (workdir / target).unlink()
    dry = snakemake(workdir, *EMBEDDED, "--cores", "1", "-n", target)
    text = dry.stdout + dry.stderr
    assert "overview_robustness_figure" in text and "train" not in text.replace("training_curves", "")
    rebuilt = snakemake(workdir, *EMBEDDED, "--cores", "1", target)
    assert "1 of 1 steps (100%) done" in rebuilt.stdout + rebuilt.stderr
    assert (workdir / target).stat().st_size > 0


# A changed setting -> (rules that must rerun, rules that must not). Every job's settings are built from
# the config and the wildcards only (never from `input`), so Snakemake's params trigger sees them.
RERUNS = {
    "training": ("training: {epochs: 5}", {"train", "evaluate_robustness", "overview_training_curves"}, set()),
    "recipe": ("recipes: {aga_resnet18_ce: {training: {lr: 0.004}}}", {"train", "aga_evaluate", "aga_table1"},
               {"sep_evaluate", "glime_explain"}),
    "model": ("model_defaults: {softplus_beta: 4.0}", {"train"}, set()),
    "evaluate": ("evaluate: {max_samples: 48}", {"evaluate_robustness", "overview_robustness_table"}, {"train"}),
    "limeref": ("limeref: {detection: {n_samples: 150}}", {"limeref_detect", "train"}, {"glime_explain"}),
    "glime": ("glime: {clusters: 10}", {"glime_clusters", "glime_priors", "glime_explain", "glime_table2"},
              {"train", "aga_evaluate"}),
    "aga": ("aga: {n_noise: 2}", {"aga_evaluate", "aga_table1"}, {"train", "sep_evaluate"}),
    "sep": ("sep: {attack: {steps: 8}}", {"sep_evaluate", "sep_table2"}, {"train", "aga_evaluate"}),
    "table option": ("aga: {grid_max_drop: 2.0}", {"aga_grid"}, {"aga_grid_evaluate", "aga_evaluate", "train"}),
    "unrelated": ("cost: {speedup: 50}", {"cost_estimate"}, {"train", "evaluate_robustness", "sep_evaluate"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(RERUNS))
def test_a_changed_setting_reruns_its_jobs_and_only_those(workdir, embedded_run, tmp_path, case):
    import re
    overlay, must, must_not = RERUNS[case]
    (tmp_path / "change.yaml").write_text(overlay + "\n")
    out = snakemake(workdir, "-n", "--cores", "1", *EMBEDDED, str(tmp_path / "change.yaml")).stdout
    listed = set(re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M))
    assert must <= listed, f"{case}: {sorted(must - listed)} not rerun; listed {sorted(listed)}"
    assert not (must_not & listed), f"{case}: {sorted(must_not & listed)} rerun for an unrelated change"


def readme_blocks():
    """The README's bash blocks that run on the embedded default after a run (no install, no paper scale,
    no cluster): each command exactly as written."""
    import re
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    def embedded(block: str) -> bool:    # every snakemake line names the embedded config (not paper-shaped)
        runs = [line for line in block.splitlines() if line.lstrip().startswith("snakemake")]
        return all("config/embedded.yaml" in line for line in runs)
    return [b for b in blocks if "pip install" not in b and "--profile" not in b and embedded(b)
            and ("config/embedded.yaml" in b or "interprobust " in b)]


@pytest.mark.slow
def test_the_readmes_embedded_commands_work_as_written(workdir, embedded_run):
    blocks = readme_blocks()
    assert any("results/overview/digits_rgb32_robustness.pdf" in b for b in blocks)   # rebuild one figure
    assert any("interprobust where" in b for b in blocks)
    assert not any("paper-shaped" in b for b in blocks)     # test_paper_shaped.py runs that one
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for block in blocks:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, f"README block failed:\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (workdir / "results/overview/digits_rgb32_robustness.pdf").stat().st_size > 0


def test_lint_is_clean(workdir):
    proc = snakemake(workdir, "--lint", *EMBEDDED, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_paper_config_dry_run_lists_the_real_jobs(workdir):
    proc = snakemake(workdir, "-n", "--cores", "all")
    text = proc.stdout
    for rule in ("download_dataset", "prepare_dataset", "train", "evaluate_robustness", "evaluate_corruptions",
                 "overview_robustness_figure", "overview_training_curves", "overview_corruptions_figure",
                 "limeref_fig04", "glime_table2", "aga_table1", "sep_table2", "matrix_table"):
        assert rule in text, rule


def test_papers_key_selects_what_is_built(workdir, tmp_path):
    only_models = tmp_path / "no_papers.yaml"
    only_models.write_text("papers: []\n")
    # --forceall: list every job the targets need, whether or not an earlier test built it
    text = snakemake(workdir, "-n", "--forceall", *EMBEDDED, "--configfile", str(only_models)).stdout
    import re
    rules = set(re.findall(r"^(?:local)?rule (\w+):", text, flags=re.M))
    assert {"train", "overview_robustness_figure"} <= rules
    assert not [r for r in rules if r.split("_")[0] in ("limeref", "glime", "aga", "sep", "matrix", "scorecard")]
    assert "limeref_detect" in snakemake(workdir, "-n", "--forceall", *EMBEDDED).stdout


def test_bad_config_fails_at_parse_time_with_valid_names(workdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {dataset: cifar11, arch: resnet18, recipe: ce, seed: 0}\n")
    proc = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    out = proc.stdout + proc.stderr  # Snakemake 9 prints parse-time errors on stdout
    assert proc.returncode != 0
    assert "'cifar11' is not one of" in out and "'cifar10'" in out
    bad.write_text("models:\n  - {dataset: cifar10, arch: resnet18, recipe: madry, seed: 0}\n")
    proc = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "recipe 'madry'" in out and "recipes: " in out and ", limeref" in out


@pytest.mark.slow
def test_report_is_one_html_file_grouped_by_paper(workdir, embedded_run):
    snakemake(workdir, "--report", "report.html", *EMBEDDED)
    html = (workdir / "report.html").read_text(errors="replace")
    for category in ("LIMEREF", "G-LIME", "AGA", "SEP", "Scorecard", "Cross-paper matrix", "Cost estimate"):
        assert category in html, category
