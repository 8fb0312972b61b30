"""Every registry name and keyword of a resolved configuration, checked at parse time.

The schema checks types and the fixed keys; :func:`check` checks what the schema cannot: attack labels
and each attack's options, each recipe's loss parameters against the keys that loss reads, attribution
options, the segmentation's scikit-image keywords and every recipe a section names. Each error is a
:class:`ConfigError` ``config error at <key path>: <what>; valid <kind>: <choices>``. The names come
from :mod:`.names` (no torch).
"""

from __future__ import annotations

import re

from . import names as N


class ConfigError(ValueError):
    pass


def fail(path, message: str, valid=None, kind: str = "keys"):
    """Raise ``config error at <path>: <message>; valid <kind>: <sorted choices>``."""
    where = ".".join(str(p) for p in path) if not isinstance(path, str) else path
    tail = f"; valid {kind}: {', '.join(sorted(map(str, valid))) or '(none)'}" if valid is not None else ""
    raise ConfigError(f"config error at {where or '(top level)'}: {message}{tail}")


_SCIENTIFIC = re.compile(r"([-+]?)(\d+)(?:\.(\d*))?[eE]([-+]?)(\d+)")


def number_hint(value, integer: bool = False) -> str:
    """For a string YAML did not read as a number but float() does: how to write it as a number
    (``integer``: where only a whole number will do)."""
    if not isinstance(value, str):
        return ""
    try:
        x = float(value)
    except ValueError:
        return ""
    if x != x or x in (float("inf"), float("-inf")):
        return ""
    m = _SCIENTIFIC.fullmatch(value.strip())
    if integer and x.is_integer():
        return f" (YAML reads {value} as a string: write {int(x)})"
    if m:
        sign, whole, frac, esign, exp = m.groups()
        written = f"{sign}{whole}.{frac or '0'}e{esign or '+'}{int(exp)}"
        return f" (YAML reads {value} as a string: write {written})"
    return f" (a string: write {value} without quotes)"


def value(path, v, kind) -> None:
    """One keyword's value against its kind (names.NUMBER / FLAG / TEXT, or a tuple of choices)."""
    if isinstance(kind, tuple):
        if v not in kind:
            fail(path, f"unknown value {v!r}", kind, "values")
    elif kind == N.NUMBER and (isinstance(v, bool) or not isinstance(v, (int, float, type(None)))):
        fail(path, f"{v!r} is not a number{number_hint(v)}")
    elif kind == N.FLAG and not isinstance(v, bool):
        fail(path, f"{v!r} is not true or false")
    elif kind == N.TEXT and not isinstance(v, (str, type(None))):
        fail(path, f"{v!r} is not a string")


def keywords(path, given: dict, valid, what: str) -> None:
    """Every key of ``given`` is one of ``valid`` (a dict key -> kind checks the value too)."""
    for k, v in given.items():
        if k not in valid:
            fail([*path, k], f"unknown {what} {k!r}", valid)
        if isinstance(valid, dict):
            value([*path, k], v, valid[k])


def name(path, v, valid, kind: str) -> None:
    if v not in valid:
        fail(path, f"unknown {kind[:-1]} {v!r}", valid, kind)


# ------------------------------------------------------------------------------------------ sections
def attack_set(path, attacks: dict) -> None:
    for label, options in (attacks or {}).items():
        attack = options.get("attack", label)
        name([*path, label] + (["attack"] if "attack" in options else []), attack, N.ATTACKS, "attacks")
        keywords([*path, label], options, N.attack_options(attack), f"option of attack {attack!r}:")


def loss_params(path, loss: str, params: dict) -> None:
    valid = N.loss_params(loss, params)
    for k in params:
        if k in N.DAG_PARAMS.get(loss, ()):
            fail([*path, k], f"{k!r} is set by the pipeline, not by a recipe", valid)
    keywords(path, params, valid, f"parameter of loss {loss!r}:")


def recipes(resolved: dict) -> None:
    for r, recipe in resolved["recipes"].items():
        path = ["recipes", r]
        name([*path, "loss"], recipe["loss"], N.LOSS_PARAMS, "losses")
        loss_params([*path, "params"], recipe["loss"], recipe["params"])
        for d, params in recipe["params_by_dataset"].items():
            name([*path, "params_by_dataset", d], d, N.DATASETS, "datasets")
            loss_params([*path, "params_by_dataset", d], recipe["loss"], {**recipe["params"], **params})


def recipe_references(resolved: dict) -> None:
    """Every recipe a section names is a key of `recipes` (the paths of the raw configuration)."""
    a = resolved["aga"]
    generated = {p["recipe"] for g in a["grid"] for p in g["points"]} - {r for s in a["settings"] for r in s["recipes"].values()}
    known = [r for r in resolved["recipes"] if r not in generated]   # aga.grid's points are not named in a config
    refs = [(["models", i, "recipe"], m["recipe"]) for i, m in enumerate(resolved["models"])]
    if resolved["matrix"]["models"] != "all":
        refs += [(["matrix", "models", i, "recipe"], m["recipe"]) for i, m in enumerate(resolved["matrix"]["models"])]
    refs += [(["limeref", k], resolved["limeref"][k]) for k in ("baseline_recipe", "refined_recipe")]
    refs += [(["glime", key, i, "recipe"], s["recipe"]) for key in ("settings", "networks")
             for i, s in enumerate(resolved["glime"][key])]
    refs += [(["aga", "settings", i, "recipes", row], r) for i, s in enumerate(resolved["aga"]["settings"])
             for row, r in s["recipes"].items()]
    refs += [(["sep", "tables", t, f"row {row['label']!r}", "recipe"], row["recipe"])
             for t, rows in resolved["sep"]["tables"].items() for row in rows]
    refs += [(["sep", "pair_model", "recipe"], resolved["sep"]["pair_model"]["recipe"])]
    for path, r in refs:
        if r not in resolved["recipes"]:
            fail(path, f"unknown recipe {r!r}", known, "recipes")


def glime_samples(g: dict) -> None:
    """Fig. 8's n must be one of the stability runs' n (its top-3 superpixels come from them)."""
    n, runs = g.get("stability_example_samples"), g.get("stability_samples") or []
    if n is not None and n not in runs:
        fail(["glime", "stability_example_samples"], f"{n} is not one of glime.stability_samples; set it to one of "
             "them (Fig. 8 shows that run's explanations)", runs, "values")


def check(resolved: dict) -> None:
    """Raise ConfigError at the first registry name or keyword of ``resolved`` that is not valid."""
    e = resolved["evaluate"]
    for key in ("attacks", "strong_attacks"):
        attack_set(["evaluate", key], e.get(key))
    for attack in e.get("corrupted_attacks") or {}:
        name(["evaluate", "corrupted_attacks", attack], attack, N.ATTACKS, "attacks")
    recipe_references(resolved)
    recipes(resolved)
    toy = resolved["aga"].get("toy", {})
    for variant, params in toy.get("variant_params", {}).items():
        name(["aga", "toy", "variant_params", variant], variant, N.TOY_VARIANT_LOSSES, "variants")
        loss_params(["aga", "toy", "variant_params", variant], N.TOY_VARIANT_LOSSES[variant], params)
    for a in resolved["aga"].get("attributions", []):
        name(["aga", "attributions"], a, N.ATTRIBUTIONS, "attributions")
    for a in resolved["glime"].get("baselines", []):
        name(["glime", "baselines"], a, N.ATTRIBUTIONS, "attributions")
    s = resolved["sep"]
    name(["sep", "attribution"], s["attribution"], N.ATTRIBUTIONS, "attributions")
    for t, rows in s["tables"].items():
        for row in rows:
            name(["sep", "tables", t, f"row {row['label']!r}", "attribution"], row["attribution"], N.ATTRIBUTIONS,
                 "attributions")
    for a, options in (s.get("explain_options") or {}).items():
        name(["sep", "explain_options", a], a, N.ATTRIBUTIONS, "attributions")
        keywords(["sep", "explain_options", a], options, N.ATTRIBUTIONS[a], f"option of attribution {a!r}:")
    glime_samples(resolved.get("glime") or {})
    seg = dict(resolved["glime"].get("segmentation") or {})
    method = seg.pop("method", "quickshift")
    name(["glime", "segmentation", "method"], method, N.SEGMENTATIONS, "methods")
    keywords(["glime", "segmentation"], seg, N.SEGMENTATIONS[method], f"keyword of {method}:")
