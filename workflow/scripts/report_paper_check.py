"""Snakemake entry point of rule report_paper_check: a scenario's SpaMI beside the paper's
number (SpaMI Tutorial 4's ARI 0.963 on RNA + protein at noise sd 0.5)."""

from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.scenario)
    table = report.paper_check_table(scores, sm.params.reference)
    blocks = report.paper_check_blocks(table, sm.params.label, sm.params.reference)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
