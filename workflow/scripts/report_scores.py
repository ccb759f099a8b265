"""Snakemake entry point of rule report_scores: one dataset's clustering metrics (Fig 3B, 4B,
7C), Moran's I per cluster (Fig 3C, 4C, 6B, 7B) and its methods x metrics summary table."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    dataset, clustering, name = sm.wildcards.dataset, sm.params.clustering, sm.params.label
    scores = report.read_results(sm.input.scores, dataset)
    bars = pl.metric_bars(scores, clustering=clustering, title=f"Clustering metrics: {name}")
    pl.save_figure(bars, sm.output.bars_png, sm.output.bars_svg)
    morans = report.read_results(sm.input.morans_i, dataset)
    boxes = pl.morans_boxplots(
        morans, clustering=clustering, title=f"Moran's I: {name}", scores=scores
    )
    pl.save_figure(boxes, sm.output.morans_png, sm.output.morans_svg)
    table = report.summary_table(scores)
    blocks = report.summary_blocks(table, name, reference=sm.params.reference)
    report.write_table(
        table, blocks, sm.output.summary_csv, sm.output.summary_md, sm.output.summary_html
    )
