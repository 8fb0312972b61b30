"""SEP's part of the DAG: the pairs per dataset, one evaluation per (model, attribution), the tables' rows."""

from __future__ import annotations

from ...data.registry import DATASETS
from ...layout import Section, model_file, quoted_json

DEFAULT_ATTRIBUTION = "input_x_gradient"
SECTION_ONLY = ("tables", "figures", "datasets", "attribution")  # the DAG's, not the job's


def colour(dataset: str) -> str:
    return "grey" if DATASETS[dataset].channels == 1 else "rgb"


def row_model(row: dict) -> dict:
    return {"dataset": row["dataset"], "arch": row["arch"], "recipe": row["recipe"], "seed": row.get("seed", 0)}


def row_file(row: dict, kind: str) -> str:
    """A row's cached result: eval (CSV), landscape (CSV), saliency (npz) or examples (npz: attacked pairs)."""
    ext = "npz" if kind in ("saliency", "examples") else "csv"
    return (f"results/sep/{kind}/{row['dataset']}/{row['arch']}/{row['recipe']}/seed{row.get('seed', 0)}/"
            f"{row.get('attribution', DEFAULT_ATTRIBUTION)}.{ext}")


class SepPlan(Section):
    def tables(self) -> dict[str, list[dict]]:
        return dict(self.s.get("tables", {})) if self.s else {}

    def rows(self, table: str, labels: list[str] | None = None) -> list[dict]:
        rows = self.tables().get(table, [])
        return [r for r in rows if labels is None or r["label"] in labels]

    def figure_rows(self, figure: str, table: str) -> list[dict]:
        spec = (self.s.get("figures") or {}).get(figure, {}) if self.s else {}
        return self.rows(table, spec.get("rows"))

    def models(self) -> list[dict]:
        return [row_model(r) for rows in self.tables().values() for r in rows]

    def settings(self, dataset: str) -> str:
        """The sep section as the CLI's --settings, eps resolved for the dataset's colour space, and
        the foundation's PGD for adversarial accuracy."""
        p = {k: v for k, v in self.s.items() if k not in SECTION_ONLY}
        c = colour(dataset)
        p["attack"] = {**self.s["attack"], "eps": self.s["attack"]["eps"][c]}
        p["adv_eps"] = self.s["adv_eps"][c]
        p["pgd"] = {**self.plan.config["evaluate"]["attacks"]["pgd"], **(self.s.get("adv_pgd") or {}).get(c, {})}
        p.pop("adv_pgd", None)
        return quoted_json(p)

    def pair_model(self, dataset: str) -> str:
        return model_file({**self.s["pair_model"], "dataset": dataset, "seed": self.s.get("seed", 0)})

    def pairs(self, dataset: str) -> str:
        return f"results/sep/pairs/{dataset}.npz"

    def check(self, fail, figures: dict[str, tuple[str, str]]) -> None:
        """Every configured figure is one of the registry's (``figures``: figure -> (kind, the table it
        draws)), agrees with it where the config restates its kind or table, draws a table the config
        has, and names rows that table has."""
        for fig, spec in (self.s.get("figures") or {}).items() if self.s else []:
            if fig not in figures:
                fail(f"sep.figures names {fig!r}; SEP's figures: {', '.join(figures)}")
            kind, table = figures[fig]
            for key, declared in (("kind", kind), ("table", table)):
                if spec.get(key, declared) != declared:
                    fail(f"sep.figures.{fig}.{key} is {spec[key]!r}, but SEP's {fig} is the {kind} of {table} "
                         f"(papers/sep/artifacts.py); remove the key or set it to {declared!r}")
            if table not in self.tables():
                fail(f"sep.figures.{fig} draws {table}, which sep.tables does not have ({sorted(self.tables())})")
            unknown = set(spec.get("rows") or []) - {r["label"] for r in self.tables()[table]}
            if unknown:
                fail(f"sep.figures.{fig} names rows {sorted(unknown)} that {table} does not have")
