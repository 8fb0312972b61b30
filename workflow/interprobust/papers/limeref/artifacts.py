"""LIMEREF's figures (Fig. 2-15), its tables (the honesty check, F_spurious per round, the planted-feature
check) and the figure of F_spurious per class. Every comparison shows the models the configuration
compares (``LimerefPlan.compared``): baseline, [equal-budget baseline], [FGSM-only control], refined."""

from __future__ import annotations

from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact

PAIR = ["baseline", "refined"]


def _roles(*roles):
    return lambda plan: plan.limeref.role_datasets(roles)


def _corrupted(plan):
    return plan.limeref.corrupted_instances()


def _title(num):
    return lambda w: f"Fig. {num}: {w['dataset']}"


def _curves(num, role, metric, caption, metrics=None):
    shown = metrics or [metric]
    what = " and ".join(m.replace("_", " ") for m in shown)
    return Artifact("limeref", f"fig{num}", f"{what} per epoch, baseline vs refined and controls ({role})",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:metric_curves_figure",
                    lambda plan, w: {"histories": plan.limeref.histories(w["dataset"])["files"]},
                    _roles(role), lambda plan, w: {"labels": plan.limeref.labels(), "metrics": shown,
                                                   "lengths": plan.limeref.histories(w["dataset"])["lengths"],
                                                   "cumulative": plan.limeref.fine_tunes(), "title": _title(num)(w)},
                    caption=caption, category="LIMEREF", extra={"role": role, "metric": metric})


def _sweep(num, role, attack):
    return Artifact("limeref", f"fig{num}", f"accuracy under {attack.upper()} against eps ({role})",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS, "papers.limeref.figures:eps_sweep_figure",
                    lambda plan, w: {"evals": plan.limeref.pair(w["dataset"], "robustness.csv")},
                    _roles(role), lambda plan, w: {"labels": plan.limeref.labels(), "attack": attack,
                                                   "title": _title(num)(w)},
                    caption="limeref.rst", category="LIMEREF", extra={"role": role, "attack": attack})


LAST_STAGE = "last training stage only (fine_tune)"


def epochs_title(num, which, dataset, fine_tune: bool) -> str:
    """Fig. 10/11's title. The curve is the model's own training history (the round training rule does
    not track corruptions), so with ``fine_tune`` the refined model's curve starts from a trained model
    (the baseline plus every round): the title says it shows the last training stage only. From scratch
    (paper scale) the history is the whole run; the baseline's always is."""
    title = f"Fig. {num}: {dataset}, {which}"
    return title + (f", {LAST_STAGE}" if fine_tune and which != "baseline" else "")


def _epochs(num, which):
    return Artifact("limeref", f"fig{num}", f"accuracy per corruption over epochs, {which} model (CIFAR-10-C)",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:corruption_epochs_figure",
                    lambda plan, w: {"history": plan.limeref.pair(w["dataset"], "history.csv", "models", [which])},
                    _corrupted, lambda plan, w: {"title": epochs_title(num, which, w["dataset"],
                                                                       plan.limeref.fine_tunes())},
                    caption="limeref_corrupted_epochs.rst", category="LIMEREF",
                    extra={"role": "corrupted", "which": which})


def _corruption_attack(num, attack, eps):
    return Artifact("limeref", f"fig{num}", f"accuracy per corruption under {attack.upper()} at eps = {eps}",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:corruption_attack_figure",
                    lambda plan, w: {"evals": plan.limeref.pair(w["dataset"], "corruptions_adversarial.csv")},
                    _corrupted, lambda plan, w: {"labels": plan.limeref.labels(), "attack": attack, "eps": eps,
                                                 "title": f"{_title(num)(w)}, {attack} eps={eps}"},
                    caption="limeref.rst", category="LIMEREF", extra={"role": "corrupted", "attack": attack, "eps": eps})


def _honesty_instances(plan):
    return [{"dataset": d} for d in sorted({i["dataset"] for i in plan.limeref.role_datasets()})]


def _round_instances(plan):
    return [{"dataset": d} for d in plan.limeref.datasets()]


def _planted(plan):
    return [{}] if plan.limeref and plan.limeref.s.get("planted") else []


def _honesty_inputs(plan, w):
    d = w["dataset"]
    return {"evals": plan.limeref.pair(d, "robustness.csv"), "strong": plan.limeref.pair(d, "robustness_strong.csv"),
            "spurious": plan.limeref.spurious_files(d)[-1:]}


ARTIFACTS = [
    _curves("02", "cifar10", "test_acc", "limeref.rst"),
    _curves("03", "cifar10", "test_loss", "limeref.rst", ["train_loss", "test_loss"]),
    _sweep("04", "cifar10", "fgsm"),
    _sweep("05", "cifar10", "pgd"),
    _curves("06", "cifar100", "test_acc", "limeref.rst"),
    _curves("07", "cifar100", "test_loss", "limeref.rst", ["train_loss", "test_loss"]),
    _sweep("08", "cifar100", "fgsm"),
    _sweep("09", "cifar100", "pgd"),
    _epochs("10", "baseline"),
    _epochs("11", "refined"),
    _corruption_attack("12", "fgsm", 0.1),
    _corruption_attack("13", "fgsm", 0.3),
    _corruption_attack("14", "pgd", 0.01),
    _corruption_attack("15", "pgd", 0.03),
    Artifact("limeref", "honesty", "baseline, controls and refined model under PGD-40 and the strong set "
             "(APGD-CE/DLR, Square, per-sample worst case)",
             "results/limeref/honesty_{dataset}", (*TABLE_FORMATS, "tidy"), "papers.limeref.tables:honesty_table",
             _honesty_inputs, _honesty_instances,
             lambda plan, w: {"labels": plan.limeref.labels(), "schedule": plan.limeref.s.get("schedule", "from_scratch")},
             caption="limeref_honesty.rst", category="LIMEREF", extra={"table": "honesty"}),
    Artifact("limeref", "corrupted_honesty", "per corruption: PGD-40 vs the strong set and its worst case "
             "(the honesty check of Fig. 12-15; an eps it did not run at reads \"strong set not run\")",
             "results/limeref/corrupted_honesty_{dataset}", (*TABLE_FORMATS, "tidy"),
             "papers.limeref.tables:corrupted_honesty_table",
             lambda plan, w: {"evals": plan.limeref.pair(w["dataset"], "corruptions_adversarial.csv"),
                              "strong": plan.limeref.pair(w["dataset"], "corruptions_adversarial_strong.csv")},
             lambda plan: _corrupted(plan) if plan.limeref.s.get("corrupted_strong_eps") else [],
             lambda plan, w: {"labels": plan.limeref.labels()},
             caption="limeref_honesty.rst", category="LIMEREF", extra={"table": "corrupted_honesty"}),
    Artifact("limeref", "spurious", "F_spurious per refinement round: |F| global and per class, and whether it is empty",
             "results/limeref/spurious_{dataset}", (*TABLE_FORMATS, "tidy"), "papers.limeref.tables:spurious_table",
             lambda plan, w: {"spurious": plan.limeref.spurious_files(w["dataset"])}, _round_instances,
             caption="limeref.rst", category="LIMEREF", extra={"table": "spurious"}),
    Artifact("limeref", "masks", "F_spurious per class and round (grid cells flagged)",
             "results/limeref/masks_{dataset}", FIGURE_FORMATS, "papers.limeref.figures:masks_figure",
             lambda plan, w: {"spurious": plan.limeref.spurious_files(w["dataset"])}, _round_instances,
             lambda plan, w: {"title": f"F_spurious per class: {w['dataset']}"},
             caption="limeref.rst", category="LIMEREF"),
    Artifact("limeref", "planted_check", "detection vs planted patches; accuracy with and without them",
             "results/limeref/planted_check", TABLE_FORMATS, "papers.limeref.tables:planted_check_table",
             lambda plan, w: plan.limeref.planted_inputs(), _planted, lambda plan, w: {"labels": PAIR},
             caption="limeref_planted.rst", category="LIMEREF", stage="evaluate"),
]
