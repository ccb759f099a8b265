"""Snakemake entry point of rule report_significance: SpaMI vs each method, paired Wilcoxon."""

from spami import report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    table = report.significance_table(report.read_results(sm.input.scores), sm.params.reference)
    blocks = report.significance_blocks(table)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
