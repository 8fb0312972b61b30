# LIMEREF: LIME analysis of a round's model -> F_spurious -> the next round trains with it; the last
# round's F_spurious trains the refined model (rule `train`). Its figures and tables: artifacts.smk.


rule limeref_detect:
    input:
        unpack(P.limeref.detect_inputs),
    output:
        "results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/spurious.json",
    log:
        "results/logs/limeref/{dataset}/{arch}/seed{seed}/detect_round{rnd}.log",
    benchmark:
        "results/benchmarks/limeref/{dataset}/{arch}/seed{seed}/detect_round{rnd}.tsv"
    params:
        settings=P.limeref.detection_settings(),
        previous=P.limeref.detect_args,
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust limeref detect {MODEL_JOB} {{params.previous}} --settings {{params.settings}}"
        " --out {output} > {log} 2>&1"


rule limeref_round_train:
    input:
        unpack(P.limeref.round_inputs),
    output:
        model="results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/model.pt",
        history="results/limeref/rounds/{dataset}/{arch}/seed{seed}/round{rnd}/history.csv",
    log:
        "results/logs/limeref/{dataset}/{arch}/seed{seed}/train_round{rnd}.log",
    benchmark:
        "results/benchmarks/limeref/{dataset}/{arch}/seed{seed}/train_round{rnd}.tsv"
    params:
        settings=P.limeref.round_settings,
        recipe=P.limeref.s.get("refined_recipe", ""),
        checkpoints="results/checkpoints/limeref/{dataset}/{arch}/seed{seed}/round{rnd}",
        init=P.limeref.round_init_args,
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("train", "gpu"),
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust train --data {input.data} --arch {wildcards.arch} --recipe {params.recipe}"
        " --seed {wildcards.seed} --settings {params.settings} --device {params.device} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --model-out {output.model} --history-out {output.history}"
        "{params.init} > {log} 2>&1"


rule limeref_corrupted_strong:
    input:
        model=MODEL,
        data=lambda w: prepared(P.corrupted_of(w.dataset)),
    output:
        "results/eval/{dataset}/{arch}/{recipe}/seed{seed}/corruptions_adversarial_strong.csv",
    log:
        "results/logs/evaluate/{dataset}/{arch}/{recipe}/seed{seed}_corruptions_adversarial_strong.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{arch}/{recipe}/seed{seed}_corruptions_adversarial_strong.tsv"
    params:
        settings=P.limeref.corrupted_strong_settings() if P.limeref else "{}",
        device=P.config["device"],
    threads: P.config["threads"]
    resources:
        gpu=res("evaluate", "gpu"),
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        f"python -m interprobust limeref corrupted-strong {MODEL_JOB} --settings {{params.settings}}"
        " --out {output} > {log} 2>&1"
