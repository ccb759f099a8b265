"""Snakemake entry point of rule report_metric_bars: ARI/AMI/NMI/homogeneity (Fig 3B, 4B, 7C)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.dataset)
    figure = plots.metric_bars(
        scores, clustering=sm.params.clustering, title=f"Clustering metrics: {sm.wildcards.dataset}"
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
