"""Sparse spatial graphs: the kNN mask, the symmetric GCN graph and their normalizations.

Everything here is O(N k) in memory: a KD-tree finds the neighbours and the graphs are
SciPy CSR matrices (converted to torch sparse tensors once, before training). Nothing of
size N x N is ever allocated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from fastspami.errors import InputDataError


def spatial_knn_graph(coords: np.ndarray, k: int) -> sp.csr_matrix:
    """Directed kNN graph of spots: row i holds its k nearest *other* spots (value 1).

    coords: (N, 2) spatial coordinates. Returns an (N, N) CSR matrix with exactly k
    nonzeros per row and none on the diagonal. Ties between equidistant neighbours are
    broken by spot index (KD-tree order), so the graph is deterministic.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    if coords.ndim != 2 or coords.shape[1] < 1:
        raise InputDataError(
            f"Spatial coordinates must be an (N, 2) array, got shape {coords.shape}."
        )
    if k < 1:
        raise InputDataError(f"k (the number of spatial neighbours) must be >= 1, got {k}.")
    if n < k + 1:
        raise InputDataError(
            f"Only {n} spots for k={k} spatial neighbours: need at least k + 1 = {k + 1} spots. "
            "Lower k (--k) or use a larger dataset."
        )
    if not np.all(np.isfinite(coords)):
        raise InputDataError("Spatial coordinates contain NaN or inf; fix or drop those spots.")
    tree = cKDTree(coords)
    # Ask for k + 1: normally the spot itself comes first, but with duplicated coordinates
    # it may come later, so drop it wherever it is (or drop the farthest if it is absent).
    _, idx = tree.query(coords, k=k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k + 1)
    is_self = idx == np.arange(n)[:, None]
    has_self = is_self.any(axis=1)
    is_self[~has_self, -1] = True  # drop the farthest where self was not returned
    # Drop only the first "self" hit of each row.
    first = np.argmax(is_self, axis=1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), first] = False
    cols = idx[keep].reshape(n, k)
    rows = np.repeat(np.arange(n), k)
    data = np.ones(n * k, dtype=np.float32)
    graph = sp.csr_matrix((data, (rows, cols.ravel())), shape=(n, n))
    graph.sum_duplicates()
    graph.data[:] = 1.0
    return graph


def symmetrize(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """A OR Aᵀ as a binary CSR matrix (the undirected graph the GCN layers use)."""
    a = sp.csr_matrix(adjacency, dtype=np.float32)
    sym = (a + a.T).tocsr()
    sym.data[:] = 1.0
    sym.eliminate_zeros()
    return sym


def gcn_normalize(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Symmetric GCN normalization D^-1/2 (A + I) D^-1/2 of a binary adjacency matrix."""
    a = sp.csr_matrix(adjacency, dtype=np.float32)
    a = (a + sp.identity(a.shape[0], dtype=np.float32, format="csr")).tocsr()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(deg)
    d = sp.diags(inv_sqrt.astype(np.float32))
    return (d @ a @ d).tocsr().astype(np.float32)


def local_context_operator(knn: sp.spmatrix) -> sp.csr_matrix:
    """Row-normalized (A_knn + I): multiplying by it averages each spot with its k neighbours."""
    a = sp.csr_matrix(knn, dtype=np.float32)
    a = (a + sp.identity(a.shape[0], dtype=np.float32, format="csr")).tocsr()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(axis=1)).ravel()
    return (sp.diags((1.0 / deg).astype(np.float32)) @ a).tocsr().astype(np.float32)


def shuffle_coordinates(coords: np.ndarray, seed: int) -> np.ndarray:
    """Spatially shuffled coordinates (rows permuted): the negative control's layout."""
    rng = np.random.default_rng(seed)
    return np.asarray(coords)[rng.permutation(len(coords))]
