# What ties the papers together: the replication scorecard (every paper number beside ours), the claims
# check (each paper's qualitative claims on our tables), and the cross-paper matrix's per-model
# evaluation (its table and figure are artifacts). The scorecard and the claims read the registry's
# manifest: every file they read is one of their inputs. (`shell:` is evaluated when a job runs, after
# the loop: what differs between the two rules goes through `params`.)


for _report in ("scorecard", "claims"):

    rule:
        name: _report
        input:
            tables=P.report_inputs(),
            **({"values": "workflow/resources/paper_values.yaml"} if _report == "scorecard" else {}),
        output:
            csv=report(f"results/{_report}.csv", caption=f"../report/{_report}.rst", category="Scorecard"),
            md=f"results/{_report}.md",
        log:
            f"results/logs/{_report}.log",
        benchmark:
            f"results/benchmarks/{_report}.tsv"
        params:
            command=_report,
            values="--values workflow/resources/paper_values.yaml" if _report == "scorecard" else "",
            manifest=P.report_manifest,
        conda:
            "../../envs/pipeline.yaml"
        shell:
            "python -m interprobust {params.command} {params.values} --manifest {params.manifest}"
            " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule matrix_evaluate:
    input:
        model=MODEL,
        data=lambda w: prepared(w.dataset),
        pairs=lambda w: P.matrix.pairs(w.dataset),
    output:
        "results/matrix/eval/{dataset}/{arch}/{recipe}/seed{seed}.csv",
    log:
        "results/logs/matrix/{dataset}/{arch}/{recipe}/seed{seed}.log",
    benchmark:
        "results/benchmarks/matrix/{dataset}/{arch}/{recipe}/seed{seed}.tsv"
    params:
        settings=lambda w: P.matrix.settings(w.dataset),
        pairs=lambda w: " ".join(f"--pairs {p}" for p in P.matrix.pairs(w.dataset)),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust matrix evaluate {MODEL_JOB} {{params.pairs}} --settings {{params.settings}}"
        " --out {output} > {log} 2>&1"
