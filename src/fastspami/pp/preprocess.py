"""Per-modality preprocessing into the feature matrices SpaMI takes, as in the paper's Methods.

- RNA: drop genes expressed in < ``min_cells`` spots; normalize each spot to 1e4 counts;
  log1p; highly variable genes (``hvg_flavor``: scanpy's ``'seurat_v3'`` on the counts,
  the default, with 'seurat' on the log-normalized data where v3's loess fit fails; or
  ``'seurat'``, scanpy's default flavor on the log-normalized data, as SpaMI's tutorials and
  package select them; skipped when there are no more genes than ``n_top_genes``;
  ``info['hvg_flavor']`` says what was done); PCA. The PCA centers the
  log-normalized HVG data but does not scale it, so ``pca.inverse_transform`` maps back
  to log-normalized expression of the genes in ``feature_names``.
- ATAC: binarize; drop peaks open in < 0.5 % of spots; TF-IDF; L1-normalize rows;
  log1p(x * 1e4); randomized SVD (51 components); standardize each row; drop the first
  component: 50-dim LSI (:func:`lsi`).
- ADT: drop proteins detected in < ``min_cells_adt`` spots; Seurat-style CLR per spot
  (:func:`clr_normalize`); no PCA.

Every output has one row per spot, in the input's spot order.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData
from sklearn.decomposition import PCA
from sklearn.utils.extmath import randomized_svd

from fastspami.data.contract import counts_matrix, modality_kind
from fastspami.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

TARGET_SUM = 1e4  # counts per spot after normalize_total
LSI_SCALE = 1e4  # log1p(x * LSI_SCALE) after L1-normalizing TF-IDF rows
DEFAULT_N_COMPS = 50
# 'seurat_v3': on the counts (scanpy's recommendation, SpatialGlue's tutorials); 'seurat':
# scanpy's default, on the log-normalized data (SpaMI's tutorials and PyPI package).
HVG_FLAVORS = ("seurat_v3", "seurat")


@dataclass
class ModalityFeatures:
    """One modality after preprocessing.

    X: (n_spots, d) float32, rows in the input's spot order (RNA: PCA scores; ATAC: LSI;
        ADT: CLR values).
    pca: the fitted PCA (RNA only): ``pca.inverse_transform(X)`` -> (n_spots,
        len(feature_names)) log-normalized expression of the genes ``feature_names``.
    feature_names: RNA: the highly variable genes (PCA input columns); ADT: the proteins
        kept (X's columns); ATAC: the peaks kept (LSI input columns).
    info: what was done (counts of features kept, components, ...), JSON-able.
    """

    name: str
    kind: str
    X: np.ndarray
    feature_names: list[str]
    pca: PCA | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """d, the number of columns of ``X``."""
        return int(self.X.shape[1])


def _as_float_csr(counts: Any) -> sp.csr_matrix:
    """Counts as a float32 CSR matrix (sparse input is converted without densifying)."""
    if sp.issparse(counts):
        return sp.csr_matrix(counts, dtype=np.float32)
    return sp.csr_matrix(np.asarray(counts, dtype=np.float32))


def _detected_per_feature(counts: sp.csr_matrix) -> np.ndarray:
    """(n_features,) number of spots with a count > 0."""
    return np.asarray((counts > 0).sum(axis=0)).ravel()


def _scale_rows(matrix: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(sp.diags(factors) @ matrix)


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    """1 / values, with 0 where values is 0 (empty rows stay empty)."""
    out = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, values, out=out, where=values != 0)
    return out


def _empty_spots(counts: sp.csr_matrix, name: str, what: str) -> np.ndarray:
    """(n,) mask of spots without any count; warns when there are some."""
    empty = np.asarray((counts > 0).sum(axis=1)).ravel() == 0
    if empty.any():
        warnings.warn(
            f"Modality {name!r}: {int(empty.sum())} spots have no {what} after filtering; "
            "their features are all zero. Consider removing them.",
            UserWarning,
            stacklevel=3,
        )
    return empty


def _no_features_left(name: str, what: str, threshold: str) -> InputDataError:
    return InputDataError(
        f"Modality {name!r}: no {what} left after filtering ({threshold}); lower that "
        "threshold (a setting of integrate() and of the workflow's params) or check that "
        "the modality holds raw counts."
    )


# --- RNA -------------------------------------------------------------------------------


def log_normalize(counts: Any) -> sp.csr_matrix:
    """normalize_total to 1e4 counts per spot, then log1p: (n, g) -> (n, g) float32 CSR.

    Accepts dense or sparse counts. Spots without counts stay all-zero.
    """
    counts = _as_float_csr(counts)
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    normalized = _scale_rows(counts, TARGET_SUM * _inverse_or_zero(totals)).astype(np.float32)
    np.log1p(normalized.data, out=normalized.data)
    return normalized


def check_hvg_flavor(flavor: str) -> None:
    """Raise ConfigError unless ``flavor`` is one of :data:`HVG_FLAVORS`."""
    if flavor not in HVG_FLAVORS:
        raise ConfigError(f"hvg_flavor must be one of {list(HVG_FLAVORS)}, got {flavor!r}.")


def highly_variable_mask(
    counts: Any, n_top_genes: int, logged: Any = None, flavor: str = "seurat_v3"
) -> np.ndarray:
    """(g,) bool mask of the ``n_top_genes`` most variable genes (scanpy).

    ``flavor='seurat_v3'`` ranks genes by the variance of their standardized counts around
    a loess fit of variance on mean; where that fit fails (degenerate data), the 'seurat'
    flavor on ``logged`` (the log-normalized counts) is used instead, with a warning.
    ``flavor='seurat'`` ranks the genes of ``logged`` by normalized dispersion in bins of
    mean expression (scanpy's default). All genes are kept when there are no more than
    ``n_top_genes``. :func:`select_highly_variable` also says which of these happened.
    """
    return select_highly_variable(counts, n_top_genes, logged, flavor)[0]


def select_highly_variable(
    counts: Any, n_top_genes: int, logged: Any = None, flavor: str = "seurat_v3"
) -> tuple[np.ndarray, str]:
    """:func:`highly_variable_mask` and how it was chosen: 'seurat_v3', 'seurat' (asked for,
    or the fallback where v3's loess fit failed) or 'all genes' (no more than
    ``n_top_genes``)."""
    check_hvg_flavor(flavor)
    if flavor == "seurat" and logged is None:
        raise ValueError("flavor 'seurat' ranks the log-normalized data: pass `logged`.")
    n_genes = counts.shape[1]
    if n_genes <= n_top_genes:
        return np.ones(n_genes, dtype=bool), "all genes"
    if not _any_gene_varies(counts):
        # skmisc's loess crashes the interpreter (a segfault) on an empty fit
        raise InputDataError(
            f"No gene's counts vary across the {counts.shape[0]} spots, so no gene can be "
            "selected as highly variable. Check that the RNA modality holds per-spot counts "
            "(not one profile copied to every spot)."
        )
    import scanpy as sc  # heavy import (~5 s): only when HVG selection is needed

    if flavor == "seurat":
        table = sc.pp.highly_variable_genes(
            AnnData(X=logged), flavor="seurat", n_top_genes=n_top_genes, inplace=False
        )
        return table["highly_variable"].to_numpy(dtype=bool), "seurat"
    try:
        table = sc.pp.highly_variable_genes(
            AnnData(X=counts), flavor="seurat_v3", n_top_genes=n_top_genes, inplace=False
        )
        flavor = "seurat_v3"
    except ValueError as err:  # skmisc's loess refuses some degenerate mean/variance clouds
        if logged is None:
            raise
        warnings.warn(
            f"Seurat v3 gene selection failed ({err}); using scanpy's 'seurat' flavor on "
            "the log-normalized data instead.",
            UserWarning,
            stacklevel=2,
        )
        table = sc.pp.highly_variable_genes(
            AnnData(X=logged), flavor="seurat", n_top_genes=n_top_genes, inplace=False
        )
        flavor = "seurat"
    return table["highly_variable"].to_numpy(dtype=bool), flavor


def _any_gene_varies(counts: Any) -> bool:
    """Whether some column of an (n, g) matrix is not constant over the rows."""
    if sp.issparse(counts):
        counts = sp.csc_matrix(counts)
        return bool((counts.max(axis=0) != counts.min(axis=0)).toarray().any())
    values = np.asarray(counts)
    return bool((values.max(axis=0) != values.min(axis=0)).any())


def fit_pca(
    data: sp.spmatrix | np.ndarray, n_comps: int, *, seed: int = 0
) -> tuple[np.ndarray, PCA]:
    """PCA of (n, g) data -> ((n, n_comps) float32 scores, fitted PCA).

    The data are densified (float32) and centered before fitting; the fitted PCA's
    ``mean_`` is the column mean of ``data``, so ``transform``/``inverse_transform``
    work on uncentered data. The 'covariance_eigh' solver is exact and deterministic.
    """
    dense = data.toarray() if sp.issparse(data) else np.array(data, dtype=np.float32)
    dense = dense.astype(np.float32, copy=False)
    column_mean = dense.mean(axis=0, dtype=np.float64)
    # Centering first keeps the float32 Gram matrix the solver forms well conditioned.
    dense -= column_mean.astype(np.float32)
    pca = PCA(n_components=n_comps, svd_solver="covariance_eigh", random_state=seed)
    scores = pca.fit_transform(dense)
    pca.mean_ = (pca.mean_.astype(np.float64) + column_mean).astype(pca.mean_.dtype)
    return np.asarray(scores, dtype=np.float32), pca


def preprocess_rna(
    adata: AnnData,
    *,
    name: str = "rna",
    n_comps: int = DEFAULT_N_COMPS,
    n_top_genes: int = 3000,
    min_cells: int = 10,
    hvg_flavor: str = "seurat_v3",
    seed: int = 0,
) -> ModalityFeatures:
    """RNA counts (n, g) -> PCA of log-normalized highly variable genes, (n, n_comps).

    ``hvg_flavor``: how the highly variable genes are ranked (:data:`HVG_FLAVORS`).
    """
    check_hvg_flavor(hvg_flavor)
    counts = _as_float_csr(counts_matrix(adata))
    keep = _detected_per_feature(counts) >= min_cells
    if not keep.any():
        raise _no_features_left(name, "gene", f"min_cells={min_cells}")
    counts = counts[:, keep]
    _empty_spots(counts, name, "counts")
    gene_names = np.asarray(adata.var_names)[keep]
    logged = log_normalize(counts)
    hvg, hvg_used = select_highly_variable(counts, n_top_genes, logged, hvg_flavor)
    n_used = int(min(n_comps, min(adata.n_obs, int(hvg.sum())) - 1))
    if n_used < 1:
        raise InputDataError(
            f"Modality {name!r}: PCA needs at least 2 spots and 2 genes, got {adata.n_obs} "
            f"spots and {int(hvg.sum())} genes after filtering (min_cells={min_cells})."
        )
    scores, pca = fit_pca(logged[:, hvg], n_used, seed=seed)
    info = {
        "n_features_in": int(adata.n_vars),
        "n_features_after_filter": int(keep.sum()),
        "n_highly_variable": int(hvg.sum()),
        "hvg_flavor": hvg_used,
        "n_components": n_used,
        "explained_variance_ratio": float(pca.explained_variance_ratio_.sum()),
    }
    log.info("%s: %s", name, info)
    return ModalityFeatures(name, "rna", scores, [str(g) for g in gene_names[hvg]], pca, info)


# --- ATAC ------------------------------------------------------------------------------


def _open_peak_mask(binary: sp.csr_matrix, min_frac: float) -> np.ndarray:
    """Peaks open in at least ``min_frac`` of spots (and in at least one spot)."""
    n_open = np.asarray(binary.sum(axis=0)).ravel()
    return n_open >= max(min_frac * binary.shape[0], 1.0)


def _tfidf_log(binary: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF, then L1-normalized rows, then log1p(x * 1e4): (n, p) -> (n, p) float32.

    Computed in float64; returned as float32, which makes the SVD a third faster.
    """
    binary = binary.astype(np.float64)
    term_freq = _scale_rows(binary, _inverse_or_zero(np.asarray(binary.sum(axis=1)).ravel()))
    inverse_doc_freq = binary.shape[0] / np.asarray(binary.sum(axis=0)).ravel()
    tfidf = sp.csr_matrix(term_freq @ sp.diags(inverse_doc_freq))
    l1 = _scale_rows(tfidf, _inverse_or_zero(np.asarray(tfidf.sum(axis=1)).ravel()))
    l1.data = np.log1p(l1.data * LSI_SCALE)
    return l1.astype(np.float32)


def _standardize_rows(values: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and (population) sd 1; constant rows become 0."""
    centered = values - values.mean(axis=1, keepdims=True)
    # ddof=0. The reference's lsi (scglue's, copied by SpatialGlue) uses ddof=1, so its rows
    # are ours divided by sqrt(51 / 50) (51 components): a 1 % scale. Kept, because the
    # measured results in README and docs/ were made with ddof=0.
    sd = centered.std(axis=1, keepdims=True)
    return centered / np.where(sd > 0, sd, 1.0)


def _lsi_with_mask(
    counts: Any, n_components: int, *, seed: int, min_frac: float, name: str
) -> tuple[np.ndarray, np.ndarray, int]:
    binary = _as_float_csr(counts)
    binary.data = (binary.data > 0).astype(np.float32)
    binary.eliminate_zeros()
    keep = _open_peak_mask(binary, min_frac)
    if not keep.any():
        raise _no_features_left(
            name, "peak", f"min_frac={min_frac}: peaks open in < {min_frac:.1%} of spots"
        )
    binary = binary[:, keep]
    empty = _empty_spots(binary, name, "open peak")
    n_used = int(min(n_components, *binary.shape))
    if n_used < 2:
        raise InputDataError(
            f"Modality {name!r}: LSI needs at least 2 spots and 2 open peaks (the first "
            f"component is dropped), got {binary.shape[0]} spots and {binary.shape[1]} peaks."
        )
    left_vectors, _, _ = randomized_svd(
        _tfidf_log(binary), n_used, random_state=seed, flip_sign=False
    )
    # Sign convention: the largest-magnitude entry of each component is positive.
    largest = np.abs(left_vectors).argmax(axis=0)
    left_vectors *= np.sign(left_vectors[largest, np.arange(n_used)])
    embedding = _standardize_rows(left_vectors)[:, 1:]
    embedding[empty] = 0.0  # not rounding noise blown up by the standardization
    return embedding.astype(np.float32), keep, n_used


def lsi(
    counts: Any, n_components: int = 51, *, seed: int = 0, min_frac: float = 0.005
) -> np.ndarray:
    """Latent semantic indexing of peak counts (n, p) -> (n, n_components - 1) float32.

    Binarize; drop peaks open in fewer than ``min_frac`` of spots; TF-IDF (tf = x / row
    sum, idf = n / column sum); L1-normalize rows; log1p(x * 1e4); randomized SVD, keeping
    the left singular vectors U (n, n_components), each signed so that its largest-magnitude
    entry is positive; standardize each row of U (mean 0, population sd 1); drop the first
    column. ``n_components`` is capped at the number of spots and of peaks kept.
    """
    embedding, _, _ = _lsi_with_mask(
        counts, n_components, seed=seed, min_frac=min_frac, name="atac"
    )
    return embedding


def preprocess_atac(
    adata: AnnData,
    *,
    name: str = "atac",
    n_comps: int = DEFAULT_N_COMPS,
    min_frac: float = 0.005,
    seed: int = 0,
) -> ModalityFeatures:
    """Peak counts (n, p) -> LSI with ``n_comps + 1`` components minus the first, (n, n_comps)."""
    embedding, keep, n_used = _lsi_with_mask(
        counts_matrix(adata), n_comps + 1, seed=seed, min_frac=min_frac, name=name
    )
    info = {
        "n_features_in": int(adata.n_vars),
        "n_features_after_filter": int(keep.sum()),
        "min_frac": min_frac,
        "n_svd_components": n_used,
    }
    log.info("%s: %s", name, info)
    peak_names = [str(p) for p in np.asarray(adata.var_names)[keep]]
    return ModalityFeatures(name, "atac", embedding, peak_names, None, info)


# --- ADT -------------------------------------------------------------------------------


def clr_normalize(counts: Any) -> np.ndarray:
    """Seurat's centered log-ratio, per spot: (n, p) counts -> (n, p) float32.

    For each spot (row) x: log1p(x / exp(sum(log1p(x[x > 0])) / p)), p = number of
    proteins, as Seurat's ``NormalizeData(method='CLR')`` (and SpatialGlue) compute it: the
    sum runs over the nonzero entries and is divided by all p entries. The spec's "mean
    over nonzero entries of log1p(x)" is read as this formula; since log1p(0) = 0, it is
    the mean of log1p(x) over all p entries (not over the nonzero ones only).
    """
    dense = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
    dense = dense.astype(np.float64)
    log_geometric_mean = np.log1p(dense).sum(axis=1, keepdims=True) / dense.shape[1]
    return np.log1p(dense / np.exp(log_geometric_mean)).astype(np.float32)


def preprocess_adt(
    adata: AnnData, *, name: str = "adt", min_cells_adt: int = 0
) -> ModalityFeatures:
    """Protein counts (n, p) -> CLR values of the proteins detected in >= min_cells_adt spots."""
    counts = _as_float_csr(counts_matrix(adata))
    keep = _detected_per_feature(counts) >= min_cells_adt
    if not keep.any():
        raise _no_features_left(name, "protein", f"min_cells_adt={min_cells_adt}")
    counts = counts[:, keep]
    _empty_spots(counts, name, "counts")
    values = clr_normalize(counts)
    info = {"n_features_in": int(adata.n_vars), "n_features_after_filter": int(keep.sum())}
    log.info("%s: %s", name, info)
    protein_names = [str(p) for p in np.asarray(adata.var_names)[keep]]
    return ModalityFeatures(name, "adt", values, protein_names, None, info)


# --- dispatch --------------------------------------------------------------------------


def preprocess_modality(
    adata: AnnData,
    kind: str,
    *,
    name: str | None = None,
    n_comps: int = DEFAULT_N_COMPS,
    n_top_genes: int = 3000,
    min_cells: int = 10,
    min_cells_adt: int = 0,
    hvg_flavor: str = "seurat_v3",
    seed: int = 0,
) -> ModalityFeatures:
    """Preprocess one modality by its kind ('rna', 'adt' or 'atac'; synonyms accepted).

    ``n_comps`` is the output dimension for RNA (PCA) and ATAC (LSI); ADT keeps its proteins.
    """
    kind = modality_kind(name or kind, kind)
    name = name or kind
    if kind == "rna":
        return preprocess_rna(
            adata,
            name=name,
            n_comps=n_comps,
            n_top_genes=n_top_genes,
            min_cells=min_cells,
            hvg_flavor=hvg_flavor,
            seed=seed,
        )
    if kind == "atac":
        return preprocess_atac(adata, name=name, n_comps=n_comps, seed=seed)
    return preprocess_adt(adata, name=name, min_cells_adt=min_cells_adt)


def resolve_kinds(mdata: MuData, kinds: dict[str, str] | None = None) -> dict[str, str]:
    """Kind of every modality: ``kinds``, else ``uns['modality_kinds']``, else its name."""
    stored = dict(mdata.uns.get("modality_kinds", {}))
    given = {**stored, **(kinds or {})}
    return {mod: modality_kind(mod, given.get(mod)) for mod in mdata.mod}


def preprocess_mudata(
    mdata: MuData,
    *,
    kinds: dict[str, str] | None = None,
    n_comps: int | None = None,
    n_top_genes: int = 3000,
    min_cells: int = 10,
    min_cells_adt: int = 0,
    hvg_flavor: str = "seurat_v3",
    seed: int = 0,
) -> dict[str, ModalityFeatures]:
    """Preprocess every modality of ``mdata``; the result follows ``mdata.mod``'s order.

    With ``n_comps=None``, RNA and ATAC get 50 dims, except that RNA paired with an ADT
    modality gets min(50, number of proteins kept) dims (the spec's "d_adt dims when paired
    with a small protein panel", e.g. 21 for the thymus).

    Every modality of ``mdata`` is preprocessed as for the full model, also when an
    ablation then trains on some of them only (``integrate``'s ``modalities`` /
    ``exclude_modalities`` select from this result): RNA alone on RNA + protein data keeps
    the d_adt-wide PCA, so an ablation changes one thing, the modalities used.
    """
    check_hvg_flavor(hvg_flavor)
    resolved = resolve_kinds(mdata, kinds)
    settings = dict(
        n_top_genes=n_top_genes,
        min_cells=min_cells,
        min_cells_adt=min_cells_adt,
        hvg_flavor=hvg_flavor,
        seed=seed,
    )
    features: dict[str, ModalityFeatures] = {}
    for mod, kind in resolved.items():
        if kind != "rna":
            features[mod] = preprocess_modality(
                mdata.mod[mod], kind, name=mod, n_comps=n_comps or DEFAULT_N_COMPS, **settings
            )
    rna_comps = n_comps
    if rna_comps is None:
        adt_dims = [f.n_features for f in features.values() if f.kind == "adt"]
        rna_comps = min([DEFAULT_N_COMPS, *adt_dims])
    for mod, kind in resolved.items():
        if kind == "rna":
            features[mod] = preprocess_modality(
                mdata.mod[mod], kind, name=mod, n_comps=rna_comps, **settings
            )
    return {mod: features[mod] for mod in mdata.mod}


__all__ = [
    "HVG_FLAVORS",
    "ModalityFeatures",
    "clr_normalize",
    "fit_pca",
    "highly_variable_mask",
    "log_normalize",
    "lsi",
    "preprocess_adt",
    "preprocess_atac",
    "preprocess_modality",
    "preprocess_mudata",
    "preprocess_rna",
    "resolve_kinds",
    "select_highly_variable",
]
