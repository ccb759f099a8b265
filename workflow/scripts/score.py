"""Snakemake entry point of rule score: metrics of the clusterings of one integration."""

from spami.workflow_io import job_log, score_job

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    score_job(
        sm.input.h5mu,
        sm.input.status,
        sm.input.tsv,
        sm.input.json,
        sm.output.scores,
        sm.output.morans_i,
        sm.output.attention,
        job=sm.params.job,
    )
