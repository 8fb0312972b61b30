"""LIMEREF's part of the DAG: its datasets, the refinement rounds' files, and its two models per dataset."""

from __future__ import annotations

from ...layout import Section, eval_dir, model_dir, model_file, prepared, quoted_json

# The paper's dataset role -> the figures drawn for it (Fig. 2-5 CIFAR-10, 6-9 CIFAR-100).
ROLES = ("cifar10", "cifar100")


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

    def model(self, dataset: str, which: str) -> dict:
        recipe = self.s["baseline_recipe"] if which == "baseline" else self.s["refined_recipe"]
        return {"dataset": dataset, "arch": self.s["arch"], "recipe": recipe, "seed": self.s["seed"]}

    def models(self) -> list[dict]:
        return [self.model(d, which) for d in self.datasets() for which in ("baseline", "refined")]

    def pair(self, dataset: str, filename: str, folder: str = "eval") -> list[str]:
        """The baseline's and the refined model's ``filename`` (under results/eval or results/models)."""
        where = model_dir if folder == "models" else eval_dir
        return [f"{where(self.model(dataset, which))}/{filename}" for which in ("baseline", "refined")]

    # ------------------------------------------------------------------------------------ rounds
    @staticmethod
    def spurious_file(dataset, arch, seed, rnd) -> str:
        return f"results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/spurious.json"

    def round_model(self, dataset, arch, seed, rnd) -> str:
        """Round r's model: round 0 is the baseline, the last round is the refined model."""
        if int(rnd) == 0:
            return model_file({"dataset": dataset, "arch": arch, "recipe": self.s["baseline_recipe"], "seed": seed})
        return f"results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/model.pt"

    def refines_previous(self) -> bool:
        return self.s.get("refine_from", "previous") == "previous"

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
        return quoted_json(self.plan.training_settings(w.dataset, self.s["refined_recipe"], spurious))

    def round_init_args(self, w) -> str:
        inputs = self.round_inputs(w)
        return f" --init-from {inputs['init']}" if "init" in inputs else ""

    def planted_inputs(self) -> dict[str, list[str]]:
        d = self.s.get("planted") if self.s else None
        if not d:
            return {}
        return {"data": [prepared(d)],
                "spurious": [self.spurious_file(d, self.s["arch"], self.s["seed"], r) for r in range(self.s["rounds"])],
                "models": [model_file(self.model(d, w)) for w in ("baseline", "refined")]}
