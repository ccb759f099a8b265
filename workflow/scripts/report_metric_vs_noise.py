"""Snakemake entry point of rule report_metric_vs_noise: metrics against noise (Fig 2C), as a
figure and as a table of every method and variant at every noise level."""

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores, sm.wildcards.scenario)
    figure = plots.metric_vs_noise(scores, clustering=sm.params.clustering)
    plots.save_figure(figure, sm.output.png, sm.output.svg)
    table = report.noise_sweep_table(scores, clustering=sm.params.clustering)
    blocks = report.noise_sweep_blocks(table, sm.wildcards.scenario)
    report.write_table(table, blocks, sm.output.table_csv, sm.output.table_md, sm.output.table_html)
