"""The artifact registry and the plan: every table and figure declared once, found again by its file."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from interprobust import registry
from interprobust.config import DEFAULT_FILES, load, resolve
from interprobust.plan import Plan

ROOT = Path(__file__).resolve().parents[1]


def plan(*overlays, **override):
    cfg = resolve(load([str(ROOT / f) for f in DEFAULT_FILES] + [str(ROOT / o) for o in overlays]))
    cfg.update(override)
    return Plan(cfg)


@pytest.fixture(scope="module", params=["paper", "embedded"])
def any_plan(request):
    return plan() if request.param == "paper" else plan("config/embedded.yaml")


def test_every_artifact_has_a_unique_rule_files_and_an_importable_render_function():
    arts = registry.artifacts()
    assert len({a.rule for a in arts}) == len(arts)
    patterns = [p for a in arts for p in a.patterns().values()]
    assert len(set(patterns)) == len(patterns), "two artifacts write the same file"
    for a in arts:
        assert callable(a.function()), a.key
        assert (ROOT / "workflow/report" / a.caption).exists(), f"{a.key}: caption {a.caption} missing"
        assert a.where().startswith(f"papers/{a.paper}/") and a.where().endswith(a.render.split(":")[1])


def test_every_target_is_found_again_by_where(any_plan):
    """`interprobust where <file>` names the artifact that declared the file, for every file built."""
    for a in registry.enabled(any_plan):
        for inst in a.instances(any_plan):
            for path in a.files(inst).values():
                found, wildcards = registry.where(path)
                assert found.key == a.key and all(str(inst[k]) == v for k, v in wildcards.items()), path


def test_where_names_the_rule_and_the_function_of_limeref_fig04():
    out = subprocess.run([sys.executable, "-m", "interprobust", "where", "results/limeref/fig04_cifar10.pdf"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "limeref_fig04" in out and "papers/limeref/figures.py:eps_sweep_figure" in out
    with pytest.raises(KeyError, match="no table or figure writes"):
        registry.where("results/limeref/fig99_cifar10.pdf")


def test_every_paper_has_at_least_one_table_and_the_identity_lives_only_in_the_registry():
    kinds = {(a.paper, a.kind) for a in registry.artifacts()}
    for paper in ("limeref", "glime", "aga", "sep", "matrix", "overview"):
        assert (paper, "table") in kinds and (paper, "figure") in kinds, paper
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    for a in registry.artifacts():   # no rule file writes a table's or figure's path by hand
        assert a.stem.split("{")[0] + "{" not in rules and f"rule {a.rule}:" not in rules, a.key


def test_papers_empty_builds_only_the_overview():
    p = plan("config/embedded.yaml", papers=[])
    targets = p.final_targets(p.cost.outputs())
    assert targets and all(t.startswith("results/overview/") for t in targets)
    assert {a.paper for a in registry.enabled(p)} == {"overview"}


def test_the_plan_reads_the_configuration_and_never_changes_it(any_plan):
    before = copy.deepcopy(any_plan.config)
    any_plan.final_targets(any_plan.cost.outputs())
    any_plan.report_manifest
    for m in any_plan.models:
        any_plan.training_settings(m["dataset"], m["recipe"])
    assert any_plan.config == before


def test_a_refined_model_trains_on_the_last_rounds_spurious_features():
    p = plan("config/embedded.yaml")
    w = {"dataset": "digits_rgb32", "arch": "resnet18", "recipe": "limeref", "seed": 0}
    inputs = p.train_inputs(w)
    last = p.config["limeref"]["rounds"] - 1
    assert inputs["spurious"] == f"results/limeref/rounds/digits_rgb32/resnet18/seed0/round{last}/spurious.json"
    assert '"spurious":"results/limeref/rounds/' in p.train_settings(w)


def test_config_show_prints_every_resolved_recipe():
    out = subprocess.run([sys.executable, "-m", "interprobust", "config", "show", "--configfile",
                          "config/embedded.yaml"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for name in resolve(load([str(ROOT / f) for f in DEFAULT_FILES] + [str(ROOT / "config/embedded.yaml")]))["recipes"]:
        assert name in out


def test_no_rule_generated_in_a_loop_names_a_loop_variable_in_its_shell_command():
    """Snakemake evaluates `shell:` when a job runs, after the loop has ended: a loop variable there
    would make every generated rule run the last one's command (what varies goes through `params`)."""
    import re
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.findall(r"\n(\s+)shell:\n((?:\1\s+.*\n?)+)", text):
            assert not re.search(r"{_[a-z]", block[1]), f"{smk.name}: a loop variable in shell: {block[1]}"


def test_a_sep_figure_that_restates_another_kind_or_table_fails_naming_the_registry():
    p = plan("config/embedded.yaml")
    p.config["sep"]["figures"]["fig3"] = {"kind": "saliency", "table": "table1"}
    with pytest.raises(ValueError, match=r"sep.figures.fig3.kind is 'saliency', but SEP's fig3 is the landscape"):
        p.check()


def test_a_limeref_loss_model_without_limeref_fails_with_the_fix():
    p = plan("config/embedded.yaml", papers=["aga"])
    p.config["models"] = p.config["models"] + [{"dataset": "digits_rgb32", "arch": "resnet18", "recipe": "limeref",
                                                "seed": 0}]
    with pytest.raises(ValueError, match="limeref loss.*add limeref to `papers`"):
        p.check()
