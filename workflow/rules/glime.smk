# G-LIME: superpixels of the reference and test images (per dataset), superpixel clusters and global
# priors (per setting, cached once), every estimator on shared LIME samples, stability, the gradient
# baselines; Tables 2-7 and Fig. 3-9 read those intermediates.


rule glime_segments:
    input:
        data=lambda w: prepared(w.dataset),
    output:
        "results/glime/segments/{dataset}.npz",
    log:
        "results/logs/glime/segments_{dataset}.log",
    benchmark:
        "results/benchmarks/glime/segments_{dataset}.tsv"
    params:
        settings=shlex.quote(as_json({k: v for k, v in GLIME.items() if k not in ("settings", "networks")})),
    threads: 1
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime segments --data {input.data} --settings {params.settings}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule glime_clusters:
    input:
        model=lambda w: glime_model(w.name),
        data=lambda w: glime_data(w.name),
        segments=lambda w: glime_segments(w.name),
    output:
        "results/glime/{name}/clusters.npz",
    log:
        "results/logs/glime/{name}_clusters.log",
    benchmark:
        "results/benchmarks/glime/{name}_clusters.tsv"
    params:
        settings=lambda w: glime_params(w.name),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime clusters --model {input.model} --data {input.data} --segments {input.segments}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule glime_priors:
    input:
        model=lambda w: glime_model(w.name),
        data=lambda w: glime_data(w.name),
        segments=lambda w: glime_segments(w.name),
        clusters="results/glime/{name}/clusters.npz",
    output:
        "results/glime/{name}/priors.npz",
    log:
        "results/logs/glime/{name}_priors.log",
    benchmark:
        "results/benchmarks/glime/{name}_priors.tsv"
    params:
        settings=lambda w: glime_params(w.name),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime priors --model {input.model} --data {input.data} --segments {input.segments}"
        " --clusters {input.clusters} --settings {params.settings} --device {params.device} --threads {threads}"
        " --out {output} > {log} 2>&1"


rule glime_explain:
    input:
        model=lambda w: glime_model(w.name),
        data=lambda w: glime_data(w.name),
        segments=lambda w: glime_segments(w.name),
        clusters="results/glime/{name}/clusters.npz",
        priors="results/glime/{name}/priors.npz",
    output:
        scores="results/glime/{name}/scores.csv",
        details="results/glime/{name}/details.npz",
    log:
        "results/logs/glime/{name}_explain.log",
    benchmark:
        "results/benchmarks/glime/{name}_explain.tsv"
    params:
        settings=lambda w: glime_params(w.name),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime explain --model {input.model} --data {input.data} --segments {input.segments}"
        " --clusters {input.clusters} --priors {input.priors} --settings {params.settings}"
        " --device {params.device} --threads {threads} --out {output.scores} --details {output.details} > {log} 2>&1"


rule glime_stability:
    input:
        model=lambda w: glime_model(w.name),
        data=lambda w: glime_data(w.name),
        segments=lambda w: glime_segments(w.name),
        clusters="results/glime/{name}/clusters.npz",
        priors="results/glime/{name}/priors.npz",
    output:
        scores="results/glime/{name}/stability.csv",
        details="results/glime/{name}/stability.npz",
    log:
        "results/logs/glime/{name}_stability.log",
    benchmark:
        "results/benchmarks/glime/{name}_stability.tsv"
    params:
        settings=lambda w: glime_params(w.name),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime stability --model {input.model} --data {input.data} --segments {input.segments}"
        " --clusters {input.clusters} --priors {input.priors} --settings {params.settings}"
        " --device {params.device} --threads {threads} --out {output.scores} --details {output.details} > {log} 2>&1"


rule glime_baselines:
    input:
        model=lambda w: glime_model(w.name),
        data=lambda w: glime_data(w.name),
        segments=lambda w: glime_segments(w.name),
    output:
        "results/glime/{name}/baselines.csv",
    log:
        "results/logs/glime/{name}_baselines.log",
    benchmark:
        "results/benchmarks/glime/{name}_baselines.tsv"
    params:
        settings=lambda w: glime_params(w.name),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust glime baselines --model {input.model} --data {input.data} --segments {input.segments}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule glime_table:
    input:
        glime_table_inputs,
    output:
        csv=report("results/glime/table{number}_{name}.csv", caption="../report/glime_table.rst", category="G-LIME"),
        md="results/glime/table{number}_{name}.md",
    log:
        "results/logs/glime/table{number}_{name}.log",
    benchmark:
        "results/benchmarks/glime/table{number}_{name}.tsv"
    params:
        kind=lambda w: GLIME_TABLES[w.number][0],
        labels=glime_table_labels,
        n=GLIME.get("table6_samples", 0),
        big_n=max(GLIME.get("samples", [0])),
        lam2=GLIME.get("lam2", 1.0),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table {params.kind} --inputs {input} --labels {params.labels}"
        " --n $([ {params.kind} = glime-methods ] && echo {params.big_n} || echo {params.n}) --lam2 {params.lam2}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"


rule glime_figure:
    input:
        lambda w: f"results/glime/{w.name}/{GLIME_FIGURES[w.number][1]}",
    output:
        pdf=report("results/glime/fig{number}_{name}.pdf", caption="../report/glime_figure.rst", category="G-LIME"),
        png="results/glime/fig{number}_{name}.png",
    log:
        "results/logs/glime/fig{number}_{name}.log",
    benchmark:
        "results/benchmarks/glime/fig{number}_{name}.tsv"
    params:
        kind=lambda w: GLIME_FIGURES[w.number][0],
        n=GLIME.get("table6_samples", 0),
        lam2=GLIME.get("lam2", 1.0),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure {params.kind} --inputs {input} --n {params.n} --lam2 {params.lam2}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"
