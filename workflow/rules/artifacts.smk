# Every table and figure: one named rule per artifact (`<paper>_<id>`), generated from the registry
# (interprobust/registry.py and papers/<paper>/artifacts.py), as showyourwork generates figure rules.
# Each rule reads cached intermediates and calls the artifact's render function through
# `interprobust render`; `interprobust where <file>` names the rule and the function.
# A loop variable never appears in `shell:` (Snakemake evaluates it when the job runs, after the loop:
# every rule would run the last artifact); what varies per artifact goes through `params`.

for _a in registry.artifacts():

    rule:
        name: _a.rule
        input:
            unpack(lambda w, a=_a: a.inputs(P, dict(w))),
        output:
            **{f: report(p, caption=f"../report/{_a.caption}", category=_a.category) if i == 0 else p
               for i, (f, p) in enumerate(_a.patterns().items())},
        log:
            f"results/logs/{_a.paper}/{_a.id}" + "".join(f"_{{{w}}}" for w in _a.wildcards) + ".log",
        benchmark:
            f"results/benchmarks/{_a.paper}/{_a.id}" + "".join(f"_{{{w}}}" for w in _a.wildcards) + ".tsv"
        params:
            inputs=lambda w, a=_a: " ".join(f"--in {k} {quoted(v)}" for k, v in a.inputs(P, dict(w)).items()),
            options=lambda w, a=_a: quoted_json(a.options(P, dict(w))),
            stem=lambda w, a=_a: a.stem.format(**w),
            artifact=_a.key,
            device=f" --device {P.config['device']}" if _a.stage else "",
        threads: P.config["threads"] if _a.stage else 1
        resources:
            gpu=res(_a.stage, "gpu") if _a.stage else 0,
            mem_mb=res(_a.stage, "mem_mb") if _a.stage else 2000,
            runtime=res(_a.stage, "runtime") if _a.stage else 30,
        conda:
            "../../envs/pipeline.yaml"
        shell:
            "python -m interprobust render {params.artifact} {params.inputs} --options {params.options}"
            " --stem {params.stem}{params.device} --threads {threads} > {log} 2>&1"
