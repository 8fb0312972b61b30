# Download (real datasets), verify, extract and prepare every dataset once into results/data/<name>/.

rule download_dataset:
    output:
        f"{DOWNLOADS}/{{dataset}}/verified.json",
    log:
        "results/logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    params:
        overrides=lambda w: shlex.quote(as_json(config["data"]["url_overrides"])),
    retries: 2
    resources:
        mem_mb=2000,
        runtime=240,
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust data download --dataset {wildcards.dataset} --marker {output}"
        " --url-overrides {params.overrides} > {log} 2>&1"


rule prepare_dataset:
    input:
        unpack(prepare_inputs),
    output:
        "results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    params:
        options=lambda w: shlex.quote(prepare_options(w)),
        raw=lambda w, input: f"--raw {Path(input.raw).parent}" if "raw" in input.keys() else "",
        source=lambda w, input: f"--source {Path(input.source).parent}" if "source" in input.keys() else "",
    resources:
        gpu=res("prepare", "gpu", 0),
        mem_mb=res("prepare", "mem_mb", 8000),
        runtime=res("prepare", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust data prepare --dataset {wildcards.dataset} --meta {output}"
        " {params.raw} {params.source} --options {params.options} > {log} 2>&1"
