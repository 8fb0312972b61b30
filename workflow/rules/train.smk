# Train one model per config `models` entry. Resumable checkpoints live in results/checkpoints/,
# outside the declared outputs (Snakemake deletes declared outputs before a job starts).


rule train:
    input:
        unpack(train_inputs),
    output:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        history="results/models/{dataset}/{arch}/{method}/seed{seed}/history.csv",
    log:
        "results/logs/train/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{arch}/{method}/seed{seed}.tsv"
    params:
        settings=lambda w, input: shlex.quote(training_params(w, input.get("spurious"))),
        extra=train_extra_args,
        checkpoints="results/checkpoints/{dataset}/{arch}/{method}/seed{seed}",
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("train", "gpu", 0),
        mem_mb=res("train", "mem_mb", 8000),
        runtime=res("train", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust train --data {input.data} --arch {wildcards.arch} --method {wildcards.method}"
        " --seed {wildcards.seed} --settings {params.settings} --device {params.device} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --model-out {output.model} --history-out {output.history}"
        "{params.extra} > {log} 2>&1"
