"""``interprobust glime segments|clusters|priors|explain|stability|baselines``: G-LIME's study, step by step."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, set_threads, subcommands
from ...io import read_arrays as npz


def _inputs(a, need_model=True):
    from ...data.store import load_prepared
    from . import study
    s = a.settings
    if need_model:
        model, _, data, device = load_for_eval(a)
    else:
        set_threads(a.threads)
        model, data, device = None, load_prepared(a.data), "cpu"
    ref_x, test_x = study.image_sets(data, s["reference_images"], s["test_images"])
    return model, device, ref_x, test_x


def segments(a):
    import numpy as np

    from ...io import write_arrays
    from . import study
    _, _, ref_x, test_x = _inputs(a, need_model=False)
    ref_seg = study.segment(ref_x, a.settings["segmentation"])
    test_seg = study.segment(test_x, a.settings["segmentation"])
    write_arrays(a.out, {"ref_seg": ref_seg, "test_seg": test_seg})
    counts = [int(s.max()) + 1 for s in test_seg]
    print(f"superpixels per test image: mean {np.mean(counts):.1f}, min {min(counts)}, max {max(counts)}")


def clusters(a):
    from ...io import write_arrays
    from . import study
    model, device, ref_x, test_x = _inputs(a)
    seg, s = npz(a.segments), a.settings
    out = study.cluster_superpixels(model, ref_x, seg["ref_seg"], test_x, seg["test_seg"], k=s["clusters"],
                                    seed=s.get("seed", 0), device=device)
    out.update(study.cluster_examples(ref_x, seg["ref_seg"], out["ref_ids"]))
    write_arrays(a.out, out)
    print(f"{len(out['ref_ids'])} reference superpixels in {s['clusters']} clusters")


def priors(a):
    from ...io import write_arrays
    from . import study
    model, device, ref_x, _ = _inputs(a)
    s, seg, cl = a.settings, npz(a.segments), npz(a.clusters)
    write_arrays(a.out, study.build_priors(model, ref_x, seg["ref_seg"], cl["ref_ids"], k=s["clusters"],
                                           n_samples=s["prior_samples"], priors=s["priors"], settings=s,
                                           seed=s.get("seed", 0), device=device, chunk=s.get("image_chunk", 16)))


def explain(a):
    from ...io import write_arrays, write_dataframe
    from . import study
    model, device, _, test_x = _inputs(a)
    s, seg, cl, pr = a.settings, npz(a.segments), npz(a.clusters), npz(a.priors)
    samples = s.get("run_samples", s["samples"])
    print(f"G-LIME: {len(test_x)} images x n in {samples} LIME samples")
    scores, details = study.explainer_scores(model, test_x, seg["test_seg"], cl["test_ids"], pr, samples=samples,
                                             settings=s, seed=s.get("seed", 0), device=device,
                                             chunk=s.get("image_chunk", 16))
    write_arrays(a.details, details)
    write_dataframe(scores, a.out)
    print(scores.groupby(["estimator", "n"])[["deletion", "insertion", "r2"]].mean().to_string())


def stability(a):
    from ...io import write_arrays, write_dataframe
    from . import study
    model, device, _, test_x = _inputs(a)
    s, seg, cl, pr = a.settings, npz(a.segments), npz(a.clusters), npz(a.priors)
    k = s["stability_images"]
    stab, details = study.stability_scores(model, test_x[:k], seg["test_seg"][:k], study.per_image_prefix(
        cl["test_ids"], seg["test_seg"], k), pr, samples=s["stability_samples"], repeats=s["stability_repeats"],
        settings=s, seed=s.get("seed", 0), device=device, chunk=s.get("image_chunk", 16))
    write_arrays(a.details, details)
    write_dataframe(stab, a.out)
    print(stab.groupby(["estimator", "n"])["stability"].mean().to_string())


def baselines(a):
    from ...io import write_dataframe
    from . import study
    model, device, _, test_x = _inputs(a)
    s, seg = a.settings, npz(a.segments)
    df = study.baseline_scores(model, test_x, seg["test_seg"], methods=s["baselines"],
                               repeats=s.get("baseline_repeats", 3), settings=s, seed=s.get("seed", 0),
                               device=device, chunk=s.get("image_chunk", 16))
    write_dataframe(df, a.out)
    print(df.groupby("estimator")[["deletion", "insertion", "abpc"]].mean().to_string())


def register(sub) -> None:
    group = subcommands(sub, "glime", "G-LIME's study: superpixels, clusters, priors, explainers, stability, "
                        "baselines")
    for name, func, needs, outs in (
            ("segments", segments, [], []),
            ("clusters", clusters, ["model", "segments"], []),
            ("priors", priors, ["model", "segments", "clusters"], []),
            ("explain", explain, ["model", "segments", "clusters", "priors"], ["details"]),
            ("stability", stability, ["model", "segments", "clusters", "priors"], ["details"]),
            ("baselines", baselines, ["model", "segments"], [])):
        e = group.add_parser(name)
        for arg in [n for n in needs + outs if n != "model"]:
            e.add_argument(f"--{arg}", required=True)
        model_job(e, model="model" in needs, settings_help="the config's glime section (JSON)").set_defaults(func=func)
