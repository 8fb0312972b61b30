# What ties the papers together: the replication scorecard (every paper number beside ours) and the
# claims check (each paper's qualitative claims as checks on our tables).


rule scorecard:
    input:
        tables=[f for f in paper_outputs() if f.endswith(".csv")],
        values="workflow/resources/paper_values.yaml",
    output:
        csv=report("results/scorecard.csv", caption="../report/scorecard.rst", category="Scorecard"),
        md="results/scorecard.md",
    log:
        "results/logs/scorecard.log",
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
    params:
        settings=report_settings(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust claims --results results --settings {params.settings}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"
