# Helpers that turn the validated config into file lists and CLI parameters.
# Pure bookkeeping: no tensors here, and the package's registry is read only for dataset metadata.

import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from interprobust.data.registry import DATASETS  # noqa: E402  (pure Python, no torch)


def _fail(msg):
    raise ValueError(f"config error: {msg}")


def _check_config():
    methods = config["methods"]
    seen = set()
    for m in config["models"]:
        if m["method"] not in methods:
            _fail(f"models entry {m} uses method {m['method']!r}; defined methods: {', '.join(sorted(methods))}")
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


_check_config()

MODELS = config["models"]
DOWNLOADS = config["paths"]["downloads"]
# Wildcards never contain a slash; each is restricted to the names the config can produce.
wildcard_constraints:
    dataset="|".join(DATASETS),
    arch="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_+-]+",
    seed=r"\d+",


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


def training_params(w):
    """The resolved training settings of one model: defaults < per-dataset < method recipe."""
    recipe = config["methods"][w.method]
    training = {**config["training"], **config["training_by_dataset"].get(w.dataset, {}), **recipe.get("training", {})}
    model = {**config["model_defaults"], **recipe.get("model", {})}
    return as_json({"loss": recipe["loss"], "loss_params": recipe.get("params", {}), "training": training,
                    "model": model})


def evaluation_params():
    e = config["evaluate"]
    return as_json({"eps": e["eps"], "attacks": e["attacks"], "batch_size": e["batch_size"],
                    "max_samples": e["max_samples"]})


def prepare_options(w):
    spec = DATASETS[w.dataset]
    if spec.kind == "embedded":
        return as_json(config["data"].get("embedded", {}))
    if w.dataset == "imagenet100":
        return as_json({"imagenet_dir": config["data"].get("imagenet_dir")})
    return as_json(config["data"].get(w.dataset, {}))


def res(stage, key, default):
    return config["resources"].get(stage, {}).get(key, default)


def final_outputs():
    out = []
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
