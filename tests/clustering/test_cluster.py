"""Clustering into a requested number of domains (Leiden search, k-means, mclust) and the
tutorial's fixed-resolution Leiden."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from fastspami._utils import rbridge
from fastspami.clustering.algorithms import (
    cluster_embedding,
    kmeans_clusters,
    knn_connectivities,
    leading_pcs,
    leiden_n_clusters,
    mclust_clusters,
    tutorial_leiden,
)
from fastspami.errors import ClusteringFailedError, ConfigError, MethodUnavailableError

needs_mclust = pytest.mark.skipif(
    not rbridge.r_package_available("mclust"), reason="R with mclust is not installed"
)


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """240 spots in 30 dims (so the PCA-to-20 step runs), 4 well separated domains."""
    embedding, truth = make_blobs(
        n_samples=240, centers=4, n_features=30, cluster_std=1.0, random_state=3
    )
    return embedding, truth


def three_cliques(bridge_weight: float) -> sp.csr_matrix:
    """30 nodes in 3 cliques of 10, consecutive cliques joined by one edge of bridge_weight."""
    graph = sp.lil_matrix(sp.block_diag([np.ones((10, 10))] * 3))
    graph.setdiag(0)
    for a, b in [(9, 10), (19, 20)]:
        graph[a, b] = graph[b, a] = bridge_weight
    return sp.csr_matrix(graph)


def test_leiden_finds_the_requested_number_of_blobs(blobs):
    embedding, truth = blobs
    result = leiden_n_clusters(embedding, 4, seed=0)
    assert result.reached and result.n_clusters == 4 and result.message == ""
    assert result.algorithm == "leiden" and result.resolution > 0
    assert result.labels.shape == (240,) and result.labels.dtype.kind == "U"
    assert adjusted_rand_score(truth, result.labels) > 0.95


def test_leiden_is_deterministic_for_a_seed(blobs):
    embedding, _ = blobs
    first = leiden_n_clusters(embedding, 6, seed=1)
    second = leiden_n_clusters(embedding, 6, seed=1)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.resolution == second.resolution


def test_leiden_says_when_the_count_cannot_be_reached():
    # 3 disconnected cliques: Leiden can never return fewer than 3 clusters.
    result = leiden_n_clusters(None, 2, connectivities=three_cliques(0.0))
    assert not result.reached
    assert result.n_clusters == 3 and len(np.unique(result.labels)) == 3
    assert "2" in result.message and "disconnected" in result.message


def test_leiden_uses_a_given_graph_such_as_seurat_wnn():
    result = leiden_n_clusters(None, 3, connectivities=three_cliques(0.1))
    assert result.reached
    expected = np.repeat(["a", "b", "c"], 10)
    assert adjusted_rand_score(expected, result.labels) == 1.0


def test_leiden_rejects_more_clusters_than_spots(blobs):
    with pytest.raises(ConfigError, match="n_clusters"):
        leiden_n_clusters(blobs[0][:10], 11)


def test_knn_connectivities_are_a_symmetric_fuzzy_graph(blobs):
    graph = knn_connectivities(blobs[0], n_neighbors=15)
    assert graph.shape == (240, 240)
    assert abs(graph - graph.T).max() < 1e-12
    assert graph.diagonal().sum() == 0
    assert graph.data.min() > 0 and graph.data.max() <= 1.0
    assert (np.diff(graph.indptr) >= 14).all()  # every spot keeps its 14 neighbours


def test_kmeans_recovers_blobs_and_is_deterministic(blobs):
    embedding, truth = blobs
    first = kmeans_clusters(embedding, 4, seed=7)
    second = kmeans_clusters(embedding, 4, seed=7)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.reached and first.resolution is None
    assert adjusted_rand_score(truth, first.labels) == 1.0


def test_cluster_embedding_runs_each_named_algorithm(blobs):
    results = cluster_embedding(blobs[0], 4, algorithms=("kmeans", "leiden"))
    assert list(results) == ["kmeans", "leiden"]
    assert all(result.n_clusters == 4 for result in results.values())


def test_tutorial_leiden_keeps_the_count_its_resolution_gives(blobs):
    embedding, truth = blobs
    result = tutorial_leiden(embedding, 4, seed=0)
    assert result.algorithm == "tutorial" and result.resolution == 0.4
    assert result.reached and adjusted_rand_score(truth, result.labels) > 0.95
    # told 6 domains, it still returns what resolution 0.4 finds, and says so
    six = cluster_embedding(embedding, 6, algorithms=("tutorial",), seed=0)["tutorial"]
    np.testing.assert_array_equal(six.labels, result.labels)
    assert not six.reached and "0.4" in six.message
    # a finer resolution splits more: the count is the resolution's, not the request's
    finer = tutorial_leiden(embedding, 4, seed=0, resolution=3.0)
    assert finer.n_clusters > result.n_clusters


def test_tutorial_leiden_runs_on_a_given_graph():
    result = cluster_embedding(
        None, 3, algorithms=("tutorial",), connectivities=three_cliques(0.1)
    )["tutorial"]
    expected = np.repeat(["a", "b", "c"], 10)
    assert adjusted_rand_score(expected, result.labels) == 1.0


def test_cluster_embedding_rejects_unknown_algorithms(blobs):
    with pytest.raises(ConfigError, match="louvain"):
        cluster_embedding(blobs[0], 4, algorithms=("louvain",))


@pytest.mark.r
@needs_mclust
def test_mclust_recovers_blobs(blobs):
    embedding, truth = blobs
    result = mclust_clusters(embedding, 4, seed=0)
    assert result.reached and result.algorithm == "mclust"
    assert adjusted_rand_score(truth, result.labels) > 0.9
    np.testing.assert_array_equal(result.labels, mclust_clusters(embedding, 4, seed=0).labels)


@pytest.mark.r
@needs_mclust
def test_missing_r_package_names_how_to_install_it():
    assert not rbridge.r_package_available("spamiNoSuchPackage")
    with pytest.raises(MethodUnavailableError, match="r-cran-spaminosuchpackage"):
        rbridge.require_r_package(
            "spamiNoSuchPackage", debian="r-cran-spaminosuchpackage", conda="r-spaminosuchpackage"
        )


@pytest.mark.r
@needs_mclust
def test_mclust_failure_raises_with_what_to_try():
    # 6 spots in 4 dims cannot support 3 components with a shared full covariance.
    embedding = np.random.default_rng(0).normal(size=(6, 4))
    with pytest.raises(ClusteringFailedError, match=r"NULL.*G=3.*Try another model"):
        mclust_clusters(embedding, 3)


def with_switched_off_factors(embedding: np.ndarray) -> np.ndarray:
    """The embedding with three all-zero columns between its own, as MOFA+ leaves factors
    it switched off."""
    zeros = np.zeros((embedding.shape[0], 3))
    return np.hstack([embedding[:, :5], zeros, embedding[:, 5:10]])


def test_constant_columns_are_dropped_before_clustering(blobs):
    embedding = with_switched_off_factors(blobs[0])
    reduced = leading_pcs(embedding, 20)
    assert reduced.shape == (240, 10)
    np.testing.assert_array_equal(reduced, blobs[0][:, :10])


@pytest.mark.r
@needs_mclust
def test_mclust_fits_an_embedding_with_switched_off_factors(blobs):
    # Before constant columns were dropped, Mclust returned NULL here and every spot
    # landed in one cluster (ARI 0): 8 of 16 MOFA+ runs of the quick benchmark.
    result = mclust_clusters(with_switched_off_factors(blobs[0]), 4, seed=0)
    assert result.reached
    assert adjusted_rand_score(blobs[1], result.labels) > 0.9


@pytest.mark.parametrize(
    "algorithm", ["kmeans", pytest.param("mclust", marks=[pytest.mark.r, needs_mclust])]
)
def test_a_methods_graph_is_clustered_spectrally(algorithm):
    # A graph method's embedding says nothing here (noise); its graph has the 3 cliques.
    noise = np.random.default_rng(0).normal(size=(30, 20))
    cliques = np.repeat([0, 1, 2], 10)
    result = cluster_embedding(noise, 3, (algorithm,), seed=0, connectivities=three_cliques(0.1))[
        algorithm
    ]
    assert adjusted_rand_score(cliques, result.labels) == 1.0
    assert adjusted_rand_score(cliques, kmeans_clusters(noise, 3).labels) < 0.2


class _RThatCannotStart:
    """An import hook: importing rpy2.robjects fails as it does when R's library is missing."""

    def find_spec(self, name, path=None, target=None):
        if name == "rpy2.robjects":
            raise OSError("libR.so: cannot open shared object file")
        return None


@pytest.fixture
def forget_r():
    """Start and end with rbridge's cached R forgotten, so the test's R (or its absence) counts."""
    rbridge.r_objects.cache_clear()
    yield
    rbridge.r_objects.cache_clear()


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("no rpy2", r"rpy2 is not installed .*apt-get install r-base-core.*pip install rpy2=="),
        ("no R", r"cannot start R \(libR.so.*apt-get install r-base-core.*R_HOME"),
    ],
)
def test_mclust_without_r_raises_with_install_hint(blobs, monkeypatch, forget_r, failure, message):
    if failure == "no rpy2":
        monkeypatch.setitem(sys.modules, "rpy2.robjects", None)  # import raises ImportError
    else:
        monkeypatch.delitem(sys.modules, "rpy2.robjects", raising=False)
        monkeypatch.setattr(sys, "meta_path", [_RThatCannotStart(), *sys.meta_path])
    with pytest.raises(MethodUnavailableError, match=message):
        mclust_clusters(blobs[0], 4)
