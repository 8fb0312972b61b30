"""AGA's part of the DAG: its settings (one per paper setting), each row's model, the grid's points."""

from __future__ import annotations

from ...layout import Section, quoted_json

EVAL_KEYS = ("attributions", "rps_eps", "n_noise", "attack_steps", "max_samples", "batch_size", "seed",
             "figure_images", "bound_eps", "bound_samples", "insertion_baseline", "insertion_points", "bound_direction")


class AgaPlan(Section):
    """AGA's jobs. Every row and every grid point is trained with each of ``aga.seeds`` (the paper: means
    of 3 seeds); ``aga.seed`` seeds the evaluation (its subset and noise), the same for every model.

    A row with an ``aga.grid`` entry is a two-stage target: its grid's points are trained and ranked
    (rule ``aga_grid``: highest Grad-RPS within ``grid_max_drop`` accuracy points of the reference,
    means over the seeds), and Table 1 evaluates the selected point's models (rule
    ``aga_evaluate_selected``, whose input is the grid table, i.e. the selection file)."""

    def settings(self) -> list[dict]:
        return self.items("settings")

    def setting(self, name: str) -> dict:
        return self.named(self.settings(), name, "aga setting")

    def instances(self) -> list[dict]:
        return [{"name": s["name"], "stands_for": s.get("stands_for", s["name"])} for s in self.settings()]

    def seeds(self) -> list[int]:
        """The training seeds of every row and grid point (``aga.seeds``; default: ``[aga.seed]``)."""
        return [int(v) for v in self.s.get("seeds", [self.s.get("seed", 0)])]

    def rows(self, name: str) -> list[tuple[str, dict]]:
        """(row label, model of the row's own recipe at the first seed) for every row of one setting
        (Table 2's cost rows and the cross-paper matrix)."""
        s = self.setting(name)
        return [(row, {"dataset": s["dataset"], "arch": s["arch"], "recipe": recipe, "seed": self.seeds()[0]})
                for row, recipe in s["recipes"].items()]

    def models(self) -> list[dict]:
        return [m for s in self.settings() for _, m in self.rows(s["name"])]

    @staticmethod
    def eval_file(m: dict, filename: str, folder: str = "eval") -> str:
        return f"results/aga/{folder}/{m['dataset']}/{m['arch']}/{m['recipe']}/seed{m['seed']}/{filename}"

    @staticmethod
    def selected_file(grid: str, seed: int, filename: str) -> str:
        return f"results/aga/eval_selected/{grid}/seed{seed}/{filename}"

    def row_grid(self, name: str, row: str) -> dict | None:
        """The grid entry that selects this row's parameters, or None (the row's own recipe is used)."""
        return next((g for g in self.grid() if g["setting"] == name and g["row"] == row), None)

    def row_runs(self, name: str) -> list[tuple[str, int, dict | None]]:
        """(row label, seed, the row's grid entry or None) of every model behind one setting's tables,
        rows in config order, seeds within a row."""
        return [(row, seed, self.row_grid(name, row)) for row, _ in self.rows(name) for seed in self.seeds()]

    def row_files(self, name: str, filename: str) -> list[str]:
        s = self.setting(name)
        return [self.selected_file(g["name"], seed, filename) if g else
                self.eval_file({"dataset": s["dataset"], "arch": s["arch"], "recipe": s["recipes"][row], "seed": seed},
                               filename)
                for row, seed, g in self.row_runs(name)]

    def row_labels(self, name: str) -> list[str]:
        return [row for row, _, _ in self.row_runs(name)]

    def row_seeds(self, name: str) -> list[int]:
        return [seed for _, seed, _ in self.row_runs(name)]

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

    def grid_runs(self, name: str) -> list[tuple[dict, int]]:
        """(point, seed) of every model of one grid, points in order, seeds within a point."""
        return [(p, seed) for p in self.grid_entry(name)["points"] for seed in self.seeds()]

    def grid_models(self, name: str, seed: int | None = None) -> list[dict]:
        g = self.grid_entry(name)
        s = self.setting(g["setting"])
        return [{"dataset": s["dataset"], "arch": s["arch"], "recipe": p["recipe"], "seed": sd}
                for p, sd in self.grid_runs(name) if seed is None or sd == seed]

    def grid_files(self, name: str) -> list[str]:
        return [self.eval_file(m, "scores.csv", "grid_eval") for m in self.grid_models(name)]

    def grid_settings(self) -> str:
        """Grid points are ranked by accuracy and Grad-RPS only: the other metrics are skipped."""
        return quoted_json({**self.eval_params(), "attributions": ["gradient"], "rps_eps": [max(self.s["rps_eps"])],
                            "attack_steps": 0, "attack_eps": 2 / 255})

    # --------------------------------------------------------------- the selected point (stage two)
    def selection_file(self, grid: str) -> str:
        """The grid's table: its ``selected`` row names the recipe Table 1 uses (the selection file)."""
        return f"results/aga/grid_{grid}.csv"

    def candidate_recipes(self, grid: str) -> list[str]:
        """The recipes a grid can select (its points but the reference)."""
        return [p["recipe"] for p in self.grid_entry(grid)["points"][1:]]

    def candidate_models(self, grid: str, seed: int) -> list[str]:
        from ...layout import model_file
        s = self.setting(self.grid_entry(grid)["setting"])
        return [model_file({"dataset": s["dataset"], "arch": s["arch"], "recipe": r, "seed": int(seed)})
                for r in self.candidate_recipes(grid)]

    def grid_dataset(self, grid: str) -> str:
        return self.setting(self.grid_entry(grid)["setting"])["dataset"]

    def selected_settings(self, grid: str) -> str:
        s = self.setting(self.grid_entry(grid)["setting"])
        return quoted_json({**self.eval_params(), "attack_eps": s.get("attack_eps", 2 / 255)})

    def toy_settings(self) -> str:
        return quoted_json(self.s.get("toy", {}))
