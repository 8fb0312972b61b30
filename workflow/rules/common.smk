# Helpers that turn the validated config into file lists and CLI parameters.
# Pure bookkeeping: no tensors here, and the package's registry is read only for dataset metadata.

import json
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace as Namespace

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from interprobust.data.registry import DATASETS  # noqa: E402  (pure Python, no torch)


def _fail(msg):
    raise ValueError(f"config error: {msg}")


def _check_config():
    methods = config["methods"]
    seen = set()
    listed = list(config["models"])
    if config.get("limeref"):
        lr = config["limeref"]
        listed += [{"dataset": "(limeref)", "arch": lr["arch"], "method": lr[k]} for k in ("baseline_method", "refined_method")]
    for rows in config.get("sep", {}).get("tables", {}).values():
        listed += [{"dataset": "(sep)", "arch": r["arch"], "method": r["method"]} for r in rows]
    if config.get("sep", {}).get("pair_model"):
        listed.append({"dataset": "(sep)", **config["sep"]["pair_model"]})
    for fig, spec in config.get("sep", {}).get("figures", {}).items():
        table = config["sep"].get("tables", {}).get(spec["table"])
        if table is None:
            _fail(f"sep.figures.{fig} draws table {spec['table']!r}; tables: {sorted(config['sep'].get('tables', {}))}")
        unknown = set(spec.get("rows", [])) - {r["label"] for r in table}
        if unknown:
            _fail(f"sep.figures.{fig} names rows {sorted(unknown)} that {spec['table']} does not have")
    glime = config.get("glime", {})
    for setting in glime.get("settings", []) + glime.get("networks", []):
        listed.append({"dataset": "(glime)", "arch": setting["arch"], "method": setting["method"]})
    for setting in config.get("aga", {}).get("settings", []):
        listed += [{"dataset": "(aga)", "arch": setting["arch"], "method": meth} for meth in setting["methods"].values()]
    for m in listed:
        if m["method"] not in methods:
            _fail(f"models entry {m} uses method {m['method']!r}; defined methods: {', '.join(sorted(methods))}")
        if m["dataset"] in ("(limeref)", "(aga)", "(glime)", "(sep)"):
            continue
        key = (m["dataset"], m["arch"], m["method"], m.get("seed", 0))
        if key in seen:
            _fail(f"models lists {key} twice")
        seen.add(key)
        if DATASETS[m["dataset"]].corrupted:
            _fail(f"{m['dataset']!r} is a corrupted test set: it cannot train a model")
    for clean, corrupt in config["evaluate"].get("corrupted_test_sets", {}).items():
        if not DATASETS[corrupt].corrupted:
            valid = ", ".join(n for n, s in DATASETS.items() if s.corrupted)
            _fail(f"evaluate.corrupted_test_sets maps {clean!r} to {corrupt!r}, which is not a corrupted set ({valid})")


ALL_PAPERS = ["limeref", "glime", "aga", "sep"]
PAPERS = config.get("papers", ALL_PAPERS)
LIMEREF = config.get("limeref", {}) if "limeref" in PAPERS else {}
AGA = config.get("aga", {}) if "aga" in PAPERS else {}
GLIME = config.get("glime", {}) if "glime" in PAPERS else {}
SEP = config.get("sep", {}) if "sep" in PAPERS else {}


def sep_colour(dataset):
    return "grey" if DATASETS[dataset].channels == 1 else "rgb"


def sep_params(dataset):
    """The sep section as the CLI's --settings, its eps resolved for the dataset's colour space, and
    the foundation's PGD for adversarial accuracy."""
    p = {k: v for k, v in SEP.items() if k not in ("tables", "figures")}
    c = sep_colour(dataset)
    p["attack"] = {**SEP["attack"], "eps": SEP["attack"]["eps"][c]}
    p["adv_eps"] = SEP["adv_eps"][c]
    p["pgd"] = config["evaluate"]["attacks"]["pgd"]
    return shlex.quote(as_json(p))


def sep_pair_model(dataset):
    return f"{model_dir({**SEP['pair_model'], 'dataset': dataset, 'seed': SEP.get('seed', 0)})}/model.pt"


def sep_rows(table, rows=None):
    out = SEP["tables"][table]
    return [r for r in out if rows is None or r["label"] in rows]


def sep_file(row, kind):
    """A row's cached result: eval (CSV), landscape (CSV) or saliency (npz)."""
    ext = "npz" if kind == "saliency" else "csv"
    return (f"results/sep/{kind}/{row['dataset']}/{row['arch']}/{row['method']}/seed{row.get('seed', 0)}/"
            f"{row.get('explain', 'input_x_gradient')}.{ext}")


def sep_labels(rows):
    return " ".join(shlex.quote(r["label"]) for r in rows)


def sep_figure_rows(fig):
    spec = SEP["figures"][fig]
    return sep_rows(spec["table"], spec.get("rows"))


def sep_outputs():
    out = []
    for t in SEP.get("tables", {}):
        out += expand("results/sep/{t}.{ext}", t=t, ext=["csv", "md"])
    for f in SEP.get("figures", {}):
        out += expand("results/sep/{f}.{ext}", f=f, ext=["pdf", "png"])
    return out


if SEP:
    _m = len({(r["dataset"], r["arch"], r["method"], r.get("seed", 0), r.get("explain", "input_x_gradient"))
              for rows in SEP.get("tables", {}).values() for r in rows})
    _n = SEP["clusters"] * SEP["per_cluster"]
    print(f"SEP: {_n * (_n - 1)} ordered pairs x {SEP['attack']['steps']} attack steps per evaluation, "
          f"{_m} evaluations (at most; fewer when a cluster is small)", file=sys.stderr)

# G-LIME's tables and figures: number -> (CLI kind, the per-setting intermediates it reads)
GLIME_TABLES = {"2": ("glime-deletion", ["scores.csv"]), "3": ("glime-insertion", ["scores.csv"]),
                "4": ("glime-stability", ["stability.csv"]), "5": ("glime-methods", ["scores.csv", "baselines.csv"]),
                "6": ("glime-priors", ["scores.csv"]), "7": ("glime-networks", None)}
GLIME_FIGURES = {"3": ("glime-clusters", "clusters.npz"), "4": ("glime-paths", "details.npz"),
                 "5": ("glime-fidelity", "scores.csv"), "6": ("glime-deletion", "details.npz"),
                 "7": ("glime-insertion", "details.npz"), "8": ("glime-stability", "stability.npz"),
                 "9": ("glime-lam2", "scores.csv")}


def glime_setting(name):
    """A G-LIME setting (main or network) by name, with whether it is a main setting."""
    for s in GLIME.get("settings", []):
        if s["name"] == name:
            return s, True
    for s in GLIME.get("networks", []):
        if s["name"] == name:
            return s, False
    raise ValueError(f"no glime setting named {name!r}")


def glime_model(name):
    return f"{model_dir(glime_setting(name)[0])}/model.pt"


def glime_data(name):
    return prepared(glime_setting(name)[0]["dataset"])


def glime_segments(name):
    return f"results/glime/segments/{glime_setting(name)[0]['dataset']}.npz"


def glime_params(name):
    """The glime section as the CLI's --settings; a network setting runs only at table6_samples."""
    main = glime_setting(name)[1]
    p = {k: v for k, v in GLIME.items() if k not in ("settings", "networks")}
    n6 = GLIME["table6_samples"]
    p["run_samples"] = sorted(set(GLIME["samples"]) | {n6}) if main else [n6]
    p["ablation_samples"] = n6
    if not main:
        p["repeats"] = 1
    return shlex.quote(as_json(p))


def glime_table_inputs(w):
    kind, files = GLIME_TABLES[w.number]
    if files is None:   # Table 7: the main setting, then every network
        return [f"results/glime/{n}/scores.csv" for n in [w.name] + [s["name"] for s in GLIME.get("networks", [])]]
    return [f"results/glime/{w.name}/{f}" for f in files]


def glime_table_labels(w):
    kind, files = GLIME_TABLES[w.number]
    if files is None:
        s, _ = glime_setting(w.name)
        return " ".join(shlex.quote(x) for x in [f"{s['arch']}"] + [n["name"] for n in GLIME.get("networks", [])])
    return " ".join(f.split(".")[0] for f in files)


def glime_outputs():
    out = []
    for s in GLIME.get("settings", []):
        tables = [t for t in GLIME_TABLES if t != "7" or GLIME.get("networks")]
        out += expand("results/glime/table{t}_{name}.{ext}", t=tables, name=s["name"], ext=["csv", "md"])
        out += expand("results/glime/fig{f}_{name}.{ext}", f=list(GLIME_FIGURES), name=s["name"], ext=["pdf", "png"])
    return out


def _aga_grid_points(entry):
    """[(label, method)] of one aga.grid entry, the reference (CE) row first. Each point's recipe is the
    row's recipe with the point's loss parameters, added to config["methods"] as <recipe>-grid<i>; a
    point equal to the row's own parameters reuses the row's model."""
    import itertools
    setting = next((s for s in AGA.get("settings", []) if s["name"] == entry["setting"]), None)
    if setting is None:
        _fail(f"aga.grid names setting {entry['setting']!r}; settings: {[s['name'] for s in AGA['settings']]}")
    ref = entry.get("reference", "CE")
    for row in (entry["row"], ref):
        if row not in setting["methods"]:
            _fail(f"aga.grid row {row!r} is not a row of setting {entry['setting']!r}: {list(setting['methods'])}")
    base = setting["methods"][entry["row"]]
    recipe = config["methods"][base]
    keys = sorted(entry["params"])
    points = [(ref, setting["methods"][ref])]
    for i, values in enumerate(itertools.product(*(entry["params"][k] for k in keys))):
        params = {**recipe.get("params", {}), **dict(zip(keys, values))}
        name = base if params == recipe.get("params", {}) else f"{base}-grid{i}"
        config["methods"].setdefault(name, {**recipe, "params": params})
        points.append((" ".join(f"{k}={v:g}" for k, v in zip(keys, values)), name))
    return points


def aga_grid(name):
    """The grid entry whose output is named ``name`` (<setting>_<row>), with its points."""
    for entry in AGA.get("grid", []):
        if aga_grid_name(entry) == name:
            return entry, _aga_grid_points(entry)
    raise ValueError(f"no aga.grid entry named {name!r}")


def aga_grid_name(entry):
    return f"{entry['setting']}_{''.join(c for c in entry['row'] if c.isalnum()).lower()}"


def aga_grid_files(name):
    entry, points = aga_grid(name)
    s = next(s for s in AGA["settings"] if s["name"] == entry["setting"])
    return [f"results/aga/grid_eval/{s['dataset']}/{s['arch']}/{m}/seed{AGA['seed']}/scores.csv" for _, m in points]


def aga_grid_labels(name):
    return " ".join(shlex.quote(label) for label, _ in aga_grid(name)[1])


def aga_grid_params():
    """Grid points are ranked by accuracy and Grad-RPS only: the other metrics are skipped."""
    return {**aga_params(), "attributions": ["gradient"], "rps_eps": [max(AGA["rps_eps"])], "attack_steps": 0,
            "attack_eps": 2 / 255}


for _entry in AGA.get("grid", []):   # register the grid's recipes before any rule asks for them
    _aga_grid_points(_entry)


def aga_models(setting):
    """(row label, model dict) for every row of one AGA setting."""
    return [(row, {"dataset": setting["dataset"], "arch": setting["arch"], "method": method, "seed": AGA["seed"]})
            for row, method in setting["methods"].items()]


def limeref_datasets():
    """Datasets LIMEREF runs on: the stand-ins of CIFAR-10 / CIFAR-100 and the planted-patch set."""
    if not LIMEREF:
        return []
    ds = set(LIMEREF.get("datasets", {}).values())
    if LIMEREF.get("planted"):
        ds.add(LIMEREF["planted"])
    return sorted(ds)


def unique_models(models):
    """Each (dataset, arch, method, seed) once, in first-seen order."""
    unique = {}
    for m in models:
        unique.setdefault((m["dataset"], m["arch"], m["method"], m.get("seed", 0)), m)
    return list(unique.values())


def _all_models():
    """The config's `models` plus the baseline and refined models each paper needs (no duplicates)."""
    models = [dict(m, seed=m.get("seed", 0)) for m in config["models"]]
    for d in limeref_datasets():
        for method in (LIMEREF["baseline_method"], LIMEREF["refined_method"]):
            models.append({"dataset": d, "arch": LIMEREF["arch"], "method": method, "seed": LIMEREF["seed"]})
    return unique_models(models)


_check_config()
# The overview (accuracy under attack, corruptions, training curves per dataset) covers `models` and
# LIMEREF's; AGA's models are trained through the same rule and evaluated by AGA's own rules.
MODELS = _all_models()
DOWNLOADS = config["paths"]["downloads"]
# Wildcards never contain a slash; each is restricted to the names the config can produce.
wildcard_constraints:
    dataset="|".join(DATASETS),
    arch="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_+-]+",
    seed=r"\d+",
    name="[A-Za-z0-9_]+",
    number=r"\d+",
    table=r"table\d+",
    fig=r"fig\d+",
    explain="[a-z_]+",


def model_dir(m):
    return f"results/models/{m['dataset']}/{m['arch']}/{m['method']}/seed{m.get('seed', 0)}"


def eval_dir(m):
    return f"results/eval/{m['dataset']}/{m['arch']}/{m['method']}/seed{m.get('seed', 0)}"


def model_label(m):
    return f"{m['arch']}/{m['method']}/seed{m.get('seed', 0)}"


def models_on(dataset):
    return [m for m in MODELS if m["dataset"] == dataset]


def trained_datasets():
    return sorted({m["dataset"] for m in MODELS})


def corrupted_of(dataset):
    return config["evaluate"].get("corrupted_test_sets", {}).get(dataset)


def prepared(dataset):
    return f"results/data/{dataset}/meta.json"


def as_json(obj):
    """Deterministic JSON for params (stable across runs, so it never triggers a rerun by itself)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def spurious_file(dataset, arch, seed, rnd):
    return f"results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/spurious.json"


def round_model(dataset, arch, seed, rnd):
    """LIMEREF round r's model: round 0 is the baseline, the last round is the refined model."""
    if int(rnd) == 0:
        return f"results/models/{dataset}/{arch}/{LIMEREF['baseline_method']}/seed{seed}/model.pt"
    return f"results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/model.pt"


def uses_spurious(method):
    return config["methods"][method]["loss"] == "limeref"


def training_params(w, spurious=None):
    """The resolved training settings of one model: defaults < per-dataset < method recipe."""
    recipe = config["methods"][w.method]
    training = {**config["training"], **config["training_by_dataset"].get(w.dataset, {}), **recipe.get("training", {})}
    model = {**config["model_defaults"], **recipe.get("model", {})}
    loss_params = {**recipe.get("params", {}), **recipe.get("params_by_dataset", {}).get(w.dataset, {})}
    if spurious:
        loss_params["spurious"] = spurious
    return as_json({"loss": recipe["loss"], "loss_params": loss_params, "training": training, "model": model})


def tracked_corruptions(dataset):
    track = config["evaluate"].get("track_corruptions", {})
    return corrupted_of(dataset) if track.get("enabled") else None


def train_inputs(w):
    inputs = {"data": prepared(w.dataset)}
    overview = any((m["dataset"], m["arch"], m["method"], str(m["seed"])) == (w.dataset, w.arch, w.method, str(w.seed))
                   for m in MODELS)
    if tracked_corruptions(w.dataset) and overview:  # per-epoch tracking: the overview's and LIMEREF's models
        inputs["tracked"] = prepared(tracked_corruptions(w.dataset))
    if uses_spurious(w.method):
        inputs["spurious"] = spurious_file(w.dataset, w.arch, w.seed, LIMEREF["rounds"] - 1)
        if LIMEREF.get("refine_from", "previous") == "previous":
            inputs["init"] = round_model(w.dataset, w.arch, w.seed, LIMEREF["rounds"] - 1)
    return inputs


def train_extra_args(w, input):
    args = f" --init-from {input.init}" if "init" in input.keys() else ""
    if "tracked" in input.keys():
        args += f" --track-corruptions {Path(input.tracked).parent}"
        n = config["evaluate"]["track_corruptions"].get("max_samples")
        args += f" --track-samples {n}" if n else ""
    return args


def evaluation_params(attacks="attacks"):
    e = config["evaluate"]
    eps = (e.get("strong_eps") or e["eps"]) if attacks == "strong_attacks" else e["eps"]
    n = (e.get("strong_max_samples") or e["max_samples"]) if attacks == "strong_attacks" else e["max_samples"]
    return as_json({"eps": eps, "attacks": e[attacks], "batch_size": e["batch_size"], "max_samples": n})


def corrupted_attack_params():
    e = config["evaluate"]
    return as_json({"attack_eps": e["corrupted_attacks"], "attacks": e["attacks"], "batch_size": e["batch_size"],
                    "max_samples": e.get("corrupted_max_samples"), "severities": e.get("corrupted_severities")})


def prepare_options(w):
    spec = DATASETS[w.dataset]
    if spec.kind == "embedded":
        return as_json(config["data"].get("embedded", {}))
    if w.dataset == "imagenet100":
        return as_json({"imagenet_dir": config["data"].get("imagenet_dir")})
    return as_json(config["data"].get(w.dataset, {}))


def res(stage, key, default):
    return config["resources"].get(stage, {}).get(key, default)


# LIMEREF's figures: number -> (kind, what). Fig. 2-5 for CIFAR-10, 6-9 for CIFAR-100, 10-15 CIFAR-10-C.
LIMEREF_FIGURES = {
    "02": ("curves", "test_acc"), "03": ("curves", "test_loss"), "04": ("sweep", "fgsm"), "05": ("sweep", "pgd"),
    "06": ("curves", "test_acc"), "07": ("curves", "test_loss"), "08": ("sweep", "fgsm"), "09": ("sweep", "pgd"),
    "10": ("corruption_epochs", "baseline"), "11": ("corruption_epochs", "refined"),
    "12": ("corruption_attack", ("fgsm", 0.1)), "13": ("corruption_attack", ("fgsm", 0.3)),
    "14": ("corruption_attack", ("pgd", 0.01)), "15": ("corruption_attack", ("pgd", 0.03)),
}
LIMEREF_ROLE_FIGURES = {"cifar10": ["02", "03", "04", "05"], "cifar100": ["06", "07", "08", "09"]}


def limeref_model_dir(dataset, which):
    method = LIMEREF["baseline_method"] if which == "baseline" else LIMEREF["refined_method"]
    return f"results/models/{dataset}/{LIMEREF['arch']}/{method}/seed{LIMEREF['seed']}"


def limeref_eval_dir(dataset, which):
    return limeref_model_dir(dataset, which).replace("results/models/", "results/eval/", 1)


def limeref_pair(name, folder=limeref_eval_dir):
    """Input function: the baseline's and the refined model's ``name`` for the wildcard dataset."""
    return lambda w: [f"{folder(w.dataset, which)}/{name}" for which in ("baseline", "refined")]


def limeref_outputs():
    if not LIMEREF:
        return []
    out = []
    for role, d in LIMEREF.get("datasets", {}).items():
        for num in LIMEREF_ROLE_FIGURES[role]:
            out += expand("results/limeref/fig{num}_{d}.{ext}", num=num, d=d, ext=["pdf", "png", "csv"])
        out += expand("results/limeref/honesty_{d}.{ext}", d=d, ext=["csv", "md"])
    role = LIMEREF.get("corrupted")
    if role and role in LIMEREF.get("datasets", {}):
        d = LIMEREF["datasets"][role]
        out += expand("results/limeref/fig{num}_{d}.{ext}", num=["10", "11", "12", "13", "14", "15"], d=d,
                      ext=["pdf", "png", "csv"])
    if LIMEREF.get("planted"):
        out += expand("results/limeref/planted_check.{ext}", ext=["csv", "md"])
    return sorted(set(out))


def aga_outputs():
    out = []
    for setting in AGA.get("settings", []):
        out += expand("results/aga/table1_{name}.{ext}", name=setting["name"], ext=["csv", "md"])
        out += expand("results/aga/rps_{name}.{ext}", name=setting["name"], ext=["csv", "md"])
        out += expand("results/aga/fig2_{name}.{ext}", name=setting["name"], ext=["pdf", "png", "csv"])
        out += expand("results/aga/table2_{name}.{ext}", name=setting["name"], ext=["csv", "md"])
        out += expand("results/aga/fig3_{name}.{ext}", name=setting["name"], ext=["pdf", "png", "csv"])
    if AGA:
        out += expand("results/aga/fig1_toy.{ext}", ext=["pdf", "png", "csv"])
    for entry in AGA.get("grid", []):
        out += expand("results/aga/grid_{name}.{ext}", name=aga_grid_name(entry), ext=["csv", "md"])
    return out


def aga_setting(name):
    return next(s for s in AGA["settings"] if s["name"] == name)


def aga_attack_eps(w):
    for setting in AGA.get("settings", []):
        if (setting["dataset"], setting["arch"]) == (w.dataset, w.arch) and w.method in setting["methods"].values():
            return setting.get("attack_eps", 2 / 255)
    raise ValueError(f"{w.dataset}/{w.arch}/{w.method} is not in any aga.settings entry")


def aga_row_files(name, filename):
    setting = aga_setting(name)
    return [f"results/aga/eval/{m['dataset']}/{m['arch']}/{m['method']}/seed{m['seed']}/{filename}"
            for _, m in aga_models(setting)]


def aga_row_labels(name):
    return " ".join(shlex.quote(row) for row, _ in aga_models(aga_setting(name)))


def aga_cost_rows(name):
    """JSON: row label -> the resolved training settings of that row's method (AGA Table 2)."""
    setting = aga_setting(name)
    return as_json({row: json.loads(training_params(Namespace(dataset=setting["dataset"], method=m["method"])))
                    for row, m in aga_models(setting)})


def aga_params():
    keys = ("attributions", "rps_eps", "n_noise", "attack_steps", "max_samples", "batch_size", "seed",
            "figure_images", "bound_eps", "bound_samples")
    return {k: AGA[k] for k in keys if k in AGA}


def paper_outputs():
    return limeref_outputs() + glime_outputs() + aga_outputs() + sep_outputs()


def report_settings():
    """What the scorecard and the claims need to find each paper's tables."""
    return shlex.quote(as_json({"scale": config.get("scale", "paper"),
                                "limeref": {k: LIMEREF[k] for k in ("datasets", "corrupted") if k in LIMEREF},
                                "glime": {k: GLIME[k] for k in ("settings", "table6_samples") if k in GLIME},
                                "aga": {"settings": [{"name": s["name"]} for s in AGA.get("settings", [])]}}))


MATRIX = config.get("matrix", {})


def matrix_models():
    """The cross-paper matrix's models: `matrix.models` (a list), or `all` = every model the DAG trains."""
    chosen = MATRIX.get("models", "all")
    if chosen != "all":
        return [dict(m, seed=m.get("seed", 0)) for m in chosen]
    models = list(MODELS)
    for setting in AGA.get("settings", []):
        models += [m for _, m in aga_models(setting)]
    for s in GLIME.get("settings", []) + GLIME.get("networks", []):
        models.append({"dataset": s["dataset"], "arch": s["arch"], "method": s["method"], "seed": s.get("seed", 0)})
    for rows in SEP.get("tables", {}).values():
        models += [{"dataset": r["dataset"], "arch": r["arch"], "method": r["method"], "seed": r.get("seed", 0)}
                   for r in rows]
    return unique_models(models)


def matrix_file(m):
    return f"results/matrix/eval/{m['dataset']}/{m['arch']}/{m['method']}/seed{m.get('seed', 0)}.csv"


def matrix_params(dataset):
    p = {k: v for k, v in MATRIX.items() if k != "models"}
    c = sep_colour(dataset)
    p["eps"] = MATRIX["eps"][c]
    p["sep_attack"] = {**MATRIX.get("sep_attack", {}), "eps": MATRIX["eps"][c]}
    p["pgd"] = config["evaluate"]["attacks"]["pgd"]
    return shlex.quote(as_json(p))


def final_outputs():
    out = paper_outputs()
    if PAPERS:  # `papers: []` builds only the models' overview (no scorecard, claims, matrix, estimate)
        out += expand("results/{what}.{ext}", what=["scorecard", "claims"], ext=["csv", "md"])
        if MATRIX.get("enabled", True):
            out += expand("results/matrix.{ext}", ext=["csv", "md", "pdf", "png"])
        out += cost_outputs()
    for d in trained_datasets():
        out += expand("results/overview/{d}_training_curves.{ext}", d=d, ext=["pdf", "png"])
        out += expand("results/overview/{d}_robustness.{ext}", d=d, ext=["pdf", "png", "csv", "md"])
        if corrupted_of(d):
            out += expand("results/overview/{d}_corruptions.{ext}", d=d, ext=["pdf", "png", "csv", "md"])
    return out


def prepare_inputs(w):
    spec = DATASETS[w.dataset]
    inputs = {}
    if spec.needs_download:
        inputs["raw"] = f"{DOWNLOADS}/{w.dataset}/verified.json"
    if spec.source:
        inputs["source"] = prepared(spec.source)
    return inputs


def model_files(name, folder=eval_dir):
    return lambda w: [f"{folder(m)}/{name}" for m in models_on(w.dataset)]


def labels(w):
    return " ".join(shlex.quote(model_label(m)) for m in models_on(w.dataset))


COST = config.get("cost", {})


def cost_target_papers():
    """The papers the cost estimate's target configuration runs (its `papers`, read from its files)."""
    import yaml
    papers = ALL_PAPERS
    for path in COST.get("target_configfiles", []):
        if not Path(path).exists():
            _fail(f"cost.target_configfiles lists {path!r}, which does not exist (paths are relative to "
                  f"{Path.cwd()})")
    for path in ["config.yaml", *COST.get("target_configfiles", [])]:
        papers = (yaml.safe_load(Path(path).read_text()) or {}).get("papers", papers)
    return list(papers)


def workflow_files():
    """The Snakefile and every included .smk: a job listing is made again when the DAG code changes."""
    return [workflow.main_snakefile, *sorted(str(p) for p in Path(workflow.basedir, "workflow", "rules").glob("*.smk"))]


def listing_configfiles(scale):
    """The config files a dry run reads on top of config.yaml: this run's for the measured listing,
    cost.target_configfiles for the target one."""
    files = workflow.overwrite_configfiles if scale == "measured" else COST.get("target_configfiles", [])
    return [str(f) for f in files]


def listing_config(scale, part):
    """Command-line config of a dry run: the measured one is this run (its config files; values given
    with --config are not passed on), the target one cost.target_configfiles; a part runs only the
    overview or one paper."""
    files = listing_configfiles(scale)
    args = [f"--configfile {' '.join(shlex.quote(f) for f in files)}"] if files else []
    if part != "all":
        papers = as_json([] if part == "overview" else [part])
        args.append(f"--config {shlex.quote(f'papers={papers}')}")
    return " ".join(args)


def cost_outputs():
    if not COST.get("enabled", True):
        return []
    return expand("results/cost/{what}", what=["estimate.md", "estimate.csv", "jobs.csv"])
