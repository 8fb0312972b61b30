"""``interprobust glime segments|clusters|priors|explain|stability|baselines``: G-LIME's study, step by step."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, set_threads, subcommands
from ...io import read_arrays as npz


def _inputs(a, need_model=True):
    """(model, device, sets) with sets: the reference / explained images, their labels and split
    indices, and the stability positions, as the segments step chose them (its file holds the indices)."""
    import numpy as np

    from ...data.store import load_prepared
    if need_model:
        model, _, data, device = load_for_eval(a)
    else:
        set_threads(a.threads)
        model, data, device = None, load_prepared(a.data), "cpu"
    seg = npz(a.segments)
    idx = {k: seg[k] for k in ("ref_idx", "test_idx", "stab_pos")}
    sets = {**idx, "ref_x": np.asarray(data.train_x[idx["ref_idx"]]), "ref_y": np.asarray(data.train_y)[idx["ref_idx"]],
            "test_x": np.asarray(data.test_x[idx["test_idx"]]), "test_y": np.asarray(data.test_y)[idx["test_idx"]]}
    return model, device, sets


def segments(a):
    import numpy as np

    from ...data.store import load_prepared
    from ...data.subsets import write_indices
    from ...io import write_arrays
    from . import study
    s = a.settings
    set_threads(a.threads)
    data, seed = load_prepared(a.data), s.get("seed", 0)
    idx = study.image_sets(data, s.get("reference_images"), s.get("test_images"), seed=seed,
                           stability_images=s.get("stability_images"))
    ref_seg = study.segment(np.asarray(data.train_x[idx["ref_idx"]]), s["segmentation"])
    test_seg = study.segment(np.asarray(data.test_x[idx["test_idx"]]), s["segmentation"])
    write_arrays(a.out, {"ref_seg": ref_seg, "test_seg": test_seg, **idx})
    write_indices(a.reference_indices, idx["ref_idx"], labels=data.train_y, split="train", role="reference set",
                  seed=seed)
    write_indices(a.test_indices, idx["test_idx"], labels=data.test_y, split="test", role="explained images",
                  seed=seed)
    write_indices(a.stability_indices, idx["test_idx"][idx["stab_pos"]], labels=data.test_y, split="test",
                  role="stability images (a stratified subset of the explained images)", seed=seed + 1)
    counts = [int(x.max()) + 1 for x in test_seg]
    print(f"superpixels per test image: mean {np.mean(counts):.1f}, min {min(counts)}, max {max(counts)}")
    print(f"{len(np.unique(data.test_y[idx['test_idx']]))} classes among {len(idx['test_idx'])} explained images, "
          f"{len(np.unique(data.train_y[idx['ref_idx']]))} among {len(idx['ref_idx'])} reference images")


def clusters(a):
    """Alg. 2 once per dataset, shared by every setting on it: K-Means on superpixel features of the
    untouched ImageNet-pretrained ResNet-101 stem (``cluster_stem: pretrained``) or of the first setting's
    model (``main``), fitted on an ImageNet sample when ``imagenet_dir`` is set, else on the
    class-balanced training subset (the reference set)."""
    import numpy as np

    from ...data.real import imagenet_sample
    from ...io import write_arrays
    from ...models.store import resolve_device
    from . import study
    s = a.settings
    kind = s.get("cluster_stem", "pretrained")
    if kind not in study.CLUSTER_STEMS:
        raise SystemExit(f"unknown glime.cluster_stem {kind!r}; valid: {', '.join(study.CLUSTER_STEMS)}")
    if a.model:
        model, device, sets = _inputs(a)
    else:
        _, _, sets = _inputs(a, need_model=False)
        model, device = None, resolve_device(a.device)
    seg = npz(a.segments)
    if kind == "pretrained":
        stem, stem_name = study.pretrained_stem("resnet101", in_channels=sets["test_x"].shape[-1]), \
            "the ImageNet-pretrained ResNet-101 stem (conv1-bn1-relu)"
    else:
        if model is None:
            raise SystemExit("glime.cluster_stem: main needs --model (the first setting's model on this dataset)")
        stem, stem_name = None, "the first stage of the first G-LIME setting's model on this dataset"
    fit_x = fit_seg = None
    reference = "a class-balanced training subset of the dataset (the priors' reference set)"
    if s.get("imagenet_dir"):
        fit_x, _ = imagenet_sample(s["imagenet_dir"], s.get("cluster_images") or s.get("reference_images"),
                                   s.get("seed", 0), crop=sets["test_x"].shape[1])
        fit_seg = study.segment(fit_x, s["segmentation"])
        reference = f"{len(fit_x)} class-stratified ImageNet validation images"
    out = study.cluster_superpixels(model, sets["ref_x"], seg["ref_seg"], sets["test_x"], seg["test_seg"],
                                    k=s["clusters"], seed=s.get("seed", 0), device=device, stem=stem,
                                    fit_x=fit_x, fit_seg=fit_seg)
    out.update(study.cluster_examples(sets["ref_x"] if fit_x is None else fit_x,
                                      seg["ref_seg"] if fit_x is None else fit_seg, out["fit_ids"],
                                      test_x=sets["test_x"], test_seg=seg["test_seg"], test_ids=out["test_ids"]))
    out["stem"], out["cluster_reference"] = np.array(stem_name), np.array(reference)
    write_arrays(a.out, out)
    print(f"{len(out['fit_ids'])} superpixels of {reference} in {s['clusters']} clusters; features: {stem_name}")


def priors(a):
    from ...io import write_arrays
    from . import study
    model, device, sets = _inputs(a)
    s, seg, cl = a.settings, npz(a.segments), npz(a.clusters)
    write_arrays(a.out, study.build_priors(model, sets["ref_x"], seg["ref_seg"], cl["ref_ids"], k=s["clusters"],
                                           n_samples=s["prior_samples"], priors=s["priors"], settings=s,
                                           seed=s.get("seed", 0), device=device, chunk=s.get("image_chunk", 16),
                                           labels=sets["ref_y"], index=sets["ref_idx"]))


def explain(a):
    from ...io import write_arrays, write_dataframe
    from . import study
    model, device, sets = _inputs(a)
    s, seg, cl, pr = a.settings, npz(a.segments), npz(a.clusters), npz(a.priors)
    samples = s.get("run_samples", s["samples"])
    print(f"G-LIME: {len(sets['test_x'])} images x n in {samples} LIME samples")
    scores, details = study.explainer_scores(model, sets["test_x"], seg["test_seg"], cl["test_ids"], pr,
                                             samples=samples, settings=s, seed=s.get("seed", 0), device=device,
                                             chunk=s.get("image_chunk", 16), labels=sets["test_y"],
                                             index=sets["test_idx"])
    write_arrays(a.details, details)
    write_dataframe(scores, a.out)
    print(scores.groupby(["estimator", "n"])[["deletion", "insertion", "r2"]].mean().to_string())


def stability(a):
    from ...io import write_arrays, write_dataframe
    from . import study
    model, device, sets = _inputs(a)
    s, seg, cl, pr = a.settings, npz(a.segments), npz(a.clusters), npz(a.priors)
    pos = sets["stab_pos"]
    stab, details = study.stability_scores(model, sets["test_x"][pos], seg["test_seg"][pos], study.per_image_select(
        cl["test_ids"], seg["test_seg"], pos), pr, samples=s["stability_samples"], repeats=s["stability_repeats"],
        settings=s, seed=s.get("seed", 0), device=device, chunk=s.get("image_chunk", 16),
        labels=sets["test_y"][pos], index=sets["test_idx"][pos])
    write_arrays(a.details, details)
    write_dataframe(stab, a.out)
    print(stab.groupby(["estimator", "n"])["stability"].mean().to_string())


def baselines(a):
    from ...io import write_dataframe
    from . import study
    model, device, sets = _inputs(a)
    s, seg = a.settings, npz(a.segments)
    df = study.baseline_scores(model, sets["test_x"], seg["test_seg"], methods=s["baselines"],
                               repeats=s.get("baseline_repeats", 3), settings=s, seed=s.get("seed", 0),
                               device=device, chunk=s.get("image_chunk", 16), labels=sets["test_y"])
    write_dataframe(df, a.out)
    print(df.groupby(["estimator", "protocol"])[["deletion", "insertion", "abpc"]].mean().to_string())


def register(sub) -> None:
    group = subcommands(sub, "glime", "G-LIME's study: superpixels, clusters, priors, explainers, stability, "
                        "baselines")
    e = group.add_parser("clusters")
    e.add_argument("--segments", required=True)
    e.add_argument("--model", help="the model whose first stage gives the features (cluster_stem: main)")
    model_job(e, model=False, settings_help="the glime section's clustering keys (JSON)").set_defaults(func=clusters)
    for name, func, needs, outs in (
            ("segments", segments, [], ["reference_indices", "test_indices", "stability_indices"]),
            ("priors", priors, ["model", "segments", "clusters"], []),
            ("explain", explain, ["model", "segments", "clusters", "priors"], ["details"]),
            ("stability", stability, ["model", "segments", "clusters", "priors"], ["details"]),
            ("baselines", baselines, ["model", "segments"], [])):
        e = group.add_parser(name)
        for arg in [n for n in needs + outs if n != "model"]:
            e.add_argument(f"--{arg}", required=True)
        model_job(e, model="model" in needs, settings_help="the config's glime section (JSON)").set_defaults(func=func)
