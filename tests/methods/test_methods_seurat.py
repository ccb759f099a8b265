"""Seurat WNN through rpy2: R really runs, outputs follow the contract, missing R is explained."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from fastspami._utils import rbridge
from fastspami.clustering.algorithms import cluster_embedding, leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import InputDataError, MethodUnavailableError
from fastspami.methods import controls, seurat_wnn
from fastspami.metrics import supervised_scores

needs_seurat = pytest.mark.skipif(
    not rbridge.r_package_available("Seurat"), reason="R with Seurat is not installed"
)
RUN = dict(seed=0, threads=1, device="cpu")


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=20, noise_sd=0.5, seed=0)


@pytest.fixture(scope="module")
def wnn(rna_adt):
    return seurat_wnn.integrate(rna_adt, **RUN)


def leiden_ari(mdata, result) -> float:
    truth = mdata.obs["ground_truth"].astype(str).to_numpy()
    clusters = leiden_n_clusters(
        result.embedding, len(set(truth)), seed=0, connectivities=result.connectivities
    )
    return supervised_scores(truth, clusters.labels)["ari"]


@pytest.mark.r
@needs_seurat
def test_one_finite_row_per_spot_and_a_spot_graph(rna_adt, wnn):
    n = rna_adt.n_obs
    wnn.check(n)
    assert wnn.embedding.shape[0] == n and np.isfinite(wnn.embedding).all()
    assert sp.issparse(wnn.connectivities) and wnn.connectivities.shape == (n, n)
    # Seurat's SNN graph links each spot to itself with weight 1.
    np.testing.assert_allclose(wnn.connectivities.diagonal(), 1.0)


@pytest.mark.r
@needs_seurat
def test_modality_weights_come_from_seurat(rna_adt, wnn):
    assert wnn.attention_modalities == ["rna", "adt"]
    assert wnn.attention.shape == (rna_adt.n_obs, 2)
    assert (wnn.attention >= 0).all() and (wnn.attention <= 1).all()
    np.testing.assert_allclose(wnn.attention.sum(axis=1), 1.0, atol=1e-5)
    assert wnn.attention.std(axis=0).min() > 0  # per-spot weights, not a constant
    assert wnn.uns["seurat_version"].split(".")[0] >= "4"


@pytest.mark.r
@needs_seurat
def test_wnn_clusters_between_the_controls(rna_adt, wnn):
    random = leiden_ari(rna_adt, controls.integrate_random(rna_adt, **RUN))
    positive = leiden_ari(rna_adt, controls.integrate_positive(rna_adt, **RUN))
    assert random + 0.05 < leiden_ari(rna_adt, wnn) <= positive + 1e-9


@pytest.mark.r
@needs_seurat
def test_wnn_graph_matches_input_spot_order(rna_adt, wnn):
    """Reversing the spots reverses the graph: rows really are in the input order.

    (Seurat's randomized steps depend on the spot order, so equal up to small changes.)
    """
    flipped = rna_adt[::-1].copy()
    again = seurat_wnn.integrate(flipped, **RUN)
    order = np.arange(rna_adt.n_obs)[::-1]
    edges = wnn.connectivities > 0
    edges_again = again.connectivities[order][:, order] > 0
    jaccard = edges.multiply(edges_again).sum() / (edges + edges_again > 0).sum()
    assert jaccard > 0.9  # a misaligned order would share about k/n of the edges
    weight_correlation = np.corrcoef(wnn.attention[:, 0], again.attention[order, 0])[0, 1]
    assert weight_correlation > 0.6


@pytest.mark.r
@needs_seurat
def test_three_modalities_with_lsi_computed_in_r():
    mdata = simulate("rna_adt_atac", grid_size=16, noise_sd=0.5, seed=0)
    result = seurat_wnn.integrate(mdata, **RUN)
    assert result.attention.shape == (mdata.n_obs, 3)
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=1e-5)
    assert np.isfinite(result.embedding).all()
    assert result.uns["params"]["rna_dims"] == 50  # the multiome vignette's 1:50


def test_rna_pcs_follow_the_vignette_of_the_pairing():
    assert seurat_wnn.default_rna_dims(["rna", "adt"]) == 30  # CITE-seq vignette, 1:30
    assert seurat_wnn.default_rna_dims(["rna", "atac"]) == 50  # multiome vignette, 1:50
    assert seurat_wnn.default_rna_dims(["rna", "atac"], rna_dims=20) == 20


@pytest.mark.r
@needs_seurat
def test_kmeans_on_the_wnn_graph_clusters_the_domains(rna_adt, wnn):
    # k-means on the stored 20-dim spectral embedding found one big cluster and a few tiny
    # ones (ARI near 0); on the graph's spectral embedding with one eigenvector per domain
    # it recovers the domains
    truth = rna_adt.obs["ground_truth"].astype(str).to_numpy()
    n_domains = len(set(truth))
    graph_kmeans = cluster_embedding(
        wnn.embedding, n_domains, ("kmeans",), seed=0, connectivities=wnn.connectivities
    )["kmeans"]
    assert supervised_scores(truth, graph_kmeans.labels)["ari"] > 0.4


def test_feature_names_become_legal_for_seurat():
    names = seurat_wnn.seurat_feature_names(["gene_1", "gene-1", "", "CD3_TotalSeqB"])
    assert all("_" not in name for name in names)
    assert len(set(names)) == 4
    assert names[3] == "CD3-TotalSeqB"


@pytest.mark.r
def test_missing_seurat_is_named_with_how_to_install(monkeypatch, rna_adt):
    monkeypatch.setattr(rbridge, "_has_namespace", lambda robjects, name: False)
    with pytest.raises(MethodUnavailableError, match="r-cran-seurat"):
        seurat_wnn.integrate(rna_adt, **RUN)


@pytest.mark.r
def test_missing_seurat_in_a_real_r_library_path(tmp_path):
    """With R's site libraries pointed at an empty folder, Seurat cannot load."""
    script = textwrap.dedent(
        """
        from fastspami.errors import MethodUnavailableError
        from fastspami.methods.seurat_wnn import require_seurat
        try:
            require_seurat()
        except MethodUnavailableError as err:
            print("UNAVAILABLE:", err)
        """
    )
    env = {**os.environ, "R_LIBS_SITE": str(tmp_path), "R_LIBS_USER": str(tmp_path)}
    env.pop("R_LIBS", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "UNAVAILABLE:" in done.stdout, done.stderr
    assert "r-cran-seurat" in done.stdout and "r-seurat" in done.stdout


def test_one_modality_is_refused_before_r_runs(monkeypatch):
    monkeypatch.setattr(seurat_wnn, "require_seurat", lambda: None)
    monkeypatch.setattr(rbridge, "r_objects", lambda: None)
    single = seurat_wnn.ModalityCounts("rna", "rna", sp.csr_matrix(np.ones((5, 5))), list("abcde"))
    with pytest.raises(InputDataError, match="at least 2 modalities"):
        seurat_wnn.run_seurat_wnn([single])
