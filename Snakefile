"""SpaMI benchmark: simulate/download -> integrate -> cluster + score -> report.

    snakemake --cores 2                                   # the quick study (config/config.yaml)
    snakemake --cores 2 --configfile config/simulation.yaml

A study config given with --configfile replaces config/config.yaml instead of being
merged into it, so a study never inherits the quick study's scenarios or methods.
"""

import os

if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config/config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/integrate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


rule all:
    default_target: True
    input:
        "results/scores.csv",
        "results/cost.csv",
        report_targets(),
        "results/report/index.html",
