"""Snakemake entry point of rule report_domain_maps: each method's domains (Fig 2A, 3D, ...)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    figure = report.domain_maps_figure(
        sm.input.dataset,
        sm.input.clusters,
        sm.input.statuses,
        titles=[plots.method_label(method, variant) for method, variant in sm.params.runs],
        clustering=sm.params.clustering,
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
