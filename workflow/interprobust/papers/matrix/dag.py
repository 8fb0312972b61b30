"""The cross-paper matrix's part of the DAG: which models it evaluates and with which settings."""

from __future__ import annotations

from ...layout import Section, quoted_json, unique_models
from ..sep.dag import colour


class MatrixPlan(Section):
    @property
    def enabled(self) -> bool:
        return bool(self.s.get("enabled", True))

    def models(self) -> list[dict]:
        """``matrix.models`` (a list), or ``all`` = every model the DAG trains."""
        chosen = self.s.get("models", "all")
        if chosen != "all":
            return unique_models(chosen)
        p = self.plan
        return unique_models(p.models + p.aga.models() + p.glime.models() + p.sep.models())

    @staticmethod
    def file(m: dict) -> str:
        return f"results/matrix/eval/{m['dataset']}/{m['arch']}/{m['recipe']}/seed{m.get('seed', 0)}.csv"

    @staticmethod
    def label(m: dict) -> str:
        return f"{m['dataset']}/{m['arch']}/{m['recipe']}"

    def settings(self, dataset: str) -> str:
        p = {k: v for k, v in self.s.items() if k != "models"}
        c = colour(dataset)
        p["eps"] = self.s["eps"][c]
        p["sep_attack"] = {**self.s.get("sep_attack", {}), "eps": self.s["eps"][c]}
        p["pgd"] = self.plan.config["evaluate"]["attacks"]["pgd"]
        return quoted_json(p)

    def pairs(self, dataset: str) -> list[str]:
        return [self.plan.sep.pairs(dataset)] if self.plan.sep else []
