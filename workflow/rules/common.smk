# The thin DAG layer's shared part: the validated configuration becomes one `Plan` (interprobust.plan),
# which answers every rule's questions (files, settings, resources) as pure functions of the config.
# Each paper's questions live in interprobust/papers/<paper>/dag.py, reached as P.limeref, P.aga, ...

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from interprobust import registry  # noqa: E402  (pure Python, no torch)
from interprobust.config import resolve, validate  # noqa: E402
from interprobust.data.registry import DATASETS  # noqa: E402
from interprobust.layout import model_file, prepared, quoted, quoted_json  # noqa: E402
from interprobust.plan import Plan  # noqa: E402

validate(config)
P = Plan(resolve(config), configfiles=[str(f) for f in workflow.overwrite_configfiles])
P.check()
DOWNLOADS = P.config["paths"]["downloads"]
SNAKEFILES = [workflow.main_snakefile, *sorted(str(p) for p in Path(workflow.basedir, "workflow", "rules").glob("*.smk"))]
MODEL = "results/models/{dataset}/{arch}/{recipe}/seed{seed}/model.pt"
MODEL_JOB = "--model {input.model} --data {input.data} --device {params.device} --threads {threads}"


def res(stage, key):
    """A job's resources: `gpu` per stage (train / evaluate / prepare, the config's `resources`);
    `runtime` and `mem_mb` per job from the FLOP model (cost.job_resources, rule cost_resources) when
    it has been made, else per stage; a retry asks for `attempt` times as much."""
    default = {"gpu": 0, "mem_mb": 8000, "runtime": 60}[key]
    if key == "gpu":
        return P.res(stage, key, default)
    return lambda wildcards, rulename, attempt: P.job_res(stage, key, default, rulename, wildcards, attempt)


# Wildcards never contain a slash; each is restricted to the names the config can produce.
wildcard_constraints:
    dataset="|".join(DATASETS),
    arch="[A-Za-z0-9_]+",
    recipe="[A-Za-z0-9_+-]+",
    seed=r"\d+",
    name="|".join(P.setting_names()) or "(?!)",
    attribution="[a-z_]+",
