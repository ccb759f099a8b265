"""Snakemake entry point of rule merge_scores: the study-wide tables."""

from fastspami.benchmark.jobs import job_log, merge_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    for table in ("scores", "morans_i", "attention"):
        merge_tables(sm.input[table], sm.output[table])
