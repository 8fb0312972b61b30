# AGA: each row's model evaluated once (attributions' RPS, Insertion, Adv-Insertion; maps before / after
# the attack; the upper-bound test), the grid's points on accuracy and Grad-RPS, and Fig. 1's toy
# networks. Tables 1-2, the RPS table, the grid and Fig. 1-3 read these (artifacts.smk).

AGA_EVAL = "results/aga/eval/{dataset}/{arch}/{recipe}/seed{seed}"
AGA_GRID = "results/aga/grid_eval/{dataset}/{arch}/{recipe}/seed{seed}"


rule aga_evaluate:
    input:
        model=MODEL,
        data=lambda w: prepared(w.dataset),
    output:
        scores=f"{AGA_EVAL}/scores.csv",
        curves=f"{AGA_EVAL}/curves.csv",
        maps=f"{AGA_EVAL}/maps.npz",
        bound=f"{AGA_EVAL}/bound.csv",
        indices=f"{AGA_EVAL}/indices.json",
    log:
        "results/logs/aga/{dataset}/{arch}/{recipe}/seed{seed}_evaluate.log",
    benchmark:
        "results/benchmarks/aga/{dataset}/{arch}/{recipe}/seed{seed}_evaluate.tsv"
    params:
        settings=P.aga.evaluate_settings,
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust aga evaluate {MODEL_JOB} --settings {{params.settings}}"
        " --out {output.scores} --curves-out {output.curves} --maps-out {output.maps}"
        " --bound-out {output.bound} --indices-out {output.indices} > {log} 2>&1"


rule aga_grid_evaluate:
    input:
        model=MODEL,
        data=lambda w: prepared(w.dataset),
    output:
        scores=f"{AGA_GRID}/scores.csv",
        curves=f"{AGA_GRID}/curves.csv",
        indices=f"{AGA_GRID}/indices.json",
    log:
        "results/logs/aga/grid/{dataset}/{arch}/{recipe}/seed{seed}_evaluate.log",
    benchmark:
        "results/benchmarks/aga/grid/{dataset}/{arch}/{recipe}/seed{seed}_evaluate.tsv"
    params:
        settings=lambda w: P.aga.grid_settings(),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust aga evaluate {MODEL_JOB} --settings {{params.settings}}"
        " --out {output.scores} --curves-out {output.curves} --indices-out {output.indices} > {log} 2>&1"


rule aga_toy:
    output:
        npz="results/aga/toy/fig1_data.npz",
        csv="results/aga/toy/fig1_summary.csv",
    log:
        "results/logs/aga/toy.log",
    benchmark:
        "results/benchmarks/aga/toy.tsv"
    params:
        settings=P.aga.toy_settings(),
    threads: 1
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust aga toy --settings {params.settings} --threads {threads}"
        " --out {output.npz} --csv {output.csv} > {log} 2>&1"
