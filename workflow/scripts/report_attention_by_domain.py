"""Snakemake entry point of rule report_attention_by_domain: SpaMI's attention per domain."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    attention = report.read_results(sm.input.attention, sm.wildcards.dataset)
    (method, variant), *_ = sm.params.run
    figure = report.attention_figure(attention, method, variant, name=sm.params.label)
    pl.save_figure(figure, sm.output.png, sm.output.svg)
