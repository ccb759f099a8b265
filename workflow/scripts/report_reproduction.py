"""Snakemake entry point of rule report_reproduction: our SpaMI against the authors' code."""

import pandas as pd

from fastspami import pl
from fastspami.benchmark import report, reproduction
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    scores = report.read_results(sm.input.scores)
    pairs = reproduction.paired_scores(scores, clustering=sm.params.clustering)
    table = reproduction.reproduction_table(pairs, pd.read_csv(sm.input.cost))
    figure = reproduction.reproduction_figure(pairs, table, labels=sm.params.labels)
    pl.save_figure(figure, sm.output.png, sm.output.svg)
    blocks = reproduction.reproduction_blocks(
        table, clustering=sm.params.clustering, labels=sm.params.labels
    )
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
