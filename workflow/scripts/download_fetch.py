"""Snakemake entry point of rule download_dataset: fetch and verify one dataset's files."""

from pathlib import Path

from spami.datasets import get_dataset
from spami.download import download_dataset
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    download_dataset(
        get_dataset(sm.params.registry, sm.wildcards.dataset),
        Path(sm.output.manifest).parent,
        cache_dir=sm.params.cache_dir,
    )
