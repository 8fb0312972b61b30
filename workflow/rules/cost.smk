# The cost estimate (results/cost/estimate.md): jobs and estimated GPU-hours per paper of the target
# configuration (cost.target_configfiles over config.yaml; [] = paper scale), from the timings this run's
# rules recorded in results/benchmarks/. The job lists come from dry runs of this same Snakefile.
# Both rules take seconds: on a cluster they run where Snakemake runs, not through the queue. The
# estimate's summary is printed on the console as well as written to its log.

localrules:
    job_listing,
    cost_estimate,
    cost_resources,


rule job_listing:
    input:
        lambda w: [*P.cost.listing_inputs(w.scale), *SNAKEFILES],
    output:
        "results/cost/jobs/{scale}/{part}.txt",
    log:
        "results/logs/cost/{scale}_{part}.log",
    wildcard_constraints:
        scale="measured|target",
        part="all|overview|limeref|glime|aga|sep",
    params:
        snakefile=workflow.main_snakefile,
        config=lambda w: P.cost.listing_config(w.scale, w.part),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m snakemake --snakefile {params.snakefile:q} --dry-run --printshellcmds --forceall --nolock {params.config} > {output} 2> {log}"


rule cost_estimate:
    input:
        ran=P.final_targets([]),
        measured="results/cost/jobs/measured/all.txt",
        target="results/cost/jobs/target/all.txt",
        parts=lambda w: expand("results/cost/jobs/target/{part}.txt", part=["overview", *P.cost.target_papers()]),
    output:
        md=report("results/cost/estimate.md", caption="../report/cost.rst", category="Cost estimate"),
        csv="results/cost/estimate.csv",
        jobs="results/cost/jobs.csv",
    log:
        "results/logs/cost/estimate.log",
    params:
        speedup=P.config["cost"]["speedup"],
        flop=P.cost.flop_args(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust estimate --measured {input.measured} --target {input.target} --parts {input.parts}"
        " --speedup {params.speedup} {params.flop} --md {output.md} --csv {output.csv} --jobs-csv {output.jobs}"
        " 2>&1 | tee {log}"


# The FLOP model's per-job SLURM requests for this run (read by common.smk's res() at the next parse):
#   snakemake --profile profiles/slurm results/cost/resources.json   (seconds, runs locally), then the run.
rule cost_resources:
    input:
        "results/cost/jobs/measured/all.txt",
    output:
        P.config["cost"].get("job_resources") or "results/cost/resources.json",
    log:
        "results/logs/cost/resources.log",
    params:
        flop=P.cost.flop_args(),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust resources --listing {input} {params.flop} --out {output} > {log} 2>&1"
