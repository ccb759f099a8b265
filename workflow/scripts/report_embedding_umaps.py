"""Snakemake entry point of rule report_embedding_umaps: UMAP of each embedding (Fig 2B, 7E)."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    figure = report.embedding_umaps_figure(
        sm.input.dataset,
        sm.input.integrated,
        sm.input.statuses,
        titles=[plots.method_label(method, variant) for method, variant in sm.params.runs],
        seed=sm.params.seed,
    )
    plots.save_figure(figure, sm.output.png, sm.output.svg)
