"""Snakemake entry point of rule score: cluster and score every integration of one dataset
and seed (one interpreter start for all of them: it costs more than the work on small data)."""

from spami.workflow_io import evaluate_job, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    evaluate_job(
        sm.input.h5mu,
        sm.input.status,
        sm.params.jobs,
        {name: sm.output[name] for name in sm.output.keys()},
        algorithms=sm.params.algorithms,
        n_clusters=sm.params.n_clusters,
        seed=int(sm.wildcards.seed),
    )
