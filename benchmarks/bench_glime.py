"""G-LIME benchmark: per-image time of LIME vs G-LIME-Path on the same model and the same LIME samples.

Model: the pipeline's ConvNet (width 0.25) at 64x64 on embedded digits_rgb64-style images, quickshift
superpixels (~37 per image), CPU by default.

* LIME        = ``Lime.explain`` (sampling, batched queries, closed-form weighted ridge).
* G-LIME-Path = ``GLime(method='path').explain`` with a random positive prior: the same ``Lime`` call
  (same seed, so the same masks and model outputs) plus the modified-ElasticNet LARS path per image.

Also prints the estimators alone on one image's samples (no model): the batched LIME ridge, LIME's
LASSO selection + ridge, and the ElasticNet path, at the benchmark's d and at d = 150 (G-LIME's 224 px
CUB scale). The last line is the end-to-end ratio.

    python benchmarks/bench_glime.py [--samples 1000] [--images 4] [--repeats 5] [--device cpu]
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
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed_pair(fa, fb, repeats):
    """Medians of fa and fb timed alternately (a shared, loaded CPU slows both alike)."""
    fa(), fb()  # warm-up
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def estimator_times(d, n, repeats):
    from interprobust.explain import fit_surrogate, kernel_weights, sample_masks
    from interprobust.explain.glime import elastic_net_path, lime_selection_ridge
    g = torch.Generator().manual_seed(0)
    masks = sample_masks(1, n, d, g)
    w = kernel_weights(masks)[0].double().numpy()
    X = masks[0].double().numpy()
    beta = np.random.default_rng(0).normal(size=d) * 0.02
    y = 0.5 + X @ beta + 0.01 * np.random.default_rng(1).normal(size=n)
    prior = np.abs(beta)
    Xt, yt, wt = torch.from_numpy(X)[None], torch.from_numpy(y)[None], torch.from_numpy(w)[None]
    t_ridge = timed(lambda: fit_surrogate(Xt, yt, wt, 1.0), repeats)
    t_sel = timed(lambda: lime_selection_ridge(X, y, w, n_features=d), repeats)
    t_path = timed(lambda: elastic_net_path(X, y, w, prior, 1.0), repeats)
    print(f"estimators only, d={d}, n={n}: LIME ridge {t_ridge * 1e3:.2f} ms | LIME lasso selection + ridge "
          f"{t_sel * 1e3:.2f} ms | G-LIME-Path (LARS path) {t_path * 1e3:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from interprobust.data.embedded import make_rgb
    from interprobust.explain import Lime, superpixels
    from interprobust.explain.glime import GLime
    from interprobust.models import build_model

    images = make_rgb(seed=0, size=64)["test_x"][: a.images]
    segments = torch.from_numpy(superpixels(images, kernel_size=1, max_dist=5)).to(a.device)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).to(a.device)
    torch.manual_seed(0)
    net = build_model("convnet", num_classes=10, in_channels=3, image_size=64, mean=[0.4] * 3, std=[0.25] * 3,
                      width=0.25).to(a.device).eval()
    with torch.no_grad():
        target = net(x).argmax(1)
    d = int(segments.max()) + 1
    prior = torch.rand(len(x), d, generator=torch.Generator().manual_seed(0))
    kw = dict(n_samples=a.samples, features="superpixels", seed=0)
    lime, glime = Lime(**kw), GLime(method="path", lam2=1.0, **kw)

    t_lime, t_glime = timed_pair(lambda: lime.explain(net, x, target, segments),
                                 lambda: glime.explain(net, x, target, segments, prior=prior), a.repeats)
    t_lime, t_glime = t_lime / len(x), t_glime / len(x)
    a_res, g_res = lime.explain(net, x, target, segments), glime.explain(net, x, target, segments, prior=prior)
    assert torch.equal(a_res.targets, g_res.lime.targets)  # the same samples and model outputs
    n_sp = (segments.flatten(1).amax(1) + 1).tolist()
    print(f"ConvNet w0.25, 64x64, {a.device}, {a.samples} samples, superpixels per image {n_sp}: "
          f"LIME {t_lime * 1e3:.1f} ms/image | G-LIME-Path {t_glime * 1e3:.1f} ms/image "
          f"(median of {a.repeats}, timed alternately, batches of {len(x)} images)")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):  # as GLime.explain runs them
        estimator_times(max(n_sp), a.samples, a.repeats)
        estimator_times(150, a.samples, a.repeats)
    print(f"ratio: {t_glime / t_lime:.2f}x G-LIME-Path over LIME")


if __name__ == "__main__":
    main()
