"""Snakemake entry point of rule report_significance: SpaMI vs each method, paired Wilcoxon."""

from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    table = report.significance_table(report.read_results(sm.input.scores), sm.params.reference)
    blocks = report.significance_blocks(table)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
