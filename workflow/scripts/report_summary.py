"""Snakemake entry point of rule report_summary: methods x metrics of one dataset."""

from spami import report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    dataset = sm.wildcards.dataset
    table = report.summary_table(report.read_results(sm.input.scores, dataset))
    blocks = report.summary_blocks(table, dataset, reference=sm.params.reference)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
