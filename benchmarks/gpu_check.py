"""One GPU check (about 8 minutes on one GPU): the numbers the cost model and the issues ask for.

    python benchmarks/gpu_check.py [--device cuda] [--out results/cost/gpu_calibration.json]
    python benchmarks/gpu_check.py --device cpu --tiny        (seconds: what the tests run)

Measures, in this process: ResNet-18 training images/s at CIFAR shape (CE; fp32, and bf16 autocast +
channels_last) through ``train.fit`` itself, and the SEP explanation-attack step (input x gradient,
double backprop) for ConvNet and ResNet-18: pair-steps/s and peak memory per pair (CUDA:
``max_memory_allocated``; CPU: saved tensors) batched, and the batched-vs-per-pair ratio. Then runs
the existing benchmarks for the rest (their ``main`` in this process) and keeps their ``ratio:`` lines:
LIME case (a) (bench_lime.py), PGD vs torchattacks (bench_pgd.py), AGA Table 2's step-cost ratios
(bench_regularizers.py), the SEP attack at the pipeline's chunking (bench_explanation_attack.py).

Writes one JSON (``--out``): the measurements and ``achieved_tflops`` (measured rate x the FLOPs per
image that ``interprobust.flops`` counts), which ``interprobust estimate`` reads as calibration
(``cost.calibration``: its utilisation replaces the assumed one when the file is from a GPU). Prints
``ratio: <number>x <what>`` lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _model(arch, width, device, classes=10):
    from interprobust.models import build_model
    torch.manual_seed(0)
    return build_model(arch, num_classes=classes, in_channels=3, image_size=32, mean=[0.5] * 3, std=[0.25] * 3,
                       width=width).to(device)


def training_rate(device, width, n, epochs, bf16):
    """Images/s of train.fit (CE, ResNet-18, 32 px), its second epoch on (the first pays cuDNN's search)."""
    from interprobust import train
    from interprobust.data.store import Prepared
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)
    data = Prepared(path=Path("synthetic"), meta={"name": "synthetic", "arrays": {}}, train_x=x, train_y=y,
                    test_x=x[:256], test_y=y[:256])
    cfg = train.TrainConfig(epochs=epochs, batch_size=512 if device.type == "cuda" else 32, lr=0.05,
                            bf16=bf16, channels_last=bf16, eval_batch_size=256)
    hist = train.fit(_model("resnet18", width, device), data, config=cfg, device=device, show_progress=False)
    seconds = [r["seconds"] for r in hist[1:]] or [hist[0]["seconds"]]
    return n / float(np.median(seconds))


def attack_step(model, x, target_map, y):
    """One SEP / Dombrowski attack step's gradient: input x gradient map with its graph, MSE to the target."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).gather(1, y[:, None]).sum(), x, create_graph=True)
    loss = (g * x - target_map).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def attack_rate(arch, width, device, pairs, steps):
    """(pair-steps/s batched, pair-steps/s one pair at a time, peak MiB per pair)."""
    model = _model(arch, width, device).eval()
    x, t = torch.rand(pairs, 3, 32, 32, device=device), torch.rand(pairs, 3, 32, 32, device=device)
    y = torch.zeros(pairs, dtype=torch.long, device=device)

    def run(b):
        for _ in range(steps):
            for i in range(0, pairs, b):
                attack_step(model, x[i:i + b], t[i:i + b], y[i:i + b])
        _sync(device)

    run(pairs)   # warm-up
    peak = float("nan")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    run(pairs)
    batched = pairs * steps / (time.perf_counter() - t0)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / pairs / 2 ** 20
    else:
        total = [0]

        def pack(v):
            total[0] += v.numel() * v.element_size()
            return v
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda v: v):
            attack_step(model, x, t, y)
        peak = total[0] / pairs / 2 ** 20
    t0 = time.perf_counter()
    run(1)
    single = pairs * steps / (time.perf_counter() - t0)
    return batched, single, peak


def run_benchmark(script, args):
    """Another benchmark's output and ``ratio:`` lines: its ``main`` run in this process (no second torch
    start-up), with its own command line."""
    import contextlib
    import io
    import runpy
    buf, argv = io.StringIO(), sys.argv
    sys.argv = [script, *args]
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(str(ROOT / "benchmarks" / script), run_name="__main__")
    except BaseException as e:  # noqa: BLE001 - one failed benchmark must not lose the others
        return {"error": f"{type(e).__name__}: {e}"[-500:], "tail": buf.getvalue().splitlines()[-6:]}
    finally:
        sys.argv = argv
    lines = buf.getvalue().splitlines()
    return {"ratio_lines": [ln for ln in lines if ln.startswith("ratio:")], "tail": lines[-8:]}


def _extra_ratios(name, result):
    """Ratios a benchmark prints on other lines: LIME's case (a), AGA Table 2's step costs."""
    import re
    out = []
    for line in result.get("tail", []):
        if name == "lime_case_a" and line.startswith("(a:"):
            m = re.search(r"lime/ours ([\d.]+)x", line)
            if m:
                out.append(f"ratio: {m.group(1)}x lime over ours (case a: ResNet-18 explained)")
        if name == "aga_table2_step_costs":
            m = re.match(r"(\S.*?)\s+[\d.]+ ms/step\s+([\d.]+)x CE", line)
            if m:
                out.append(f"ratio: {m.group(2)}x {m.group(1).strip()} step time over CE (AGA Table 2)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="narrow models, few images and steps (CPU tests)")
    ap.add_argument("--out", default=str(ROOT / "results/cost/gpu_calibration.json"))
    ap.add_argument("--skip-benchmarks", action="store_true", help="only the in-process measurements")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    from interprobust import flops
    width = 0.125 if a.tiny else 1.0
    out = {"device_type": device.type, "tiny": a.tiny, "width": width, "torch": torch.__version__,
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    n, epochs = (64, 2) if a.tiny else (25_000, 3)
    per_train = flops.per_image("resnet18", 3, 32, 10, {"width": width})
    out["train_images_per_s"] = {"fp32": training_rate(device, width, n, epochs, False)}
    if device.type == "cuda":
        out["train_images_per_s"]["bf16_channels_last"] = training_rate(device, width, n, epochs, True)
    ratios = [(out["train_images_per_s"].get("bf16_channels_last", out["train_images_per_s"]["fp32"])
               / out["train_images_per_s"]["fp32"], "bf16+channels_last over fp32 training (ResNet-18, 32 px)")]
    achieved = {f"train_{k}": v * per_train["train"] / 1e12 for k, v in out["train_images_per_s"].items()}
    out["attack"] = {}
    pairs, steps = (8, 2) if a.tiny else (256, 10)
    for arch in ("convnet", "resnet18"):
        batched, single, peak = attack_rate(arch, width, device, pairs, steps)
        out["attack"][arch] = {"pair_steps_per_s": batched, "per_pair_pair_steps_per_s": single,
                               "peak_mib_per_pair": peak, "pairs": pairs}
        ratios.append((batched / single, f"batched over per-pair SEP attack ({arch})"))
        achieved[f"attack_{arch}"] = batched * flops.per_image(arch, 3, 32, 10, {"width": width})["double"] / 1e12
    out["achieved_tflops"] = achieved
    if not a.skip_benchmarks:
        small = ["--device", a.device]
        tiny = {"bench_lime.py": ["--samples", "50", "--width", "0.125", "--repeats", "1"],
                "bench_pgd.py": ["--batch", "4", "--steps", "2", "--width", "0.125", "--repeats", "1"],
                "bench_regularizers.py": ["--batch", "4", "--steps", "1", "--width", "0.125"],
                "bench_explanation_attack.py": ["--pairs", "4", "--steps", "2", "--repeats", "1", "--width", "0.25"]}
        out["benchmarks"] = {}
        for name, script in (("lime_case_a", "bench_lime.py"), ("pgd_vs_torchattacks", "bench_pgd.py"),
                             ("aga_table2_step_costs", "bench_regularizers.py"),
                             ("sep_attack", "bench_explanation_attack.py")):
            result = run_benchmark(script, small + (tiny[script] if a.tiny else []))
            result["ratio_lines"] = result.get("ratio_lines", []) + _extra_ratios(name, result)
            out["benchmarks"][name] = result
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    for k, v in out["train_images_per_s"].items():
        print(f"ResNet-18 training ({k}): {v:,.0f} images/s")
    for arch, r in out["attack"].items():
        print(f"SEP attack {arch}: {r['pair_steps_per_s']:,.1f} pair-steps/s, {r['peak_mib_per_pair']:.2f} MiB per pair")
    for value, what in ratios:
        print(f"ratio: {value:.2f}x {what}")
    for name, b in out.get("benchmarks", {}).items():
        for line in b.get("ratio_lines", []):
            print(f"{line} [{name}]")
        if "error" in b:
            print(f"{name}: not measured ({b['error']})")
    print(f"-> {a.out}")
    return out


if __name__ == "__main__":
    main()
