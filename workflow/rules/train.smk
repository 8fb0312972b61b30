# Train one model per (dataset, arch, recipe, seed) any paper asks for. Resumable checkpoints live in
# results/checkpoints/, outside the declared outputs (Snakemake deletes declared outputs before a job).


rule train:
    input:
        unpack(P.train_inputs),
    output:
        model=MODEL,
        history="results/models/{dataset}/{arch}/{recipe}/seed{seed}/history.csv",
    log:
        "results/logs/train/{dataset}/{arch}/{recipe}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{arch}/{recipe}/seed{seed}.tsv"
    params:
        settings=P.train_settings,
        extra=P.train_extra_args,
        checkpoints="results/checkpoints/{dataset}/{arch}/{recipe}/seed{seed}",
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("train", "gpu"),
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust train --data {input.data} --arch {wildcards.arch} --recipe {wildcards.recipe}"
        " --seed {wildcards.seed} --settings {params.settings} --device {params.device} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --model-out {output.model} --history-out {output.history}"
        "{params.extra} > {log} 2>&1"
