"""Snakemake entry point of rule report_metric_vs_noise: metrics against noise (Fig 2C), as a
figure and as a table of every method and variant at every noise level."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.scenario)
    figure = pl.metric_vs_noise(
        scores,
        clustering=sm.params.clustering,
        scenario_labels={sm.wildcards.scenario: sm.params.label},
        title=f"Metrics against noise: {sm.params.label}",
    )
    pl.save_figure(figure, sm.output.png, sm.output.svg)
    table = report.noise_sweep_table(scores, clustering=sm.params.clustering)
    blocks = report.noise_sweep_blocks(table, sm.params.label)
    report.write_table(table, blocks, sm.output.table_csv, sm.output.table_md, sm.output.table_html)
