"""Snakemake entry point of rule integrate: one method, variant and seed on one dataset."""

from spami.workflow_io import integrate_job, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    integrate_job(
        sm.input.h5mu,
        sm.output.h5mu,
        sm.output.status,
        module=sm.params.module,
        params=sm.params.method_params,
        seed=int(sm.wildcards.seed),
        threads=sm.threads,
        device=sm.params.device,
        job=sm.params.job,
    )
