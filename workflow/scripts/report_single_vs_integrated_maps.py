"""Snakemake entry point of rule report_single_vs_integrated_maps: SpaMI per modality (Fig 3F)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    figure = report.single_vs_integrated_figure(
        sm.input.dataset, sm.input.clusters, sm.input.statuses, clustering=sm.params.clustering
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
