"""Snakemake entry point of rule report_single_vs_integrated_maps: SpaMI per modality (Fig 3F)."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    figure = report.single_vs_integrated_figure(
        sm.input.dataset,
        sm.input.clusters,
        sm.input.statuses,
        clustering=sm.params.clustering,
        name=sm.params.label,
    )
    pl.save_figure(figure, sm.output.png, sm.output.svg)
