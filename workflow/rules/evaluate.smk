# Clean accuracy, FGSM / PGD sweeps over eps, and accuracy per corruption and severity: one rule per
# (output file, command, test set, settings), all of the same shape. `shell:` is evaluated when a job
# runs, after the loop: what varies per rule goes through `params`, never a loop variable.

EVALUATIONS = [
    ("evaluate_robustness", "robustness.csv", "robustness", False, P.evaluation_settings()),
    ("evaluate_corruptions", "corruptions.csv", "corruptions", True, P.evaluation_settings()),
    ("evaluate_strong", "robustness_strong.csv", "robustness", False, P.evaluation_settings("strong_attacks")),
    ("evaluate_corrupted_attacks", "corruptions_adversarial.csv", "corrupted-attacks", True,
     P.corrupted_attack_settings()),
]

for _name, _file, _command, _corrupted, _settings in EVALUATIONS:

    rule:
        name: _name
        input:
            model=MODEL,
            data=lambda w, c=_corrupted: prepared(P.corrupted_of(w.dataset) if c else w.dataset),
        output:
            f"results/eval/{{dataset}}/{{arch}}/{{recipe}}/seed{{seed}}/{_file}",
        log:
            f"results/logs/evaluate/{{dataset}}/{{arch}}/{{recipe}}/seed{{seed}}_{Path(_file).stem}.log",
        benchmark:
            f"results/benchmarks/evaluate/{{dataset}}/{{arch}}/{{recipe}}/seed{{seed}}_{Path(_file).stem}.tsv"
        params:
            command=_command,
            settings=_settings,
            device=P.config["device"],
        threads: P.config["threads"]
        resources:
            gpu=res("evaluate", "gpu"),
            mem_mb=res("evaluate", "mem_mb"),
            runtime=res("evaluate", "runtime"),
        conda:
            "../../envs/pipeline.yaml"
        shell:
            f"python -m interprobust evaluate {{params.command}} {MODEL_JOB} --settings {{params.settings}}"
            " --out {output} > {log} 2>&1"
