"""Snakemake entry point of rule report_ablation_bars: SpaMI's ablations (Fig 2D, S1 Fig I)."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.subject)
    figure = pl.ablation_bars(
        scores,
        method=sm.params.method,
        clustering=sm.params.clustering,
        title=f"SpaMI's variants: {sm.params.label}",
    )
    pl.save_figure(figure, sm.output.png, sm.output.svg)
