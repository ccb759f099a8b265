"""SpatialGlue through its published package: output contract, quality, provenance, limits.

Reduced for speed: an 18 x 18 grid (324 spots), 300 genes / 30 proteins / 400 peaks, and
60 training epochs (the package's SPOTS preset trains 600) or 30 for RNA+ATAC (preset 1600).
"""

from __future__ import annotations

import importlib.metadata
import sys

import anndata as ad
import mudata
import numpy as np
import pytest
import scipy.sparse as sp

from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError, MethodUnavailableError
from fastspami.methods.contract import store_result
from fastspami.metrics import supervised_scores

pytest.importorskip("SpatialGlue.SpatialGlue_pyG", reason="spatialglue is not installed")

from fastspami.methods import spatialglue, spatialglue_compat  # noqa: E402

GRID = 18
EPOCHS = 60


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=GRID, n_rna=300, n_adt=30, seed=0)


@pytest.fixture(scope="module")
def result(rna_adt):
    return spatialglue.integrate(rna_adt, seed=0, epochs=EPOCHS)


def _leiden_ari(embedding: np.ndarray, truth: np.ndarray) -> float:
    n_domains = len(np.unique(truth))
    labels = leiden_n_clusters(embedding, n_domains, seed=0).labels
    return supervised_scores(truth, labels)["ari"]


def test_one_finite_row_per_spot_with_modality_outputs(rna_adt, result):
    n = rna_adt.n_obs
    result.check(n)
    assert result.embedding.shape == (n, 64)
    assert set(result.modality_embeddings) == {"rna", "adt"}
    assert all(e.shape == (n, 64) for e in result.modality_embeddings.values())
    assert result.attention.shape == (n, 2)
    assert result.attention_modalities == ["rna", "adt"]
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=1e-4)


def test_leiden_on_embedding_beats_a_random_embedding(rna_adt, result, record_property):
    truth = rna_adt.obs["ground_truth"].to_numpy()
    ari = _leiden_ari(result.embedding, truth)
    noise = np.random.default_rng(0).normal(size=result.embedding.shape)
    ari_random = _leiden_ari(noise, truth)
    record_property("ari_spatialglue", ari)
    print(f"SpatialGlue ARI {ari:.3f} (random embedding {ari_random:.3f})")
    assert ari > ari_random + 0.2


def test_records_version_patches_and_training_settings(result):
    uns = result.uns
    assert uns["package_version"] == importlib.metadata.version("spatialglue")
    assert uns["compat_patches"] == ["clr_normalize_each_cell"]
    assert uns["datatype"] == "SPOTS"
    assert uns["epochs"] == EPOCHS  # set after construction, overriding the preset's 600
    assert uns["weight_factors"] == [1.0, 5.0, 1.0, 1.0]  # the SPOTS preset's weights
    assert uns["spatial_neighbors"] == 3
    assert uns["feature_dims"] == {"rna": 29, "adt": 29}  # tutorial: n_proteins - 1 PCs


def test_result_stores_into_the_mudata(rna_adt, result):
    with mudata.set_options(pull_on_update=False):
        mdata = rna_adt.copy()
        store_result(result, mdata)
    assert mdata.obsm["X_spatialglue"].shape == (rna_adt.n_obs, 64)
    assert mdata.obsm["spatialglue_attention"].shape == (rna_adt.n_obs, 2)
    assert mdata.uns["spatialglue"]["attention_modalities"] == ["rna", "adt"]


def test_same_seed_gives_the_same_embedding(rna_adt):
    first = spatialglue.integrate(rna_adt, seed=3, epochs=5)
    second = spatialglue.integrate(rna_adt, seed=3, epochs=5)
    np.testing.assert_array_equal(first.embedding, second.embedding)


def test_rna_atac_uses_the_epigenome_preset():
    mdata = simulate("rna_atac", grid_size=GRID, n_rna=300, n_atac=400, seed=0)
    result = spatialglue.integrate(mdata, seed=0, epochs=30)
    result.check(mdata.n_obs)
    assert result.uns["datatype"] == "Spatial-epigenome-transcriptome"
    assert result.uns["spatial_neighbors"] == 6
    assert result.uns["feature_dims"] == {"rna": 50, "atac": 50}  # PCA 50, LSI 51 - 1
    # scanpy's preprocessing (numba) resets the OpenMP thread count torch shares; training
    # must still run on the one thread it was given
    assert result.uns["torch_threads"] == 1


def test_three_modalities_are_not_applicable():
    mdata = simulate("rna_adt_atac", grid_size=GRID, n_rna=50, n_adt=20, n_atac=50, seed=0)
    with pytest.raises(spatialglue.MethodNotApplicableError, match="exactly two modalities"):
        spatialglue.integrate(mdata)
    assert issubclass(spatialglue.MethodNotApplicableError, ConfigError)


def test_a_datatype_that_does_not_fit_the_modalities_is_refused(rna_adt):
    with pytest.raises(ConfigError, match="does not fit RNA \\+ ADT"):
        spatialglue.integrate(rna_adt, datatype="Spatial-epigenome-transcriptome")


def test_epoch_fraction_trains_that_share_of_the_datatypes_epochs(rna_adt):
    short = spatialglue.integrate(rna_adt, seed=0, epoch_fraction=0.01)
    assert short.uns["epochs"] == 6  # 1 % of the SPOTS preset's 600
    tiny = spatialglue.integrate(rna_adt, seed=0, datatype="10x", epoch_fraction=0.001)
    assert tiny.uns["epochs"] == 1  # 0.2 of the 10x preset's 200 rounds up to one epoch


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 10, "epoch_fraction": 0.5}, "not both"),
        ({"epoch_fraction": 0.0}, r"in \(0, 1\]"),
        ({"epoch_fraction": 1.5}, r"in \(0, 1\]"),
    ],
)
def test_bad_epoch_settings_are_refused_before_training(rna_adt, settings, message):
    with pytest.raises(ConfigError, match=message):
        spatialglue.integrate(rna_adt, **settings)


def test_compat_patch_is_idempotent_and_clr_accepts_sparse_counts():
    first = spatialglue_compat.load_spatialglue()
    second = spatialglue_compat.load_spatialglue()
    clr = second.preprocess.clr_normalize_each_cell
    assert first.preprocess.clr_normalize_each_cell is clr
    assert spatialglue_compat.applied_patches(second.preprocess) == ["clr_normalize_each_cell"]
    counts = np.array([[0.0, 3.0, 5.0], [2.0, 0.0, 1.0]])
    from_sparse = clr(ad.AnnData(sp.csr_matrix(counts))).X
    from_dense = clr(ad.AnnData(counts.copy())).X
    np.testing.assert_allclose(from_sparse, from_dense)


def test_missing_package_names_the_pip_install(monkeypatch, rna_adt):
    monkeypatch.setitem(sys.modules, "SpatialGlue.SpatialGlue_pyG", None)
    with pytest.raises(MethodUnavailableError, match="pip install spatialglue"):
        spatialglue.integrate(rna_adt, epochs=1)
