"""Snakemake entry point of the integrate_* rules: the integrations of one batch (methods of
one conda env on one dataset and seed), one after the other in this process."""

from spami.workflow_io import integrate_batch

sm = snakemake  # noqa: F821 (injected by Snakemake)
integrate_batch(
    sm.input.h5mu,
    sm.params.runs,
    list(zip(sm.output.h5mu, sm.output.status, sm.log.runs, strict=True)),
    seed=int(sm.wildcards.seed),
    device=sm.params.device,
)
