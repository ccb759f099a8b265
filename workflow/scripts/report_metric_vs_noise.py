"""Snakemake entry point of rule report_metric_vs_noise: metrics against noise (Fig 2C)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.scenario)
    figure = plots.metric_vs_noise(scores, clustering=sm.params.clustering)
    plots.save_figure(figure, sm.output.png, sm.output.svg)
