"""The FLOP and memory model: FLOPs per image counted on the real ops, hand counts, the SEP attack's
share at paper scale, and the per-job SLURM requests made from it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interprobust import estimate as est
from interprobust import flops

ROOT = Path(__file__).resolve().parents[1]

# Hand counts of multiply-accumulates (x 2 = FLOPs) of one forward pass, layer by layer.
CONVNET_CIFAR_MACS = (32 * 32 * 64 * 3 * 9          # conv 3->64 at 32x32, then 2x2 max-pools
                      + 16 * 16 * 64 * 64 * 9 + 8 * 8 * 64 * 64 * 9 + 64 * 4 * 4 * 10)


def _resnet18_cifar_macs():
    macs = 32 * 32 * 64 * 3 * 9 + 4 * 32 * 32 * 64 * 64 * 9            # stem, layer 1
    for side, cin, cout in ((16, 64, 128), (8, 128, 256), (4, 256, 512)):  # layers 2-4: stride 2 first
        macs += side * side * cout * cin * 9 + 3 * side * side * cout * cout * 9 + side * side * cout * cin
    return macs + 512 * 10


ENTRIES = {"convnet": ("convnet", 3, 32, 10, {"width": 1.0}), "resnet18": ("resnet18", 3, 32, 10, {"width": 1.0})}


@pytest.mark.parametrize("arch,macs", [("convnet", CONVNET_CIFAR_MACS), ("resnet18", _resnet18_cifar_macs())])
def test_the_table_is_a_fresh_measurement_and_the_forward_pass_is_the_hand_count(arch, macs):
    entry = flops.table()[flops.key(*ENTRIES[arch])]
    fresh = flops.measure(*ENTRIES[arch])
    assert entry == pytest.approx(fresh, rel=1e-12)
    assert entry["forward"] == 2 * macs
    # the multipliers are counted, and they are what one expects of each pass
    assert entry["input_grad"] == pytest.approx(2 * entry["forward"], rel=0.01)    # forward + input backward
    assert entry["train"] == pytest.approx(3 * entry["forward"], rel=0.05)         # + weight gradients
    assert 4.9 <= entry["double"] / entry["forward"] <= 5.2                          # double backprop
    # one step of the real SEP attack: the double backprop, the output term's and the selection's forwards
    assert 6.9 <= entry["attack"] / entry["forward"] <= 7.2
    assert entry["saved_double"] > entry["saved_train"] > 0


def test_attack_step_flops_equal_the_pipelines_own_attack_run():
    torch.manual_seed(0)
    from interprobust.explain.manipulation import ExplanationAttack
    from interprobust.models import build_model
    model = build_model("convnet", num_classes=10, in_channels=3, image_size=32, mean=[0.5] * 3, std=[0.5] * 3,
                        width=0.25).eval()
    x, t = torch.rand(3, 3, 32, 32), torch.rand(3, 32, 32)
    total = flops.count_flops(lambda: ExplanationAttack.dombrowski(8 / 255, steps=4).run(model, x, target_map=t))
    zero = flops.count_flops(lambda: ExplanationAttack.dombrowski(8 / 255, steps=1).run(model, x, target_map=t))
    assert (total - zero) / 3 / 3 == pytest.approx(flops.attack_step_flops(model, 3, 32), rel=1e-9)


def _block(rule, output, command, wildcards, gpu=1):
    return "\n".join(["", f"rule {rule}:", f"    output: {output}", "    jobid: 1",
                      f"    wildcards: {wildcards}", f"    resources: tmpdir=/tmp, gpu={gpu}",
                      f"Shell command: {command}"])


def _sep_listing(arch, **kw):
    return est.read_listing(_sep_listing_text(arch, **kw))


def _sep_listing_text(arch, steps=1500, clusters=10, per_cluster=15):
    model = f"results/models/cifar10/{arch}/ce/seed0/model.pt"
    settings = {"loss": "ce", "loss_params": {}, "model": {"width": 1.0}, "training": {"epochs": 1, "batch_size": 128}}
    sep = {"attack": {"eps": 0.0314, "steps": steps, "batch_size": None, "pairs_per_call": 4096},
           "clusters": clusters, "per_cluster": per_cluster, "max_samples": None, "pgd": {"steps": 10},
           "landscape": {"sigmas": [0.0, 0.01], "draws": 4}}
    blocks = [
        _block("train", model, f"python -m interprobust train --data results/data/cifar10/meta.json --arch {arch} "
               f"--settings '{json.dumps(settings)}' --model-out {model} --history-out h.csv",
               f"dataset=cifar10, arch={arch}, recipe=ce, seed=0"),
        _block("sep_pairs", "results/sep/pairs/cifar10.npz", f"python -m interprobust sep pairs --model {model} "
               f"--data results/data/cifar10/meta.json --settings '{json.dumps(sep)}' --out results/sep/pairs/cifar10.npz",
               "dataset=cifar10"),
        _block("sep_evaluate", f"results/sep/eval/cifar10/{arch}/ce/seed0/input_x_gradient.csv",
               f"python -m interprobust sep evaluate --model {model} --data results/data/cifar10/meta.json "
               f"--pairs results/sep/pairs/cifar10.npz --attribution input_x_gradient --settings '{json.dumps(sep)}' "
               f"--out x.csv --landscape-out l.csv --saliency-out s.npz",
               f"dataset=cifar10, arch={arch}, recipe=ce, seed=0, attribution=input_x_gradient"),
    ]
    return "\n".join(blocks) + "\n"


@pytest.mark.parametrize("arch,macs", [("convnet", CONVNET_CIFAR_MACS), ("resnet18", _resnet18_cifar_macs())])
def test_the_sep_part_of_one_evaluation_is_the_hand_count(arch, macs):
    """22,350 ordered pairs (150 images: 10 clusters x 15) x 1500 steps x one attack step's FLOPs."""
    jobs = _sep_listing(arch)
    gpu = est.Gpu("test", 100.0, 1.0)
    rows = est.flop_estimate(jobs, gpu, startup_s=0.0, safety=1.0).set_index("rule")
    per_step = flops.table()[flops.key(*ENTRIES[arch])]["attack"]
    assert rows.loc["sep_evaluate", "attack_gflop"] * 1e9 == pytest.approx(22_350 * 1500 * per_step, rel=1e-12)
    # and by hand: about 7 forward passes per pair-step
    assert rows.loc["sep_evaluate", "attack_gflop"] * 1e9 == pytest.approx(22_350 * 1500 * 7 * 2 * macs, rel=0.03)
    # the rest of the evaluation (maps, accuracy, PGD, landscape) is small beside the attack
    assert rows.loc["sep_evaluate", "attack_gflop"] / rows.loc["sep_evaluate", "flop_gflop"] > 0.95
    # time = FLOPs / sustained rate; the request doubles it with safety 2
    assert rows.loc["sep_evaluate", "flop_s"] == pytest.approx(rows.loc["sep_evaluate", "flop_gflop"] * 1e9 / 1e14)
    twice = est.flop_estimate(jobs, gpu, startup_s=0.0, safety=2.0).set_index("rule")
    assert twice.loc["sep_evaluate", "runtime_min"] >= 2 * rows.loc["sep_evaluate", "flop_s"] / 60


def test_peak_memory_is_saved_tensors_per_image_times_the_planned_batch():
    jobs = _sep_listing("resnet18")
    per = flops.table()[flops.key(*ENTRIES["resnet18"])]
    rows = est.flop_estimate(jobs, est.Gpu("t", 100.0, 1.0), safety=1.0).set_index("rule")
    # 4096 pairs per call (batch_size null): the planned chunk
    assert rows.loc["sep_evaluate", "peak_gpu_mib"] * 2 ** 20 == pytest.approx(
        per["saved_double"] * 4096 + 16 * per["params"])
    assert rows.loc["train", "peak_gpu_mib"] * 2 ** 20 == pytest.approx(per["saved_train"] * 128 + 16 * per["params"])


def test_a_gpu_calibration_replaces_the_assumed_utilisation(tmp_path):
    gpu = est.Gpu("H100", 1000.0, 0.1)
    assert est.read_calibration(tmp_path / "none.json", gpu)[0] == gpu
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps({"device_type": "cpu", "achieved_tflops": {"a": 0.01}}))
    assert est.read_calibration(cpu, gpu)[0] == gpu
    cal = tmp_path / "gpu.json"
    cal.write_text(json.dumps({"device_type": "cuda", "device_name": "H200", "achieved_tflops": {"a": 200, "b": 300}}))
    got, source = est.read_calibration(cal, gpu)
    assert got.utilisation == pytest.approx(0.25) and got.name == "H200" and "measured" in source


@pytest.fixture(scope="module")
def paper_listing():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--forceall",
                           "--nolock"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return est.read_listing(proc.stdout)


def test_the_table_covers_every_paper_scale_model(paper_listing):
    """The paper-scale estimate needs no torch: every model the paper-scale DAG trains is in the table."""
    models = est.listing_models(paper_listing)
    assert len(models) > 10
    missing = [m for m in models if flops.key(*m) not in flops.table()]
    assert not missing, f"run `interprobust flop-table` for {missing}"


def test_the_sep_attacks_at_paper_scale_are_the_issues_hand_count_within_2x(paper_listing):
    """Issue #18: SEP's attacks are about 9.3e19 FLOP; the model's total must be within 2x."""
    rows = est.flop_estimate(paper_listing, est.Gpu("t", 989.0, 0.1))
    sep = rows[rows.rule == "sep_evaluate"]
    total = sep.attack_gflop.sum() * 1e9
    assert 9.3e19 / 2 <= total <= 9.3e19 * 2, f"{total:.3g}"
    assert (rows.runtime_min >= 5).all() and rows.gpu_mem_mb.max() > 0
    # per-job requests differ within a rule (not one number per stage)
    assert sep.runtime_min.nunique() > 3 and sep.gpu_mem_mb.nunique() > 3


def test_the_resources_command_and_res_use_the_model_per_job(tmp_path):
    from interprobust.cli import main
    from interprobust.plan import Plan, job_id
    listing = tmp_path / "all.txt"
    listing.write_text(_sep_listing_text("resnet18"))
    out = tmp_path / "resources.json"
    assert main(["resources", "--listing", str(listing), "--gpu", '{"name": "t", "tflops": 100, "utilisation": 1}',
                 "--safety", "2", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["jobs"]
    wc = {"dataset": "cifar10", "arch": "resnet18", "recipe": "ce", "seed": "0", "attribution": "input_x_gradient"}
    request = got[job_id("sep_evaluate", wc)]
    assert request["runtime"] > got[job_id("train", {k: wc[k] for k in ("dataset", "arch", "recipe", "seed")})]["runtime"]
    # res(): the job's own value, times the attempt; a job the file does not name gets its stage's
    plan = Plan.__new__(Plan)
    plan.config = {"resources": {"evaluate": {"runtime": 240, "mem_mb": 16000}},
                   "cost": {"job_resources": str(out)}}
    assert plan.job_res("evaluate", "runtime", 60, "sep_evaluate", wc, attempt=1) == request["runtime"]
    assert plan.job_res("evaluate", "runtime", 60, "sep_evaluate", wc, attempt=2) == 2 * request["runtime"]
    assert plan.job_res("evaluate", "mem_mb", 8000, "sep_evaluate", wc) == request["mem_mb"]
    assert plan.job_res("evaluate", "runtime", 60, "evaluate_robustness", wc) == 240


def test_a_user_error_of_a_table_job_is_reported_without_importing_torch(tmp_path):
    """The CLI recognises the training error only when a command trained: a table's error costs no torch."""
    code = ("import sys; from interprobust.cli import _user_errors; errs = _user_errors(); "
            "print('torch' in sys.modules, any(e.__name__ == 'NonFiniteLossError' for e in errs)); "
            "import interprobust.train; print(any(e.__name__ == 'NonFiniteLossError' for e in _user_errors()))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "workflow"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]
