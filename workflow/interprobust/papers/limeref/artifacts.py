"""LIMEREF's figures (Fig. 2-15) and tables (the honesty check, the planted-feature check)."""

from __future__ import annotations

from ...registry import FIGURE_FORMATS, TABLE_FORMATS, Artifact

PAIR = ["baseline", "refined"]


def _roles(*roles):
    return lambda plan: plan.limeref.role_datasets(roles)


def _corrupted(plan):
    return plan.limeref.corrupted_instances()


def _title(num):
    return lambda w: f"Fig. {num}: {w['dataset']}"


def _curves(num, role, metric, caption):
    return Artifact("limeref", f"fig{num}", f"{metric.replace('_', ' ')} per epoch, baseline vs refined ({role})",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:metric_curves_figure",
                    lambda plan, w: {"histories": plan.limeref.pair(w["dataset"], "history.csv", "models")},
                    _roles(role), lambda plan, w: {"labels": PAIR, "metric": metric, "title": _title(num)(w)},
                    caption=caption, category="LIMEREF", extra={"role": role, "metric": metric})


def _sweep(num, role, attack):
    return Artifact("limeref", f"fig{num}", f"accuracy under {attack.upper()} against eps ({role})",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS, "papers.limeref.figures:eps_sweep_figure",
                    lambda plan, w: {"evals": plan.limeref.pair(w["dataset"], "robustness.csv")},
                    _roles(role), lambda plan, w: {"labels": PAIR, "attack": attack, "title": _title(num)(w)},
                    caption="limeref.rst", category="LIMEREF", extra={"role": role, "attack": attack})


def _epochs(num, which):
    return Artifact("limeref", f"fig{num}", f"accuracy per corruption over epochs, {which} model (CIFAR-10-C)",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:corruption_epochs_figure",
                    lambda plan, w: {"history": [plan.limeref.pair(w["dataset"], "history.csv", "models")[PAIR.index(which)]]},
                    _corrupted, lambda plan, w: {"title": f"{_title(num)(w)}, {which}"},
                    caption="limeref.rst", category="LIMEREF")


def _corruption_attack(num, attack, eps):
    return Artifact("limeref", f"fig{num}", f"accuracy per corruption under {attack.upper()} at eps = {eps}",
                    f"results/limeref/fig{num}_{{dataset}}", FIGURE_FORMATS,
                    "papers.limeref.figures:corruption_attack_figure",
                    lambda plan, w: {"evals": plan.limeref.pair(w["dataset"], "corruptions_adversarial.csv")},
                    _corrupted, lambda plan, w: {"labels": PAIR, "attack": attack, "eps": eps,
                                                 "title": f"{_title(num)(w)}, {attack} eps={eps}"},
                    caption="limeref.rst", category="LIMEREF", extra={"role": "corrupted", "attack": attack, "eps": eps})


def _honesty_instances(plan):
    return [{"dataset": d} for d in sorted({i["dataset"] for i in plan.limeref.role_datasets()})]


def _planted(plan):
    return [{}] if plan.limeref and plan.limeref.s.get("planted") else []


ARTIFACTS = [
    _curves("02", "cifar10", "test_acc", "limeref.rst"),
    _curves("03", "cifar10", "test_loss", "limeref.rst"),
    _sweep("04", "cifar10", "fgsm"),
    _sweep("05", "cifar10", "pgd"),
    _curves("06", "cifar100", "test_acc", "limeref.rst"),
    _curves("07", "cifar100", "test_loss", "limeref.rst"),
    _sweep("08", "cifar100", "fgsm"),
    _sweep("09", "cifar100", "pgd"),
    _epochs("10", "baseline"),
    _epochs("11", "refined"),
    _corruption_attack("12", "fgsm", 0.1),
    _corruption_attack("13", "fgsm", 0.3),
    _corruption_attack("14", "pgd", 0.01),
    _corruption_attack("15", "pgd", 0.03),
    Artifact("limeref", "honesty", "baseline vs refined under the sweep's and stronger attacks",
             "results/limeref/honesty_{dataset}", (*TABLE_FORMATS, "tidy"), "papers.limeref.tables:honesty_table",
             lambda plan, w: {"baseline": plan.limeref.pair(w["dataset"], "robustness.csv")[:1]
                              + plan.limeref.pair(w["dataset"], "robustness_strong.csv")[:1],
                              "refined": plan.limeref.pair(w["dataset"], "robustness.csv")[1:]
                              + plan.limeref.pair(w["dataset"], "robustness_strong.csv")[1:]},
             _honesty_instances, lambda plan, w: {"labels": ["baseline", "baseline", "refined", "refined"]},
             caption="limeref_honesty.rst", category="LIMEREF"),
    Artifact("limeref", "planted_check", "detection vs planted patches; accuracy with and without them",
             "results/limeref/planted_check", TABLE_FORMATS, "papers.limeref.tables:planted_check_table",
             lambda plan, w: plan.limeref.planted_inputs(), _planted, lambda plan, w: {"labels": PAIR},
             caption="limeref_planted.rst", category="LIMEREF", stage="evaluate"),
]
