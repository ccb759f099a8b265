"""Snakemake entry point of rule convert_dataset: raw files -> the contract's .h5mu."""

from pathlib import Path

from spami.convert import convert_dataset
from spami.datasets import get_dataset
from spami.workflow_io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job_log(sm.log[0]):
    convert_dataset(
        get_dataset(sm.params.registry, sm.wildcards.dataset),
        Path(sm.input.manifest).parent,
        sm.output[0],
    )
