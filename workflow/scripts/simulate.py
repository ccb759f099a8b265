"""Snakemake entry point of rule simulate: one simulated dataset."""

from fastspami.benchmark.jobs import job_log, simulate_job

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    simulate_job(sm.output[0], **sm.params.settings)
