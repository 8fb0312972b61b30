# Download (real datasets), verify, extract and prepare every dataset once into results/data/<name>/.


rule download_dataset:
    output:
        f"{DOWNLOADS}/{{dataset}}/verified.json",
    log:
        "results/logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    params:
        overrides=quoted_json(P.config["data"]["url_overrides"]),
        checksums=quoted_json(P.config["data"].get("checksums", {})),
    retries: 2
    resources:
        mem_mb=2000,
        runtime=240,
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust data download --dataset {wildcards.dataset} --marker {output}"
        " --url-overrides {params.overrides} --checksums {params.checksums} > {log} 2>&1"


rule prepare_dataset:
    input:
        unpack(P.prepare_inputs),
    output:
        "results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    params:
        options=P.prepare_options,
        args=P.prepare_args,
    resources:
        gpu=res("prepare", "gpu"),
        mem_mb=res("prepare", "mem_mb"),
        runtime=res("prepare", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust data prepare --dataset {wildcards.dataset} --meta {output}"
        " {params.args} --options {params.options} > {log} 2>&1"
