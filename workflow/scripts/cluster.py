"""Snakemake entry point of rule cluster: cluster one integrated embedding."""

from spami.workflow_io import cluster_job, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    cluster_job(
        sm.input.h5mu,
        sm.input.status,
        sm.output.tsv,
        sm.output.json,
        algorithms=sm.params.algorithms,
        n_clusters=sm.params.n_clusters,
        seed=int(sm.wildcards.seed),
    )
