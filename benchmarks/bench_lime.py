"""LIME benchmark: our batched LIME vs the `lime` package's LimeImageExplainer on the same image,
segmentation and number of samples (CPU by default).

(a) end to end with the pipeline's CIFAR-scale ResNet-18 (model time dominates on a CPU);
(b) the explainer's own cost, with a trivial linear map (an 8x8 grid of pixels, then 192 -> 10) standing
    in for the network, so that building the perturbed images, sampling and the surrogate fit dominate.
Both print times and the agreement of the coefficients; the last line is case (b)'s ratio.

    python benchmarks/bench_lime.py [--samples 1000] [--width 1.0] [--device cpu] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run_case(name, model, image, segments, samples, repeats, device):
    from lime.lime_image import LimeImageExplainer

    from interprobust.explain import Lime

    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)
    seg = torch.from_numpy(segments)[None].to(device)
    with torch.no_grad():
        label = int(model(x).argmax(1))

    def ours():
        return Lime(n_samples=samples, features="superpixels", fill="mean", seed=0).explain(
            model, x, torch.tensor([label], device=device), segments=seg).coef[0].cpu().numpy()

    def classifier(batch):  # lime hands over float64 HWC images in [0, 1]
        t = torch.from_numpy(batch).permute(0, 3, 1, 2).float().to(device)
        with torch.no_grad():
            return torch.softmax(model(t), 1).cpu().numpy()

    def theirs():
        exp = LimeImageExplainer(random_state=0).explain_instance(
            image.astype(np.float64) / 255, classifier, labels=(label,), top_labels=None, hide_color=None,
            num_samples=samples, num_features=100000, segmentation_fn=lambda img: segments)
        coef = np.zeros(segments.max() + 1)
        for j, v in exp.local_exp[label]:
            coef[j] = v
        return coef

    t_ours, c_ours = timed(ours, repeats)
    t_lime, c_lime = timed(theirs, repeats)
    corr = float(np.corrcoef(c_ours, c_lime)[0, 1])
    top = len(set(np.argsort(-c_ours)[:5]) & set(np.argsort(-c_lime)[:5]))
    print(f"({name}) lime {t_lime:.3f} s | ours {t_ours:.3f} s | lime/ours {t_lime / t_ours:.1f}x | "
          f"coefficient correlation {corr:.3f}, top-5 overlap {top}/5 ({segments.max() + 1} superpixels, "
          f"independent random masks)")
    return t_lime / t_ours


class GridPixels(torch.nn.Module):
    """The pixels of an 8x8 grid (a linear map that reads 192 values of the image)."""

    def forward(self, x):
        sh, sw = x.shape[-2] // 8, x.shape[-1] // 8
        return x[..., sh // 2::sh, sw // 2::sw].flatten(1)


def trivial_linear(device):
    """A linear map of the image that costs next to nothing, so the explainer's own work dominates
    (global means would not do: they do not change when superpixels show their mean colour)."""
    torch.manual_seed(1)
    return torch.nn.Sequential(GridPixels(), torch.nn.Linear(192, 10)).to(device).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from interprobust.data.embedded import make_rgb
    from interprobust.explain import superpixels
    from interprobust.models import build_model

    image = make_rgb(seed=0, size=32)["test_x"][0]
    segments = superpixels(image[None], kernel_size=1, max_dist=5)[0]
    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=10, in_channels=3, image_size=32, mean=[0.4] * 3, std=[0.25] * 3,
                      width=a.width).to(a.device).eval()
    run_case(f"a: ResNet-18 width {a.width}, {a.device}", net, image, segments, a.samples, a.repeats, a.device)
    run_case("b: linear model, 32x32", trivial_linear(a.device), image, segments, a.samples, a.repeats, a.device)
    # the same image at 224x224 (G-LIME's CUB scale), with lime's own default quickshift segmentation
    from PIL import Image
    big = np.asarray(Image.fromarray(image).resize((224, 224), Image.BILINEAR))
    big_segments = superpixels(big[None])[0]
    ratio = run_case("b: linear model, 224x224", trivial_linear(a.device), big, big_segments, a.samples, a.repeats,
                     a.device)
    print(f"ratio: {ratio:.1f}x lime over ours (explainer cost, linear model, 224x224)")


if __name__ == "__main__":
    main()
