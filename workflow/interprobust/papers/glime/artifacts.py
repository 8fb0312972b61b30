"""G-LIME's tables (Tables 2-7) and figures (Fig. 3-9), per main setting."""

from __future__ import annotations

from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact

FIG = FIGURE_FORMATS[:2]      # pdf, png


def _mains(plan):
    return plan.glime.main_instances()


def _with_networks(plan):
    return plan.glime.main_instances() if plan.glime.networks() else []


def _with_datasets(plan):
    return plan.glime.main_instances() if plan.glime.datasets() else []


def _datasets(plan, w):
    return {"scores": [plan.glime.file(x["name"], "scores.csv") for x in plan.glime.datasets()],
            "clusters": [plan.glime.clusters(x["name"]) for x in plan.glime.datasets()]}


def _dataset_labels(plan, w):
    return {"labels": [x.get("stands_for", x["name"]) for x in plan.glime.datasets()], **_n6(plan, w), **_lam2(plan, w)}


def _files(**names):
    """Named inputs from the setting's own folder, e.g. scores="scores.csv"."""
    return lambda plan, w: {k: [plan.glime.file(w["name"], f)] for k, f in names.items()}


def _lam2(plan, w):
    return {"lam2": plan.glime.s.get("lam2", 1.0)}


def _n6(plan, w):
    return {"n": plan.glime.s["table6_samples"]}


def _table(num, what, render, inputs, options=_lam2, instances=_mains):
    return Artifact("glime", f"table{num}", what, f"results/glime/table{num}_{{name}}", TABLE_FORMATS,
                    f"papers.glime.tables:{render}", inputs, instances, options,
                    caption="glime_table.rst", category="G-LIME")


def _figure(num, what, render, inputs, options=lambda plan, w: {}):
    return Artifact("glime", f"fig{num}", what, f"results/glime/fig{num}_{{name}}", FIG,
                    f"papers.glime.figures:{render}", inputs, _mains, options,
                    caption="glime_figure.rst", category="G-LIME")


def _networks(plan, w):
    return {"scores": [plan.glime.file(n, "scores.csv") for n in [w["name"]] + [x["name"] for x in plan.glime.networks()]],
            "clusters": [plan.glime.clusters(w["name"])]}       # the networks share the main network's clustering


def _network_labels(plan, w):
    s, _ = plan.glime.setting(w["name"])
    return {"labels": [s["arch"]] + [x["name"] for x in plan.glime.networks()], **_n6(plan, w), **_lam2(plan, w)}


ARTIFACTS = [
    _table("2", "deletion AUC per estimator and number of samples", "deletion_table", _files(scores="scores.csv")),
    _table("3", "insertion AUC per estimator and number of samples", "insertion_table", _files(scores="scores.csv")),
    _table("4", "stability per number of samples", "stability_table", _files(stability="stability.csv"),
           lambda plan, w: {}),
    _table("5", "G-LIME against gradient attributions: deletion, insertion, ABPC", "methods_table",
           _files(scores="scores.csv", baselines="baselines.csv"),
           lambda plan, w: {"n": max(plan.glime.s["samples"]), **_lam2(plan, w)}),
    _table("6", "local fidelity and AUCs per prior", "priors_table",
           lambda plan, w: {"scores": [plan.glime.file(w["name"], "scores.csv")], "clusters": [plan.glime.clusters(w["name"])]},
           lambda plan, w: {**_n6(plan, w), **_lam2(plan, w), "standardize": plan.glime.s.get("standardize", True)}),
    _table("7", "local fidelity and AUCs per network", "networks_table", _networks, _network_labels, _with_networks),
    _table("8", "local fidelity and AUCs on other image datasets", "datasets_table", _datasets, _dataset_labels,
           _with_datasets),
    _figure("3", "sample superpixels of the largest clusters", "clusters_figure",
            lambda plan, w: {"clusters": [plan.glime.clusters(w["name"])]}),
    _figure("4", "solution paths of one image", "paths_figure", _files(details="details.npz")),
    _figure("5", "local fidelity against the number of samples", "fidelity_figure", _files(scores="scores.csv"),
            _lam2),
    _figure("6", "deletion curves of one image", "deletion_figure", _files(details="details.npz")),
    _figure("7", "insertion curves of one image", "insertion_figure", _files(details="details.npz")),
    _figure("8", "top-3 superpixels over repeated explanations", "stability_figure",
            _files(stability="stability.npz")),
    _figure("9", "deletion and insertion against l2", "lam2_figure", _files(scores="scores.csv"),
            lambda plan, w: {"ns": plan.glime.s.get("lam2_ablation_samples") or [plan.glime.s["table6_samples"]]}),
]
