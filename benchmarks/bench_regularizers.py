"""Training-step cost of AGA's regularisers relative to plain cross-entropy (AGA Table 2), on the same
model and batch: CE, Hessian norm, l2, l2 + cosd, ATEX and IGA (the LeNet rows' settings of
config/papers/aga.yaml), plus Madry AT and TRADES for reference.

Default: the pipeline's ResNet-18 at standard width, 32x32 RGB, Softplus(beta = 3), batch 32 on a CPU
(128 on CUDA). Each method's time is the median over --steps timed steps (``train.step_cost``, the
function the pipeline's Table 2 uses). The last line is the l2 + cosd / CE step-time ratio.

    python benchmarks/bench_regularizers.py [--device cpu|cuda] [--batch N] [--steps 5] [--width 1.0]
                                            [--only CE Hessian L2+Cosd ATEX IGA]
"""

from __future__ import annotations

import argparse

import torch

from interprobust.models import build_model
from interprobust.train import step_cost

METHODS = {
    "CE": ("ce", {}),
    "Hessian": ("hessian", {"lam": 1e-4}),
    "L2": ("gradient_alignment", {"lam_l2": 0.01, "lam_cos": 0.0, "eps": 4 / 255}),
    "L2+Cosd": ("gradient_alignment", {"lam_l2": 0.01, "lam_cos": 0.1, "eps": 4 / 255}),
    "ATEX": ("atex", {"lam": 1.0, "mag": 4 / 255, "n_along": 3, "sg_n": 8, "sg_sigma": 0.1}),
    "IGA": ("iga", {"lam": 1.0, "eps": 8 / 255, "steps": 3, "step_size": 2 / 255}),
    "Madry PGD-10": ("madry", {"eps": 8 / 255, "steps": 10}),
    "TRADES": ("trades", {"beta": 6.0, "eps": 8 / 255, "steps": 10}),
}
PAPER = {"Hessian": 8.95, "L2+Cosd": 4.10, "ATEX": 2.22, "IGA": 26.45}   # AGA Table 2, CIFAR-10 ResNet-18 (time / CE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--only", nargs="+", choices=list(METHODS), help="these methods only (CE is always timed)")
    a = ap.parse_args()
    methods = {k: v for k, v in METHODS.items() if not a.only or k == "CE" or k in a.only}
    device = torch.device(a.device)
    batch = a.batch or (128 if device.type == "cuda" else 32)
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=10, in_channels=3, image_size=32, mean=[0.5] * 3, std=[0.25] * 3,
                        width=a.width, activation="softplus").to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    print(f"ResNet-18 width {a.width}, Softplus, batch {batch}, {device}, median of {a.steps} steps")
    costs = {}
    for name, (method, params) in methods.items():
        costs[name] = step_cost(model, method, params, x, y, steps=a.steps, warmup=1)
        print(f"  timed {name}", flush=True)
    base = costs["CE"]
    for name, c in costs.items():
        paper = f" (paper: {PAPER[name]:.2f}x)" if name in PAPER else ""
        mem = "" if c["peak_mib"] != c["peak_mib"] else f", peak {c['peak_mib']:.0f} MiB " \
              f"({c['peak_mib'] / base['peak_mib']:.2f}x)"
        print(f"{name:13s} {c['seconds_per_step'] * 1000:8.1f} ms/step  "
              f"{c['seconds_per_step'] / base['seconds_per_step']:.2f}x CE{paper}{mem}")
    if "L2+Cosd" in costs:
        ratio = costs["L2+Cosd"]["seconds_per_step"] / base["seconds_per_step"]
        print(f"ratio: {ratio:.2f}x l2+cosd step time over CE step time")


if __name__ == "__main__":
    main()
