# Clean accuracy, FGSM / PGD sweeps over eps, and accuracy per corruption and severity.


rule evaluate_robustness:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
    output:
        "results/eval/{dataset}/{arch}/{method}/seed{seed}/robustness.csv",
    log:
        "results/logs/evaluate/{dataset}/{arch}/{method}/seed{seed}_robustness.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{arch}/{method}/seed{seed}_robustness.tsv"
    params:
        settings=shlex.quote(evaluation_params()),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate robustness --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate_corruptions:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(corrupted_of(w.dataset)),
    output:
        "results/eval/{dataset}/{arch}/{method}/seed{seed}/corruptions.csv",
    log:
        "results/logs/evaluate/{dataset}/{arch}/{method}/seed{seed}_corruptions.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{arch}/{method}/seed{seed}_corruptions.tsv"
    params:
        settings=shlex.quote(evaluation_params()),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate corruptions --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate_strong:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(w.dataset),
    output:
        "results/eval/{dataset}/{arch}/{method}/seed{seed}/robustness_strong.csv",
    log:
        "results/logs/evaluate/{dataset}/{arch}/{method}/seed{seed}_robustness_strong.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{arch}/{method}/seed{seed}_robustness_strong.tsv"
    params:
        settings=shlex.quote(evaluation_params("strong_attacks")),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate robustness --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate_corrupted_attacks:
    input:
        model="results/models/{dataset}/{arch}/{method}/seed{seed}/model.pt",
        data=lambda w: prepared(corrupted_of(w.dataset)),
    output:
        "results/eval/{dataset}/{arch}/{method}/seed{seed}/corruptions_adversarial.csv",
    log:
        "results/logs/evaluate/{dataset}/{arch}/{method}/seed{seed}_corruptions_adversarial.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{arch}/{method}/seed{seed}_corruptions_adversarial.tsv"
    params:
        settings=shlex.quote(corrupted_attack_params()),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=res("evaluate", "gpu", 0),
        mem_mb=res("evaluate", "mem_mb", 8000),
        runtime=res("evaluate", "runtime", 60),
    conda:
        "../../envs/pipeline.yaml"
    shell:
        "python -m interprobust evaluate corrupted-attacks --model {input.model} --data {input.data}"
        " --settings {params.settings} --device {params.device} --threads {threads} --out {output} > {log} 2>&1"
