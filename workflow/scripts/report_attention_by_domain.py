"""Snakemake entry point of rule report_attention_by_domain: SpaMI's attention per domain."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    attention = report.read_results(sm.input.attention, sm.wildcards.dataset)
    (method, variant), *_ = sm.params.run
    figure = report.attention_figure(attention, method, variant)
    plots.save_figure(figure, sm.output.png, sm.output.svg)
