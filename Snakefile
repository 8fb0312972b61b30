# Replication pipeline for LIMEREF, G-LIME, AGA and SEP. All logic lives in the `interprobust`
# package (workflow/interprobust); the rules in workflow/rules/ only wire files to its CLI.
#
#   snakemake --cores all --configfile config/embedded.yaml    # offline, CPU, minutes
#   snakemake --cores all                                      # paper scale (config.yaml)

from snakemake.utils import min_version

min_version("9.0")

# Shared settings, then each paper's section and recipes; a --configfile overlay is merged over all of
# them (mappings key by key, lists replaced). common.smk validates and resolves the result.
configfile: "config.yaml"
configfile: "config/papers/limeref.yaml"
configfile: "config/papers/glime.yaml"
configfile: "config/papers/aga.yaml"
configfile: "config/papers/sep.yaml"
configfile: "config/papers/matrix.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/limeref.smk"
include: "workflow/rules/glime.smk"
include: "workflow/rules/aga.smk"
include: "workflow/rules/sep.smk"
include: "workflow/rules/artifacts.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cost.smk"


# `rule all` must stay in this file: Snakemake ignores default targets set in included files.
rule all:
    input:
        P.final_targets(P.cost.outputs()),
    default_target: True
