"""Explanation-attack benchmark: pair-steps per second and memory per pair with the planned chunk, for
SEP's ConvNet and ResNet-18; and every (victim, target) pair in one batch vs one pair at a time.

Per architecture (``--arch``, default convnet and resnet18; paper width, Softplus(beta=1), 32x32 RGB,
random init) the memory planner (:mod:`interprobust.memory`, via
:meth:`ExplanationAttack.plan_batch_size`) measures one double-backprop attack step at two probe sizes
(CUDA: ``max_memory_allocated``; CPU: the bytes autograd saves) and plans the largest chunk that fits
``--memory-fraction`` of the free memory (capped at ``--pairs``). Then the attack (input x gradient,
Adam) runs ``--pairs`` pairs in that chunk: pair-steps per second, the measured bytes per pair, and
the measured peak of the planned chunk (CUDA peak; CPU saved bytes of one step at that chunk).

``--per-pair`` (default on a GPU) also runs one call per pair, as a loop over SEP's pairs would
without batching, and prints the ratio (issue #17's target on a GPU: >= 10x), after a warm-up of each
shape and the median of ``--repeats`` interleaved runs; it checks both give the same explanation
losses (up to float rounding, which Adam's per-pixel normalisation can amplify where the gradient is
nearly zero).

    python benchmarks/bench_explanation_attack.py [--device cpu|cuda] [--arch convnet resnet18]
        [--pairs 32] [--steps 10] [--repeats 2] [--width 1.0] [--per-pair] [--memory-fraction 0.8]

CPU defaults (ConvNet and ResNet-18, 32 pairs x 10 steps, no per-pair loop) take about a minute on 2
idle cores. On a CPU the per-pair loop is mostly compute at paper width, so batching gains a few x at
most there; on a GPU one pair cannot fill the device and the per-pair loop is launch-bound.
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


def bench_arch(arch: str, args, device: torch.device) -> dict:
    from interprobust import memory
    from interprobust.explain.manipulation import ExplanationAttack, explanation_maps
    from interprobust.models import build_model

    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, in_channels=3, image_size=32, mean=[0.5] * 3, std=[0.25] * 3,
                        width=args.width, activation="softplus", softplus_beta=1.0).to(device).eval()
    g = torch.Generator().manual_seed(0)
    n = args.pairs
    victims = torch.rand(n, 3, 32, 32, generator=g).to(device)
    targets = explanation_maps(model, torch.rand(n, 3, 32, 32, generator=g).to(device), input_x_gradient)
    attack = ExplanationAttack(args.eps, steps=args.steps, explain=input_x_gradient)
    chunk, fp, budget = attack.plan_batch_size(model, victims, targets, args.memory_fraction)
    attack.batch_size = chunk
    one = ExplanationAttack(args.eps, steps=1, explain=input_x_gradient, select="last")
    peak = memory.peak_bytes(lambda: one.run(model, victims[:chunk], target_map=targets[:chunk]), device)
    print(f"{arch}: {fp.per_item / 2 ** 20:.2f} MiB per pair + {fp.fixed / 2 ** 20:.1f} MiB fixed; budget "
          f"{budget / 2 ** 30:.2f} GiB -> planned chunk {chunk} (of {n}); measured one step at that chunk: "
          f"{peak / 2 ** 20:.1f} MiB ({peak / chunk / 2 ** 20:.2f} MiB per pair), "
          f"{'within' if peak <= budget else 'OVER'} budget")

    def batched():
        r = attack.run(model, victims, target_map=targets)
        return r.x_adv, r.expl_end, r.best_step

    def per_pair():
        rs = [attack.run(model, victims[i:i + 1], target_map=targets[i:i + 1]) for i in range(n)]
        return tuple(torch.cat(t) for t in zip(*[(r.x_adv, r.expl_end, r.best_step) for r in rs]))

    warm = ExplanationAttack(args.eps, steps=2, explain=input_x_gradient, batch_size=chunk)
    warm(model, victims, target_map=targets)
    if args.per_pair:
        warm(model, victims[:1], target_map=targets[:1])
    sync(device)
    runs = [("batched", batched)] + ([("per_pair", per_pair)] if args.per_pair else [])
    times = {k: [] for k, _ in runs}
    out = {}
    for _ in range(max(1, args.repeats)):
        for name, fn in runs:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            t = time.perf_counter()
            out[name] = fn()
            sync(device)
            times[name].append(time.perf_counter() - t)
    t_b = statistics.median(times["batched"])
    row = {"arch": arch, "chunk": chunk, "mib_per_pair": fp.per_item / 2 ** 20,
           "pair_steps_per_s": n * args.steps / t_b}
    print(f"{arch} batched (chunk {chunk}): {t_b:.3f} s ({row['pair_steps_per_s']:.1f} pair-steps/s)")
    if args.per_pair:
        t_p = statistics.median(times["per_pair"])
        (xb, eb, sb), (xp, ep, sp) = out["batched"], out["per_pair"]
        d = (xb - xp).abs().flatten(1).amax(1)
        rel = ((eb - ep).abs() / ep.abs().clamp_min(1e-30)).max().item()
        print(f"{arch} per pair: {t_p:.3f} s ({n * args.steps / t_p:.1f} pair-steps/s)")
        print(f"{arch} same result: max |x_adv(batched) - x_adv(per pair)| = {d.max().item():.3g}; pairs differing "
              f"by > 1e-4: {int((d > 1e-4).sum())}/{n}; same returned iterate: {int((sb == sp).sum())}/{n}; "
              f"max relative difference of the final explanation loss: {rel:.3g}")
        row["ratio"] = t_p / t_b
        print(f"ratio: {row['ratio']:.3f}x per-pair loop over batched ({arch})")
    return row


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arch", nargs="+", default=["convnet", "resnet18"])
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0 = paper)")
    ap.add_argument("--eps", type=float, default=8 / 255)
    ap.add_argument("--memory-fraction", type=float, default=0.8)
    ap.add_argument("--per-pair", action=argparse.BooleanOptionalAction, default=None,
                    help="also the one-pair-per-call loop and the ratio (default: on a GPU)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.per_pair is None:
        args.per_pair = device.type == "cuda"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({where}), width {args.width}, softplus(1), 32x32x3, {args.pairs} pairs, "
          f"{args.steps} steps, eps {args.eps:.5f}, input x gradient, torch {torch.__version__}")
    rows = [bench_arch(a, args, device) for a in args.arch]
    if not args.per_pair:   # the benchmarks' last line is a ratio: here the planned chunk over one pair per call
        for r in rows:
            print(f"ratio: {r['chunk']:.0f}x pairs per call, planned from the memory budget, over one ({r['arch']})")
    return rows


if __name__ == "__main__":
    main()
