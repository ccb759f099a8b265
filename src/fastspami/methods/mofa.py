"""MOFA+ (Argelaguet et al., Genome Biol 2020) through mofapy2, as SpaMI's comparison runs it.

Inputs follow muon's MOFA+ tutorials and the SpatialGlue benchmark's MOFA+ scripts (which the
SpaMI paper's comparison follows): each modality becomes one Gaussian view of normalized
features, not of PCA components, so MOFA+ learns its own factors.

- RNA: genes seen in >= 10 spots; normalize_total 1e4; log1p; the top ``n_top_genes`` (2000,
  Seurat's ``vst`` default used by SpatialGlue's MOFA+ script) highly variable genes by
  ``seurat_v3`` on counts (``fastspami.pp.preprocess`` helpers).
- ADT: Seurat-style CLR per spot (``fastspami.pp.preprocess``'s CLR); all proteins.
- ATAC: the ``n_top_peaks`` (5000) most accessible peaks (Signac's ``FindTopFeatures`` ranks by
  total counts); TF-IDF, ``log1p(tf * idf * 1e4)`` (Signac's ``RunTFIDF`` method 1).

mofapy2 settings (mofapy2's / muon's ``mu.tl.mofa`` defaults unless stated): ``n_factors`` = 15
(the SpaMI paper does not state a number; muon's default and SpatialGlue's scripts use 10; MOFA+
switches off the factors it does not need, so a few more cost nothing); features centered;
ARD prior on the weights (not on the factors: one group), spike-and-slab on the weights;
``convergence_mode='fast'``, at most ``max_iterations`` (1000) iterations; CPU only; output
silenced. No model file is written: the factors are read from the trained model in memory.

``scale_views=True`` (mofapy2's option, off by default) scales each view to unit variance.
MOFA+'s fixed Gamma priors are not scale-free: on low-variance inputs such as these (mean
per-feature variance ~0.17 for log-normalized RNA, ~0.05 for CLR ADT on the simulated data) it
shut every factor down (all of Z ~1e-10, variance explained 0), while scaling the same views
by 3 gave ordinary factors. Scaling views is the documented remedy for views on different
scales; pass ``scale_views=False`` for the unscaled run.

The embedding is the factor matrix Z (N x K), rows in the input spot order. Any number (>= 2)
of modalities works.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from fastspami.data.contract import counts_matrix
from fastspami.errors import ConfigError, InputDataError, MethodUnavailableError
from fastspami.methods.contract import IntegrationResult
from fastspami.pp.preprocess import (
    clr_normalize,
    highly_variable_mask,
    log_normalize,
    resolve_kinds,
)

METHOD = "mofa"
PIP_PACKAGE = "mofapy2==0.7.5"

RNA_MIN_SPOTS = 10
N_TOP_GENES = 2000
N_TOP_PEAKS = 5000
N_FACTORS = 15
MAX_ITERATIONS = 1000


def preload() -> None:
    """Import mofapy2 in a workflow batch's process, before it forks a process per run."""
    import mofapy2.run.entry_point  # noqa: F401


def integrate(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    n_factors: int = N_FACTORS,
    max_iterations: int = MAX_ITERATIONS,
    convergence_mode: str = "fast",
    scale_views: bool = True,
    n_top_genes: int = N_TOP_GENES,
    n_top_peaks: int = N_TOP_PEAKS,
    kinds: dict[str, str] | None = None,
    quiet: bool = True,
) -> IntegrationResult:
    """Integrate every modality of ``mdata`` with MOFA+; returns Z (N x n_factors) as embedding.

    device: only 'cpu' is used (mofapy2's GPU mode needs CuPy); other values are recorded.
    kinds: ``{modality name: 'rna'|'adt'|'atac'}``; else ``uns['modality_kinds']``,
    else the modality names decide (``fastspami.pp.preprocess.resolve_kinds``).
    """
    _check_params(n_factors, max_iterations, convergence_mode)
    if len(mdata.mod) < 2:
        raise InputDataError(
            f"MOFA+ integrates two or more modalities; this dataset has {len(mdata.mod)}."
        )
    kinds = resolve_kinds(mdata, kinds)
    views = {
        name: mofa_view(adata, kinds[name], n_top_genes=n_top_genes, n_top_peaks=n_top_peaks)
        for name, adata in mdata.mod.items()
    }

    entry = _train(
        views,
        mdata.obs_names,
        n_factors,
        max_iterations,
        convergence_mode,
        scale_views,
        seed,
        threads,
        quiet,
    )
    z = np.asarray(entry.model.nodes["Z"].getExpectation(), dtype=np.float64)
    r2 = entry.model.calculate_variance_explained()[0]  # one group: (n_views x K)
    elapsed = entry.model.getTrainingStats()["time"]

    import mofapy2

    return IntegrationResult(
        method=METHOD,
        embedding=z.astype(np.float32),
        uns={
            "package": "mofapy2",
            "package_version": mofapy2.__version__,
            "n_factors": int(z.shape[1]),
            "max_iterations": int(max_iterations),
            "iterations": int(np.sum(np.isfinite(elapsed))) - 1,
            "convergence_mode": convergence_mode,
            "scale_views": bool(scale_views),
            "modalities": list(views),
            "modality_kinds": kinds,
            "n_features": {name: int(x.shape[1]) for name, (x, _) in views.items()},
            "variance_explained": {name: [float(v) for v in r2[m]] for m, name in enumerate(views)},
            "seed": int(seed),
            "device": "cpu",
            "requested_device": str(device),
        },
    )


def mofa_view(
    adata: Any, kind: str, *, n_top_genes: int = N_TOP_GENES, n_top_peaks: int = N_TOP_PEAKS
) -> tuple[np.ndarray, list[str]]:
    """One modality's MOFA+ input: (N x d float64 normalized features, feature names)."""
    counts = counts_matrix(adata)
    counts = (
        sp.csr_matrix(counts, dtype=np.float64)
        if sp.issparse(counts)
        else sp.csr_matrix(np.asarray(counts, dtype=np.float64))
    )
    names = np.asarray(adata.var_names, dtype=str)
    if kind == "rna":
        x, keep = _rna_view(counts, n_top_genes)
    elif kind == "adt":
        x, keep = clr_normalize(counts), np.arange(counts.shape[1])
    elif kind == "atac":
        x, keep = _tfidf_view(counts, n_top_peaks)
    else:
        raise ConfigError(f"MOFA+: unknown modality kind {kind!r}; use 'rna', 'adt' or 'atac'.")
    return np.asarray(x, dtype=np.float64), [str(n) for n in names[keep]]


def _rna_view(counts: sp.csr_matrix, n_top_genes: int) -> tuple[np.ndarray, np.ndarray]:
    spots_per_gene = np.asarray((counts > 0).sum(axis=0)).ravel()
    kept = np.flatnonzero(spots_per_gene >= RNA_MIN_SPOTS)
    if kept.size < 2:
        raise InputDataError(
            f"MOFA+: only {kept.size} gene(s) are seen in >= {RNA_MIN_SPOTS} spots; "
            "check that the RNA modality holds raw counts."
        )
    hvg = np.flatnonzero(highly_variable_mask(counts[:, kept], n_top_genes))
    values = log_normalize(counts[:, kept])[:, hvg]
    return values.toarray(), kept[hvg]


def _tfidf_view(counts: sp.csr_matrix, n_top_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    totals = np.asarray(counts.sum(axis=0)).ravel()
    order = np.argsort(-totals, kind="stable")
    keep = np.sort(order[: min(n_top_peaks, int(np.sum(totals > 0)))])
    x = counts[:, keep]
    spot_totals = np.asarray(x.sum(axis=1)).ravel()
    if np.any(spot_totals == 0):
        raise InputDataError(
            f"MOFA+: {int(np.sum(spot_totals == 0))} spot(s) have no counts in the top "
            f"{keep.size} ATAC peaks; raise n_top_peaks or remove empty spots."
        )
    tf = sp.diags(1.0 / spot_totals) @ x
    idf = x.shape[0] / np.asarray(x.sum(axis=0)).ravel()
    return np.log1p((tf @ sp.diags(idf)).toarray() * 1e4), keep


def _check_params(n_factors: int, max_iterations: int, convergence_mode: str) -> None:
    if int(n_factors) < 1:
        raise ConfigError(f"MOFA+: n_factors must be >= 1, got {n_factors}.")
    if int(max_iterations) < 2:
        raise ConfigError(f"MOFA+: max_iterations must be >= 2, got {max_iterations}.")
    if convergence_mode not in ("fast", "medium", "slow"):
        raise ConfigError(
            f"MOFA+: convergence_mode {convergence_mode!r} is not one of 'fast', 'medium', 'slow'."
        )


def _train(
    views: dict[str, tuple[np.ndarray, list[str]]],
    spot_names: Any,
    n_factors: int,
    max_iterations: int,
    convergence_mode: str,
    scale_views: bool,
    seed: int,
    threads: int,
    quiet: bool,
) -> Any:
    """Build and train a mofapy2 model on one group of spots; return its entry point."""
    try:
        from mofapy2.run.entry_point import entry_point
    except ImportError as err:
        raise MethodUnavailableError(
            f"MOFA+ needs mofapy2, which cannot be imported ({err}). "
            f"Install it with `pip install {PIP_PACKAGE}` (or use envs/mofa.yaml)."
        ) from err
    from threadpoolctl import threadpool_limits

    with (
        _silenced(quiet),
        _numpy_random_state_kept(),
        threadpool_limits(max(1, int(threads))),
        # its ELBO takes S * log(S) at S = 0 and then replaces the NaN by 0: harmless warnings
        np.errstate(divide="ignore", invalid="ignore"),
    ):
        entry = entry_point()
        entry.set_data_options(scale_views=scale_views, scale_groups=False, center_groups=True)
        entry.set_data_matrix(
            [[x] for x, _ in views.values()],
            likelihoods=["gaussian"] * len(views),
            views_names=list(views),
            groups_names=["spots"],
            samples_names=[[str(s) for s in spot_names]],
            features_names=[[f"{view}:{f}" for f in names] for view, (_, names) in views.items()],
        )
        entry.set_model_options(
            factors=int(n_factors),
            spikeslab_weights=True,
            spikeslab_factors=False,
            ard_weights=True,
            ard_factors=False,
        )
        entry.set_train_options(
            iter=int(max_iterations),
            convergence_mode=convergence_mode,
            dropR2=None,
            gpu_mode=False,
            seed=int(seed),
            verbose=False,
            quiet=quiet,
        )
        entry.build()
        entry.run()
    if not entry.model.trained:
        raise KeyboardInterrupt("MOFA+ training was interrupted.")
    return entry


@contextlib.contextmanager
def _silenced(quiet: bool) -> Iterator[None]:
    """mofapy2 prints a banner and progress with print(); swallow it when quiet."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def _numpy_random_state_kept() -> Iterator[None]:
    """mofapy2 reseeds NumPy's global generator; restore the caller's state afterwards."""
    state = np.random.get_state()  # noqa: NPY002 (the legacy global state is what it reseeds)
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
