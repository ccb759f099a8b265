"""Snakemake entry point of rule score: cluster and score every integration of one dataset,
seed by seed (one interpreter start for all of them: it costs more than the work on small
data)."""

from fastspami.benchmark.jobs import evaluate_dataset, job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    evaluate_dataset(
        sm.input.h5mu,
        sm.input.status,
        sm.params.jobs,
        {name: sm.output[name] for name in sm.output.keys()},
        seeds=sm.params.seeds,
        algorithms=sm.params.algorithms,
        n_clusters=sm.params.n_clusters,
    )
