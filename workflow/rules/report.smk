# What ties the papers together: the replication scorecard (every paper number beside ours).


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
        settings=scorecard_settings(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust scorecard --values {input.values} --results results --settings {params.settings}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"
