"""Snakemake entry point of rule report_diagnosis: SpaMI's use of each modality."""

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.jobs import job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    figure, table, blocks = report.diagnosis_report(
        sm.input.dataset,
        sm.input.integrated,
        sm.input.statuses,
        [variant for _, variant in sm.params.runs],
        name=sm.params.label,
        seed=sm.params.seed,
    )
    pl.save_figure(figure, sm.output.png, sm.output.svg)
    report.write_table(table, blocks, sm.output.csv, sm.output.md, sm.output.html)
