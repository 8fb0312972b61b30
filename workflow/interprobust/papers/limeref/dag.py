"""LIMEREF's part of the DAG: its datasets, the refinement rounds' files, and its models per dataset:
the baseline, the refined model and its controls (the FGSM-only control: the refined recipe with
F = ∅; with ``schedule: fine_tune``, the equal-budget CE baseline)."""

from __future__ import annotations

from ...layout import Section, eval_dir, model_dir, model_file, prepared, quoted_json

# The paper's dataset role -> the figures drawn for it (Fig. 2-5 CIFAR-10, 6-9 CIFAR-100).
ROLES = ("cifar10", "cifar100")
# every model LIMEREF may compare, in the order of its tables' rows and figures' legends
ORDER = ("baseline", "budget", "fgsm_only", "refined")
LABELS = {"baseline": "baseline", "budget": "equal-budget baseline", "fgsm_only": "FGSM-only control",
          "refined": "refined"}


class LimerefPlan(Section):
    def datasets(self) -> list[str]:
        """Datasets LIMEREF runs on: the stand-ins of CIFAR-10 / CIFAR-100 and the planted-patch set."""
        if not self.s:
            return []
        ds = set(self.s.get("datasets", {}).values())
        if self.s.get("planted"):
            ds.add(self.s["planted"])
        return sorted(ds)

    def role_datasets(self, roles=ROLES) -> list[dict]:
        """One instance per configured paper dataset role: {dataset, role}."""
        return [{"dataset": d, "role": r} for r, d in self.s.get("datasets", {}).items() if r in roles] if self.s else []

    def corrupted_instances(self) -> list[dict]:
        role = self.s.get("corrupted") if self.s else None
        if role and role in self.s.get("datasets", {}):
            return [{"dataset": self.s["datasets"][role], "role": role}]
        return []

    # ------------------------------------------------------------------------------- the models
    def fine_tunes(self) -> bool:
        return self.s.get("schedule", "from_scratch") == "fine_tune"

    def refines_previous(self) -> bool:
        return self.fine_tunes()

    def compared(self) -> list[str]:
        """Which models this configuration compares, in ``ORDER``."""
        if not self.s:
            return []
        present = {"baseline", "refined"}
        if self.s.get("control_recipe"):
            present.add("fgsm_only")
        if self.fine_tunes() and self.s.get("budget_recipe"):
            present.add("budget")
        return [w for w in ORDER if w in present]

    def labels(self) -> list[str]:
        return [LABELS[w] for w in self.compared()]

    def recipe_of(self, which: str) -> str:
        return self.s[{"baseline": "baseline_recipe", "refined": "refined_recipe", "fgsm_only": "control_recipe",
                       "budget": "budget_recipe"}[which]]

    def model(self, dataset: str, which: str) -> dict:
        return {"dataset": dataset, "arch": self.s["arch"], "recipe": self.recipe_of(which), "seed": self.s["seed"]}

    def models(self) -> list[dict]:
        """Every compared model on the role datasets; baseline and refined on the planted-patch set."""
        roles = {i["dataset"] for i in self.role_datasets()}
        return [self.model(d, which) for d in self.datasets()
                for which in (self.compared() if d in roles else ("baseline", "refined"))]

    def which(self, dataset, arch, recipe, seed) -> str | None:
        """Which of LIMEREF's models (dataset, arch, recipe, seed) is, or None."""
        if not self.s or dataset not in self.datasets() or str(arch) != self.s["arch"] or int(seed) != int(self.s["seed"]):
            return None
        for w in self.compared():
            if self.recipe_of(w) == recipe:
                return w
        return None

    def pair(self, dataset: str, filename: str, folder: str = "eval", which=None) -> list[str]:
        """Every compared model's ``filename`` (under results/eval or results/models), in ``compared()``
        order (or of the models in ``which``)."""
        where = model_dir if folder == "models" else eval_dir
        return [f"{where(self.model(dataset, w))}/{filename}" for w in (which or self.compared())]

    def history_chain(self, dataset: str, which: str) -> list[str]:
        """The histories whose epochs make up ``which``'s training, in order: with ``fine_tune`` the
        baseline's, then each round's, then its own; from scratch its own only."""
        own = self.pair(dataset, "history.csv", "models", [which])
        if not self.fine_tunes() or which == "baseline":
            return own
        base = self.pair(dataset, "history.csv", "models", ["baseline"])
        if which != "refined":
            return base + own
        rounds = [f"{self.round_dir(dataset, self.s['arch'], self.s['seed'], r)}/history.csv"
                  for r in range(1, self.s["rounds"])]
        return base + rounds + own

    def histories(self, dataset: str) -> dict:
        """The curves' inputs: every compared model's history chain, flattened, and the chain lengths."""
        chains = [self.history_chain(dataset, w) for w in self.compared()]
        return {"files": [p for c in chains for p in c], "lengths": [len(c) for c in chains]}

    # ---------------------------------------------------------------------- training additions
    def holdout(self) -> dict:
        d = self.s.get("detection", {})
        return {"images": int(d.get("images", 1000)), "seed": int(d.get("split_seed", 0))}

    def extra_epochs(self, dataset: str) -> int:
        """What the refinement adds to the baseline when fine-tuning: rounds x the refined recipe's epochs."""
        return int(self.s["rounds"]) * int(self.plan.training_settings(dataset, self.s["refined_recipe"])["training"]["epochs"])

    def adjust_settings(self, dataset, arch, recipe, seed, settings: dict) -> dict:
        """A LIMEREF model's training settings: its detection split held out; with ``fine_tune`` the
        controls train for the refinement's extra epochs."""
        which = self.which(dataset, arch, recipe, seed)
        if which is None:
            return settings
        settings["holdout"] = self.holdout()
        if self.fine_tunes() and which in ("fgsm_only", "budget"):
            settings["training"]["epochs"] = self.extra_epochs(dataset)
        return settings

    def train_inputs(self, dataset, arch, recipe, seed) -> dict[str, str]:
        """The extra training inputs of a LIMEREF model: the refined model's last F_spurious (and, with
        ``fine_tune``, the model it continues); the controls' start (the baseline, with ``fine_tune``)."""
        which = self.which(dataset, arch, recipe, seed)
        if which == "refined":
            return self.refined_inputs(dataset, arch, seed)
        if which in ("fgsm_only", "budget") and self.fine_tunes():
            return {"init": self.round_model(dataset, arch, seed, 0)}
        return {}

    # ------------------------------------------------------------------------------------ rounds
    @staticmethod
    def round_dir(dataset, arch, seed, rnd) -> str:
        return f"results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}"

    @classmethod
    def spurious_file(cls, dataset, arch, seed, rnd) -> str:
        return f"{cls.round_dir(dataset, arch, seed, rnd)}/spurious.json"

    def spurious_files(self, dataset) -> list[str]:
        return [self.spurious_file(dataset, self.s["arch"], self.s["seed"], r) for r in range(self.s["rounds"])]

    def round_model(self, dataset, arch, seed, rnd) -> str:
        """Round r's model: round 0 is the baseline, the last round is the refined model."""
        if int(rnd) == 0:
            return model_file({"dataset": dataset, "arch": arch, "recipe": self.s["baseline_recipe"], "seed": seed})
        return f"{self.round_dir(dataset, arch, seed, rnd)}/model.pt"

    def refined_inputs(self, dataset, arch, seed) -> dict[str, str]:
        """The refined model's extra training inputs: the last round's F_spurious (and its model)."""
        last = self.s["rounds"] - 1
        inputs = {"spurious": self.spurious_file(dataset, arch, seed, last)}
        if self.refines_previous():
            inputs["init"] = self.round_model(dataset, arch, seed, last)
        return inputs

    def detect_inputs(self, w) -> dict:
        rnd = int(w.rnd)
        inputs = {"model": self.round_model(w.dataset, w.arch, w.seed, rnd), "data": prepared(w.dataset)}
        if rnd > 0:
            inputs["previous"] = self.spurious_file(w.dataset, w.arch, w.seed, rnd - 1)
        return inputs

    def detect_args(self, w) -> str:
        rnd = int(w.rnd)
        return f"--previous {self.spurious_file(w.dataset, w.arch, w.seed, rnd - 1)}" if rnd > 0 else ""

    def detection_settings(self) -> str:
        return quoted_json(self.s.get("detection", {}))

    def round_inputs(self, w) -> dict:
        rnd = int(w.rnd)
        inputs = {"data": prepared(w.dataset), "spurious": self.spurious_file(w.dataset, w.arch, w.seed, rnd - 1)}
        if self.refines_previous():
            inputs["init"] = self.round_model(w.dataset, w.arch, w.seed, rnd - 1)
        return inputs

    def round_settings(self, w) -> str:
        spurious = self.spurious_file(w.dataset, w.arch, w.seed, int(w.rnd) - 1)
        settings = self.plan.training_settings(w.dataset, self.s["refined_recipe"], spurious)
        settings["holdout"] = self.holdout()
        return quoted_json(settings)

    def round_init_args(self, w) -> str:
        inputs = self.round_inputs(w)
        return f" --init-from {inputs['init']}" if "init" in inputs else ""

    def corrupted_strong_settings(self) -> str:
        """The strong set on the corrupted test set (Fig. 12-15's honesty check), with the sweep's PGD-40 as
        the reference on the same images (a seeded class-stratified subset of ``corrupted_strong_max_samples``
        images, the same for each corruption and severity: ``evaluation.robustness.corrupted_groups``;
        null = ``evaluate.corrupted_max_samples``)."""
        e = self.plan.config["evaluate"]
        n = self.s.get("corrupted_strong_max_samples") or e.get("corrupted_max_samples")
        reference = {"pgd": e["attacks"]["pgd"]} if "pgd" in e["attacks"] else {}
        return quoted_json({"eps": self.s.get("corrupted_strong_eps", []), "attacks": e["strong_attacks"],
                            "reference": reference, "batch_size": e["batch_size"], "max_samples": n,
                            "severities": e.get("corrupted_severities")})

    def planted_inputs(self) -> dict[str, list[str]]:
        d = self.s.get("planted") if self.s else None
        if not d:
            return {}
        return {"data": [prepared(d)], "spurious": self.spurious_files(d),
                "models": [model_file(self.model(d, w)) for w in ("baseline", "refined")]}
