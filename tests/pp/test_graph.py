"""The sparse spatial graph: neighbours, symmetry, normalization, and no N x N allocation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastspami.errors import InputDataError
from fastspami.pp.graph import (
    gcn_normalize,
    local_context_operator,
    spatial_knn_graph,
    symmetrize,
)


def test_knn_graph_degree_no_self_loops_and_sparse():
    rng = np.random.default_rng(0)
    coords = rng.uniform(size=(300, 2))
    knn = spatial_knn_graph(coords, k=3)
    assert sp.issparse(knn)
    assert np.all(np.diff(knn.indptr) == 3)
    assert knn.diagonal().sum() == 0


def test_knn_graph_matches_brute_force():
    rng = np.random.default_rng(1)
    coords = rng.uniform(size=(120, 2))
    knn = spatial_knn_graph(coords, k=4)
    dist = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    expected = np.argsort(dist, axis=1)[:, :4]
    for i in range(len(coords)):
        assert set(knn[i].indices) == set(expected[i])


def test_knn_graph_with_duplicated_coordinates_excludes_self():
    coords = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [2, 0]], dtype=float)
    knn = spatial_knn_graph(coords, k=2)
    assert knn.diagonal().sum() == 0
    assert np.all(np.diff(knn.indptr) == 2)


def test_symmetrized_graph_is_symmetric_and_binary():
    rng = np.random.default_rng(2)
    adj = symmetrize(spatial_knn_graph(rng.uniform(size=(200, 2)), k=3))
    assert (adj != adj.T).nnz == 0
    assert set(np.unique(adj.data)) == {1.0}
    assert adj.diagonal().sum() == 0


def test_gcn_normalization_by_hand_on_a_path():
    # path 0 - 1 - 2: with self loops degrees are 2, 3, 2
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    norm = gcn_normalize(adj).toarray()
    d = np.array([2.0, 3.0, 2.0])
    expected = (np.eye(3) + adj.toarray()) / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(norm, expected, rtol=1e-6)


def test_local_context_operator_averages_self_and_neighbours():
    coords = np.array([[0.0, 0], [1, 0], [3, 0], [6, 0]])
    op = local_context_operator(spatial_knn_graph(coords, k=1)).toarray()
    np.testing.assert_allclose(op.sum(axis=1), 1.0)
    assert op[0, 0] == pytest.approx(0.5) and op[0, 1] == pytest.approx(0.5)


def test_too_few_spots_for_k_names_the_fix():
    with pytest.raises(InputDataError, match=r"need at least k \+ 1 = 4 spots. Lower k \(--k\)"):
        spatial_knn_graph(np.zeros((3, 2)), k=3)


def test_no_dense_allocation_at_a_size_where_n_by_n_cannot_fit():
    # 300,000^2 float32 would be 360 GB: only a sparse build can succeed here.
    n = 300_000
    rng = np.random.default_rng(3)
    coords = rng.uniform(size=(n, 2))
    adj = gcn_normalize(symmetrize(spatial_knn_graph(coords, k=3)))
    assert adj.shape == (n, n)
    assert adj.nnz < 8 * n
