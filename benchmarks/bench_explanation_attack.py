"""Explanation-attack benchmark: every (victim, target) pair in one batch vs one pair at a time.

Same model (SEP's ConvNet at paper width, Softplus(beta=3), 32x32 RGB, random init), same attack
(:class:`interprobust.attacks.ExplanationAttack`, input x gradient, Adam, same steps), same pairs.
"Batched" is one call on all pairs; "per pair" is one call per pair, as a loop over SEP's pairs
would do without batching. A warm-up call each first; then one timed run each (the per-pair loop is
long enough on its own), or the median of ``--repeats``. Also checks that both give the same
adversarial images. The last line is the speed ratio.

    python benchmarks/bench_explanation_attack.py [--device cpu|cuda] [--pairs 64] [--steps 20]
        [--repeats 1] [--width 1.0]

Defaults (64 pairs x 20 steps on a CPU) finish in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def input_x_gradient(model, x, target, create_graph=False):
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x, create_graph=create_graph)
    return g * x


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--width", type=float, default=1.0, help="ConvNet width multiplier (1.0 = paper)")
    ap.add_argument("--eps", type=float, default=8 / 255)
    args = ap.parse_args(argv)

    from interprobust.attacks import ExplanationAttack, explanation_maps
    from interprobust.models import build_model

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model("convnet", num_classes=10, in_channels=3, image_size=32, mean=[0.5] * 3,
                        std=[0.25] * 3, width=args.width, activation="softplus").to(device).eval()
    g = torch.Generator().manual_seed(0)
    n = args.pairs
    victims = torch.rand(n, 3, 32, 32, generator=g).to(device)
    target_images = torch.rand(n, 3, 32, 32, generator=g).to(device)
    targets = explanation_maps(model, target_images, input_x_gradient)
    attack = ExplanationAttack(args.eps, steps=args.steps, explain=input_x_gradient)
    where = torch.cuda.get_device_name(device) if cuda else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({where}), ConvNet width {args.width} softplus, 32x32x3, {n} pairs, "
          f"{args.steps} steps, eps {args.eps:.5f}, input x gradient, torch {torch.__version__}")

    def batched():
        return attack(model, victims, target_map=targets)

    def per_pair():
        return torch.cat([attack(model, victims[i:i + 1], target_map=targets[i:i + 1]) for i in range(n)])

    # warm-up (allocator, oneDNN / cuDNN primitive caches): a short run of each shape
    warm = ExplanationAttack(args.eps, steps=2, explain=input_x_gradient)
    warm(model, victims, target_map=targets)
    warm(model, victims[:1], target_map=targets[:1])
    sync(device)

    times = {"batched": [], "per_pair": []}
    out = {}
    for _ in range(max(1, args.repeats)):
        for name, fn in (("batched", batched), ("per_pair", per_pair)):
            t = time.perf_counter()
            out[name] = fn()
            sync(device)
            times[name].append(time.perf_counter() - t)
    t_b, t_p = (statistics.median(times[k]) for k in ("batched", "per_pair"))
    diff = (out["batched"] - out["per_pair"]).abs().max().item()
    print(f"batched:  {t_b:.3f} s ({n * args.steps / t_b:.1f} pair-steps/s)")
    print(f"per pair: {t_p:.3f} s ({n * args.steps / t_p:.1f} pair-steps/s)")
    print(f"max |x_adv(batched) - x_adv(per pair)| = {diff:.3g}")
    print(f"ratio: {t_p / t_b:.3f}x per-pair loop over batched")


if __name__ == "__main__":
    main()
