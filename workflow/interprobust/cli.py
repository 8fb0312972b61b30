"""Command line of the pipeline: every Snakemake rule is one call of ``interprobust <command>``.

    interprobust data download --dataset cifar10 --marker resources/downloads/cifar10/verified.json
    interprobust data prepare  --dataset digits_rgb32 --meta results/data/digits_rgb32/meta.json
    interprobust train ...      interprobust evaluate robustness ...
    interprobust table robustness ...      interprobust figure training-curves ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json(s: str):
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {s[:200]}") from None


def _threads(n: int | None) -> None:
    if n:
        import torch
        torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------- data
def cmd_data_download(a):
    from .data import download, registry
    from .io import write_json
    spec = registry.get(a.dataset)
    marker = Path(a.marker)
    checksums = download.download_dataset(spec, marker.parent, url_overrides=a.url_overrides)
    write_json(marker, {"dataset": spec.name, "files": checksums})


def cmd_data_prepare(a):
    from .data import registry
    spec = registry.get(a.dataset)
    out = Path(a.meta).parent
    if spec.kind == "embedded":
        from .data.embedded import prepare_embedded
        meta = prepare_embedded(spec.name, out, source_dir=a.source, **a.options)
    else:
        from .data.real import PREPARERS
        if spec.needs_download and a.raw is None:
            raise SystemExit(f"{spec.name} needs --raw: the folder its archives were downloaded to")
        meta = PREPARERS[spec.name](Path(a.raw) if a.raw else None, out, **a.options)
    print(f"prepared {spec.name}: {meta['n_train']} train / {meta['n_test']} test images in {out}")


# ------------------------------------------------------------------------------------------ train
def _model_for(arch: str, data, settings: dict, seed: int):
    """(signature, model) of ``arch`` for a prepared dataset and model options, initialised from ``seed``."""
    import torch

    from . import models
    torch.manual_seed(seed)  # the initial weights are part of the run: the same seed, the same model
    sig = models.model_signature(arch=arch, num_classes=data.meta["num_classes"],
                                 in_channels=data.meta["channels"], image_size=data.meta["image_size"][0],
                                 mean=data.meta["mean"], std=data.meta["std"], **dict(settings.get("model", {})))
    return sig, models.build_from_signature(sig)


def cmd_train(a):
    import pandas as pd

    from .models.store import resolve_device, save_model, versions
    from .data.store import load_prepared
    from .io import atomic_path
    from .train import TrainConfig, fit

    _threads(a.threads)
    s = a.settings
    data = load_prepared(a.data)
    sig, model = _model_for(a.arch, data, s, a.seed)
    if a.init_from:  # fine-tune: start from another run's weights (same architecture and data shape)
        from .models.store import load_model
        start, start_meta = load_model(a.init_from, "cpu")
        if start_meta["signature"] != sig:
            raise ValueError(f"--init-from {a.init_from}: its model ({start_meta['signature']}) differs from the "
                             f"one being trained ({sig}); fine-tune from a model of the same architecture")
        model.load_state_dict(start.state_dict())
    device = resolve_device(a.device)
    cfg = TrainConfig.from_dict(s.get("training", {}))
    print(f"training {a.arch} on {data.meta['name']} with {a.method} (loss {s['loss']}), seed {a.seed}, "
          f"device {device}, {cfg.epochs} epochs", flush=True)
    epoch_metrics = None
    if a.track_corruptions:
        from .evaluation import corruption_accuracy
        corrupted = load_prepared(a.track_corruptions)

        def epoch_metrics(m):  # mean accuracy over severities per corruption, on a fixed subset
            df = corruption_accuracy(m, corrupted, batch_size=cfg.eval_batch_size, max_samples=a.track_samples,
                                     device=device, show_progress=False)
            return {f"corruption:{c}": v for c, v in df.groupby("corruption", sort=False)["accuracy"].mean().items()}

    history = fit(model, data, method=s["loss"], method_params=s.get("loss_params", {}), config=cfg,
                  seed=a.seed, device=device, checkpoint_dir=a.checkpoint_dir, epoch_metrics=epoch_metrics)
    meta = dict(signature=sig, dataset=data.meta["name"], method=a.method, settings=s, seed=a.seed,
                init_from=a.init_from,
                data_checksums=data.meta["arrays"], versions=versions(), final=history[-1])
    hist = pd.DataFrame(history)
    with atomic_path(a.history_out) as tmp:
        hist.to_csv(tmp, index=False)
    save_model(a.model_out, model, meta)


# --------------------------------------------------------------------------------------- evaluate
def _load_for_eval(a):
    from .models.store import load_model, resolve_device
    from .data.store import load_prepared
    _threads(a.threads)
    device = resolve_device(a.device)
    model, meta = load_model(a.model, device)
    return model, meta, load_prepared(a.data), device


def cmd_evaluate_robustness(a):
    from . import evaluation as evaluate
    from .io import write_dataframe
    model, meta, data, device = _load_for_eval(a)
    s = a.settings
    df = evaluate.robustness(model, data, eps=s["eps"], attack_settings=s["attacks"], batch_size=s["batch_size"],
                             max_samples=s.get("max_samples"), device=device)
    write_dataframe(df, a.out)
    print(df.to_string(index=False))


def cmd_evaluate_corruptions(a):
    from . import evaluation as evaluate
    from .io import write_dataframe
    model, meta, data, device = _load_for_eval(a)
    if not data.corrupted:
        raise SystemExit(f"{a.data} is not a corrupted test set")
    s = a.settings
    df = evaluate.corruption_accuracy(model, data, batch_size=s["batch_size"], max_samples=s.get("max_samples"),
                                      device=device)
    write_dataframe(df, a.out)
    print(df.groupby("corruption", sort=False)["accuracy"].mean().to_string())


def cmd_evaluate_explanations(a):
    from .papers.aga import evaluate
    from .io import write_arrays, write_dataframe
    model, meta, data, device = _load_for_eval(a)
    s = a.settings
    scores, curves = evaluate.explanation_robustness(
        model, data, methods=s["attributions"], rps_eps=s["rps_eps"], n_noise=s.get("n_noise", 10),
        attack_eps=s["attack_eps"], attack_steps=s.get("attack_steps", 100), max_samples=s.get("max_samples"),
        batch_size=s.get("batch_size", 64), seed=s.get("seed", 0), device=device)
    write_dataframe(curves, a.curves_out)
    if a.maps_out:
        write_arrays(a.maps_out, evaluate.attacked_maps(
            model, data, n_images=s.get("figure_images", 4), attack_eps=s["attack_eps"],
            attack_steps=s.get("attack_steps", 100), seed=s.get("seed", 0), device=device))
    if a.bound_out:
        write_dataframe(evaluate.crc_bound_curve(model, data, eps=s["bound_eps"], max_samples=s.get("bound_samples"),
                                                 batch_size=s.get("batch_size", 64), seed=s.get("seed", 0),
                                                 device=device), a.bound_out)
    write_dataframe(scores, a.out)
    print(scores.to_string(index=False))


def cmd_cost(a):
    """Training-step time (and CUDA peak memory) of each method relative to the first (AGA Table 2)."""
    import pandas as pd
    import torch

    from .models.store import resolve_device
    from .data import batches
    from .data.store import load_prepared
    from .io import dataframe_to_markdown, write_dataframe, write_text
    from .train import step_cost
    _threads(a.threads)
    device = resolve_device(a.device)
    data = load_prepared(a.data)
    rows = []
    for label, settings in a.rows.items():
        n = int(settings["training"].get("batch_size", 128))
        x = batches.to_tensor(data.train_x[:n], device)
        y = torch.tensor(data.train_y[:n], dtype=torch.long, device=device)
        model = _model_for(a.arch, data, settings, a.seed)[1].to(device)
        c = step_cost(model, settings["loss"], settings["loss_params"], x, y, steps=a.steps, seed=a.seed)
        rows.append(dict(model=label, loss=settings["loss"], batch_size=n, device=str(device), **c))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["time_vs_first"] = df["seconds_per_step"] / df["seconds_per_step"].iloc[0]
    df["memory_vs_first"] = df["peak_mib"] / df["peak_mib"].iloc[0]
    write_dataframe(df, a.csv)
    write_text(a.md, dataframe_to_markdown(df, digits=3) + "\n")


# --------------------------------------------------------------------------------------- spurious
def cmd_spurious_detect(a):
    import numpy as np

    from .papers.limeref import spurious
    from .io import write_json
    model, meta, data, device = _load_for_eval(a)
    s = dict(a.settings)
    n = min(int(s.pop("images")), len(data.train_y))
    # LIMEREF analyses test inputs; we use the last n training images so the test set stays unseen
    x, y = np.asarray(data.train_x[-n:]), np.asarray(data.train_y[-n:])
    patch = int(s.pop("patch"))
    lime_options = {k: s.pop(k) for k in ("fill", "fill_value", "kernel_width", "alpha") if k in s}
    scores = spurious.feature_scores(model, x, y, patch=patch, n_samples=int(s.pop("n_samples")),
                                     repeats=int(s.pop("repeats")), seed=int(s.pop("seed", 0)), device=device,
                                     lime_options=lime_options)
    found = spurious.detect(scores, data.meta["num_classes"], criteria=tuple(s.pop("criteria")), **s)
    sets = found.to_dict()
    if a.previous:  # iterative refinement: F accumulates over rounds
        from .io import read_json
        prev = read_json(a.previous)["sets"]
        sets["per_class"] = (np.array(prev["per_class"], bool) | found.per_class).astype(int).tolist()
        sets["global"] = (np.array(prev["global"], bool) | found.global_mask).astype(int).tolist()
    write_json(a.out, {"patch": patch, "image_size": data.meta["image_size"], "n_images": n,
                       "previous": a.previous, "sets": sets,
                       "this_round": {"per_class": found.per_class.astype(int).tolist(),
                                      "global": found.global_mask.astype(int).tolist()},
                       "mean_scores": {"importance": scores.importance.mean(0).tolist(),
                                       "sensitivity": scores.sensitivity.mean(0).tolist(),
                                       "instability": scores.instability.mean(0).tolist()}})
    print(f"F_spurious: {int(np.sum(sets['global']))} of {len(sets['global'])} features (global)")


def cmd_spurious_planted_check(a):
    import pandas as pd

    from .papers.limeref import spurious
    from .models.store import load_model, resolve_device
    from .data.store import load_prepared
    from .io import dataframe_to_markdown, read_json, write_dataframe, write_text
    _threads(a.threads)
    device = resolve_device(a.device)
    if len(a.models) != len(a.labels):
        raise ValueError(f"{len(a.models)} models but {len(a.labels)} labels")
    models = {label: load_model(p, device)[0] for label, p in zip(a.labels, a.models)}
    rows = spurious.planted_check(load_prepared(a.data), [read_json(p) for p in a.spurious], models, device)
    df = pd.DataFrame(rows)
    write_dataframe(df, a.csv)
    write_text(a.md, "\n\n".join(f"### {part}\n\n" + dataframe_to_markdown(
        g.pivot_table(index="item", columns="metric", values="value", sort=False).reset_index(), digits=3)
        for part, g in df.groupby("part", sort=False)) + "\n")


def cmd_evaluate_corrupted_attacks(a):
    from . import evaluation as evaluate
    from .io import write_dataframe
    model, meta, data, device = _load_for_eval(a)
    s = a.settings
    df = evaluate.corruption_attack_accuracy(model, data, attack_eps=s["attack_eps"], attack_settings=s["attacks"],
                                             batch_size=s["batch_size"], max_samples=s.get("max_samples"),
                                             severities=s.get("severities"), device=device)
    write_dataframe(df, a.out)
    print(df.groupby(["attack", "eps"])["accuracy"].mean().to_string())


# ---------------------------------------------------------------------------------- tables/figures
def cmd_table(a):
    from . import tables
    from .io import write_dataframe, write_text, dataframe_to_markdown
    df = tables.combine(a.inputs, a.labels)

    def emit(wide, digits, csv=None):
        """The table as Markdown (and printed); its CSV is ``csv`` when given (the tidy rows), else itself."""
        write_dataframe(wide if csv is None else csv, a.csv)
        write_text(a.md, dataframe_to_markdown(wide, digits=digits) + "\n")
        print(wide.to_string(index=False))

    if a.kind == "matrix":
        return emit(tables.matrix_table(df), 3)
    if a.kind == "sep":
        return emit(tables.sep_table(df), 3)
    if a.kind.startswith("glime-"):
        part = {label: g.drop(columns="model") for label, g in df.groupby("model", sort=False)}
        first = part[a.labels[0]]
        if a.kind in ("glime-deletion", "glime-insertion"):
            wide = tables.glime_by_n(first, a.kind.split("-")[1], a.lam2)
        elif a.kind == "glime-stability":
            wide = tables.glime_stability(first)
        elif a.kind == "glime-methods":
            if len(a.labels) != 2:
                raise ValueError("glime-methods takes two inputs: the explainers' scores, then the baselines'")
            wide = tables.glime_methods(first, part[a.labels[1]], a.n, a.lam2)
        elif a.kind == "glime-priors":
            wide = tables.glime_fidelity(first, a.n, a.lam2)
        else:
            wide = tables.glime_fidelity(df, a.n, a.lam2, rows=["LIME", "G-LIME-N", "G-LIME-AVG"])
        return emit(wide, 4)
    if a.kind == "aga-grid":
        return emit(tables.aga_grid(df, a.reference, a.max_drop), 3)
    wide = {"robustness": tables.robustness_wide, "corruptions": tables.corruptions_wide,
            "aga-table1": tables.aga_table1, "aga-rps": tables.aga_rps_table}[a.kind](df)
    return emit(wide, 3 if a.kind.startswith("aga") else 2, csv=df)


def cmd_figure(a):
    import pandas as pd

    from . import figures, tables
    from .io import write_dataframe
    numbers = None

    def table():
        df = pd.read_csv(a.table) if a.table else tables.combine(a.inputs, a.labels)
        if a.attack:
            df = df[(df["attack"] == a.attack) | ((df["attack"] == "clean") if a.kind == "robustness" else False)]
        if a.eps is not None:
            df = df[(df["eps"] - a.eps).abs() < 1e-9]
        if df.empty:
            raise ValueError(f"no rows for attack={a.attack} eps={a.eps} in {a.table or a.inputs}")
        return df

    if a.kind == "training-curves":
        if len(a.inputs) != len(a.labels):
            raise ValueError(f"{len(a.inputs)} inputs but {len(a.labels)} labels")
        fig = figures.training_curves([pd.read_csv(p) for p in a.inputs], a.labels, a.title)
    elif a.kind == "metric-curves":
        fig, numbers = figures.metric_over_epochs([pd.read_csv(p) for p in a.inputs], a.labels, a.metric,
                                                  a.ylabel or a.metric, a.title)
    elif a.kind == "corruption-epochs":
        fig, numbers = figures.corruption_over_epochs(pd.read_csv(a.inputs[0]), a.title)
    elif a.kind == "robustness":
        numbers = table()
        fig = figures.accuracy_vs_eps(numbers, a.title)
    elif a.kind == "insertion-curves":
        numbers = tables.combine(a.inputs, a.labels)
        fig = figures.insertion_curves(numbers, a.title)
    elif a.kind == "toy-gradients":
        d = _npz(a.inputs[0])
        fig = figures.toy_gradients(d)
        numbers = pd.DataFrame({"variant": d["variants"], "l2": d["l2"], "cosine": d["cosine"]})
    elif a.kind == "glime-clusters":
        fig = figures.glime_clusters(_npz(a.inputs[0]))
    elif a.kind == "glime-paths":
        fig, numbers = figures.glime_paths(_npz(a.inputs[0]), a.labels or ["LIME-Path", "G-LIME-N-Path"])
    elif a.kind == "glime-fidelity":
        fig, numbers = figures.glime_fidelity(pd.read_csv(a.inputs[0]), a.lam2)
    elif a.kind in ("glime-deletion", "glime-insertion"):
        fig, numbers = figures.glime_curves(_npz(a.inputs[0]), a.labels or ["LIME", "G-LIME-N", "G-LIME-AVG"],
                                            a.kind.split("-")[1])
    elif a.kind == "glime-stability":
        fig, numbers = figures.glime_stability_example(_npz(a.inputs[0]), a.labels or ["LIME", "G-LIME-N"])
    elif a.kind == "glime-lam2":
        fig, numbers = figures.glime_lam2(pd.read_csv(a.inputs[0]), a.n)
    elif a.kind == "matrix":
        numbers = tables.matrix_table(tables.combine(a.inputs, a.labels))
        fig = figures.matrix_figure(numbers)
    elif a.kind == "sep-landscape":
        numbers = tables.combine(a.inputs, a.labels)
        fig = figures.sep_landscapes(numbers, a.title)
    elif a.kind == "sep-saliency":
        fig = figures.sep_saliency([_npz(p) for p in a.inputs], a.labels)
    elif a.kind == "sep-bars":
        numbers = tables.sep_table(tables.combine(a.inputs, a.labels))
        fig = figures.sep_bars(numbers, a.title)
    elif a.kind == "attacked-maps":
        if not (len(a.inputs) == len(a.labels) == len(a.bounds)):
            raise ValueError(f"{len(a.inputs)} inputs, {len(a.labels)} labels, {len(a.bounds)} bounds: one each per model")
        maps = [_npz(p) for p in a.inputs]
        numbers = tables.combine(a.bounds, a.labels)
        fig = figures.attacked_maps(maps, [pd.read_csv(p) for p in a.bounds], a.labels, a.title)
    else:
        numbers = table()
        fig = figures.corruption_bars(numbers, a.title)
    figures.save(fig, a.pdf, a.png)
    if a.csv:
        if numbers is None:
            raise ValueError(f"--csv is not available for {a.kind}")
        write_dataframe(numbers, a.csv)


# ------------------------------------------------------------------------------------------ G-LIME
def _glime_inputs(a, need_model=True):
    from .papers.glime import study as glime_eval
    from .data.store import load_prepared
    s = a.settings
    if need_model:
        model, _, data, device = _load_for_eval(a)
    else:
        _threads(a.threads)
        model, data, device = None, load_prepared(a.data), "cpu"
    ref_x, test_x = glime_eval.image_sets(data, s["reference_images"], s["test_images"])
    return model, device, ref_x, test_x


def cmd_glime_segments(a):
    import numpy as np

    from .papers.glime import study as glime_eval
    from .io import write_arrays
    _, _, ref_x, test_x = _glime_inputs(a, need_model=False)
    ref_seg = glime_eval.segment(ref_x, a.settings["segmentation"])
    test_seg = glime_eval.segment(test_x, a.settings["segmentation"])
    write_arrays(a.out, {"ref_seg": ref_seg, "test_seg": test_seg})
    counts = [int(s.max()) + 1 for s in test_seg]
    print(f"superpixels per test image: mean {np.mean(counts):.1f}, min {min(counts)}, max {max(counts)}")


def cmd_glime_clusters(a):
    from .papers.glime import study as glime_eval
    from .io import write_arrays
    model, device, ref_x, test_x = _glime_inputs(a)
    seg = _npz(a.segments)
    s = a.settings
    out = glime_eval.cluster_superpixels(model, ref_x, seg["ref_seg"], test_x, seg["test_seg"], k=s["clusters"],
                                         seed=s.get("seed", 0), device=device)
    out.update(glime_eval.cluster_examples(ref_x, seg["ref_seg"], out["ref_ids"]))
    write_arrays(a.out, out)
    print(f"{len(out['ref_ids'])} reference superpixels in {s['clusters']} clusters")


def cmd_glime_priors(a):
    from .papers.glime import study as glime_eval
    from .io import write_arrays
    model, device, ref_x, _ = _glime_inputs(a)
    s, seg, cl = a.settings, _npz(a.segments), _npz(a.clusters)
    out = glime_eval.build_priors(model, ref_x, seg["ref_seg"], cl["ref_ids"], k=s["clusters"],
                                  n_samples=s["prior_samples"], priors=s["priors"], settings=s, seed=s.get("seed", 0),
                                  device=device, chunk=s.get("image_chunk", 16))
    write_arrays(a.out, out)


def cmd_glime_explain(a):
    from .papers.glime import study as glime_eval
    from .io import write_arrays, write_dataframe
    model, device, _, test_x = _glime_inputs(a)
    s, seg, cl, pr = a.settings, _npz(a.segments), _npz(a.clusters), _npz(a.priors)
    samples = s.get("run_samples", s["samples"])
    print(f"G-LIME: {len(test_x)} images x n in {samples} LIME samples")
    scores, details = glime_eval.explainer_scores(model, test_x, seg["test_seg"], cl["test_ids"], pr, samples=samples,
                                                  settings=s, seed=s.get("seed", 0), device=device,
                                                  chunk=s.get("image_chunk", 16))
    write_arrays(a.details, details)
    write_dataframe(scores, a.out)
    print(scores.groupby(["estimator", "n"])[["deletion", "insertion", "r2"]].mean().to_string())


def cmd_glime_stability(a):
    from .papers.glime import study as glime_eval
    from .io import write_arrays, write_dataframe
    model, device, _, test_x = _glime_inputs(a)
    s, seg, cl, pr = a.settings, _npz(a.segments), _npz(a.clusters), _npz(a.priors)
    k = s["stability_images"]
    stab, details = glime_eval.stability_scores(model, test_x[:k], seg["test_seg"][:k], glime_eval.per_image_prefix(
        cl["test_ids"], seg["test_seg"], k), pr, samples=s["stability_samples"], repeats=s["stability_repeats"],
        settings=s, seed=s.get("seed", 0), device=device, chunk=s.get("image_chunk", 16))
    write_arrays(a.details, details)
    write_dataframe(stab, a.out)
    print(stab.groupby(["estimator", "n"])["stability"].mean().to_string())


def cmd_glime_baselines(a):
    from .papers.glime import study as glime_eval
    from .io import write_dataframe
    model, device, _, test_x = _glime_inputs(a)
    s, seg = a.settings, _npz(a.segments)
    df = glime_eval.baseline_scores(model, test_x, seg["test_seg"], methods=s["baselines"],
                                    repeats=s.get("baseline_repeats", 3), settings=s, seed=s.get("seed", 0),
                                    device=device, chunk=s.get("image_chunk", 16))
    write_dataframe(df, a.out)
    print(df.groupby("estimator")[["deletion", "insertion", "abpc"]].mean().to_string())


# --------------------------------------------------------------------------------------------- SEP
def cmd_sep_pairs(a):
    from .papers.sep import evaluate
    from .io import write_arrays
    model, _, data, device = _load_for_eval(a)
    s = a.settings
    pairs = evaluate.sep_pairs(model, data, clusters=s["clusters"], per_cluster=s["per_cluster"],
                               seed=s.get("seed", 0), device=device)
    write_arrays(a.out, pairs)
    n = len(pairs["victim"])
    print(f"{len(pairs['images'])} representative images -> {n} ordered pairs ({int(pairs['intra'].sum())} intra-cluster)"
          f"; each evaluated model attacks {n} pairs x {s['attack']['steps']} steps")


def cmd_sep_evaluate(a):
    """One model and test-time explanation: the attack row, and with --landscape-out / --saliency-out the
    explanation-loss landscape and the saliency maps (one model load for all three)."""
    from .papers.sep import evaluate
    from .io import write_arrays, write_dataframe
    model, _, data, device = _load_for_eval(a)
    s, pairs = a.settings, _npz(a.pairs)
    df = evaluate.sep_explanation_robustness(
        model, data, pairs, explain=a.explain, attack_settings=s["attack"], pgd_settings=s["pgd"],
        adv_eps=s["adv_eps"], max_samples=s.get("max_samples"), batch_size=s.get("batch_size", 256),
        explain_options=s.get("explain_options"), device=device)
    if a.landscape_out:
        write_dataframe(evaluate.sep_landscape(model, data, pairs, explain=a.explain, sigmas=s["landscape"]["sigmas"],
                                               draws=s["landscape"].get("draws", 4), seed=s.get("seed", 0),
                                               explain_options=s.get("explain_options"), device=device),
                        a.landscape_out)
    if a.saliency_out:
        write_arrays(a.saliency_out, evaluate.sep_saliency(model, data, pairs, explain=a.explain,
                                                           n_images=s.get("saliency_images", 4), device=device))
    write_dataframe(df, a.out)
    print(df.T.to_string())


def cmd_scorecard(a):
    """Every number of the paper values beside this run's (CSV and Markdown)."""
    import yaml

    from .io import dataframe_to_markdown, write_dataframe, write_text
    from .scorecard import scorecard, summary
    values = yaml.safe_load(Path(a.values).read_text())
    card = scorecard(values, a.results, a.settings)
    write_dataframe(card, a.csv)
    head = summary(card)
    write_text(a.md, "# Replication scorecard\n\nScale: " + str(a.settings.get("scale", "paper"))
               + ". Tolerance: ±3 points for accuracies, ±10 % for every other number; \"not run\" = this "
               "configuration did not produce the cell.\n\n" + dataframe_to_markdown(head) + "\n\n"
               + dataframe_to_markdown(card.drop(columns=["source"]), digits=4) + "\n")
    print(head.to_string(index=False))


def cmd_claims(a):
    """Each paper's qualitative claims checked on this run's tables (CSV and Markdown)."""
    from .claims import check_claims
    from .io import dataframe_to_markdown, write_dataframe, write_text
    df = check_claims(a.results, a.settings)
    write_dataframe(df, a.csv)
    write_text(a.md, "# Claims check\n\nScale: " + str(a.settings.get("scale", "paper")) + ".\n\n"
               + dataframe_to_markdown(df) + "\n")
    print(df[["paper", "verdict", "claim"]].to_string(index=False))


def cmd_matrix_evaluate(a):
    """One model's row of the cross-paper matrix."""
    from .papers.matrix import evaluate
    from .io import write_dataframe
    model, _, data, device = _load_for_eval(a)
    df = evaluate.cross_paper_row(model, data, _npz(a.pairs) if a.pairs else None, settings=a.settings,
                                  device=device)
    write_dataframe(df, a.out)
    print(df.T.to_string())


def _npz(path: str) -> dict:
    import numpy as np
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def cmd_estimate(a):
    """Jobs and estimated GPU-hours per part of the target listing, from the measured jobs' benchmarks."""
    from . import estimate as est
    from .io import write_dataframe, write_text

    def listing(path):
        return est.read_listing(Path(path).read_text())
    measured, target = listing(a.measured), listing(a.target)
    parts = est.parts_from_listings(listing(a.parts[0]) if a.parts else [],
                                    {Path(p).stem: listing(p) for p in a.parts[1:]})
    jobs, startup = est.estimate_jobs(target, measured, speedup=a.speedup)
    summary = est.summarise(jobs, parts)
    n_timed = sum(1 for j in measured if j.benchmark and Path(j.benchmark).exists())
    write_dataframe(jobs, a.jobs_csv)
    write_dataframe(summary, a.csv)
    write_text(a.md, est.report(summary, jobs, speedup=a.speedup, startup=startup, measured_jobs=n_timed))
    print("Cost estimate (an estimate, not a measurement; see " + a.md + "):")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


def cmd_toy(a):
    """AGA Fig. 1's data: the four two-layer nets on the 2-D toy set."""
    import pandas as pd

    from . import losses  # noqa: F401 - registers maxent and gradient_alignment
    from .io import write_arrays, write_dataframe
    from .papers.aga.toy import toy_experiment
    _threads(a.threads)
    d = toy_experiment(**a.settings)
    write_arrays(a.out, d)
    summary = pd.DataFrame({"variant": d["variants"], "l2": d["l2"], "cosine": d["cosine"]})
    write_dataframe(summary, a.csv)
    print(summary.to_string(index=False))


def _user_errors() -> tuple[type[BaseException], ...]:
    from .data.download import DataError
    from .train import NonFiniteLossError
    return (KeyError, ValueError, FileNotFoundError, DataError, NonFiniteLossError)


def _model_job(parser, *, model: bool = True, model_help: str | None = None,
               settings_help: str | None = None) -> argparse.ArgumentParser:
    """The arguments of every command that runs a model on a dataset: --model, --data, --settings (JSON),
    --device, --threads and --out."""
    if model:
        parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--data", required=True)
    parser.add_argument("--settings", type=_json, required=True, help=settings_help)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", required=True)
    return parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interprobust", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="download and prepare datasets").add_subparsers(dest="sub", required=True)
    d = data.add_parser("download", help="download and checksum-verify a real dataset's archives")
    d.add_argument("--dataset", required=True)
    d.add_argument("--marker", required=True, help="verified.json written on success; archives go beside it")
    d.add_argument("--url-overrides", type=_json, default={}, help='JSON {"file name": "url or path"}')
    d.set_defaults(func=cmd_data_download)
    d = data.add_parser("prepare", help="prepare a dataset into the uniform array format")
    d.add_argument("--dataset", required=True)
    d.add_argument("--meta", required=True, help="meta.json to write; arrays go beside it")
    d.add_argument("--raw", help="folder holding the downloaded archives")
    d.add_argument("--source", help="prepared folder of the dataset this one derives from")
    d.add_argument("--options", type=_json, default={})
    d.set_defaults(func=cmd_data_prepare)

    t = sub.add_parser("train", help="train one model")
    t.add_argument("--data", required=True, help="prepared dataset (its meta.json)")
    t.add_argument("--arch", required=True)
    t.add_argument("--method", required=True, help="the recipe's name (recorded in the model's metadata)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--settings", type=_json, required=True,
                   help='JSON {"loss", "loss_params", "training", "model"}')
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int)
    t.add_argument("--checkpoint-dir")
    t.add_argument("--track-corruptions", help="a corrupted test set to evaluate after every epoch")
    t.add_argument("--track-samples", type=int, default=None, help="images per (corruption, severity)")
    t.add_argument("--init-from", help="start from this saved model's weights (fine-tuning)")
    t.add_argument("--model-out", required=True)
    t.add_argument("--history-out", required=True)
    t.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a trained model").add_subparsers(dest="sub", required=True)
    for name, func in (("robustness", cmd_evaluate_robustness), ("corruptions", cmd_evaluate_corruptions),
                       ("corrupted-attacks", cmd_evaluate_corrupted_attacks),
                       ("explanations", cmd_evaluate_explanations)):
        e = ev.add_parser(name)
        if name == "explanations":
            e.add_argument("--curves-out", required=True, help="insertion / adv-insertion curves (CSV)")
            e.add_argument("--maps-out", help="AGA Fig. 3(a): gradient maps before / after the attack (npz)")
            e.add_argument("--bound-out", help="AGA Fig. 3(b): Theorem 6's bound and the CRC per eps (CSV)")
        _model_job(e).set_defaults(func=func)

    c = sub.add_parser("cost", help="training-step time / peak memory of methods relative to the first")
    c.add_argument("--data", required=True)
    c.add_argument("--arch", required=True)
    c.add_argument("--rows", type=_json, required=True, help="JSON: row label -> resolved training settings")
    c.add_argument("--steps", type=int, default=3)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", default="auto")
    c.add_argument("--threads", type=int)
    c.add_argument("--csv", required=True)
    c.add_argument("--md", required=True)
    c.set_defaults(func=cmd_cost)

    sp = sub.add_parser("spurious", help="LIMEREF spurious-feature detection").add_subparsers(dest="sub", required=True)
    e = sp.add_parser("detect", help="LIME + sensitivity + instability on held-out training images -> F_spurious")
    e.add_argument("--previous", help="the previous round's spurious.json (F accumulates)")
    _model_job(e).set_defaults(func=cmd_spurious_detect)

    e = sp.add_parser("planted-check", help="detection vs planted patches; accuracy with and without them")
    e.add_argument("--data", required=True, help="the planted dataset (digits_rgb32_spurious)")
    e.add_argument("--spurious", nargs="+", required=True, help="spurious.json of every round, in order")
    e.add_argument("--models", nargs="+", required=True)
    e.add_argument("--labels", nargs="+", required=True)
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int)
    e.add_argument("--csv", required=True)
    e.add_argument("--md", required=True)
    e.set_defaults(func=cmd_spurious_planted_check)

    tb = sub.add_parser("table", help="combine per-model CSVs into a table")
    tb.add_argument("kind", choices=["robustness", "corruptions", "aga-table1", "aga-rps", "aga-grid",
                                     "glime-deletion", "glime-insertion", "glime-stability", "glime-methods",
                                     "glime-priors", "glime-networks", "sep", "matrix"])
    tb.add_argument("--n", type=int, help="glime-methods / -priors / -networks: the number of LIME samples")
    tb.add_argument("--lam2", type=float, default=1.0, help="glime: the main l2 of Eq. 7")
    tb.add_argument("--reference", default="CE", help="aga-grid: the label of the CE-only row")
    tb.add_argument("--max-drop", type=float, default=1.0, help="aga-grid: accuracy points a point may lose")
    tb.add_argument("--inputs", nargs="+", required=True)
    tb.add_argument("--labels", nargs="+", required=True)
    tb.add_argument("--csv", required=True)
    tb.add_argument("--md", required=True)
    tb.set_defaults(func=cmd_table)

    gl = sub.add_parser("glime", help="G-LIME's study: superpixels, clusters, priors, explainers, "
                        "stability, baselines").add_subparsers(dest="sub", required=True)
    for name, func, needs, outs in (
            ("segments", cmd_glime_segments, [], []),
            ("clusters", cmd_glime_clusters, ["model", "segments"], []),
            ("priors", cmd_glime_priors, ["model", "segments", "clusters"], []),
            ("explain", cmd_glime_explain, ["model", "segments", "clusters", "priors"], ["details"]),
            ("stability", cmd_glime_stability, ["model", "segments", "clusters", "priors"], ["details"]),
            ("baselines", cmd_glime_baselines, ["model", "segments"], [])):
        e = gl.add_parser(name)
        for arg in [n for n in needs + outs if n != "model"]:
            e.add_argument(f"--{arg}", required=True)
        _model_job(e, model="model" in needs, settings_help="the config's glime section (JSON)").set_defaults(
            func=func)

    sp_ = sub.add_parser("sep", help="SEP: pairs, explanation attack, landscape, saliency maps"
                         ).add_subparsers(dest="sub", required=True)
    for name, func in (("pairs", cmd_sep_pairs), ("evaluate", cmd_sep_evaluate)):
        e = sp_.add_parser(name)
        if name != "pairs":
            e.add_argument("--pairs", required=True)
            e.add_argument("--explain", default="input_x_gradient", help="the test-time explanation method")
            e.add_argument("--landscape-out", help="also the explanation-loss landscape (CSV)")
            e.add_argument("--saliency-out", help="also the saliency maps of the representative images (npz)")
        _model_job(e, model_help="pairs: the normally trained feature model",
                   settings_help="the config's sep section (JSON)").set_defaults(func=func)

    c = sub.add_parser("scorecard", help="every paper number beside this run's, with a verdict")
    c.add_argument("--values", required=True, help="paper_values.yaml")
    c.add_argument("--results", default="results")
    c.add_argument("--settings", type=_json, required=True,
                   help='JSON: scale, limeref {datasets, corrupted}, glime {settings}')
    c.add_argument("--csv", required=True)
    c.add_argument("--md", required=True)
    c.set_defaults(func=cmd_scorecard)

    c = sub.add_parser("claims", help="each paper's qualitative claims checked on this run's tables")
    c.add_argument("--results", default="results")
    c.add_argument("--settings", type=_json, required=True)
    c.add_argument("--csv", required=True)
    c.add_argument("--md", required=True)
    c.set_defaults(func=cmd_claims)

    m = sub.add_parser("matrix", help="the cross-paper matrix: one model under every metric")
    m.add_argument("--pairs", help="SEP's pairs of the model's dataset (expl at start / end)")
    _model_job(m).set_defaults(func=cmd_matrix_evaluate)

    e = sub.add_parser("estimate", help="jobs and estimated GPU-hours per paper of a configuration, from "
                       "benchmark timings of a measured run scaled by work (an estimate)")
    e.add_argument("--measured", required=True, help="job listing of the run whose benchmarks were recorded")
    e.add_argument("--target", required=True, help="job listing of the run to estimate")
    e.add_argument("--parts", nargs="*", default=[],
                   help="job listings of the target's parts: the overview's first, then one per paper "
                        "(the part is named by the file's stem)")
    e.add_argument("--speedup", type=float, default=1.0,
                   help="how many times faster the target GPU runs a job than the machine that timed it")
    e.add_argument("--md", required=True)
    e.add_argument("--csv", required=True)
    e.add_argument("--jobs-csv", required=True)
    e.set_defaults(func=cmd_estimate)

    t = sub.add_parser("toy", help="AGA Fig. 1: two-layer nets on a 2-D toy set (npz + summary CSV)")
    t.add_argument("--settings", type=_json, default={}, help="JSON keyword arguments of toy.toy_experiment")
    t.add_argument("--threads", type=int)
    t.add_argument("--out", required=True)
    t.add_argument("--csv", required=True)
    t.set_defaults(func=cmd_toy)

    f = sub.add_parser("figure", help="draw a figure from cached CSVs")
    f.add_argument("kind", choices=["training-curves", "metric-curves", "corruption-epochs", "robustness",
                                    "corruptions", "insertion-curves", "toy-gradients", "attacked-maps",
                                    "glime-clusters", "glime-paths", "glime-fidelity", "glime-deletion",
                                    "glime-insertion", "glime-stability", "glime-lam2", "sep-landscape",
                                    "sep-saliency", "sep-bars", "matrix"])
    f.add_argument("--n", type=int, help="glime-lam2: the number of LIME samples")
    f.add_argument("--lam2", type=float, default=1.0, help="glime-fidelity: the main l2")
    f.add_argument("--inputs", nargs="*", default=[], help="per-model CSVs (histories or evaluations)")
    f.add_argument("--labels", nargs="*", default=[])
    f.add_argument("--table", help="a combined tidy table instead of --inputs")
    f.add_argument("--bounds", nargs="*", default=[], help="attacked-maps: per-model upper-bound CSVs")
    f.add_argument("--attack", help="keep only this attack's rows")
    f.add_argument("--eps", type=float, help="keep only this eps")
    f.add_argument("--metric", default="test_acc", help="history column for metric-curves")
    f.add_argument("--ylabel")
    f.add_argument("--csv", help="also write the plotted numbers")
    f.add_argument("--title", default="")
    f.add_argument("--pdf", required=True)
    f.add_argument("--png")
    f.set_defaults(func=cmd_figure)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Exception as e:  # noqa: BLE001 - only known user-facing errors are shortened, see below
        if not isinstance(e, _user_errors()):
            raise
        # These carry a message that names the problem and the fix: show it, not a traceback.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"interprobust {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
