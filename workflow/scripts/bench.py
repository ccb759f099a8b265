"""Snakemake entry point of rule bench: results/bench/scaling.csv and scaling.png."""

from pathlib import Path

from fastspami.benchmark.jobs import job_log
from fastspami.benchmark.scaling import run_scaling

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    settings = {"sizes": [1000, 10000, 100000], **sm.params.settings}
    run_scaling(out_dir=Path(sm.output[0]).parent, threads=sm.threads, **settings)
