# AGA: each row's model evaluated once (attributions' RPS, Insertion, Adv-Insertion; maps before / after
# the attack; the upper-bound test), the grid's points on accuracy and Grad-RPS, and Fig. 1's toy
# networks. Tables 1-2, the RPS table, the grid and Fig. 1-3 read these (artifacts.smk).

AGA_EVAL = "results/aga/eval/{dataset}/{arch}/{recipe}/seed{seed}"
AGA_GRID = "results/aga/grid_eval/{dataset}/{arch}/{recipe}/seed{seed}"
AGA_SELECTED = "results/aga/eval_selected/{grid}/seed{seed}"


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


# Stage two of a gridded row: the grid's table (the selection file) names the selected point; this job
# evaluates that point's model of one seed like aga_evaluate does (Table 1, Fig. 2, Fig. 3).
rule aga_evaluate_selected:
    input:
        selection=lambda w: P.aga.selection_file(w.grid),
        candidates=lambda w: P.aga.candidate_models(w.grid, w.seed),
        data=lambda w: prepared(P.aga.grid_dataset(w.grid)),
    output:
        scores=f"{AGA_SELECTED}/scores.csv",
        curves=f"{AGA_SELECTED}/curves.csv",
        maps=f"{AGA_SELECTED}/maps.npz",
        bound=f"{AGA_SELECTED}/bound.csv",
        indices=f"{AGA_SELECTED}/indices.json",
    log:
        "results/logs/aga/selected/{grid}/seed{seed}_evaluate.log",
    benchmark:
        "results/benchmarks/aga/selected/{grid}/seed{seed}_evaluate.tsv"
    wildcard_constraints:
        seed=r"\d+",
    params:
        settings=lambda w: P.aga.selected_settings(w.grid),
        recipes=lambda w: quoted(P.aga.candidate_recipes(w.grid)),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust aga evaluate --selection {input.selection} --candidates {input.candidates}"
        " --candidate-recipes {params.recipes} --data {input.data} --device {params.device} --threads {threads}"
        " --settings {params.settings} --out {output.scores} --curves-out {output.curves}"
        " --maps-out {output.maps} --bound-out {output.bound} --indices-out {output.indices} > {log} 2>&1"


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
