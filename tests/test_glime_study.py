"""G-LIME's study on a tiny model: superpixel bookkeeping, every estimator on shared samples, the
tables' aggregation on hand-made scores."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from interprobust.papers.glime import study as E
from interprobust.papers.glime import tables
from interprobust.explain import glime as G


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3)).eval()


def _images(n=3, s=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, s, s, 3)) * 255).astype(np.uint8)


def _segments(n=3, s=16):
    base = (np.arange(s)[:, None] // 4) * 4 + np.arange(s)[None, :] // 4          # 16 square cells
    segs = np.stack([base] * n)
    segs[1] = segs[1] // 2                                                            # 8 cells
    return segs.astype(np.int64)


def test_per_image_splits_flat_superpixel_arrays_and_examples_show_their_superpixel():
    seg = _segments()
    flat = np.arange(16 + 8 + 16)
    parts = E.per_image(flat, seg)
    assert [len(p) for p in parts] == [16, 8, 16] and parts[1][0] == 16
    np.testing.assert_array_equal(E.per_image_prefix(flat, seg, 2), np.arange(24))
    imgs = _images()
    ids = np.zeros(40, dtype=np.int64)
    ids[[0, 17]] = 1                                   # cluster 1: image 0's cell 0 and image 1's cell 1
    ex = E.cluster_examples(imgs, seg, ids, clusters=2, per_cluster=3)
    assert list(ex["example_clusters"]) == [0, 1] and ex["examples"].shape == (2, 3, 16, 16, 3)
    shown = ex["examples"][1, 0]
    inside = seg[0] == 0
    np.testing.assert_array_equal(shown[inside], imgs[0][inside])
    assert (shown[~inside] == 128).all()


@pytest.fixture(scope="module")
def study():
    model, x, seg = _model(), _images(), _segments()
    ids = np.arange(40) % 5
    priors = {"kinds": np.array(["NormLIME", "AVG"]), "prior_NormLIME": np.linspace(1, 0.2, 5),
              "prior_AVG": np.linspace(0.2, 1, 5)}
    settings = {"lam2": 1.0, "lam2_ablation": [0.5, 1.0], "ablation_samples": [30], "repeats": 2,
                "explain_class": "predicted"}
    return model, x, seg, ids, priors, settings


def test_every_estimator_is_scored_on_shared_samples(study):
    model, x, seg, ids, priors, settings = study
    scores, details = E.explainer_scores(model, x, seg, ids, priors, samples=[30, 60], settings=settings, chunk=2)
    main = scores[(scores.lam2 == 1.0) & (scores.n > 0)]
    assert set(main.estimator) == set(E.estimators(["NormLIME", "AVG"]))
    # one row per (estimator, n, repeat, image); the largest n repeated
    assert len(main) == 6 * 3 + 6 * 3 * 2
    assert set(scores[scores.n == 0].estimator) == {"GP-N", "GP-AVG"}
    assert set(scores[(scores.lam2 == 0.5)].estimator) == {"LIME", "G-LIME-N", "G-LIME-AVG"}   # Fig. 9: Ridge ones
    assert scores[scores.n > 0].pull.between(0, 1).all()
    assert scores[["deletion", "insertion"]].stack().between(0, 1).all()
    np.testing.assert_allclose(scores.abpc, scores.insertion - scores.deletion)
    assert "path_coefs/LIME-Path" in details and "deletion/LIME" in details
    again, _ = E.explainer_scores(model, x, seg, ids, priors, samples=[30, 60], settings=settings, chunk=2)
    pd.testing.assert_frame_equal(scores, again)          # seeded


def test_lime_rows_equal_glime_fit_on_the_same_samples(study):
    """The study's LIME row is GLime('ridge') with no prior on Lime(seed)'s samples, image by image."""
    model, x, seg, ids, priors, settings = study
    scores, _ = E.explainer_scores(model, x, seg, ids, priors, samples=[30], settings=settings, chunk=3)
    from interprobust.data import batches
    xt = batches.to_tensor(x)
    res = E._lime(30, 0, settings).explain(model, xt, None, torch.from_numpy(seg))
    fit = G.GLime(method="ridge", lam2=1.0, lime=E._lime(30, 0, settings)).fit(res)   # standardised: the default
    r2, mse = E._fidelity(res, fit)
    lime = scores[(scores.estimator == "LIME") & (scores.n == 30) & (scores.repeat == 0) & (scores.lam2 == 1.0)]
    lime = lime.sort_values("image")
    np.testing.assert_allclose(lime.r2, r2, rtol=1e-5)
    np.testing.assert_allclose(lime.mse, mse, rtol=1e-5)


def test_stability_and_baselines(study):
    model, x, seg, ids, priors, settings = study
    stab, details = E.stability_scores(model, x, seg, ids, priors, samples=[20, 200], repeats=3, settings=settings)
    mean = stab.groupby(["estimator", "n"]).stability.mean()
    assert (mean >= 0).all() and (mean <= 2).all()              # unit vectors are at most 2 apart
    assert mean["LIME", 200] < mean["LIME", 20]                 # more samples, more stable
    assert details["top3/LIME"].shape == (3, 3)
    base = E.baseline_scores(model, x, seg, methods=["gradcam", "smoothgrad"], repeats=2,
                             settings={"explain_class": "predicted"})
    assert len(base) == 2 * 2 * 3 * 2 and base[["deletion", "insertion"]].stack().between(0, 1).all()
    assert set(base.protocol) == {"pixel", "superpixel"}


def test_tables_aggregate_hand_made_scores():
    rows = []
    for est, d in (("LIME", 0.3), ("G-LIME-N", 0.2)):
        for n in (100, 1000):
            for img in range(2):
                rows.append(dict(estimator=est, n=n, lam2=1.0, repeat=0, image=img, r2=0.5, mse=0.1,
                                 deletion=d + img * 0.1 + (0.05 if n == 100 else 0), insertion=0.6, abpc=0.6 - d))
    rows.append(dict(estimator="GP-N", n=0, lam2=0.0, repeat=0, image=0, r2=np.nan, mse=np.nan, deletion=0.4,
                     insertion=0.3, abpc=-0.1))
    scores = pd.DataFrame(rows)
    t2 = tables.glime_by_n(scores, "deletion", 1.0).set_index("estimator")
    assert t2.loc["LIME", "n=1000"] == pytest.approx(0.35) and t2.loc["LIME", "n=100"] == pytest.approx(0.40)
    assert t2.loc["GP-N", "prior only"] == pytest.approx(0.4) and list(t2.index) == ["LIME", "G-LIME-N", "GP-N"]
    t6 = tables.glime_fidelity(scores, 1000, 1.0)
    assert list(t6.estimator) == ["LIME", "G-LIME-N"] and t6.deletion.tolist() == pytest.approx([0.35, 0.25])
    base = pd.DataFrame([dict(estimator="gradcam", repeat=r, image=i, deletion=0.1 * (r + 1), insertion=0.5,
                              abpc=0.5 - 0.1 * (r + 1)) for r in range(2) for i in range(2)])
    t5 = tables.glime_methods(scores, base, 1000, 1.0).set_index("estimator")
    assert t5.loc["gradcam", "deletion"] == pytest.approx(0.15)
    assert t5.loc["gradcam", "deletion_std"] == pytest.approx(np.std([0.1, 0.2], ddof=1))


def test_image_sets_are_seeded_class_stratified_and_cover_every_class():
    from types import SimpleNamespace
    # class-sorted splits (as CUB is stored): 20 classes, 30 training and 15 test images each
    train_y, test_y = np.repeat(np.arange(20), 30), np.repeat(np.arange(20), 15)
    data = SimpleNamespace(train_x=np.zeros((600, 2, 2, 3), np.uint8), train_y=train_y,
                           test_x=np.zeros((300, 2, 2, 3), np.uint8), test_y=test_y, path="toy")
    sets = E.image_sets(data, 100, 60, seed=3, stability_images=20)
    for idx, y, n in ((sets["ref_idx"], train_y, 100), (sets["test_idx"], test_y, 60)):
        counts = np.bincount(y[idx], minlength=20)
        assert len(idx) == n and (counts >= n // 20).all() and (counts <= -(-n // 20)).all()   # in proportion
    stab = sets["test_idx"][sets["stab_pos"]]
    assert len(stab) == 20 and set(test_y[stab]) == set(range(20))          # one per class
    assert set(stab) <= set(sets["test_idx"])
    again = E.image_sets(data, 100, 60, seed=3, stability_images=20)
    assert all(np.array_equal(sets[k], again[k]) for k in sets)
    assert not np.array_equal(E.image_sets(data, 100, 60, seed=4)["test_idx"], sets["test_idx"])
    whole = E.image_sets(data, None, None, seed=0)
    assert len(whole["ref_idx"]) == 600 and len(whole["test_idx"]) == 300
    # "the first N" of a class-sorted split, what the study used to do, covers 4 classes only
    assert len(set(test_y[:60])) == 4


def test_explained_class_is_the_true_label_by_default_and_the_prediction_on_request(study):
    model, x, seg, ids, priors, settings = study
    from interprobust.data import batches
    xt = batches.to_tensor(x)
    with torch.no_grad():
        pred = model(xt).argmax(1)
    labels = (pred.numpy() + 1) % 3                                             # never the prediction
    assert torch.equal(E.explained_targets(model, xt, labels), torch.as_tensor(labels))
    assert torch.equal(E.explained_targets(model, xt, labels, "predicted"), pred)
    with pytest.raises(ValueError, match="needs the images' labels"):
        E.explained_targets(model, xt, None, "true")
    s = {**settings, "explain_class": "true", "ablation_samples": []}
    true, _ = E.explainer_scores(model, x, seg, ids, priors, samples=[30], settings=s, labels=labels)
    predicted, _ = E.explainer_scores(model, x, seg, ids, priors, samples=[30], settings=settings)
    lime = lambda df: df[(df.estimator == "LIME") & (df.lam2 == 1.0)].sort_values("image").deletion.to_numpy()
    assert not np.allclose(lime(true), lime(predicted))


def test_homogeneity_groups_by_predicted_or_true_labels(study):
    model, x, seg, ids, _, settings = study
    labels = np.array([0, 1, 1])
    common = dict(k=5, n_samples=20, priors=["Homogeneity"], labels=labels)
    pred = E.build_priors(model, x, seg, ids, settings={**settings, "homogeneity_labels": "predicted"}, **common)
    true = E.build_priors(model, x, seg, ids, settings={**settings, "homogeneity_labels": "true"}, **common)
    np.testing.assert_array_equal(true["classes"], labels)
    np.testing.assert_allclose(pred["B"], true["B"])                            # same explanations
    np.testing.assert_allclose(true["prior_Homogeneity"], G.global_prior(true["B"], "H", labels))


def test_table6_notes_report_the_pull_factor_per_n(tmp_path):
    rows = [dict(estimator=e, n=n, lam2=1.0, repeat=0, image=i, r2=0.5, mse=0.1, deletion=0.2, insertion=0.6,
                 abpc=0.4, pull=p) for e in ("LIME", "G-LIME-N") for n, p in ((100, 0.6), (1000, 0.7)) for i in (0, 1)]
    path = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = tables.priors_table({"scores": [str(path)]}, n=1000, lam2=1.0)
    assert "n = 100: 0.600" in t.markdown and "n = 1000: 0.700" in t.markdown and "unit norm" in t.markdown


def test_figures_show_both_halves_the_mse_panel_and_two_ablation_columns():
    from interprobust.papers.glime import figures
    ex = np.zeros((3, 2, 8, 8, 3), np.uint8)
    fig = figures.glime_clusters({"examples": ex, "test_examples": ex, "example_clusters": np.arange(3)})
    assert len(fig.axes) == 3 * 4
    rows = [dict(estimator=e, n=n, lam2=l, repeat=0, image=0, r2=0.5, mse=0.1, deletion=0.2, insertion=0.6)
            for e in ("LIME", "G-LIME-N", "G-LIME-N-Path") for n in (100, 1000) for l in (0.5, 1.0)]
    fig, mean = figures.glime_fidelity(pd.DataFrame(rows), 1.0)
    assert {"r2", "mse"} <= set(mean.columns) and len(fig.axes) == 2
    fig, mean = figures.glime_lam2(pd.DataFrame(rows), [100, 1000])
    assert len(fig.axes) == 4 and set(mean.estimator) == {"LIME", "G-LIME-N"} and set(mean.n) == {100, 1000}


def test_one_clustering_per_dataset_from_a_given_stem_and_fitting_set():
    torch.manual_seed(1)
    stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()).eval()
    seg = _segments()
    ref, test, fit = _images(seed=1), _images(seed=2), _images(seed=3)
    out = E.cluster_superpixels(None, ref, seg, test, seg, k=4, seed=0, stem=stem, fit_x=fit, fit_seg=seg)
    feats = lambda x: G.superpixel_features(stem, torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255,  # noqa: E731
                                           torch.from_numpy(seg))
    np.testing.assert_allclose(out["centres"], G.fit_clusters(feats(fit), k=4, seed=0))      # fitted on fit_x
    np.testing.assert_array_equal(out["ref_ids"], G.assign_clusters(feats(ref), out["centres"]))
    np.testing.assert_array_equal(out["test_ids"], G.assign_clusters(feats(test), out["centres"]))
    own = E.cluster_superpixels(None, ref, seg, test, seg, k=4, seed=0, stem=stem)          # no fit set: the reference
    np.testing.assert_array_equal(own["fit_ids"], own["ref_ids"])


def test_settings_on_one_dataset_share_its_clustering():
    from interprobust.config import DEFAULT_FILES, load, resolve
    from interprobust.plan import Plan
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    for extra, stem in (([], "pretrained"), (["config/embedded.yaml"], "main")):
        plan = Plan(resolve(load([str(root / f) for f in list(DEFAULT_FILES) + extra])))
        g = plan.glime
        main, nets = g.mains()[0], g.networks()
        same = [s for s in nets if s["dataset"] == main["dataset"]]
        assert same and {g.clusters(s["name"]) for s in same} == {g.clusters(main["name"])}
        assert g.s["cluster_stem"] == stem
        w = type("W", (), {"dataset": main["dataset"]})()
        inputs = g.cluster_inputs(w)
        assert ("model" in inputs) == (stem == "main")
        if stem == "main":
            assert inputs["model"] == g.model(main["name"])                                 # the main setting's stem


def test_fig8_samples_must_be_a_stability_run():
    from interprobust.config.check import ConfigError, glime_samples
    glime_samples({"stability_example_samples": 100, "stability_samples": [100, 200]})
    with pytest.raises(ConfigError, match="stability_example_samples: 50 is not one of glime.stability_samples"):
        glime_samples({"stability_example_samples": 50, "stability_samples": [100, 200]})


def test_the_priors_lime_uses_prior_alpha_not_lam2(study):
    """build_priors' LIME is vanilla LIME with Ridge(prior_alpha): lam2 (Eq. 7's pull) does not reach it."""
    model, x, seg, ids, _, settings = study
    common = dict(k=5, n_samples=40, priors=["NormLIME"])
    base = E.build_priors(model, x, seg, ids, settings={**settings, "prior_alpha": 1.0}, **common)
    other_lam2 = E.build_priors(model, x, seg, ids, settings={**settings, "prior_alpha": 1.0, "lam2": 5.0}, **common)
    stronger = E.build_priors(model, x, seg, ids, settings={**settings, "prior_alpha": 20.0}, **common)
    np.testing.assert_allclose(other_lam2["B"], base["B"])
    assert not np.allclose(stronger["B"], base["B"])
    # image 0's row is the Ridge(alpha = prior_alpha) fit of its LIME samples, mapped to the clusters
    lime = E._lime(40, 0, settings)
    res = lime.explain(model, torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255, None, torch.from_numpy(seg),
                       index=np.arange(len(x)))
    coef = G.GLime("ridge", lam2=20.0, lime=lime).fit(res).coef.double().numpy()
    own = E.per_image(ids, seg)
    np.testing.assert_allclose(stronger["B"][0], G.to_cluster_space(coef[0, :len(own[0])], own[0], 5), rtol=1e-5,
                               atol=1e-8)


def test_table5_baseline_settings_reach_ig_and_smoothgrad(study):
    model, x, seg, *_ = study
    run = lambda method, **kw: E.baseline_scores(  # noqa: E731
        model, x, seg, methods=[method], repeats=1, settings={"explain_class": "predicted", **kw}
    ).query("protocol == 'superpixel'").deletion.to_numpy()
    np.testing.assert_allclose(run("integrated_gradients"), run("integrated_gradients", ig_steps=50))
    assert not np.allclose(run("integrated_gradients", ig_steps=2), run("integrated_gradients", ig_steps=50))
    np.testing.assert_allclose(run("smoothgrad"), run("smoothgrad", smoothgrad_samples=50, smoothgrad_sigma=0.1))
    assert not np.allclose(run("smoothgrad", smoothgrad_sigma=0.1), run("smoothgrad", smoothgrad_sigma=2.0))


def test_tables_6_to_8_name_the_clustering_source(tmp_path):
    from interprobust.io import write_arrays
    rows = [dict(estimator=e, n=1000, lam2=1.0, repeat=0, image=i, r2=0.5, mse=0.1, deletion=0.2, insertion=0.6,
                 abpc=0.4, pull=0.6) for e in ("LIME", "G-LIME-N", "G-LIME-AVG") for i in (0, 1)]
    scores = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(scores, index=False)
    sources = {"cars": ("the pretrained ResNet-101 stem", "1000 class-stratified ImageNet validation images"),
               "flowers": ("the first stage of the model", "a class-balanced training subset of the dataset")}
    for name, (stem, ref) in sources.items():
        write_arrays(tmp_path / f"{name}.npz", {"centres": np.zeros((2, 2)), "stem": np.array(stem),
                                                "cluster_reference": np.array(ref)})
    cars, flowers = str(tmp_path / "cars.npz"), str(tmp_path / "flowers.npz")
    t6 = tables.priors_table({"scores": [str(scores)], "clusters": [cars]}, n=1000, lam2=1.0)
    t7 = tables.networks_table({"scores": [str(scores)] * 2, "clusters": [cars]}, labels=["resnet101", "AlexNet"],
                               n=1000, lam2=1.0)
    note = ("Superpixel clusters: K-Means on features of the pretrained ResNet-101 stem over the superpixels of "
            "1000 class-stratified ImageNet validation images; one clustering per dataset, shared by its networks.")
    assert note in t6.markdown and note in t7.markdown
    t8 = tables.datasets_table({"scores": [str(scores)] * 2, "clusters": [cars, flowers]}, labels=["Cars", "Flowers"],
                               n=1000, lam2=1.0)
    assert "Cars: K-Means on features of the pretrained ResNet-101 stem over the superpixels of 1000 class" in t8.markdown
    assert ("Flowers: K-Means on features of the first stage of the model over the superpixels of a class-balanced "
            "training subset") in t8.markdown
    assert set(t7.table.model) == {"resnet101", "AlexNet"} and set(t8.table.dataset) == {"Cars", "Flowers"}


def test_every_glime_setting_the_code_reads_is_a_schema_key():
    """No hidden constants: a key read from the glime settings is one a user can set (the schema rejects
    unknown keys), or one the DAG adds itself, or a field of a setting entry."""
    import re
    from pathlib import Path
    import yaml
    root = Path(E.__file__).parent
    read = set()
    for f in root.glob("*.py"):
        read |= set(re.findall(r'\bs(?:ettings)?(?:\.get\(|\[)"([a-z0-9_]+)"', f.read_text()))
    schema = yaml.safe_load((root.parents[2] / "schemas" / "config.schema.yaml").read_text())
    keys = set(schema["properties"]["glime"]["properties"])
    added = {"run_samples", "ablation_samples", "detail_samples", "imagenet_dir"}     # dag.GlimePlan.settings / CLI
    fields = {"name", "stands_for", "dataset", "arch"}                                  # a setting entry's own
    assert {"prior_alpha", "ig_steps", "smoothgrad_samples", "smoothgrad_sigma"} <= read
    assert read - keys - added - fields == set()
