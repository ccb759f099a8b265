"""Snakemake entry point of rule download_dataset: fetch and verify one dataset's files."""

from pathlib import Path

from fastspami.benchmark.jobs import job_log
from fastspami.data.download import download_dataset
from fastspami.data.registry import get_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    download_dataset(
        get_dataset(sm.params.registry, sm.wildcards.dataset),
        Path(sm.output.manifest).parent,
        cache_dir=sm.params.cache_dir,
    )
