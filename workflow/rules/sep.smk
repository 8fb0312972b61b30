# SEP: representative (victim, target) pairs per dataset, then per model and test-time explanation one
# job: the targeted explanation attack over all pairs with clean / PGD accuracy, the explanation-loss
# landscape and saliency maps; Tables 1-9 and Fig. 3-7 combine the rows that config's sep.tables name.


rule sep_pairs:
    input:
        model=lambda w: sep_pair_model(w.dataset),
        data=lambda w: prepared(w.dataset),
    output:
        "results/sep/pairs/{dataset}.npz",
    log:
        "results/logs/sep/pairs_{dataset}.log",
    benchmark:
        "results/benchmarks/sep/pairs_{dataset}.tsv"
    params:
        settings=lambda w: sep_params(w.dataset),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust sep pairs --model {input.model} --data {input.data} --settings {params.settings}"
        " --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule sep_evaluate:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
        pairs="results/sep/pairs/{dataset}.npz",
    output:
        scores="results/sep/eval/{dataset}/{arch}/{method}/seed{seed}/{explain}.csv",
        landscape="results/sep/landscape/{dataset}/{arch}/{method}/seed{seed}/{explain}.csv",
        saliency="results/sep/saliency/{dataset}/{arch}/{method}/seed{seed}/{explain}.npz",
    log:
        "results/logs/sep/eval/{dataset}/{arch}/{method}/seed{seed}_{explain}.log",
    benchmark:
        "results/benchmarks/sep/eval/{dataset}/{arch}/{method}/seed{seed}_{explain}.tsv"
    params:
        settings=lambda w: sep_params(w.dataset),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust sep evaluate --model {input.model} --data {input.data} --pairs {input.pairs}"
        " --explain {wildcards.explain} --settings {params.settings} --device {params.device} --threads {threads}"
        " --out {output.scores} --landscape-out {output.landscape} --saliency-out {output.saliency} > {log} 2>&1"


rule sep_table:
    input:
        lambda w: [sep_file(r, "eval") for r in sep_rows(w.table)],
    output:
        csv=report("results/sep/{table}.csv", caption="../report/sep_table.rst", category="SEP"),
        md="results/sep/{table}.md",
    log:
        "results/logs/sep/{table}.log",
    benchmark:
        "results/benchmarks/sep/{table}.tsv"
    params:
        labels=lambda w: sep_labels(sep_rows(w.table)),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table sep --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule sep_figure:
    input:
        lambda w: [sep_file(r, {"bars": "eval"}.get(SEP["figures"][w.fig]["kind"], SEP["figures"][w.fig]["kind"]))
                   for r in sep_figure_rows(w.fig)],
    output:
        pdf=report("results/sep/{fig}.pdf", caption="../report/sep_figure.rst", category="SEP"),
        png="results/sep/{fig}.png",
    log:
        "results/logs/sep/{fig}.log",
    benchmark:
        "results/benchmarks/sep/{fig}.tsv"
    params:
        kind=lambda w: f"sep-{SEP['figures'][w.fig]['kind']}",
        labels=lambda w: sep_labels(sep_figure_rows(w.fig)),
        title=lambda w: SEP["figures"][w.fig]["table"],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure {params.kind} --inputs {input} --labels {params.labels}"
        " --title {params.title} --pdf {output.pdf} --png {output.png} > {log} 2>&1"
