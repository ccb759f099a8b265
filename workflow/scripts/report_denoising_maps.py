"""Snakemake entry point of rule report_denoising_maps: input vs reconstruction (Fig 3E, 4E)."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    figure = report.denoising_figure(
        sm.input.integrated[0],
        sm.input.status[0],
        sm.input.clusters,
        clustering=sm.params.clustering,
        markers=sm.params.markers,
    )
    pl.save_figure(figure, sm.output.png, sm.output.svg)
