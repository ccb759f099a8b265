"""Snakemake entry point of rule report_cost: seconds and peak memory per method (figure, table)."""

import pandas as pd

from spami import plots, report
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    sizes = {
        name: report.n_spots(path)
        for name, path in zip(sm.params.datasets, sm.input.datasets, strict=True)
    }
    cost = report.cost_with_sizes(pd.read_csv(sm.input.cost), sizes)
    plots.save_figure(plots.cost_plot(cost), sm.output.png, sm.output.svg)
    table = report.cost_table(cost)
    report.write_table(
        table, report.cost_blocks(table), sm.output.csv, sm.output.md, sm.output.html
    )
