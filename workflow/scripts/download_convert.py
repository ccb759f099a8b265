"""Snakemake entry point of rule convert_dataset: raw files -> the contract's .h5mu."""

from pathlib import Path

from fastspami.benchmark.jobs import job_log
from fastspami.data.convert import convert_dataset
from fastspami.data.registry import get_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    convert_dataset(
        get_dataset(sm.params.registry, sm.wildcards.dataset),
        Path(sm.input.manifest).parent,
        sm.output[0],
    )
