"""Snakemake entry point of rule report_denoising_maps: input vs reconstruction (Fig 3E, 4E)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    figure = report.denoising_figure(
        sm.input.integrated[0],
        sm.input.status[0],
        sm.input.clusters,
        clustering=sm.params.clustering,
        markers=sm.params.markers,
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
