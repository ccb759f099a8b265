"""Snakemake entry point of rule cost: seconds, CPU seconds and peak memory of every
integration (as its status file records them)."""

from spami.workflow_io import cost_job, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    cost_job(sm.input.statuses, sm.output[0])
