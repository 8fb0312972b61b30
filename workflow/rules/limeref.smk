# LIMEREF: LIME analysis -> F_spurious -> refined training, iterated; figures 2-15, the honesty check
# (stronger attacks) and the planted-spurious-feature check.


rule limeref_detect:
    input:
        model=lambda w: round_model(w.dataset, w.arch, w.seed, w.rnd),
        data=lambda w: prepared(w.dataset),
        previous=lambda w: [spurious_file(w.dataset, w.arch, w.seed, int(w.rnd) - 1)] if int(w.rnd) > 0 else [],
    output:
        "results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/spurious.json",
    log:
        "results/logs/limeref/{dataset}/{arch}/seed{seed}/detect_round{rnd}.log",
    benchmark:
        "results/benchmarks/limeref/{dataset}/{arch}/seed{seed}/detect_round{rnd}.tsv"
    params:
        settings=shlex.quote(as_json(LIMEREF.get("detection", {}))),
        previous=lambda w, input: f"--previous {input.previous[0]}" if input.previous else "",
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust spurious detect --model {input.model} --data {input.data} {params.previous}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule limeref_round_train:
    input:
        data=lambda w: prepared(w.dataset),
        spurious=lambda w: spurious_file(w.dataset, w.arch, w.seed, int(w.rnd) - 1),
        init=lambda w: [round_model(w.dataset, w.arch, w.seed, int(w.rnd) - 1)]
        if LIMEREF.get("refine_from", "previous") == "previous" else [],
    output:
        model="results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/model.pt",
        history="results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/history.csv",
    log:
        "results/logs/limeref/{dataset}/{arch}/seed{seed}/train_round{rnd}.log",
    benchmark:
        "results/benchmarks/limeref/{dataset}/{arch}/seed{seed}/train_round{rnd}.tsv"
    params:
        settings=lambda w, input: shlex.quote(
            training_params(Namespace(dataset=w.dataset, method=LIMEREF["refined_method"]), input.spurious)
        ),
        method=LIMEREF.get("refined_method", ""),
        checkpoints="results/checkpoints/limeref/{dataset}/{arch}/seed{seed}/round{rnd}",
        init=lambda w, input: f" --init-from {input.init[0]}" if input.init else "",
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("train", "gpu", 0),
        mem_mb=res("train", "mem_mb", 8000),
        runtime=res("train", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust train --data {input.data} --arch {wildcards.arch} --method {params.method}"
        " --seed {wildcards.seed} --settings {params.settings} --device {params.device} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --model-out {output.model} --history-out {output.history}"
        "{params.init} > {log} 2>&1"


rule limeref_metric_curves:
    input:
        limeref_pair("history.csv", folder=limeref_model_dir),
    output:
        pdf="results/limeref/fig{num}_{dataset}.pdf",
        png=report("results/limeref/fig{num}_{dataset}.png", caption="../report/limeref.rst", category="LIMEREF"),
        csv="results/limeref/fig{num}_{dataset}.csv",
    wildcard_constraints:
        num="02|03|06|07",
    log:
        "results/logs/limeref/fig{num}_{dataset}.log",
    benchmark:
        "results/benchmarks/limeref/fig{num}_{dataset}.tsv"
    params:
        metric=lambda w: LIMEREF_FIGURES[w.num][1],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure metric-curves --inputs {input} --labels baseline refined"
        " --metric {params.metric} --title 'Fig. {wildcards.num}: {wildcards.dataset}'"
        " --pdf {output.pdf} --png {output.png} --csv {output.csv} > {log} 2>&1"


rule limeref_eps_sweep:
    input:
        limeref_pair("robustness.csv"),
    output:
        pdf="results/limeref/fig{num}_{dataset}.pdf",
        png=report("results/limeref/fig{num}_{dataset}.png", caption="../report/limeref.rst", category="LIMEREF"),
        csv="results/limeref/fig{num}_{dataset}.csv",
    wildcard_constraints:
        num="04|05|08|09",
    log:
        "results/logs/limeref/fig{num}_{dataset}.log",
    benchmark:
        "results/benchmarks/limeref/fig{num}_{dataset}.tsv"
    params:
        attack=lambda w: LIMEREF_FIGURES[w.num][1],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure robustness --inputs {input} --labels baseline refined --attack {params.attack}"
        " --title 'Fig. {wildcards.num}: {wildcards.dataset}' --pdf {output.pdf} --png {output.png}"
        " --csv {output.csv} > {log} 2>&1"


rule limeref_corruption_epochs:
    input:
        lambda w: f"{limeref_model_dir(w.dataset, LIMEREF_FIGURES[w.num][1])}/history.csv",
    output:
        pdf="results/limeref/fig{num}_{dataset}.pdf",
        png=report("results/limeref/fig{num}_{dataset}.png", caption="../report/limeref.rst", category="LIMEREF"),
        csv="results/limeref/fig{num}_{dataset}.csv",
    wildcard_constraints:
        num="10|11",
    log:
        "results/logs/limeref/fig{num}_{dataset}.log",
    benchmark:
        "results/benchmarks/limeref/fig{num}_{dataset}.tsv"
    params:
        which=lambda w: LIMEREF_FIGURES[w.num][1],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure corruption-epochs --inputs {input}"
        " --title 'Fig. {wildcards.num}: {wildcards.dataset}, {params.which}'"
        " --pdf {output.pdf} --png {output.png} --csv {output.csv} > {log} 2>&1"


rule limeref_corruption_attack:
    input:
        limeref_pair("corruptions_adversarial.csv"),
    output:
        pdf="results/limeref/fig{num}_{dataset}.pdf",
        png=report("results/limeref/fig{num}_{dataset}.png", caption="../report/limeref.rst", category="LIMEREF"),
        csv="results/limeref/fig{num}_{dataset}.csv",
    wildcard_constraints:
        num="12|13|14|15",
    log:
        "results/logs/limeref/fig{num}_{dataset}.log",
    benchmark:
        "results/benchmarks/limeref/fig{num}_{dataset}.tsv"
    params:
        attack=lambda w: LIMEREF_FIGURES[w.num][1][0],
        eps=lambda w: LIMEREF_FIGURES[w.num][1][1],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust figure corruptions --inputs {input} --labels baseline refined"
        " --attack {params.attack} --eps {params.eps}"
        " --title 'Fig. {wildcards.num}: {wildcards.dataset}, {params.attack} eps={params.eps}'"
        " --pdf {output.pdf} --png {output.png} --csv {output.csv} > {log} 2>&1"


rule limeref_honesty:
    input:
        baseline=lambda w: [f"{limeref_eval_dir(w.dataset, 'baseline')}/{f}" for f in ("robustness.csv", "robustness_strong.csv")],
        refined=lambda w: [f"{limeref_eval_dir(w.dataset, 'refined')}/{f}" for f in ("robustness.csv", "robustness_strong.csv")],
    output:
        csv=report("results/limeref/honesty_{dataset}.csv", caption="../report/limeref_honesty.rst", category="LIMEREF"),
        md="results/limeref/honesty_{dataset}.md",
    log:
        "results/logs/limeref/honesty_{dataset}.log",
    benchmark:
        "results/benchmarks/limeref/honesty_{dataset}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust table robustness --inputs {input.baseline} {input.refined}"
        " --labels baseline baseline refined refined --csv {output.csv} --md {output.md} > {log} 2>&1"


rule limeref_planted_check:
    input:
        data=prepared(LIMEREF["planted"]) if LIMEREF.get("planted") else [],
        spurious=[spurious_file(LIMEREF["planted"], LIMEREF["arch"], LIMEREF["seed"], r) for r in range(LIMEREF.get("rounds", 0))] if LIMEREF.get("planted") else [],
        models=[f"{limeref_model_dir(LIMEREF['planted'], w)}/model.pt" for w in ("baseline", "refined")] if LIMEREF.get("planted") else [],
    output:
        csv=report("results/limeref/planted_check.csv", caption="../report/limeref_planted.rst", category="LIMEREF"),
        md="results/limeref/planted_check.md",
    log:
        "results/logs/limeref/planted_check.log",
    benchmark:
        "results/benchmarks/limeref/planted_check.tsv"
    params:
        device=config["device"],
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust spurious planted-check --data {input.data} --spurious {input.spurious}"
        " --models {input.models} --labels baseline refined --device {params.device}"
        " --csv {output.csv} --md {output.md} > {log} 2>&1"
