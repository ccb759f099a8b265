"""Snakemake entry point of rule cost: seconds, CPU seconds and peak memory of every
integration (as its status file records them)."""

from fastspami.benchmark.jobs import cost_job, job_log
from fastspami.methods.registry import register_config_methods

sm = snakemake  # noqa: F821 (injected by Snakemake)
register_config_methods(sm.config["methods"])  # labels of methods the config declares
with job_log(sm.log[0]):
    cost_job(sm.input.statuses, sm.output[0])
