# AGA: attribution robustness of Softplus models trained with CE, the Hessian-norm regulariser, l2 and
# l2 + cosd (gradient alignment). Table 1 (accuracy, RPS / Insertion / Adv-Insertion per attribution),
# the appendix RPS table (cosine / Pearson / SSIM x eps), Fig. 2 (insertion curves) and Fig. 3 (maps
# before / after the attack, upper-bound test) per setting; Fig. 1 (two-layer nets on a 2-D toy set).


rule aga_evaluate:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
    output:
        scores="results/aga/eval/{dataset}/{arch}/{method}/seed{seed}/scores.csv",
        curves="results/aga/eval/{dataset}/{arch}/{method}/seed{seed}/curves.csv",
        maps="results/aga/eval/{dataset}/{arch}/{method}/seed{seed}/maps.npz",
        bound="results/aga/eval/{dataset}/{arch}/{method}/seed{seed}/bound.csv",
    log:
        "results/logs/aga/{dataset}/{arch}/{method}/seed{seed}_evaluate.log",
    benchmark:
        "results/benchmarks/aga/{dataset}/{arch}/{method}/seed{seed}_evaluate.tsv"
    params:
        settings=lambda w: shlex.quote(as_json({**aga_params(), "attack_eps": aga_attack_eps(w)})),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate explanations --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads}"
        " --out {output.scores} --curves-out {output.curves} --maps-out {output.maps}"
        " --bound-out {output.bound} > {log} 2>&1"


rule aga_table1:
    input:
        lambda w: aga_row_files(w.name, "scores.csv"),
    output:
        csv=report("results/aga/table1_{name}.csv", caption="../report/aga_table1.rst", category="AGA"),
        md="results/aga/table1_{name}.md",
    log:
        "results/logs/aga/table1_{name}.log",
    benchmark:
        "results/benchmarks/aga/table1_{name}.tsv"
    params:
        labels=lambda w: aga_row_labels(w.name),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table aga-table1 --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule aga_rps_table:
    input:
        lambda w: aga_row_files(w.name, "scores.csv"),
    output:
        csv=report("results/aga/rps_{name}.csv", caption="../report/aga_rps.rst", category="AGA"),
        md="results/aga/rps_{name}.md",
    log:
        "results/logs/aga/rps_{name}.log",
    benchmark:
        "results/benchmarks/aga/rps_{name}.tsv"
    params:
        labels=lambda w: aga_row_labels(w.name),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table aga-rps --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule aga_fig2:
    input:
        lambda w: aga_row_files(w.name, "curves.csv"),
    output:
        pdf=report("results/aga/fig2_{name}.pdf", caption="../report/aga_fig2.rst", category="AGA"),
        png="results/aga/fig2_{name}.png",
        csv="results/aga/fig2_{name}.csv",
    log:
        "results/logs/aga/fig2_{name}.log",
    benchmark:
        "results/benchmarks/aga/fig2_{name}.tsv"
    params:
        labels=lambda w: aga_row_labels(w.name),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure insertion-curves --inputs {input} --labels {params.labels}"
        " --title {wildcards.name} --pdf {output.pdf} --png {output.png} --csv {output.csv} > {log} 2>&1"


rule aga_table2:
    input:
        data=lambda w: prepared(aga_setting(w.name)["dataset"]),
    output:
        csv=report("results/aga/table2_{name}.csv", caption="../report/aga_table2.rst", category="AGA"),
        md="results/aga/table2_{name}.md",
    log:
        "results/logs/aga/table2_{name}.log",
    benchmark:
        "results/benchmarks/aga/table2_{name}.tsv"
    params:
        arch=lambda w: aga_setting(w.name)["arch"],
        rows=lambda w: shlex.quote(aga_cost_rows(w.name)),
        steps=lambda w: AGA.get("cost_steps", 3),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("train", "gpu", 0),
        mem_mb=res("train", "mem_mb", 8000),
        runtime=res("train", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust cost --data {input.data} --arch {params.arch} --rows {params.rows}"
        " --steps {params.steps} --device {params.device} --threads {threads}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule aga_fig3:
    input:
        maps=lambda w: aga_row_files(w.name, "maps.npz"),
        bounds=lambda w: aga_row_files(w.name, "bound.csv"),
    output:
        pdf=report("results/aga/fig3_{name}.pdf", caption="../report/aga_fig3.rst", category="AGA"),
        png="results/aga/fig3_{name}.png",
        csv="results/aga/fig3_{name}.csv",
    log:
        "results/logs/aga/fig3_{name}.log",
    benchmark:
        "results/benchmarks/aga/fig3_{name}.tsv"
    params:
        labels=lambda w: aga_row_labels(w.name),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure attacked-maps --inputs {input.maps} --bounds {input.bounds}"
        " --labels {params.labels} --title {wildcards.name} --pdf {output.pdf} --png {output.png}"
        " --csv {output.csv} > {log} 2>&1"


rule aga_toy:
    output:
        npz="results/aga/toy/fig1_data.npz",
        csv="results/aga/toy/fig1_summary.csv",
    log:
        "results/logs/aga/toy.log",
    benchmark:
        "results/benchmarks/aga/toy.tsv"
    params:
        settings=lambda w: shlex.quote(as_json(AGA.get("toy", {}))),
    threads: 1
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust toy --settings {params.settings} --threads {threads}"
        " --out {output.npz} --csv {output.csv} > {log} 2>&1"


rule aga_fig1:
    input:
        "results/aga/toy/fig1_data.npz",
    output:
        pdf=report("results/aga/fig1_toy.pdf", caption="../report/aga_fig1.rst", category="AGA"),
        png="results/aga/fig1_toy.png",
        csv="results/aga/fig1_toy.csv",
    log:
        "results/logs/aga/fig1.log",
    benchmark:
        "results/benchmarks/aga/fig1.tsv"
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure toy-gradients --inputs {input} --pdf {output.pdf} --png {output.png}"
        " --csv {output.csv} > {log} 2>&1"


rule aga_grid_evaluate:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
    output:
        scores="results/aga/grid_eval/{dataset}/{arch}/{method}/seed{seed}/scores.csv",
        curves="results/aga/grid_eval/{dataset}/{arch}/{method}/seed{seed}/curves.csv",
    log:
        "results/logs/aga/grid/{dataset}/{arch}/{method}/seed{seed}_evaluate.log",
    benchmark:
        "results/benchmarks/aga/grid/{dataset}/{arch}/{method}/seed{seed}_evaluate.tsv"
    params:
        settings=lambda w: shlex.quote(as_json(aga_grid_params())),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate explanations --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads}"
        " --out {output.scores} --curves-out {output.curves} > {log} 2>&1"


rule aga_grid_table:
    input:
        lambda w: aga_grid_files(w.name),
    output:
        csv=report("results/aga/grid_{name}.csv", caption="../report/aga_grid.rst", category="AGA"),
        md="results/aga/grid_{name}.md",
    log:
        "results/logs/aga/grid_{name}.log",
    benchmark:
        "results/benchmarks/aga/grid_{name}.tsv"
    params:
        labels=lambda w: aga_grid_labels(w.name),
        reference=lambda w: shlex.quote(aga_grid(w.name)[0].get("reference", "CE")),
        max_drop=AGA.get("grid_max_drop", 1.0),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table aga-grid --inputs {input} --labels {params.labels}"
        " --reference {params.reference} --max-drop {params.max_drop} --csv {output.csv} --md {output.md} > {log} 2>&1"
