"""Snakemake entry point of rule report_index: the reader's report, one static HTML page
with every figure, its caption under it, and every table (results/report/index.html)."""

from fastspami.benchmark import report_page
from fastspami.benchmark.jobs import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    report_page.write_index(sm.output.html, sm.params.entries, sm.input.captions, sm.config)
