"""The shared part of the DAG as pure functions of the resolved configuration.

:class:`Plan` answers, for the Snakemake rules, the questions every paper shares: which models are
trained and evaluated, where a model's files live, what one training job's settings are, which
datasets are prepared and how. Each paper's own questions are answered by ``papers/<paper>/dag.py``
(reached as ``plan.limeref``, ``plan.glime``, ...). Nothing here prints, mutates the configuration,
imports torch or knows Snakemake; wildcards are passed as plain dicts or objects with attributes.
"""

from __future__ import annotations

import shlex
from functools import cached_property
from pathlib import Path

from .data.registry import DATASETS
from .layout import _get, as_json, prepared, quoted, quoted_json, unique_models

ALL_PAPERS = ["limeref", "glime", "aga", "sep"]


def job_id(rule: str, wildcards) -> str:
    """What names one job for its resources: its rule and its wildcards (a mapping or Snakemake's)."""
    items = wildcards.items() if hasattr(wildcards, "items") else dict(wildcards).items()
    return rule + "|" + ",".join(f"{k}={v}" for k, v in sorted((str(k), str(v)) for k, v in items))


class Plan:
    """The resolved configuration and the questions the rules ask of it."""

    def __init__(self, config: dict, configfiles: list[str] | None = None):
        self.config = config
        self.configfiles = list(configfiles or [])
        self.papers = list(config.get("papers", ALL_PAPERS))
        from .papers.aga.dag import AgaPlan
        from .papers.glime.dag import GlimePlan
        from .papers.limeref.dag import LimerefPlan
        from .papers.matrix.dag import MatrixPlan
        from .papers.sep.dag import SepPlan
        self.limeref = LimerefPlan(self, config.get("limeref", {}) if "limeref" in self.papers else {})
        self.glime = GlimePlan(self, config.get("glime", {}) if "glime" in self.papers else {})
        self.aga = AgaPlan(self, config.get("aga", {}) if "aga" in self.papers else {})
        self.sep = SepPlan(self, config.get("sep", {}) if "sep" in self.papers else {})
        self.matrix = MatrixPlan(self, config.get("matrix", {}))

    # ---------------------------------------------------------------------------------- what runs
    def builds(self, paper: str) -> bool:
        """Whether ``paper``'s artifacts are built: the overview always; the matrix with any paper."""
        if paper == "overview":
            return True
        if paper == "matrix":
            return bool(self.papers) and self.matrix.enabled
        return paper in self.papers

    @cached_property
    def models(self) -> list[dict]:
        """The overview's models: the config's ``models`` plus LIMEREF's baseline and refined models."""
        return unique_models(list(self.config["models"]) + self.limeref.models())

    def models_on(self, dataset: str) -> list[dict]:
        return [m for m in self.models if m["dataset"] == dataset]

    def trained_datasets(self) -> list[str]:
        return sorted({m["dataset"] for m in self.models})

    @cached_property
    def _overview_keys(self) -> frozenset:
        return frozenset(tuple(str(m[k]) for k in ("dataset", "arch", "recipe", "seed")) for m in self.models)

    def is_overview_model(self, w) -> bool:
        return tuple(str(_get(w, k)) for k in ("dataset", "arch", "recipe", "seed")) in self._overview_keys

    def corrupted_of(self, dataset: str) -> str | None:
        return self.config["evaluate"]["corrupted_test_sets"].get(dataset)

    def tracked_corruptions(self, dataset: str) -> str | None:
        return self.corrupted_of(dataset) if self.config["evaluate"]["track_corruptions"]["enabled"] else None

    # ----------------------------------------------------------------------------------- training
    def recipe(self, name: str) -> dict:
        try:
            return self.config["recipes"][name]
        except KeyError:
            raise KeyError(f"no recipe {name!r}; recipes: {', '.join(sorted(self.config['recipes']))}") from None

    def training_settings(self, dataset: str, recipe: str, spurious: str | None = None) -> dict:
        """One model's resolved settings: defaults < per-dataset < recipe."""
        from .config import effective
        self.recipe(recipe)
        settings = effective(self.config, recipe, dataset)
        if spurious:
            settings["loss_params"]["spurious"] = spurious
        return settings

    def uses_spurious(self, recipe: str) -> bool:
        return self.recipe(recipe)["loss"] == "limeref"

    def train_inputs(self, w) -> dict[str, str]:
        d, recipe = _get(w, "dataset"), _get(w, "recipe")
        inputs = {"data": prepared(d)}
        if self.tracked_corruptions(d) and self.is_overview_model(w):
            inputs["tracked"] = prepared(self.tracked_corruptions(d))
        # LIMEREF's models: the refined model's F_spurious, a fine-tuned model's start
        inputs.update(self.limeref.train_inputs(d, _get(w, "arch"), recipe, _get(w, "seed")))
        return inputs

    def train_settings(self, w) -> str:
        """The train job's --settings, from wildcards and config only (so Snakemake reruns on change)."""
        d, recipe = _get(w, "dataset"), _get(w, "recipe")
        spurious = self.train_inputs(w).get("spurious")
        settings = self.training_settings(d, recipe, spurious)
        return quoted_json(self.limeref.adjust_settings(d, _get(w, "arch"), recipe, _get(w, "seed"), settings))

    def train_extra_args(self, w) -> str:
        inputs = self.train_inputs(w)
        args = f" --init-from {inputs['init']}" if "init" in inputs else ""
        if "tracked" in inputs:
            args += f" --track-corruptions {Path(inputs['tracked']).parent}"
            n = self.config["evaluate"]["track_corruptions"].get("max_samples")
            args += f" --track-samples {n}" if n else ""
        return args

    # --------------------------------------------------------------------------------- evaluation
    def evaluation_settings(self, attacks: str = "attacks") -> str:
        e = self.config["evaluate"]
        strong = attacks == "strong_attacks"
        eps = (e.get("strong_eps") or e["eps"]) if strong else e["eps"]
        n = (e.get("strong_max_samples") or e["max_samples"]) if strong else e["max_samples"]
        settings = {"eps": eps, "attacks": e[attacks], "batch_size": e["batch_size"], "max_samples": n}
        if strong:  # the strong set's per-sample worst case, and PGD-40 on its images (the honesty check)
            settings["worst_case"] = True
            if "pgd" in e["attacks"]:
                settings["reference"] = {"pgd": e["attacks"]["pgd"]}
        return quoted_json(settings)

    def corrupted_attack_settings(self) -> str:
        e = self.config["evaluate"]
        return quoted_json({"attack_eps": e["corrupted_attacks"], "attacks": e["attacks"],
                            "batch_size": e["batch_size"], "max_samples": e.get("corrupted_max_samples"),
                            "severities": e.get("corrupted_severities")})

    # --------------------------------------------------------------------------------------- data
    def prepare_inputs(self, w) -> dict[str, str]:
        spec = DATASETS[_get(w, "dataset")]
        inputs = {}
        if spec.needs_download:
            inputs["raw"] = f"{self.config['paths']['downloads']}/{spec.name}/verified.json"
        if spec.source:
            inputs["source"] = prepared(spec.source)
        return inputs

    def prepare_args(self, w) -> str:
        inputs = self.prepare_inputs(w)
        args = [f"--raw {Path(inputs['raw']).parent}"] if "raw" in inputs else []
        args += [f"--source {Path(inputs['source']).parent}"] if "source" in inputs else []
        return " ".join(args)

    def prepare_options(self, w) -> str:
        spec = DATASETS[_get(w, "dataset")]
        data = self.config["data"]
        if spec.kind == "embedded":   # a set's own section (data.mnist5k) over the shared data.embedded
            return quoted_json({**data.get("embedded", {}), **data.get(spec.name, {})})
        if spec.name == "imagenet100":
            return quoted_json({"imagenet_dir": data.get("imagenet_dir"), **data.get("imagenet100", {})})
        return quoted_json(data.get(spec.name, {}))

    # ---------------------------------------------------------------------------------- resources
    def res(self, stage: str, key: str, default=0):
        return self.config["resources"].get(stage, {}).get(key, default)

    @cached_property
    def job_resources(self) -> dict[str, dict[str, int]]:
        """The FLOP model's per-job requests (``cost.job_resources``, made by rule cost_resources), when
        that file exists: {job_id: {runtime, mem_mb, gpu_mem_mb}}."""
        import json
        path = self.config.get("cost", {}).get("job_resources")
        if not path or not Path(path).exists():
            return {}
        return json.loads(Path(path).read_text()).get("jobs", {})

    def job_res(self, stage: str, key: str, default, rule: str, wildcards, attempt: int = 1):
        """One job's ``key`` (runtime minutes, mem_mb): the FLOP model's value for this very job when
        there is one, else the stage's; a retried job (attempt 2, ...) asks for that many times more."""
        value = self.job_resources.get(job_id(rule, wildcards), {}).get(key)
        value = self.res(stage, key, default) if value is None else value
        return int(value) * max(1, int(attempt))

    # ------------------------------------------------------------------------------------ targets
    @cached_property
    def artifact_files(self) -> tuple[str, ...]:
        """Every file of every enabled artifact instance (asked by several rules: computed once)."""
        from . import registry
        return tuple(registry.targets(self))

    def final_targets(self, cost: list[str]) -> list[str]:
        """Every file the default target builds: the registry's artifacts, then the scorecard, claims
        and cost estimate when a paper is built (``papers: []`` builds only the overview)."""
        out = list(self.artifact_files)
        if self.papers:
            out += [f"results/{what}.{ext}" for what in ("scorecard", "claims") for ext in ("csv", "md")]
            out += cost
        return out

    @cached_property
    def report_manifest(self) -> str:
        """The scorecard's and the claims' --manifest: every artifact instance and its files."""
        from . import registry
        return quoted_json({"scale": self.config.get("scale", "paper"), "artifacts": registry.manifest(self)})

    def report_inputs(self) -> list[str]:
        return [p for p in self.artifact_files if p.endswith(".csv") and not p.startswith("results/overview/")
                and not p.startswith("results/matrix")]

    def setting_names(self) -> list[str]:
        """Every value the rules' {name} wildcard may take: G-LIME and AGA settings, AGA grid entries."""
        return sorted({s["name"] for s in self.glime.all_settings() + self.aga.settings()}
                      | {g["name"] for g in self.aga.grid()})

    # ------------------------------------------------------------------------------------ checks
    def check(self) -> None:
        """Cross-references neither the schema nor the resolver (which checks every recipe reference)
        expresses: a limeref-loss model needs LIMEREF, no model is listed twice or trains on a corrupted
        test set, corrupted_test_sets name corrupted sets, SEP's figures agree with the registry."""
        def fail(msg):
            raise ValueError(f"config error: {msg}")
        limeref_models = [m for m in self.models + self.matrix.models() if self.uses_spurious(m["recipe"])]
        if limeref_models and not self.limeref:
            fail(f"{limeref_models[0]} trains with the limeref loss, which needs LIMEREF's spurious features: add "
                 f"limeref to `papers` or train another recipe")
        seen = set()
        for m in self.config["models"]:
            key = (m["dataset"], m["arch"], m["recipe"], m.get("seed", 0))
            if key in seen:
                fail(f"models lists {key} twice")
            seen.add(key)
            if DATASETS[m["dataset"]].corrupted:
                fail(f"{m['dataset']!r} is a corrupted test set: it cannot train a model")
        for clean, corrupt in self.config["evaluate"]["corrupted_test_sets"].items():
            if not DATASETS[corrupt].corrupted:
                valid = ", ".join(n for n, s in DATASETS.items() if s.corrupted)
                fail(f"evaluate.corrupted_test_sets maps {clean!r} to {corrupt!r}, which is not a corrupted set ({valid})")
        from .registry import artifacts
        self.sep.check(fail, {a.id: (a.extra["kind"], a.extra["table"]) for a in artifacts()
                              if a.paper == "sep" and "table" in a.extra})

    @cached_property
    def cost(self) -> "CostPlan":
        return CostPlan(self)


class CostPlan:
    """The cost estimate's job listings: dry runs of this same workflow, measured (this run's config
    files) and target (``cost.target_configfiles`` over config.yaml), whole or one part at a time."""

    def __init__(self, plan: Plan):
        self.plan, self.s = plan, plan.config.get("cost", {})

    @property
    def enabled(self) -> bool:
        return bool(self.s.get("enabled", True))

    def outputs(self) -> list[str]:
        return [f"results/cost/{w}" for w in ("estimate.md", "estimate.csv", "jobs.csv")] if self.enabled else []

    def configfiles(self, scale: str) -> list[str]:
        return list(self.plan.configfiles if scale == "measured" else self.s.get("target_configfiles", []))

    def listing_inputs(self, scale: str) -> list[str]:
        """What a listing depends on: the configuration files it reads."""
        return ["config.yaml", *sorted(str(p) for p in Path("config/papers").glob("*.yaml")), *self.configfiles(scale)]

    def listing_config(self, scale: str, part: str) -> str:
        """Command-line config of a dry run (values given with --config are not passed on); a part runs
        only the overview or one paper."""
        files = self.configfiles(scale)
        args = [f"--configfile {quoted(files)}"] if files else []
        if part != "all":
            papers = as_json([] if part == "overview" else [part])
            args.append(f"--config {shlex.quote(f'papers={papers}')}")
        return " ".join(args)

    def flop_args(self) -> str:
        """The FLOP model's options of `interprobust estimate` / `resources`: --gpu, --calibration, --safety."""
        gpu = self.s.get("gpu") or {"name": "GPU", "tflops": 989, "utilisation": 0.1}
        args = f"--gpu {quoted_json(gpu)} --safety {float(self.s.get('safety', 2.0))}"
        if self.s.get("calibration"):
            args += f" --calibration {quoted([self.s['calibration']])}"
        return args

    def target_papers(self) -> list[str]:
        """The papers the target configuration runs (its ``papers``, read from its files)."""
        import yaml
        papers = ALL_PAPERS
        for path in self.s.get("target_configfiles", []):
            if not Path(path).exists():
                raise ValueError(f"config error: cost.target_configfiles lists {path!r}, which does not exist "
                                 f"(paths are relative to {Path.cwd()})")
        for path in ["config.yaml", *self.s.get("target_configfiles", [])]:
            papers = (yaml.safe_load(Path(path).read_text()) or {}).get("papers", papers)
        return list(papers)
