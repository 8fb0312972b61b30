# SEP: representative (victim, target) pairs per dataset, then per model and test-time attribution one
# job: the targeted explanation attack over all pairs with clean / PGD accuracy, the explanation-loss
# landscape and saliency maps. Tables 1-9 and Fig. 3-7 combine the rows of sep.tables (artifacts.smk).

SEP_ROW = "{dataset}/{arch}/{recipe}/seed{seed}/{attribution}"


rule sep_pairs:
    input:
        model=lambda w: P.sep.pair_model(w.dataset),
        data=lambda w: prepared(w.dataset),
    output:
        "results/sep/pairs/{dataset}.npz",
    log:
        "results/logs/sep/pairs_{dataset}.log",
    benchmark:
        "results/benchmarks/sep/pairs_{dataset}.tsv"
    params:
        settings=lambda w: P.sep.settings(w.dataset),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust sep pairs {MODEL_JOB} --settings {{params.settings}} --out {{output}} > {{log}} 2>&1"


rule sep_evaluate:
    input:
        model=MODEL,
        data=lambda w: prepared(w.dataset),
        pairs="results/sep/pairs/{dataset}.npz",
    output:
        scores=f"results/sep/eval/{SEP_ROW}.csv",
        landscape=f"results/sep/landscape/{SEP_ROW}.csv",
        saliency=f"results/sep/saliency/{SEP_ROW}.npz",
        examples=f"results/sep/examples/{SEP_ROW}.npz",
    log:
        "results/logs/sep/eval/{dataset}/{arch}/{recipe}/seed{seed}_{attribution}.log",
    benchmark:
        "results/benchmarks/sep/eval/{dataset}/{arch}/{recipe}/seed{seed}_{attribution}.tsv"
    params:
        settings=lambda w: P.sep.settings(w.dataset),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust sep evaluate {MODEL_JOB} --pairs {{input.pairs}}"
        " --attribution {wildcards.attribution} --settings {params.settings}"
        " --out {output.scores} --landscape-out {output.landscape} --saliency-out {output.saliency}"
        " --examples-out {output.examples} > {log} 2>&1"
