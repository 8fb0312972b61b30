"""Where the DAG's files live and how job settings are written: one place for both.

Pure Python, no torch: the Snakemake layer, ``plan``, the papers' ``dag`` and ``artifacts`` modules all
build paths and params through these functions.
"""

from __future__ import annotations

import json
import shlex
from typing import Any


def _get(w, key):
    return w[key] if isinstance(w, dict) else getattr(w, key)


def as_json(obj: Any) -> str:
    """Deterministic JSON for params (stable across runs, so it never triggers a rerun by itself)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def quoted_json(obj: Any) -> str:
    return shlex.quote(as_json(obj))


def quoted(items) -> str:
    return " ".join(shlex.quote(str(x)) for x in items)


def model_dir(m: dict) -> str:
    return f"results/models/{m['dataset']}/{m['arch']}/{m['recipe']}/seed{m.get('seed', 0)}"


def eval_dir(m: dict) -> str:
    return f"results/eval/{m['dataset']}/{m['arch']}/{m['recipe']}/seed{m.get('seed', 0)}"


def model_file(m: dict) -> str:
    return f"{model_dir(m)}/model.pt"


def model_label(m: dict) -> str:
    return f"{m['arch']}/{m['recipe']}/seed{m.get('seed', 0)}"


def prepared(dataset: str) -> str:
    return f"results/data/{dataset}/meta.json"


def unique_models(models: list[dict]) -> list[dict]:
    """Each (dataset, arch, recipe, seed) once, in first-seen order, seed filled."""
    unique: dict[tuple, dict] = {}
    for m in models:
        m = {**m, "seed": m.get("seed", 0)}
        unique.setdefault((m["dataset"], m["arch"], m["recipe"], m["seed"]), m)
    return list(unique.values())


class Section:
    """One paper's part of the plan: the shared plan, the paper's resolved config section (``{}`` when
    the paper is not built), and lookups in its lists."""

    def __init__(self, plan, section: dict):
        self.plan, self.s = plan, section

    def __bool__(self) -> bool:
        return bool(self.s)

    def items(self, key: str) -> list[dict]:
        return list(self.s.get(key) or []) if self.s else []

    @staticmethod
    def named(items: list[dict], name: str, what: str) -> dict:
        for item in items:
            if item["name"] == name:
                return item
        raise ValueError(f"no {what} named {name!r}; {what}s: {[i['name'] for i in items]}")
