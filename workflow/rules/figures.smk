# Overview tables and figures per dataset, each built from cached per-model CSVs.


rule figure_training_curves:
    input:
        model_files("history.csv", folder=model_dir),
    output:
        pdf="results/overview/{dataset}_training_curves.pdf",
        png=report(
            "results/overview/{dataset}_training_curves.png",
            caption="../report/training_curves.rst",
            category="Overview",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/figures/{dataset}_training_curves.log",
    benchmark:
        "results/benchmarks/figures/{dataset}_training_curves.tsv"
    params:
        labels=labels,
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure training-curves --inputs {input} --labels {params.labels}"
        " --title {wildcards.dataset} --pdf {output.pdf} --png {output.png} > {log} 2>&1"


rule table_robustness:
    input:
        model_files("robustness.csv"),
    output:
        csv=report(
            "results/overview/{dataset}_robustness.csv",
            caption="../report/robustness_table.rst",
            category="Overview",
            subcategory="{dataset}",
        ),
        md="results/overview/{dataset}_robustness.md",
    log:
        "results/logs/tables/{dataset}_robustness.log",
    benchmark:
        "results/benchmarks/tables/{dataset}_robustness.tsv"
    params:
        labels=labels,
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table robustness --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule figure_robustness:
    input:
        "results/overview/{dataset}_robustness.csv",
    output:
        pdf="results/overview/{dataset}_robustness.pdf",
        png=report(
            "results/overview/{dataset}_robustness.png",
            caption="../report/robustness.rst",
            category="Overview",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/figures/{dataset}_robustness.log",
    benchmark:
        "results/benchmarks/figures/{dataset}_robustness.tsv"
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure robustness --table {input} --title {wildcards.dataset}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"


rule table_corruptions:
    input:
        model_files("corruptions.csv"),
    output:
        csv=report(
            "results/overview/{dataset}_corruptions.csv",
            caption="../report/corruptions_table.rst",
            category="Overview",
            subcategory="{dataset}",
        ),
        md="results/overview/{dataset}_corruptions.md",
    log:
        "results/logs/tables/{dataset}_corruptions.log",
    benchmark:
        "results/benchmarks/tables/{dataset}_corruptions.tsv"
    params:
        labels=labels,
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table corruptions --inputs {input} --labels {params.labels}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule figure_corruptions:
    input:
        "results/overview/{dataset}_corruptions.csv",
    output:
        pdf="results/overview/{dataset}_corruptions.pdf",
        png=report(
            "results/overview/{dataset}_corruptions.png",
            caption="../report/corruptions.rst",
            category="Overview",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/figures/{dataset}_corruptions.log",
    benchmark:
        "results/benchmarks/figures/{dataset}_corruptions.tsv"
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure corruptions --table {input} --title {wildcards.dataset}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"
