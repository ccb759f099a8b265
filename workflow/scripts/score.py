"""Snakemake entry point of rule score: cluster one integrated embedding, then score it.

Clustering and scoring share one job (and one interpreter start, which costs more than
either on the quick study's small datasets).
"""

from spami.workflow_io import cluster_job, job_log, score_job

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    cluster_job(
        sm.input.h5mu,
        sm.input.status,
        sm.output.clusters,
        sm.output.clustering,
        algorithms=sm.params.algorithms,
        n_clusters=sm.params.n_clusters,
        seed=int(sm.wildcards.seed),
    )
    score_job(
        sm.input.h5mu,
        sm.input.status,
        sm.output.clusters,
        sm.output.clustering,
        sm.output.scores,
        sm.output.morans_i,
        sm.output.attention,
        job=sm.params.job,
    )
