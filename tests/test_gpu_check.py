"""benchmarks/gpu_check.py keeps working: its tiny CPU run writes the calibration JSON that the cost model
reads (and ignores, as it is not from a GPU), with every measurement and the ratio lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

from interprobust import estimate as est

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_on_cpu_writes_the_calibration(tmp_path):
    out = tmp_path / "cal.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "workflow"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--device", "cpu", "--tiny",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cal = json.loads(out.read_text())
    assert cal["device_type"] == "cpu" and cal["train_images_per_s"]["fp32"] > 0
    for arch in ("convnet", "resnet18"):
        a = cal["attack"][arch]
        assert a["pair_steps_per_s"] > 0 and a["per_pair_pair_steps_per_s"] > 0 and a["peak_mib_per_pair"] > 0
    assert set(cal["benchmarks"]) == {"lime_case_a", "pgd_vs_torchattacks", "aga_table2_step_costs", "sep_attack"}
    for name, b in cal["benchmarks"].items():
        assert "error" not in b and b["ratio_lines"], (name, b)
    ratios = [ln for ln in proc.stdout.splitlines() if ln.startswith("ratio:")]
    assert any("batched over per-pair SEP attack (resnet18)" in r for r in ratios)
    assert any("case a" in r for r in ratios) and any("Hessian" in r for r in ratios)
    assert all(float(r.split()[1].rstrip("x")) > 0 for r in ratios)
    # from a CPU the calibration is not used
    gpu = est.Gpu("H100", 989.0, 0.1)
    assert est.read_calibration(out, gpu)[0] == gpu
