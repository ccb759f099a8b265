"""Snakemake entry point of rule report_cost: seconds and peak memory per method (figure, table)."""

import pandas as pd

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    sizes = {
        name: report.n_spots(path)
        for name, path in zip(sm.params.datasets, sm.input.datasets, strict=True)
    }
    cost = report.cost_with_sizes(pd.read_csv(sm.input.cost), sizes)
    pl.save_figure(pl.cost_plot(cost), sm.output.png, sm.output.svg)
    table = report.cost_table(cost)
    report.write_table(
        table, report.cost_blocks(table), sm.output.csv, sm.output.md, sm.output.html
    )
