"""AGA's part of the DAG: its settings (one per paper setting), each row's model, the grid's points."""

from __future__ import annotations

from ...layout import Section, quoted_json

EVAL_KEYS = ("attributions", "rps_eps", "n_noise", "attack_steps", "max_samples", "batch_size", "seed",
             "figure_images", "bound_eps", "bound_samples", "insertion_baseline", "insertion_points")


class AgaPlan(Section):
    def settings(self) -> list[dict]:
        return self.items("settings")

    def setting(self, name: str) -> dict:
        return self.named(self.settings(), name, "aga setting")

    def instances(self) -> list[dict]:
        return [{"name": s["name"], "stands_for": s.get("stands_for", s["name"])} for s in self.settings()]

    def rows(self, name: str) -> list[tuple[str, dict]]:
        """(row label, model) for every row of one setting."""
        s = self.setting(name)
        return [(row, {"dataset": s["dataset"], "arch": s["arch"], "recipe": recipe, "seed": self.s["seed"]})
                for row, recipe in s["recipes"].items()]

    def models(self) -> list[dict]:
        return [m for s in self.settings() for _, m in self.rows(s["name"])]

    @staticmethod
    def eval_file(m: dict, filename: str, folder: str = "eval") -> str:
        return f"results/aga/{folder}/{m['dataset']}/{m['arch']}/{m['recipe']}/seed{m['seed']}/{filename}"

    def row_files(self, name: str, filename: str) -> list[str]:
        return [self.eval_file(m, filename) for _, m in self.rows(name)]

    def row_labels(self, name: str) -> list[str]:
        return [row for row, _ in self.rows(name)]

    def attack_eps(self, w) -> float:
        for s in self.settings():
            if (s["dataset"], s["arch"]) == (w.dataset, w.arch) and w.recipe in s["recipes"].values():
                return s.get("attack_eps", 2 / 255)
        raise ValueError(f"{w.dataset}/{w.arch}/{w.recipe} is not in any aga.settings entry")

    def eval_params(self) -> dict:
        return {k: self.s[k] for k in EVAL_KEYS if k in self.s}

    def evaluate_settings(self, w) -> str:
        return quoted_json({**self.eval_params(), "attack_eps": self.attack_eps(w)})

    def cost_rows(self, name: str) -> dict:
        """Row label -> the resolved training settings of that row's recipe (AGA Table 2)."""
        s = self.setting(name)
        return {row: self.plan.training_settings(s["dataset"], m["recipe"]) for row, m in self.rows(name)}

    # -------------------------------------------------------------------------------------- grid
    def grid(self) -> list[dict]:
        return self.items("grid")

    def grid_entry(self, name: str) -> dict:
        return self.named(self.grid(), name, "aga.grid entry")

    def grid_models(self, name: str) -> list[dict]:
        g = self.grid_entry(name)
        s = self.setting(g["setting"])
        return [{"dataset": s["dataset"], "arch": s["arch"], "recipe": p["recipe"], "seed": self.s["seed"]}
                for p in g["points"]]

    def grid_files(self, name: str) -> list[str]:
        return [self.eval_file(m, "scores.csv", "grid_eval") for m in self.grid_models(name)]

    def grid_settings(self) -> str:
        """Grid points are ranked by accuracy and Grad-RPS only: the other metrics are skipped."""
        return quoted_json({**self.eval_params(), "attributions": ["gradient"], "rps_eps": [max(self.s["rps_eps"])],
                            "attack_steps": 0, "attack_eps": 2 / 255})

    def toy_settings(self) -> str:
        return quoted_json(self.s.get("toy", {}))
