"""Explanation-attack benchmark: every (victim, target) pair in one batch vs one pair at a time.

Same model (SEP's ConvNet at paper width, Softplus(beta=3), 32x32 RGB, random init), same attack
(:class:`interprobust.explain.manipulation.ExplanationAttack`, input x gradient, Adam, same steps), same pairs.
"Batched" is one call on all pairs; "per pair" is one call per pair, as a loop over SEP's pairs
would do without batching. A warm-up call of each shape first; then the median of ``--repeats``
interleaved runs of each (the load of a shared machine drifts). Also checks that both give the same
adversarial images (up to float rounding, which Adam's per-pixel normalisation can amplify in pixels
whose gradient is nearly zero). The last line is the speed ratio.

    python benchmarks/bench_explanation_attack.py [--device cpu|cuda] [--pairs 32] [--steps 10]
        [--repeats 2] [--width 1.0]

Defaults (32 pairs x 10 steps, 2 repeats) take about 10 s on 2 idle CPU cores (about a minute
when other jobs share them; 64 pairs x 20 steps: about 30 s idle). On a CPU the
per-pair loop is mostly compute, not Python overhead, at paper width (a double backward through
three 64-channel convolutions per pair and step), so batching gains a few x at most there (oneDNN
convolutions for batches vs PyTorch's slow path at batch 1, less per-call overhead); on a GPU, where
one pair cannot fill the device, the per-pair loop is launch-bound and the gain should be far
larger (not measured here).
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
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--width", type=float, default=1.0, help="ConvNet width multiplier (1.0 = paper)")
    ap.add_argument("--eps", type=float, default=8 / 255)
    args = ap.parse_args(argv)

    from interprobust.explain.manipulation import ExplanationAttack, explanation_maps
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
        r = attack.run(model, victims, target_map=targets)
        return r.x_adv, r.expl_end, r.best_step

    def per_pair():
        rs = [attack.run(model, victims[i:i + 1], target_map=targets[i:i + 1]) for i in range(n)]
        return tuple(torch.cat(t) for t in zip(*[(r.x_adv, r.expl_end, r.best_step) for r in rs]))

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
    (xb, eb, sb), (xp, ep, sp) = out["batched"], out["per_pair"]
    d = (xb - xp).abs().flatten(1).amax(1)
    rel = ((eb - ep).abs() / ep.abs().clamp_min(1e-30)).max().item()
    print(f"batched:  {t_b:.3f} s ({n * args.steps / t_b:.1f} pair-steps/s)")
    print(f"per pair: {t_p:.3f} s ({n * args.steps / t_p:.1f} pair-steps/s)")
    # Adam normalises each pixel's gradient, so float-rounding differences between batch sizes in
    # pixels with near-zero gradients can grow into visible (but equally good) differences
    print(f"same result: max |x_adv(batched) - x_adv(per pair)| = {d.max().item():.3g}; pairs differing "
          f"by > 1e-4: {int((d > 1e-4).sum())}/{n}; same returned iterate: {int((sb == sp).sum())}/{n}; "
          f"max relative difference of the final explanation loss: {rel:.3g}")
    print(f"ratio: {t_p / t_b:.3f}x per-pair loop over batched")


if __name__ == "__main__":
    main()
