"""Snakemake entry point of the integrate_* rules: the integrations of one batch (methods of
one conda env on one dataset and seed), one after the other in this process."""

import os

sm = snakemake  # noqa: F821 (injected by Snakemake)
# numba (scanpy, umap) starts as many OpenMP threads as the machine has cores unless told
# otherwise, and resets the thread count of the OpenMP runtime torch shares; Snakemake limits
# OMP/BLAS threads to the job's but not numba's. Set before anything imports numba; in this
# job's own process, so it leaks into no other code.
os.environ.setdefault("NUMBA_NUM_THREADS", str(sm.threads))

from fastspami.benchmark.jobs import integrate_batch  # noqa: E402 (after the thread setting)

integrate_batch(
    sm.input.h5mu,
    sm.params.runs,
    list(zip(sm.output.h5mu, sm.output.status, sm.log.runs, strict=True)),
    seed=int(sm.wildcards.seed),
    device=sm.params.device,
)
