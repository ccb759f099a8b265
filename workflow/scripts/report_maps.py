"""Snakemake entry point of rule report_maps: each method's domains beside the ground truth
(Fig 2A, 3D, 4D, 6C, 7D) and the UMAP of each embedding (Fig 2B, 7E), for one dataset."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import method_label, register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    titles = [method_label(method, variant) for method, variant in sm.params.runs]
    domains = report.domain_maps_figure(
        sm.input.dataset,
        sm.input.clusters,
        sm.input.statuses,
        titles=titles,
        clustering=sm.params.clustering,
        name=sm.params.label,
    )
    pl.save_figure(domains, sm.output.domains_png, sm.output.domains_svg)
    umaps = report.embedding_umaps_figure(
        sm.input.dataset,
        sm.input.integrated,
        sm.input.statuses,
        titles=titles,
        seed=sm.params.seed,
        clusters=sm.input.clusters,
        clustering=sm.params.clustering,
        name=sm.params.label,
    )
    pl.save_figure(umaps, sm.output.umaps_png, sm.output.umaps_svg)
