"""PGD benchmark: our batched PGD vs torchattacks.PGD on the pipeline's ResNet-18 (CIFAR-10 shape).

Same model, batch, eps, step size and number of steps (so the same number of gradient evaluations),
both with a uniform random start. A warm-up call each first, then the median over ``--repeats``
interleaved calls.
Also checks that both give the same adversarial examples from the same start (torchattacks' own
random start, reproduced and handed to ours as ``init_delta``). The last line is the speed ratio.

    python benchmarks/bench_pgd.py [--device cpu|cuda] [--batch N] [--steps N] [--repeats 3] [--width 1.0]

Defaults: batch 128 on CUDA, 32 on a CPU (a full-width ResNet-18 forward+backward is slow there; this
keeps the whole run near a minute on 2 cores); 10 steps of 2/255 at eps 8/255.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def build_resnet18(width: float) -> torch.nn.Module:
    from interprobust.models import build_model
    return build_model("resnet18", num_classes=10, in_channels=3, image_size=32, mean=[0.5] * 3,
                       std=[0.25] * 3, width=width)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pair(fns: dict, repeats: int, device: torch.device) -> dict:
    """Median wall time of each function; one warm-up call each (cuDNN autotuning, allocator, oneDNN
    primitive caches), then the repeats interleaved (a, b, a, b, ...) so that drift in the machine's
    speed hits both alike."""
    for fn in fns.values():
        fn()
    sync(device)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA, 32 on a CPU")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=float, default=1.0, help="ResNet-18 width multiplier")
    ap.add_argument("--eps", type=float, default=8 / 255)
    ap.add_argument("--step-size", type=float, default=2 / 255)
    args = ap.parse_args(argv)

    import torchattacks

    from interprobust.attacks import PGD

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (128 if cuda else 32)
    steps = args.steps

    torch.manual_seed(0)
    model = build_resnet18(args.width).to(device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    where = torch.cuda.get_device_name(device) if cuda else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({where}), "
          f"ResNet-18 width {args.width}, batch {batch}, steps {steps}, eps {args.eps:.5f}, "
          f"step size {args.step_size:.5f}, repeats {args.repeats}, torch {torch.__version__}")

    ours = PGD(eps=args.eps, steps=steps, step_size=args.step_size, random_start=True, seed=0)
    theirs = torchattacks.PGD(model, eps=args.eps, alpha=args.step_size, steps=steps, random_start=True)

    t = timed_pair({"ours": lambda: ours(model, x, y), "torchattacks": lambda: theirs(x, y)},
                   args.repeats, device)
    t_ours, t_theirs = t["ours"], t["torchattacks"]

    # Same start for both: torchattacks draws U(-eps, eps) from the global RNG right after cloning.
    torch.manual_seed(123)
    delta = torch.empty_like(x).uniform_(-args.eps, args.eps)
    torch.manual_seed(123)
    adv_theirs = theirs(x, y)
    adv_ours = ours(model, x, y, init_delta=delta)
    diff = (adv_ours - adv_theirs).abs()
    differ = (diff > 1e-5).float().mean().item()
    with torch.no_grad():
        acc_ours = (model(adv_ours).argmax(1) == y).float().mean().item() * 100
        acc_theirs = (model(adv_theirs).argmax(1) == y).float().mean().item() * 100
    print(f"ours:         {t_ours:.3f} s (median of {args.repeats})")
    print(f"torchattacks: {t_theirs:.3f} s (median of {args.repeats})")
    print(f"same start: max |x_adv(ours) - x_adv(torchattacks)| = {diff.max().item():.3g}, "
          f"fraction of pixels differing by > 1e-5: {differ:.2e}; "
          f"accuracy on x_adv {acc_ours:.1f}% (ours) vs {acc_theirs:.1f}% (torchattacks)")
    print(f"ratio: {t_theirs / t_ours:.3f}x torchattacks over ours")


if __name__ == "__main__":
    main()
