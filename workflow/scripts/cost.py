"""Snakemake entry point of rule cost: seconds and peak memory of every integration job."""

from spami.workflow_io import cost_job, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    cost_job(sm.input.benchmarks, sm.input.statuses, sm.output[0])
