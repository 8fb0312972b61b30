# What ties the papers together: the replication scorecard (every paper number beside ours) and the
# claims check (each paper's qualitative claims as checks on our tables), and the cross-paper matrix
# (every model of every paper under every metric: no paper has it).


rule scorecard:
    input:
        tables=[f for f in paper_outputs() if f.endswith(".csv")],
        values="workflow/resources/paper_values.yaml",
    output:
        csv=report("results/scorecard.csv", caption="../report/scorecard.rst", category="Scorecard"),
        md="results/scorecard.md",
    log:
        "results/logs/scorecard.log",
    benchmark:
        "results/benchmarks/scorecard.tsv"
    params:
        settings=report_settings(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust scorecard --values {input.values} --results results --settings {params.settings}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule claims:
    input:
        [f for f in paper_outputs() if f.endswith(".csv")],
    output:
        csv=report("results/claims.csv", caption="../report/claims.rst", category="Scorecard"),
        md="results/claims.md",
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    params:
        settings=report_settings(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust claims --results results --settings {params.settings}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule matrix_evaluate:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
        pairs=lambda w: [f"results/sep/pairs/{w.dataset}.npz"] if SEP else [],
    output:
        "results/matrix/eval/{dataset}/{arch}/{method}/seed{seed}.csv",
    log:
        "results/logs/matrix/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/matrix/{dataset}/{arch}/{method}/seed{seed}.tsv"
    params:
        settings=lambda w: matrix_params(w.dataset),
        pairs=lambda w, input: f"--pairs {input.pairs[0]}" if input.pairs else "",
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust matrix --model {input.model} --data {input.data} {params.pairs}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule matrix_table:
    input:
        [matrix_file(m) for m in matrix_models()],
    output:
        csv=report("results/matrix.csv", caption="../report/matrix.rst", category="Cross-paper matrix"),
        md="results/matrix.md",
    log:
        "results/logs/matrix_table.log",
    benchmark:
        "results/benchmarks/matrix_table.tsv"
    params:
        labels=" ".join(shlex.quote(f"{m['dataset']}/{m['arch']}/{m['method']}") for m in matrix_models()),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table matrix --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule matrix_figure:
    input:
        [matrix_file(m) for m in matrix_models()],
    output:
        pdf=report("results/matrix.pdf", caption="../report/matrix.rst", category="Cross-paper matrix"),
        png="results/matrix.png",
    log:
        "results/logs/matrix_figure.log",
    benchmark:
        "results/benchmarks/matrix_figure.tsv"
    params:
        labels=" ".join(shlex.quote(f"{m['dataset']}/{m['arch']}/{m['method']}") for m in matrix_models()),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure matrix --inputs {input} --labels {params.labels}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"
