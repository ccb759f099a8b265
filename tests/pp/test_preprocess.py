"""Preprocessing as the paper describes it: CLR and LSI by hand, PCA shapes, dims rules, errors."""

from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fastspami.errors import InputDataError
from fastspami.pp.preprocess import (
    clr_normalize,
    log_normalize,
    lsi,
    preprocess_modality,
    preprocess_mudata,
)

SMALL_COUNTS = np.array(
    [
        [0.0, 1.0, 2.0, 3.0],
        [4.0, 0.0, 0.0, 1.0],
        [2.0, 5.0, 1.0, 0.0],
    ]
)
# Binarized rows 1110 / 1001 / 1111: no two entries of a singular vector tie in magnitude,
# so the sign convention is well defined.
PEAK_COUNTS = np.array(
    [
        [1.0, 1.0, 2.0, 0.0],
        [4.0, 0.0, 0.0, 1.0],
        [2.0, 5.0, 1.0, 3.0],
    ]
)


def counts_modality(prefix: str, n_spots: int, n_features: int, *, seed: int, rate=2.0):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, rate, size=(1, n_features)) * rng.gamma(4.0, 0.25, size=(n_spots, 1))
    return ad.AnnData(
        X=sp.csr_matrix(rng.poisson(rates).astype(np.float32)),
        obs=pd.DataFrame(index=[f"spot{i}" for i in range(n_spots)]),
        var=pd.DataFrame(index=[f"{prefix}{j}" for j in range(n_features)]),
    )


def paired_mudata(other: str = "adt", n_other: int = 7) -> mudata.MuData:
    with mudata.set_options(pull_on_update=False):
        return mudata.MuData(
            {
                "rna": counts_modality("gene", 40, 60, seed=0),
                other: counts_modality("feat", 40, n_other, seed=1),
            }
        )


# --- ADT: centered log-ratio -----------------------------------------------------------


def test_clr_matches_the_seurat_formula_by_hand() -> None:
    expected = np.zeros_like(SMALL_COUNTS)
    for row, x in enumerate(SMALL_COUNTS):
        log_sum_of_nonzero = np.sum(np.log1p(x[x > 0]))
        geometric_mean = np.exp(log_sum_of_nonzero / len(x))
        expected[row] = np.log1p(x / geometric_mean)
    np.testing.assert_allclose(clr_normalize(SMALL_COUNTS), expected, rtol=1e-6)
    np.testing.assert_allclose(clr_normalize(sp.csr_matrix(SMALL_COUNTS)), expected, rtol=1e-6)
    # first row by hand: log-sum = log 2 + log 3 + log 4 = log 24, geometric mean 24 ** (1/4)
    np.testing.assert_allclose(
        clr_normalize(SMALL_COUNTS)[0], np.log1p(SMALL_COUNTS[0] / 24**0.25), rtol=1e-6
    )


def test_clr_keeps_an_empty_spot_at_zero() -> None:
    assert np.all(clr_normalize(np.zeros((1, 5))) == 0)


def test_adt_gets_clr_values_without_pca() -> None:
    adt = counts_modality("prot", 30, 5, seed=3)
    features = preprocess_modality(adt, "adt")
    assert features.pca is None
    assert features.X.shape == (30, 5) and features.X.dtype == np.float32
    assert features.feature_names == list(adt.var_names)
    np.testing.assert_allclose(features.X, clr_normalize(adt.X), rtol=1e-6)


def test_adt_drops_rarely_detected_proteins() -> None:
    adt = counts_modality("prot", 30, 4, seed=3)
    counts = (adt.X.toarray() + 1) * np.array([1, 1, 1, 0])
    counts[0, 3] = 1  # prot3 is detected in one spot only
    adt.X = sp.csr_matrix(counts)
    features = preprocess_modality(adt, "adt", min_cells_adt=2)
    assert features.feature_names == ["prot0", "prot1", "prot2"]


# --- ATAC: LSI -------------------------------------------------------------------------


def lsi_by_hand(counts: np.ndarray) -> np.ndarray:
    """The spec's steps, one at a time, with NumPy's exact SVD."""
    binary = (counts > 0).astype(float)
    term_freq = binary / binary.sum(axis=1, keepdims=True)
    inverse_doc_freq = binary.shape[0] / binary.sum(axis=0, keepdims=True)
    tfidf = term_freq * inverse_doc_freq
    l1 = tfidf / tfidf.sum(axis=1, keepdims=True)
    logged = np.log1p(l1 * 1e4)
    u, _, _ = np.linalg.svd(logged, full_matrices=False)
    for j in range(u.shape[1]):  # sign: the largest-magnitude entry of a component is > 0
        u[:, j] *= np.sign(u[np.argmax(np.abs(u[:, j])), j])
    standardized = (u - u.mean(axis=1, keepdims=True)) / u.std(axis=1, keepdims=True)
    return standardized[:, 1:]


def test_lsi_matches_the_spec_steps_by_hand() -> None:
    # 3 spots x 4 peaks: at most 3 components, 2 after dropping the first
    result = lsi(PEAK_COUNTS)
    assert result.shape == (3, 2)
    np.testing.assert_allclose(result, lsi_by_hand(PEAK_COUNTS), atol=1e-5)
    np.testing.assert_allclose(lsi(sp.csr_matrix(PEAK_COUNTS)), result, atol=1e-6)


def test_lsi_drops_peaks_open_in_too_few_spots() -> None:
    counts = np.hstack([PEAK_COUNTS, np.array([[0.0], [0.0], [7.0]])])  # open in 1 of 3 spots
    np.testing.assert_allclose(lsi(counts, min_frac=0.5), lsi(PEAK_COUNTS), atol=1e-6)


def test_atac_gives_n_comps_dims_and_keeps_peak_names() -> None:
    atac = counts_modality("peak", 60, 120, seed=4, rate=0.5)
    features = preprocess_modality(atac, "atac", n_comps=10)
    assert features.X.shape == (60, 10)
    assert features.pca is None
    np.testing.assert_allclose(features.X.mean(axis=1), 0, atol=0.2)  # rows were standardized
    assert set(features.feature_names) <= set(atac.var_names)


# --- RNA: PCA --------------------------------------------------------------------------


def test_rna_pca_shape_and_inverse_transform_to_hvg_space() -> None:
    rna = counts_modality("gene", 40, 60, seed=0)
    features = preprocess_modality(rna, "rna", n_comps=5, n_top_genes=30, min_cells=3)
    assert features.X.shape == (40, 5) and features.X.dtype == np.float32
    assert len(features.feature_names) == 30
    assert set(features.feature_names) <= set(rna.var_names)
    back = features.pca.inverse_transform(features.X)
    assert back.shape == (40, 30)


def test_rna_full_rank_pca_inverts_to_the_log_normalized_genes() -> None:
    rna = counts_modality("gene", 20, 60, seed=0)
    features = preprocess_modality(rna, "rna", n_comps=50, n_top_genes=30, min_cells=3)
    assert features.X.shape == (20, 19)  # capped at min(spots, genes) - 1
    detected = np.asarray((rna.X > 0).sum(axis=0)).ravel() >= 3
    logged = pd.DataFrame(
        log_normalize(sp.csr_matrix(rna.X[:, detected])).toarray(),
        columns=rna.var_names[detected],
    )
    np.testing.assert_allclose(
        features.pca.inverse_transform(features.X),
        logged[features.feature_names].to_numpy(),
        atol=1e-4,
    )


def test_rna_gene_filter_uses_min_cells() -> None:
    rna = counts_modality("gene", 40, 60, seed=0)
    rna.X = sp.csr_matrix(np.hstack([rna.X.toarray()[:, :59], np.eye(40, 1)]))  # gene59: 1 spot
    assert "gene59" not in preprocess_modality(rna, "rna", min_cells=2).feature_names
    assert "gene59" in preprocess_modality(rna, "rna", min_cells=1).feature_names


def _poisson_rna(n_spots: int, n_genes: int, seed: int) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    return ad.AnnData(
        X=sp.csr_matrix(rng.poisson(3.0, size=(n_spots, n_genes)).astype(np.float32)),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )


def test_rna_records_the_hvg_flavor_it_used() -> None:
    """info['hvg_flavor'] is the selection that ran: Seurat v3 normally, all genes when
    there are too few, and 'seurat' where v3's loess fit failed (12 flat Poisson genes)."""
    info = preprocess_modality(counts_modality("gene", 40, 60, seed=0), "rna", n_top_genes=20).info
    assert (info["hvg_flavor"], info["n_highly_variable"]) == ("seurat_v3", 20)
    few = preprocess_modality(counts_modality("gene", 40, 60, seed=0), "rna", n_top_genes=100)
    assert few.info["hvg_flavor"] == "all genes"
    with pytest.warns(UserWarning, match="Seurat v3 gene selection failed"):
        fallback = preprocess_modality(_poisson_rna(50, 12, seed=0), "rna", n_top_genes=10)
    assert (fallback.info["hvg_flavor"], fallback.info["n_highly_variable"]) == ("seurat", 10)


def test_rna_seurat_flavor_selects_as_the_authors_scanpy_calls_do() -> None:
    """hvg_flavor='seurat' picks the genes SpaMI's tutorials pick: scanpy's default flavor
    on the log-normalized genes (filter_genes, normalize_total 1e4, log1p,
    highly_variable_genes(n_top_genes))."""
    import scanpy as sc

    rna = counts_modality("gene", 60, 200, seed=3)
    features = preprocess_modality(rna, "rna", n_top_genes=50, min_cells=3, hvg_flavor="seurat")
    assert features.info["hvg_flavor"] == "seurat"
    theirs = rna.copy()
    sc.pp.filter_genes(theirs, min_cells=3)
    sc.pp.normalize_total(theirs, target_sum=1e4)
    sc.pp.log1p(theirs)
    sc.pp.highly_variable_genes(theirs, n_top_genes=50)
    assert features.feature_names == list(theirs.var_names[theirs.var["highly_variable"]])
    v3 = preprocess_modality(rna, "rna", n_top_genes=50, min_cells=3)
    assert v3.feature_names != features.feature_names  # the flavor matters here


def test_unknown_hvg_flavor_is_refused_before_any_work() -> None:
    from fastspami.errors import ConfigError

    with pytest.raises(ConfigError, match="hvg_flavor must be one of"):
        preprocess_mudata(paired_mudata("adt", 7), hvg_flavor="cellranger")


def test_rna_whose_genes_never_vary_is_refused_not_crashed() -> None:
    """Seurat v3's loess took the interpreter down (a segfault) when no gene varied."""
    constant = ad.AnnData(
        X=sp.csr_matrix(np.full((60, 300), 3.0, dtype=np.float32)),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(300)]),
    )
    with pytest.raises(InputDataError, match="No gene's counts vary across the 60 spots"):
        preprocess_modality(constant, "rna", n_top_genes=100)


# --- whole datasets --------------------------------------------------------------------


def test_rna_dims_follow_a_small_protein_panel() -> None:
    features = preprocess_mudata(paired_mudata("adt", 7), min_cells=3)
    assert list(features) == ["rna", "adt"]
    assert features["adt"].X.shape == (40, 7)
    assert features["rna"].X.shape == (40, 7)
    assert preprocess_mudata(paired_mudata("adt", 7), min_cells=3, n_comps=12)["rna"].X.shape == (
        40,
        12,
    )


def test_rna_dims_without_proteins_are_fifty_capped_by_the_data() -> None:
    features = preprocess_mudata(paired_mudata("atac", 80), min_cells=3)
    assert features["rna"].X.shape == (40, 39)  # min(50, min(40, 60) - 1)
    assert features["atac"].X.shape == (40, 39)  # 51 SVD components capped at 40 spots


def test_kinds_are_taken_from_the_argument() -> None:
    mdata = paired_mudata("foo", 7)
    with pytest.raises(InputDataError, match="kinds="):
        preprocess_mudata(mdata, min_cells=3)
    assert preprocess_mudata(mdata, kinds={"foo": "adt"}, min_cells=3)["foo"].kind == "adt"


def test_same_seed_gives_identical_features() -> None:
    first = preprocess_mudata(paired_mudata("atac", 80), min_cells=3, n_top_genes=30, seed=7)
    second = preprocess_mudata(paired_mudata("atac", 80), min_cells=3, n_top_genes=30, seed=7)
    for mod in first:
        np.testing.assert_array_equal(first[mod].X, second[mod].X)
        assert first[mod].feature_names == second[mod].feature_names


def test_rows_follow_the_input_spot_order() -> None:
    adt = counts_modality("prot", 30, 5, seed=3)
    reversed_rows = preprocess_modality(adt[::-1].copy(), "adt").X
    np.testing.assert_allclose(reversed_rows, preprocess_modality(adt, "adt").X[::-1])


# --- nothing left after filtering ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("rna", {"min_cells": 1000}, r"'rna': no gene left.*min_cells=1000"),
        ("adt", {"min_cells_adt": 1000}, r"'adt': no protein left.*min_cells_adt=1000"),
    ],
)
def test_a_modality_filtered_to_nothing_names_the_threshold(kind, options, message) -> None:
    adata = counts_modality("f", 30, 8, seed=5)
    with pytest.raises(InputDataError, match=message):
        preprocess_modality(adata, kind, **options)


def test_atac_without_open_peaks_names_the_modality() -> None:
    atac = ad.AnnData(X=sp.csr_matrix((10, 5), dtype=np.float32))
    with pytest.raises(InputDataError, match="'atac': no peak left"):
        preprocess_modality(atac, "atac")


def test_spots_without_counts_warn_and_get_zero_features() -> None:
    atac = counts_modality("peak", 30, 40, seed=6, rate=1.0)
    counts = atac.X.toarray()
    counts[4] = 0
    atac.X = sp.csr_matrix(counts)
    with pytest.warns(UserWarning, match="'atac': 1 spots have no open peak"):
        features = preprocess_modality(atac, "atac", n_comps=5)
    assert np.all(features.X[4] == 0)
    assert np.all(np.isfinite(features.X))
