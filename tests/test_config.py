"""The config schema, the registries it names, and the two shipped configs agree."""

import copy
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def merged(*files):
    """Snakemake's merge of --configfile over configfile: mappings merge recursively, the rest replaces."""
    def update(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                update(a[k], v)
            else:
                a[k] = copy.deepcopy(v)
        return a
    out = {}
    for f in files:
        update(out, yaml.safe_load((ROOT / f).read_text()))
    return out


def validate(cfg):
    jsonschema.validate(cfg, SCHEMA)


def test_schema_enums_match_the_registries():
    from interprobust import attacks, losses, models, train
    from interprobust.data import registry
    defs = SCHEMA["$defs"]
    assert set(defs["dataset"]["enum"]) == set(registry.DATASETS)
    assert set(defs["arch"]["enum"]) == set(models.ARCHITECTURES)
    assert set(defs["loss"]["enum"]) == set(losses.TRAINING_LOSSES)
    assert set(defs["attack"]["enum"]) == set(attacks.ATTACKS)
    assert set(defs["training"]["properties"]) == set(train.TrainConfig.__dataclass_fields__)


@pytest.mark.parametrize("files", [["config.yaml"], ["config.yaml", "config/embedded.yaml"]])
def test_shipped_configs_are_valid(files):
    validate(merged(*files))


def test_embedded_config_uses_only_embedded_datasets():
    from interprobust.data import registry
    cfg = merged("config.yaml", "config/embedded.yaml")
    used = {m["dataset"] for m in cfg["models"]}
    used |= {v for k, v in cfg["evaluate"]["corrupted_test_sets"].items() if k in used}
    assert used and all(registry.get(d).kind == "embedded" for d in used)


@pytest.mark.parametrize("path, value, message", [
    (("models", 0, "dataset"), "cifar11", r"'cifar11' is not one of \[.*'cifar10'"),
    (("models", 0, "arch"), "resnet19", r"'resnet19' is not one of \[.*'resnet18'"),
    (("methods", "ce", "loss"), "cee", r"'cee' is not one of \['ce'"),
    (("training", "epochs"), "ten", r"'ten' is not of type 'integer'"),
    (("evaluate", "eps"), [8], r"8 is greater than the maximum of 1"),
])
def test_bad_values_fail_with_the_valid_names(path, value, message):
    cfg = merged("config.yaml")
    node = cfg
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError, match=message):
        validate(cfg)


def test_conda_env_pins_match_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "envs/pipeline.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {d for d in deps} == {p for p in pip if not p.startswith("-e")}
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert re.match(r"python=3\.11", py)


class _NoDuplicates(yaml.SafeLoader):
    """A loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""


def _mapping(loader, node, deep=False):
    # the keys written in this mapping; `<<` merges may repeat them on purpose, so they are left out
    explicit = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
    keys = [loader.construct_object(k, deep=deep) for k in explicit]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate keys {dup} at line {node.start_mark.line + 1}")
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_NoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@pytest.mark.parametrize("name", ["config.yaml", "config/embedded.yaml"])
def test_shipped_configs_have_no_duplicate_keys_and_no_string_numbers(name):
    """A second `methods:` would silently drop the first; `5.0e4` is a string in YAML 1.1 (write 5.0e+4)."""
    doc = yaml.load((ROOT / name).read_text(), Loader=_NoDuplicates)
    bad = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}.{k}")
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
        elif isinstance(o, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", o):
            bad.append(path)

    walk(doc, "")
    assert not bad, f"numbers read as strings (write e.g. 5.0e+4): {bad}"
