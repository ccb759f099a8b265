"""Snakemake entry point of rule report_reproduction: our SpaMI against the authors' code."""

import pandas as pd
from spami import plots, report, reproduction

from fastspami.benchmark.jobs import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores)
    pairs = reproduction.paired_scores(scores, clustering=sm.params.clustering)
    table = reproduction.reproduction_table(pairs, pd.read_csv(sm.input.cost))
    figure = reproduction.reproduction_figure(pairs, table)
    plots.save_figure(figure, sm.output.png, sm.output.svg)
    blocks = reproduction.reproduction_blocks(table, clustering=sm.params.clustering)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
