"""The cost estimate: reading job listings, the work model, and the scaling of measured timings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interprobust import estimate as est

ROOT = Path(__file__).resolve().parents[1]


def _block(rule, output, command, *, wildcards="", benchmark=None, gpu=0):
    lines = ["", "[Wed Nov 25 23:45:06 2026]", f"rule {rule}:", "    input: a, b", f"    output: {output}",
             f"    log: results/logs/{rule}.log", "    jobid: 1"]
    if benchmark:
        lines.append(f"    benchmark: {benchmark}")
    lines += ["    reason: Forced execution"]
    if wildcards:
        lines.append(f"    wildcards: {wildcards}")
    lines += [f"    resources: tmpdir=/tmp, gpu={gpu}, runtime=30, mem_mb=2000", f"Shell command: {command}"]
    return "\n".join(lines)


def _prepare(name):
    return _block("prepare_dataset", f"results/data/{name}/meta.json",
                  f"python -m interprobust data prepare --dataset {name} --meta results/data/{name}/meta.json "
                  f"--options '{{}}' > results/logs/prepare/{name}.log 2>&1", wildcards=f"dataset={name}")


def _train(dataset, epochs, *, arch="lenet", method="ce", gpu=0, steps=0, bench=True, loss="ce"):
    settings = {"loss": loss, "loss_params": {"steps": steps} if steps else {}, "model": {"width": 1.0},
                "training": {"epochs": epochs}}
    out = f"results/models/{dataset}/{arch}/{method}/seed0/model.pt"
    return _block("train", f"{out}, results/models/{dataset}/{arch}/{method}/seed0/history.csv",
                  f"python -m interprobust train --data results/data/{dataset}/meta.json --arch {arch} "
                  f"--recipe {method} --seed 0 --settings '{json.dumps(settings)}' --device auto --threads 1 "
                  f"--model-out {out} --history-out x.csv > results/logs/train.log 2>&1",
                  wildcards=f"dataset={dataset}, arch={arch}, method={method}, seed=0",
                  benchmark=f"bench/train_{dataset}_{method}.tsv" if bench else None, gpu=gpu)


def _table(name):
    return _block("overview_robustness_table", f"results/overview/{name}.csv",
                  f"python -m interprobust render overview/robustness_table --in evals x.csv --options "
                  f"'{{\"labels\": [\"a\"]}}' --stem results/overview/{name} > results/logs/t.log 2>&1",
                  benchmark=f"bench/{name}.tsv")


def _listing(*blocks):
    return "Building DAG of jobs...\nJob stats:\njob  count\n-----  -----\ntrain  1\n" + "\n".join(blocks) + \
        "\n\nJob stats:\njob count\n"


def test_read_listing_reads_rule_wildcards_outputs_benchmark_gpu_and_command():
    jobs = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 3, gpu=1), "\nrule all:\n    input: x\n"))
    assert [j.rule for j in jobs] == ["prepare_dataset", "train", "all"]
    train = jobs[1]
    assert train.wildcards == {"dataset": "mnist", "arch": "lenet", "method": "ce", "seed": "0"}
    assert train.outputs[0] == "results/models/mnist/lenet/ce/seed0/model.pt" and len(train.outputs) == 2
    assert train.benchmark == "bench/train_mnist_ce.tsv" and train.gpu == 1
    assert train.key == train.outputs[0] and jobs[2].key == "all"
    cmd, opts = est.parse_command(train.command)
    assert cmd == "train" and opts["arch"] == ["lenet"] and json.loads(opts["settings"][0])["training"]["epochs"] == 3
    assert "threads" in opts and ">" not in sum(opts.values(), [])


def test_read_listing_without_jobs_says_how_to_make_one():
    with pytest.raises(ValueError, match="snakemake -n -p --forceall"):
        est.read_listing("Building DAG of jobs...\nNothing to be done.\n")


def test_parse_command_ignores_other_programs_and_redirections():
    assert est.parse_command("snakemake -n") == ("", {})
    cmd, opts = est.parse_command("python -m interprobust evaluate robustness --model m.pt --eps 1 2 > log 2>&1")
    assert cmd == "evaluate robustness" and opts == {"model": ["m.pt"], "eps": ["1", "2"]}


def test_model_flops_of_lenet_is_the_hand_count():
    # torch's counter: 2 x multiply-adds of each conv and linear layer (biases not counted)
    conv = lambda cin, cout, side: 2 * cin * 9 * cout * side * side  # noqa: E731
    expected = (conv(1, 32, 28) + conv(32, 32, 28) + conv(32, 64, 14) + conv(64, 64, 14)
                + 2 * 64 * 7 * 7 * 256 + 2 * 256 * 10)
    assert est.model_flops("lenet", "mnist") == expected
    # a wider model and a larger input cost more, as the counts say
    assert est.model_flops("lenet", "mnist", '{"width": 2.0}') > 3.5 * expected
    # 49x the pixels, but 224 px inputs get ResNet's strided ImageNet stem (16x fewer positions)
    assert 2.5 < est.model_flops("resnet18", "cub200") / est.model_flops("resnet18", "cifar10") < 4


def test_dataset_sizes_come_from_meta_when_prepared_else_the_registry(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"n_train": 7, "n_test": 3, "corruptions": ["a", "b"], "severities": [1, 2, 3]}))
    assert est.dataset_sizes("digits_rgb32_c", str(meta)) == est.Sizes(7, 3, 2, 3)
    assert est.dataset_sizes("digits_rgb32_c", str(meta)).sets == 6
    assert est.dataset_sizes("cifar10", str(tmp_path / "missing.json")) == est.Sizes(50000, 10000)
    assert est.dataset_sizes("cifar10c").sets == 19 * 5
    with pytest.raises(ValueError, match=f"prepare it first \\(snakemake {tmp_path}/missing.json"):
        est.dataset_sizes("digits", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="valid datasets: .*cifar10"):
        est.dataset_sizes("cifar11")


def _seconds(table):
    return lambda path: table.get(path)


def test_a_job_is_its_measured_job_scaled_by_work_plus_the_fixed_start_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no prepared meta.json here: the registry's sizes
    measured = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2), _table("t1"), _table("t2")))
    target = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 6, gpu=1), _train("fmnist", 4, gpu=1),
                                       _train("mnist", 2, method="madry", steps=9, gpu=1), _table("t1")))
    timings = {"bench/train_mnist_ce.tsv": 12.0, "bench/t1.tsv": 2.0, "bench/t2.tsv": 4.0}
    jobs, startup = est.estimate_jobs(target, measured, speedup=4.0, seconds=_seconds(timings))
    assert startup == 3.0   # the median of the jobs that run no model
    by_job = jobs.set_index("job")
    compute = 12.0 - 3.0
    # 3x the epochs on a GPU 4x faster
    assert by_job.loc["results/models/mnist/lenet/ce/seed0/model.pt", "estimated_s"] == pytest.approx(
        3.0 + compute * 3 / 4)
    # same size and input shape as MNIST: only the epochs change
    assert by_job.loc["results/models/fmnist/lenet/ce/seed0/model.pt", "work_ratio"] == pytest.approx(2.0)
    # PGD training with 9 steps: 10 passes per image, at the same epochs
    madry = by_job.loc["results/models/mnist/lenet/madry/seed0/model.pt"]
    assert madry.work_ratio == pytest.approx(10.0) and madry.basis == "same rule"
    # a table runs on a CPU in the time it took (no work model, no speedup)
    assert by_job.loc["results/overview/t1.csv", "estimated_s"] == pytest.approx(2.0)
    # no measured job prepared data: the median rate of model-less work, of which nothing was timed,
    # so only the start-up (the model jobs' rate is in other units: seconds per FLOP)
    prepare = by_job.loc["results/data/mnist/meta.json"]
    assert prepare.basis == "median rate" and prepare.estimated_s == pytest.approx(3.0)


def test_the_estimate_needs_timings():
    measured = est.read_listing(_listing(_train("mnist", 2)))
    with pytest.raises(ValueError, match="run the measured configuration first"):
        est.estimate_jobs(measured, measured, seconds=_seconds({}))
    with pytest.raises(ValueError, match="speedup"):
        est.estimate_jobs(measured, measured, speedup=0, seconds=_seconds({"bench/train_mnist_ce.tsv": 1.0}))


def test_parts_and_summary_count_each_job_where_it_belongs():
    overview = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2, gpu=1)))
    paper = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2, gpu=1), _train("fmnist", 2, gpu=1),
                                      _table("t1")))
    parts = est.parts_from_listings(overview, {"aga": paper})
    assert parts["aga"] == {"results/models/fmnist/lenet/ce/seed0/model.pt", "results/overview/t1.csv"}
    timings = {"bench/train_mnist_ce.tsv": 3600.0 * 2 + 1, "bench/t1.tsv": 1.0}
    jobs, _ = est.estimate_jobs(paper, paper, speedup=1.0, seconds=_seconds(timings))
    summary = est.summarise(jobs, parts).set_index("part")
    assert list(summary.index) == ["overview", "aga", "total (each job once)"]
    assert summary.loc["overview", "jobs"] == 2 and summary.loc["aga", "gpu_jobs"] == 1
    assert summary.loc["total (each job once)", "jobs"] == 4
    assert summary.loc["total (each job once)", "gpu_hours"] == pytest.approx(
        summary.loc["overview", "gpu_hours"] + summary.loc["aga", "gpu_hours"])
    assert summary.loc["aga", "gpu_hours"] == pytest.approx(2.0, rel=1e-3)


def test_read_seconds(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    assert est.read_seconds(path) == 12.5
    assert est.read_seconds(tmp_path / "none.tsv") is None
    (tmp_path / "bad.tsv").write_text("x\ty\n1\t2\n")
    with pytest.raises(ValueError, match="not a benchmark TSV"):
        est.read_seconds(tmp_path / "bad.tsv")


def _dry_run(*configfiles):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    args = ["--configfile", *configfiles] if configfiles else []
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--forceall",
                           "--nolock", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    total = next(line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("total"))
    return est.read_listing(proc.stdout), int(total)


def test_every_compute_job_of_the_real_dags_has_a_work_model_that_reads_its_settings(tmp_path, monkeypatch):
    """Dry runs of this repository's Snakefile at both scales: each listing parses to the DAG's job
    count, every job is benchmarked, and every job of a rule that asks for a GPU at paper scale has a
    work model (with the model's FLOPs) that its real settings satisfy."""
    paper, n_paper = _dry_run()
    embedded, n_embedded = _dry_run("config/embedded.yaml")
    # embedded sets take their sizes from their prepared meta.json: stand-ins, where the work is computed
    monkeypatch.chdir(tmp_path)
    for job in embedded:
        cmd, opts = est.parse_command(job.command)
        if cmd == "data prepare":
            meta = tmp_path / opts["meta"][0]
            meta.parent.mkdir(parents=True)
            meta.write_text(json.dumps({"n_train": 100, "n_test": 20, "corruptions": ["fog"], "severities": [1]}))
    assert (len(paper), len(embedded)) == (n_paper, n_embedded)
    gpu_rules = {j.rule for j in paper if j.gpu}
    assert gpu_rules >= {"train", "sep_evaluate", "glime_explain", "aga_evaluate", "matrix_evaluate",
                         "evaluate_robustness", "limeref_detect"}
    assert not any(j.gpu for j in embedded)   # the embedded config runs on CPUs
    for jobs in (paper, embedded):
        listing = est.Listing(jobs)
        assert all(j.benchmark for j in jobs if j.rule not in ("all", "job_listing", "cost_estimate"))
        for job in jobs:
            work = listing.work(job)
            if job.rule in gpu_rules:
                assert work is not None and work.passes > 0 and work.flops > 0, job.rule


def test_among_equally_similar_measured_jobs_the_closest_in_work_is_the_reference():
    small, large = _train("mnist", 1, method="a"), _train("mnist", 20, method="b")
    target = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 15, method="c", bench=False)))
    timings = {"bench/train_mnist_a.tsv": 5.0, "bench/train_mnist_b.tsv": 50.0}
    refs = set()
    for order in ((small, large), (large, small)):   # the listing's order does not decide
        measured = est.read_listing(_listing(_prepare("mnist"), *order))
        jobs, _ = est.estimate_jobs(target, measured, seconds=_seconds(timings))
        refs.add(jobs.set_index("rule").loc["train", "reference"])
    assert refs == {"results/models/mnist/lenet/b/seed0/model.pt"}


def test_a_training_job_is_scaled_from_one_with_the_same_loss():
    measured = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2, method="a"),
                                         _train("mnist", 2, method="b", loss="hessian")))
    target = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2, method="a2", loss="hessian")))
    timings = {"bench/train_mnist_a.tsv": 5.0, "bench/train_mnist_b.tsv": 40.0}
    jobs, _ = est.estimate_jobs(target, measured, seconds=_seconds(timings))
    train = jobs.set_index("rule").loc["train"]
    assert train.reference == "results/models/mnist/lenet/b/seed0/model.pt" and train.measured_s == 40.0


def test_sep_and_matrix_work_count_the_attacked_pairs_and_the_explainer():
    sizes = est.Sizes(1000, 500)
    s = {"attack": {"steps": 10}, "pgd": {"steps": 5}, "max_samples": 100, "landscape": {"sigmas": [0, 0.1], "draws": 3},
         "explain_options": {"integrated_gradients": {"steps": 8}}}
    grad = est.WORK["sep evaluate"](s, sizes, est._Context({"attribution": ["gradient"]}, pairs=12))
    assert grad == 12 * 10 + 100 * (1 + 5)
    ig = est.WORK["sep evaluate"](s, sizes, est._Context({"attribution": ["integrated_gradients"],
                                                          "landscape-out": ["x.csv"]}, pairs=12))
    assert ig == 12 * 10 * 8 + 100 * (1 + 5) + 12 * 2 * 3 * 8
    m = {"max_samples": 100, "pgd": {"steps": 5}, "n_noise": 2, "attack_steps": 3, "sep_attack": {"steps": 7},
         "lime": {"images": 4, "n_samples": 50}}
    alone = est.WORK["matrix evaluate"](m, sizes, est._Context({}))
    assert alone == 100 * (2 + 5 + 2 + 3) + 2 * 4 * 50
    assert est.WORK["matrix evaluate"](m, sizes, est._Context({"pairs": ["p.npz"]}, pairs=12)) == alone + 12 * 7 + 100 * 6
    # PGD without steps runs its default 40; FGSM one step, whatever it says
    assert est._passes("pgd", {}) == 40 and est._passes("fgsm", {"steps": 9}) == 1
    assert est._passes("strong", {"attack": "apgd", "restarts": 2}) == 200


def test_a_work_model_that_cannot_read_its_settings_names_the_rule_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = _block("evaluate_robustness", "results/eval/r.csv",
                 "python -m interprobust evaluate robustness --model results/models/mnist/lenet/ce/seed0/model.pt "
                 "--data results/data/mnist/meta.json --settings '{\"eps\": [0.1]}' --out r.csv")
    jobs = est.read_listing(_listing(_prepare("mnist"), _train("mnist", 2), bad))
    with pytest.raises(ValueError, match=r"rule evaluate_robustness .*cannot read its settings.*'attacks'.*estimate.WORK"):
        est.Listing(jobs).work(jobs[-1])


def test_the_estimate_command_writes_the_report(tmp_path, monkeypatch):
    from interprobust.cli import main
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench/train_mnist_ce.tsv").write_text("s\th:m:s\n30.0\t0:00:30\n")
    (tmp_path / "bench/t1.tsv").write_text("s\th:m:s\n2.0\t0:00:02\n")
    files = {"measured.txt": _listing(_prepare("mnist"), _train("mnist", 2), _table("t1")),
             "all.txt": _listing(_prepare("mnist"), _train("mnist", 20, gpu=1), _train("fmnist", 20, gpu=1),
                                 _table("t1")),
             "overview.txt": _listing(_prepare("mnist"), _train("mnist", 20, gpu=1)),
             "aga.txt": _listing(_prepare("mnist"), _train("mnist", 20, gpu=1), _train("fmnist", 20, gpu=1))}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["estimate", "--measured", "measured.txt", "--target", "all.txt", "--parts", "overview.txt",
                 "aga.txt", "--speedup", "7", "--md", "e.md", "--csv", "e.csv", "--jobs-csv", "j.csv"]) == 0
    import pandas as pd
    summary = pd.read_csv("e.csv").set_index("part")
    assert list(summary.index) == ["overview", "aga", "total (each job once)"]
    assert summary.loc["aga", "gpu_jobs"] == 1 and summary.loc["total (each job once)", "jobs"] == 4
    # 10x the epochs of the measured job's 28 s of compute, on a GPU 7x faster, plus the 2 s start-up
    assert summary.loc["aga", "gpu_hours"] == pytest.approx((2 + 28 * 10 / 7) / 3600, rel=1e-4)
    text = (tmp_path / "e.md").read_text()
    assert "An estimate, not a measurement" in text and "**7×**" in text and "| train |" in text


def test_glime_baselines_work_counts_its_own_ig_steps_and_smoothgrad_samples():
    s = {"test_images": 10, "baseline_repeats": 3, "baselines": ["gradcam", "integrated_gradients", "smoothgrad"]}
    sizes = est.Sizes(1000, 500)
    assert est.WORK["glime baselines"](s, sizes, est._Context({})) == 10 * 3 * (1 + 50 + 50)      # the defaults
    cut = {**s, "ig_steps": 2, "smoothgrad_samples": 4}
    assert est.WORK["glime baselines"](cut, sizes, est._Context({})) == 10 * 3 * (1 + 2 + 4)
