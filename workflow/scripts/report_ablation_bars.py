"""Snakemake entry point of rule report_ablation_bars: SpaMI's ablations (Fig 2D, S1 Fig I)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.subject)
    figure = plots.ablation_bars(scores, method=sm.params.method, clustering=sm.params.clustering)
    plots.save_figure(figure, sm.output.png, sm.output.svg)
