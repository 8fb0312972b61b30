"""TEMPORARY: old config shape -> the resolved shape (replaced by the config-by-paper resolver)."""
import copy
import itertools


def resolve(raw):
    c = copy.deepcopy(dict(raw))
    rec = {}
    for k, r in c.pop("methods").items():
        rec[k] = {"loss": r["loss"], "params": r.get("params", {}), "params_by_dataset": r.get("params_by_dataset", {}),
                  "training": r.get("training", {}), "model": r.get("model", {})}
    c["recipes"] = rec
    ren = lambda m: {("recipe" if k == "method" else k): v for k, v in m.items()}
    c["models"] = [ren({**m, "seed": m.get("seed", 0)}) for m in c["models"]]
    if c.get("limeref"):
        l = c["limeref"]
        l["baseline_recipe"] = l.pop("baseline_method"); l["refined_recipe"] = l.pop("refined_method")
    g = c.get("glime", {})
    for key in ("settings", "networks"):
        g[key] = [ren(s) for s in g.get(key, [])]
    a = c.get("aga", {})
    for s in a.get("settings", []):
        s["recipes"] = s.pop("methods")
    grid = []
    for entry in a.get("grid", []):
        setting = next(s for s in a["settings"] if s["name"] == entry["setting"])
        ref = entry.get("reference", "CE")
        base = setting["recipes"][entry["row"]]
        recipe = rec[base]
        keys = sorted(entry["params"])
        points = [{"label": ref, "recipe": setting["recipes"][ref]}]
        for i, values in enumerate(itertools.product(*(entry["params"][k] for k in keys))):
            params = {**recipe["params"], **dict(zip(keys, values))}
            name = base if params == recipe["params"] else f"{base}-grid{i}"
            rec.setdefault(name, {**recipe, "params": params})
            points.append({"label": " ".join(f"{k}={v:g}" for k, v in zip(keys, values)), "recipe": name})
        grid.append({**entry, "name": f"{entry['setting']}_{''.join(ch for ch in entry['row'] if ch.isalnum()).lower()}",
                     "reference": ref, "points": points})
    if a:
        a["grid"] = grid
    sp = c.get("sep", {})
    if sp.get("pair_model"):
        sp["pair_model"] = ren(sp["pair_model"])
    for t, rows in sp.get("tables", {}).items():
        sp["tables"][t] = [{("attribution" if k == "explain" else k): v for k, v in ren(r).items()} for r in rows]
    mx = c.get("matrix", {})
    if isinstance(mx.get("models"), list):
        mx["models"] = [ren(m) for m in mx["models"]]
    return c
