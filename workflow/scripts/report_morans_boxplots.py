"""Snakemake entry point of rule report_morans_boxplots: Moran's I per cluster (Fig 3C, 6B)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    morans = report.read_results(sm.input.morans_i, sm.wildcards.dataset)
    figure = plots.morans_boxplots(
        morans, clustering=sm.params.clustering, title=f"Moran's I: {sm.wildcards.dataset}"
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
