# G-LIME's study: superpixels of the reference and test images (per dataset), then per setting the
# superpixel clusters and global priors (cached once), every estimator on shared LIME samples, stability
# and the gradient baselines. Tables 2-7 and Fig. 3-9 read these intermediates (artifacts.smk).


rule glime_segments:
    input:
        data=lambda w: prepared(w.dataset),
    output:
        segments="results/glime/segments/{dataset}.npz",
        reference="results/glime/segments/{dataset}_reference_indices.json",
        test="results/glime/segments/{dataset}_test_indices.json",
        stability="results/glime/segments/{dataset}_stability_indices.json",
    log:
        "results/logs/glime/segments_{dataset}.log",
    benchmark:
        "results/benchmarks/glime/segments_{dataset}.tsv"
    params:
        settings=P.glime.segment_settings(),
    threads: 1
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime segments --data {input.data} --settings {params.settings}"
        " --threads {threads} --out {output.segments} --reference_indices {output.reference}"
        " --test_indices {output.test} --stability_indices {output.stability} > {log} 2>&1"


rule glime_clusters:
    input:
        unpack(lambda w: P.glime.cluster_inputs(w)),
    output:
        "results/glime/clusters/{dataset}.npz",
    log:
        "results/logs/glime/clusters_{dataset}.log",
    benchmark:
        "results/benchmarks/glime/clusters_{dataset}.tsv"
    params:
        model=lambda w: P.glime.cluster_model_arg(w),
        settings=P.glime.cluster_settings(),
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime clusters {params.model} --data {input.data} --segments {input.segments}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


# step -> (the study's own intermediates it reads, its outputs: the first is --out). `shell:` is evaluated
# when a job runs, after the loop: what varies per step goes through `params`, never a loop variable.
GLIME_STEPS = {
    "priors": (("clusters",), {"out": "priors.npz"}),
    "explain": (("clusters", "priors"), {"out": "scores.csv", "details": "details.npz"}),
    "stability": (("clusters", "priors"), {"out": "stability.csv", "details": "stability.npz"}),
    "baselines": ((), {"out": "baselines.csv"}),
}

for _step, (_needs, _outs) in GLIME_STEPS.items():

    rule:
        name: f"glime_{_step}"
        input:
            unpack(lambda w, n=_needs: P.glime.study_inputs(w, *n)),
        output:
            **{k: f"results/glime/{{name}}/{f}" for k, f in _outs.items()},
        log:
            f"results/logs/glime/{{name}}_{_step}.log",
        benchmark:
            f"results/benchmarks/glime/{{name}}_{_step}.tsv"
        params:
            step=_step,
            files=lambda w, n=_needs, o=_outs: P.glime.study_args(w, n, o),
            settings=lambda w: P.glime.settings(w.name),
            device=P.config["device"],
        threads: P.config["threads"]
        resources:
            gpu=res("evaluate", "gpu"),
            mem_mb=res("evaluate", "mem_mb"),
            runtime=res("evaluate", "runtime"),
        conda:
            "../../envs/pipeline.yaml"
        shell:
            f"python -m interprobust glime {{params.step}} {MODEL_JOB} {{params.files}} --settings {{params.settings}}"
            " > {log} 2>&1"
