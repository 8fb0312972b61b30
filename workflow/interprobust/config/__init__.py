"""The pipeline's configuration: load the YAML files, validate them, resolve them into the shape the DAG uses.

Pure Python + PyYAML + jsonschema (no torch). ``load`` merges files as Snakemake does (mappings merge
key by key, lists and scalars replace); ``resolve`` returns a new dict in which recipes are complete
(``base`` chains merged), SEP's table grids and AGA's hyper-parameter grid are expanded and every
setting names its recipe; ``show`` prints the result and each recipe's effective settings per dataset.
"""

import copy
import itertools
from pathlib import Path

import jsonschema
import yaml

from ..papers.sep.labels import row_label
from . import names
from .check import ConfigError, check, fail, keywords, number_hint  # noqa: F401  (ConfigError, check: this package's)

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "workflow/schemas/config.schema.yaml"
PAPER_FILES = [f"config/papers/{p}.yaml" for p in ("limeref", "glime", "aga", "sep", "matrix")]
DEFAULT_FILES = ["config.yaml", *PAPER_FILES]
RECIPE_KEYS = ("loss", "params", "params_by_dataset", "training", "model")


def merge(a: dict, b: dict) -> dict:
    """A new dict: b over a, mappings merged recursively, everything else (lists too) replaced."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def validate(cfg: dict) -> None:
    """Raise ConfigError naming the offending key path when cfg does not match the schema."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        e = _closest(errors[0])
        fail(list(e.absolute_path), e.message + _hint(e))


def _closest(e):
    """Of a oneOf / anyOf error, the error of the alternative that came closest (the fewest errors, then the
    deepest), recursively: `'saliency' is not one of [...]` rather than `... is not valid under any of ...`."""
    while e.context:
        branches = {}
        for sub in e.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        best = min(branches.values(), key=lambda b: (len(b), -max(len(x.absolute_path) for x in b)))
        e = max(best, key=lambda x: len(x.absolute_path))
    return e


def _hint(e) -> str:
    """What to add to a schema error: the valid keys of an unknown key, how to write a number YAML read
    as a string."""
    if e.validator == "additionalProperties" and "properties" in e.schema:
        return f"; valid keys: {', '.join(sorted(e.schema['properties']))}"
    expected = e.validator_value if e.validator == "type" else []
    expected = {expected} if isinstance(expected, str) else set(expected)
    if expected & {"number", "integer"}:
        return number_hint(e.instance, integer="number" not in expected)
    return ""


def load(paths: list[str]) -> dict:
    """config.yaml, the paper files and any overlays, merged in order and validated (the raw config)."""
    cfg = {}
    for p in paths:
        cfg = merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------- recipes
def resolve_recipes(recipes: dict) -> dict:
    """Every recipe with its `base` chain deep-merged under it, complete (RECIPE_KEYS, {} when empty)."""
    done = {}

    def one(name, chain):
        if name in done:
            return done[name]
        if name in chain:
            fail(["recipes", chain[0], "base"], f"recipe {chain[0]!r}: base cycle {' -> '.join([*chain, name])}")
        own = {k: v for k, v in recipes[name].items() if k != "base"}
        base = recipes[name].get("base")
        if base is not None:
            if base not in recipes:
                fail(["recipes", name, "base"], f"recipe {name!r} has base {base!r}, which is not a recipe",
                     recipes, "recipes")
            own = merge(one(base, [*chain, name]), own)
        done[name] = own
        return own

    out = {}
    for name in recipes:
        r = one(name, [])
        if "loss" not in r:
            fail(["recipes", name], f"recipe {name!r} names no loss (directly or through base)")
        out[name] = {"loss": r["loss"], **{k: copy.deepcopy(r.get(k, {})) for k in RECIPE_KEYS[1:]}}
    return out


# ------------------------------------------------------------------------------------------------- AGA
def aga_grid_name(entry: dict) -> str:
    return f"{entry['setting']}_{''.join(c for c in entry['row'] if c.isalnum()).lower()}"


def _aga_grid(index: int, entry: dict, settings: list, recipes: dict) -> dict:
    """One aga.grid entry with its points [(label, recipe)], the reference row first; new point
    recipes are added to ``recipes`` as <recipe>-grid<i> (a point equal to the row's params reuses it)."""
    setting = next((s for s in settings if s["name"] == entry["setting"]), None)
    if setting is None:
        fail(["aga", "grid", index, "setting"], f"unknown setting {entry['setting']!r}", [s["name"] for s in settings],
             "settings")
    ref = entry["reference"]
    for key in ("row", "reference"):
        if entry[key] not in setting["recipes"]:
            fail(["aga", "grid", index, key], f"{entry[key]!r} is not a row of setting {entry['setting']!r}",
                 setting["recipes"], "rows")
    base = setting["recipes"][entry["row"]]
    if base not in recipes:
        fail(["aga", "settings", settings.index(setting), "recipes", entry["row"]], f"unknown recipe {base!r}",
             recipes, "recipes")
    recipe = recipes[base]
    keywords(["aga", "grid", index, "params"], entry["params"], list(names.loss_params(recipe["loss"], recipe["params"])),
             f"parameter of loss {recipe['loss']!r}:")
    keys = sorted(entry["params"])
    points = [{"label": ref, "recipe": setting["recipes"][ref]}]
    for i, values in enumerate(itertools.product(*(entry["params"][k] for k in keys))):
        params = {**recipe["params"], **dict(zip(keys, values))}
        name = base if params == recipe["params"] else f"{base}-grid{i}"
        recipes.setdefault(name, {**copy.deepcopy(recipe), "params": params})
        points.append({"label": " ".join(f"{k}={v:g}" for k, v in zip(keys, values)), "recipe": name})
    return {"name": aga_grid_name(entry), "setting": entry["setting"], "row": entry["row"], "reference": ref,
            "points": points}


def _aga(aga: dict, recipes: dict) -> dict:
    settings = [{"name": s["name"], "stands_for": s.get("stands_for", s["name"]), "dataset": s["dataset"],
                 "arch": s["arch"], "attack_eps": s["attack_eps"], "recipes": dict(s["recipes"])}
                for s in aga["settings"]]
    grid = [_aga_grid(i, e, settings, recipes) for i, e in enumerate(aga["grid"])]
    return {**copy.deepcopy(aga), "settings": settings, "grid": grid}


# ------------------------------------------------------------------------------------------------- SEP
GRID_AXES = ("dataset", "attribution", "arch", "beta", "variant")


def _fmt(v):
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def sep_grid_rows(block: dict, path=("sep", "tables")) -> list[dict]:
    """The rows of one grid block, in product order (the last axis written varies fastest), labelled
    by ``row_label`` with the paper's dataset; ``dataset`` here is still the paper's."""
    fixed = {k: block[k] for k in GRID_AXES + ("seed",) if k in block}
    axes = list(block["grid"])
    rows = []
    for values in itertools.product(*(block["grid"][a] for a in axes)):
        point = {**fixed, **dict(zip(axes, values))}
        variant = point["variant"]
        if variant not in block["recipe"]:
            fail([*path, "recipe"], f"grid variant {variant!r} has no recipe", block["recipe"], "variants")
        names = {k: block.get("abbrev", {}).get(k, {}).get(v, _fmt(v)) for k, v in point.items()}
        lead = point["attribution"] if "attribution" in block["grid"] else point["dataset"]
        row = {"label": row_label(point["arch"], variant, lead=lead, beta=point.get("beta")),
               "dataset": point["dataset"], "arch": point["arch"],
               "recipe": block["recipe"][variant].format(**names)}
        row.update({k: point[k] for k in ("attribution", "seed") if k in point})
        rows.append(row)
    return rows


def _sep(sep: dict) -> dict:
    stand_in = sep["datasets"]
    tables = {}
    for table, items in sep["tables"].items():
        rows = []
        for i, item in enumerate(items):
            rows += sep_grid_rows(item, ["sep", "tables", table, i]) if "grid" in item else [item]
        tables[table] = [{"label": r["label"], "dataset": stand_in.get(r["dataset"], r["dataset"]), "arch": r["arch"],
                          "recipe": r["recipe"], "attribution": r.get("attribution", sep["attribution"]),
                          "seed": r.get("seed", sep["seed"])} for r in rows]
    for fig, spec in sep["figures"].items():
        if spec["table"] not in tables:
            fail(["sep", "figures", fig, "table"], f"unknown table {spec['table']!r}", tables, "tables")
        unknown = set(spec.get("rows", [])) - {r["label"] for r in tables[spec["table"]]}
        if unknown:
            fail(["sep", "figures", fig, "rows"], f"rows {sorted(unknown)} are not rows of {spec['table']}",
                 [r["label"] for r in tables[spec["table"]]], "rows")
    return {**copy.deepcopy(sep), "tables": tables}


# ---------------------------------------------------------------------------------------------- resolve
def _model(m: dict) -> dict:
    return {"dataset": m["dataset"], "arch": m["arch"], "recipe": m["recipe"], "seed": m.get("seed", 0)}


def _settings(items: list, seed: int) -> list:
    return [{"name": s["name"], "stands_for": s.get("stands_for", s["name"]), "dataset": s["dataset"],
             "arch": s["arch"], "recipe": s["recipe"], "seed": s.get("seed", seed)} for s in items]


def trained(resolved: dict) -> list[tuple[str, str, str]]:
    """(where, recipe, dataset) of every model the configuration names (duplicates included)."""
    out = [("models", m["recipe"], m["dataset"]) for m in resolved["models"]]
    lr = resolved["limeref"]
    for d in sorted({*lr["datasets"].values(), *([lr["planted"]] if lr["planted"] else [])}):
        out += [("limeref", lr["baseline_recipe"], d), ("limeref", lr["refined_recipe"], d)]
        out += [("limeref", lr[k], d) for k in ("control_recipe", "budget_recipe") if lr.get(k)]
    g = resolved["glime"]
    out += [("glime", s["recipe"], s["dataset"]) for s in g["settings"] + g["networks"]]
    a = resolved["aga"]
    out += [("aga", r, s["dataset"]) for s in a["settings"] for r in s["recipes"].values()]
    by_name = {s["name"]: s for s in a["settings"]}
    out += [("aga.grid", p["recipe"], by_name[e["setting"]]["dataset"]) for e in a["grid"] for p in e["points"]]
    sep_rows = [r for rows in resolved["sep"]["tables"].values() for r in rows]
    out += [("sep", r["recipe"], r["dataset"]) for r in sep_rows]
    out += [("sep.pair_model", resolved["sep"]["pair_model"]["recipe"], d) for d in sorted({r["dataset"] for r in sep_rows})]
    if resolved["matrix"]["models"] != "all":
        out += [("matrix", m["recipe"], m["dataset"]) for m in resolved["matrix"]["models"]]
    return out


def resolve(raw: dict) -> dict:
    """The resolved configuration (a new dict; ``raw`` is left as it is)."""
    out = copy.deepcopy(raw)
    recipes = resolve_recipes(raw["recipes"])
    out["models"] = [_model(m) for m in raw["models"]]
    out["limeref"] = {k: copy.deepcopy(raw["limeref"][k]) for k in (
        "arch", "seed", "baseline_recipe", "refined_recipe", "rounds", "schedule", "datasets", "corrupted",
        "planted", "detection")}
    for k in ("control_recipe", "budget_recipe"):   # LIMEREF's controls (null: left out)
        out["limeref"][k] = raw["limeref"].get(k)
    out["limeref"]["corrupted_strong_eps"] = list(raw["limeref"].get("corrupted_strong_eps") or [])
    out["limeref"]["corrupted_strong_max_samples"] = raw["limeref"].get("corrupted_strong_max_samples")
    g = raw["glime"]
    out["glime"] = {**copy.deepcopy(g), "settings": _settings(g["settings"], g["seed"]),
                    "networks": _settings(g["networks"], g["seed"])}
    out["aga"] = _aga(raw["aga"], recipes)
    out["sep"] = _sep(raw["sep"])
    chosen = raw["matrix"]["models"]
    out["matrix"] = {**copy.deepcopy(raw["matrix"]), "models": chosen if chosen == "all" else [_model(m) for m in chosen]}
    out["recipes"] = recipes
    check(out)
    for where, recipe, dataset in trained(out):
        if recipe not in recipes:
            fail(where, f"trains recipe {recipe!r} on {dataset}", recipes, "recipes")
    return out


# ------------------------------------------------------------------------------------------------- show
def effective(resolved: dict, recipe: str, dataset: str) -> dict:
    """What one recipe trains with on one dataset: training < training_by_dataset < recipe.training,
    model_defaults < recipe.model, params < params_by_dataset."""
    r = resolved["recipes"][recipe]
    return {"loss": r["loss"],
            "loss_params": {**r["params"], **r["params_by_dataset"].get(dataset, {})},
            "training": {**resolved["training"], **resolved["training_by_dataset"].get(dataset, {}), **r["training"]},
            "model": {**resolved["model_defaults"], **r["model"]}}


def show(resolved: dict) -> str:
    """The resolved configuration as YAML, then every recipe's effective settings per dataset it trains on."""
    datasets = {name: [] for name in resolved["recipes"]}
    for _, recipe, dataset in trained(resolved):
        if dataset not in datasets[recipe]:
            datasets[recipe].append(dataset)
    eff = {name: ({d: effective(resolved, name, d) for d in ds} if ds else "not trained by this configuration")
           for name, ds in datasets.items()}
    return ("# resolved configuration\n" + yaml.safe_dump(resolved, sort_keys=False, width=110)
            + "\n# effective settings: recipe -> dataset it is trained on -> settings\n"
            + yaml.safe_dump({"effective": eff}, sort_keys=False, width=110))
