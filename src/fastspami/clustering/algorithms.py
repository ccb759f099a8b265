"""Cluster an integrated embedding into a given number of spatial domains.

Four clusterings, as the paper, its tutorial and its benchmark habit use them:

- Leiden on a kNN graph (the reference: PCA to 20 dims -> 50-NN graph -> Leiden),
  with the resolution searched by bisection until the cluster count equals the
  number of annotated domains; or Leiden on a given graph (Seurat's WNN graph).
- mclust (R, EEE model) on the first 20 principal components, as SpatialGlue does.
- k-means (scikit-learn, 10 restarts).
- ``tutorial``: SpaMI's Tutorial 4 on its simulated data, verbatim in its settings: PCA to
  20 dims, 50-NN graph, Leiden at resolution 0.4, whatever number of clusters that gives
  (:func:`tutorial_leiden`). Only to set the paper's reported number (ARI 0.963) beside
  this benchmark's: the other three are told the number of domains.

Columns that are constant across spots (MOFA+ switches unused factors off to exact
zeros) are dropped first: they change no distance, and they make mclust's shared
covariance singular. A method whose output is a graph (Seurat WNN) is clustered on that
graph: Leiden directly, k-means and mclust on its spectral embedding with as many
eigenvectors as clusters (:func:`spectral_features`; k-means on it is scikit-learn's
``spectral_clustering``).

Every function returns a ClusteringResult whose labels are strings, one per spot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fastspami.errors import ClusteringFailedError, ConfigError, InputDataError

ALGORITHMS = ("leiden", "mclust", "kmeans", "tutorial")
DOMAIN_COUNT_ALGORITHMS = ALGORITHMS[:3]  # told the number of domains
REFERENCE_N_NEIGHBORS = 50
# SpaMI Tutorial 4: sc.pp.pca(n_comps=20); sc.pp.neighbors(n_neighbors=50); sc.tl.leiden(0.4)
TUTORIAL_N_PCS, TUTORIAL_N_NEIGHBORS, TUTORIAL_RESOLUTION = 20, 50, 0.4
MIN_RESOLUTION = 1e-5
MAX_RESOLUTION = 200.0


@dataclass
class ClusteringResult:
    """One clustering of n spots.

    labels: (n,) array of str, one cluster label per spot in the input order.
    algorithm: "leiden", "mclust", "kmeans" or "tutorial".
    resolution: the Leiden resolution used (None for mclust and k-means).
    n_clusters: the number of distinct labels actually found.
    reached: whether n_clusters equals the number requested (the tutorial's Leiden asks
        for none; it reports whether it found the number of domains).
    message: why it was not reached (empty when it was).
    """

    labels: np.ndarray
    algorithm: str
    resolution: float | None
    n_clusters: int
    reached: bool
    message: str = ""


def _check_embedding(embedding: np.ndarray) -> np.ndarray:
    values = np.asarray(embedding, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise InputDataError(
            f"An embedding must be a 2-D array (n_spots, d) with at least 2 spots; "
            f"got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise InputDataError(
            "The embedding contains NaN or inf; re-run the integration method "
            "(a lower learning rate often helps) before clustering."
        )
    return values


def _check_n_clusters(n_clusters: int, n_spots: int) -> int:
    if int(n_clusters) != n_clusters or not 1 <= n_clusters <= n_spots:
        raise ConfigError(
            f"n_clusters must be an integer between 1 and the number of spots ({n_spots}); "
            f"got {n_clusters!r}. Set it to the number of annotated domains."
        )
    return int(n_clusters)


def varying_columns(values: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """The columns of an (n, d) array whose standard deviation exceeds ``rtol`` times the
    largest one (at least one column is kept): constant columns carry no information."""
    spread = values.std(axis=0)
    keep = spread > rtol * spread.max()
    if not keep.any():
        keep[0] = True
    return values[:, keep]


def leading_pcs(embedding: np.ndarray, n_pcs: int, seed: int = 0) -> np.ndarray:
    """Project (n, d) onto its first ``n_pcs`` principal components, (n, <= n_pcs).

    Constant columns are dropped first (:func:`varying_columns`); an embedding with no more
    than ``n_pcs`` columns left is returned as it is, else its projection, less any
    component of (numerically) zero variance.
    """
    from sklearn.decomposition import PCA

    values = varying_columns(_check_embedding(embedding))
    if values.shape[1] <= n_pcs:
        return values
    n_components = min(n_pcs, values.shape[0])
    pcs = PCA(n_components=n_components, svd_solver="full", random_state=seed).fit_transform(values)
    return varying_columns(pcs)


def spectral_features(connectivities: sp.spmatrix, n_components: int, seed: int = 0) -> np.ndarray:
    """(n, n_components) spectral embedding of a weighted spot graph (symmetrized first):
    the eigenvectors of its normalized Laplacian with the smallest eigenvalues, the first
    included, as scikit-learn's ``spectral_clustering`` computes them before its k-means.

    Where the graph falls apart into components, each gets indicator-like eigenvectors,
    which is what clustering wants; scikit-learn's warning about it is silenced.
    """
    import warnings

    from sklearn.manifold import spectral_embedding

    graph = _check_connectivities(connectivities, None).astype(np.float64)
    graph = ((graph + graph.T) / 2.0).tocsr()
    n_components = int(min(n_components, graph.shape[0] - 1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return spectral_embedding(
            graph,
            n_components=n_components,
            random_state=seed,
            drop_first=False,
            norm_laplacian=True,
        )


def default_n_neighbors(n_spots: int) -> int:
    """50 as in the reference, capped at n_spots // 10 (at least 5) so tiny data keep local graphs."""
    return max(2, min(REFERENCE_N_NEIGHBORS, max(5, n_spots // 10), n_spots - 1))


def knn_connectivities(embedding: np.ndarray, *, n_neighbors: int) -> sp.csr_matrix:
    """Symmetric (n, n) UMAP-style fuzzy kNN connectivities of an (n, d) embedding.

    The weights are those of scanpy's default ``pp.neighbors`` (McInnes et al. 2018):
    for spot i with neighbour distances d_ij (``n_neighbors`` counts i itself),
    w_ij = exp(-(d_ij - rho_i) / sigma_i) with rho_i the nearest distance and sigma_i
    set so that sum_j w_ij = log2(n_neighbors); then W + W^T - W * W^T. Computed
    here with exact scikit-learn neighbours and NumPy, which is deterministic and
    avoids the ~20 s numba compilation scanpy's version pays in every process.
    """
    from sklearn.neighbors import NearestNeighbors

    values = _check_embedding(embedding)
    n_spots = values.shape[0]
    k = min(int(n_neighbors), n_spots)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(values).kneighbors(values)
    distances, indices = distances[:, 1:], indices[:, 1:]  # drop each spot itself
    weights = _fuzzy_weights(distances, target=np.log2(k))
    rows = np.repeat(np.arange(n_spots), distances.shape[1])
    directed = sp.csr_matrix((weights.ravel(), (rows, indices.ravel())), shape=(n_spots, n_spots))
    both = directed.multiply(directed.T)
    graph = sp.csr_matrix(directed + directed.T - both)
    graph = graph - sp.diags(graph.diagonal())  # duplicate spots may leave a self-loop
    graph.eliminate_zeros()
    return graph


def _fuzzy_weights(distances: np.ndarray, target: float, n_iter: int = 64) -> np.ndarray:
    """UMAP membership strengths (n, k) from sorted neighbour distances (n, k), by bisection on sigma."""
    rho = distances[:, :1]
    excess = np.maximum(distances - rho, 0.0)
    low = np.zeros(len(distances))
    high = np.full(len(distances), np.inf)
    sigma = np.ones(len(distances))
    for _ in range(n_iter):
        total = np.exp(-excess / sigma[:, None]).sum(axis=1)
        too_wide = total > target
        high = np.where(too_wide, sigma, high)
        low = np.where(too_wide, low, sigma)
        sigma = np.where(np.isinf(high), sigma * 2, (low + high) / 2)
    # As UMAP: keep sigma above 1e-3 of the mean neighbour distance.
    sigma = np.maximum(sigma, 1e-3 * distances.mean(axis=1))
    sigma = np.where(sigma > 0, sigma, 1.0)
    return np.exp(-excess / sigma[:, None])


def _undirected_igraph(connectivities: sp.spmatrix):
    import igraph as ig

    graph = sp.csr_matrix(connectivities, dtype=np.float64)
    if (graph != graph.T).nnz:
        graph = (graph + graph.T) / 2  # a directed graph (e.g. WNN) counts both directions
    upper = sp.triu(graph, k=1).tocoo()
    result = ig.Graph(n=graph.shape[0], edges=list(zip(upper.row, upper.col, strict=True)))
    result.es["weight"] = upper.data.tolist()
    return result


def _leiden_membership(graph, resolution: float, seed: int) -> np.ndarray:
    """(n,) Leiden cluster ids (largest cluster first) at one resolution of the modularity.

    igraph's own Leiden (scanpy's flavor='igraph', 2 iterations) is some 10x faster
    than leidenalg on 50-NN graphs; it draws from igraph's random generator, which
    is seeded here and restored afterwards so the result depends on ``seed`` only.
    """
    import random

    import igraph as ig

    ig.set_random_number_generator(random.Random(seed))
    try:
        partition = graph.community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=resolution,
            n_iterations=2,
        )
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(partition.membership)


def _check_connectivities(connectivities: sp.spmatrix, n_spots: int | None) -> sp.csr_matrix:
    graph = sp.csr_matrix(connectivities)
    expected = n_spots if n_spots is not None else graph.shape[0]
    if graph.shape != (expected, expected):
        raise InputDataError(
            f"connectivities must be a square (n_spots, n_spots) matrix with n_spots = {expected}; "
            f"got shape {graph.shape}. Pass the graph built on the same spots as the embedding."
        )
    if graph.nnz and graph.data.min() < 0:
        raise InputDataError("connectivities must have non-negative weights.")
    return graph


def leiden_n_clusters(
    embedding: np.ndarray | None,
    n_clusters: int,
    *,
    seed: int = 0,
    n_neighbors: int | None = None,
    n_pcs: int = 20,
    connectivities: sp.spmatrix | None = None,
    max_steps: int = 30,
) -> ClusteringResult:
    """Leiden clustering of (n, d) ``embedding`` with the resolution searched to give ``n_clusters``.

    The graph is ``connectivities`` (n, n) when given (e.g. Seurat's WNN graph; the
    embedding may then be None), otherwise the UMAP-weighted kNN graph of the
    embedding's first ``n_pcs`` PCs with ``n_neighbors`` (default: 50, capped at
    n/10 for small data). The resolution is bisected within [0.01, 3], a bracket
    extended down to 1e-5 or up to 200 when needed, for at most ``max_steps`` Leiden
    runs. When no resolution gives ``n_clusters``, the closest count is returned
    with ``reached=False`` and a message saying why.
    """
    if connectivities is not None:
        n_spots = None if embedding is None else _check_embedding(embedding).shape[0]
        graph_matrix = _check_connectivities(connectivities, n_spots)
        graph_source = "the given connectivities"
    else:
        if embedding is None:
            raise InputDataError("leiden_n_clusters needs an embedding or connectivities.")
        reduced = leading_pcs(embedding, n_pcs, seed)
        k = default_n_neighbors(reduced.shape[0]) if n_neighbors is None else int(n_neighbors)
        if not 1 <= k < reduced.shape[0]:
            raise ConfigError(
                f"n_neighbors must be between 1 and n_spots - 1 = {reduced.shape[0] - 1}; got {k}."
            )
        graph_matrix = knn_connectivities(reduced, n_neighbors=k)
        graph_source = f"the {k}-NN graph"
    target = _check_n_clusters(n_clusters, graph_matrix.shape[0])
    graph = _undirected_igraph(graph_matrix)

    runs: dict[float, np.ndarray] = {}

    def count_at(resolution: float) -> int:
        if resolution not in runs:
            runs[resolution] = _leiden_membership(graph, resolution, seed)
        return int(runs[resolution].max()) + 1

    def budget_left() -> bool:
        return len(runs) < max_steps

    low, high = 0.01, 3.0
    while budget_left() and count_at(high) < target and high < MAX_RESOLUTION:
        low, high = high, min(high * 2, MAX_RESOLUTION)
    while budget_left() and count_at(low) > target and low > MIN_RESOLUTION:
        low, high = max(low / 10, MIN_RESOLUTION), low
    # Bisection keeps count(low) < target < count(high); the count grows with resolution
    # (not strictly, so the closest count seen is kept as a fallback below).
    bisected = budget_left() and count_at(low) < target < count_at(high)
    if bisected:
        while budget_left() and high - low > 1e-4 * high:
            middle = (low + high) / 2
            found = count_at(middle)
            if found == target:
                break
            low, high = (middle, high) if found < target else (low, middle)

    # Closest count wins; among equals the lowest resolution (fewest spurious splits).
    resolution = min(runs, key=lambda r: (abs(count_at(r) - target), r))
    found = count_at(resolution)
    message = ""
    if found != target:
        n_components = connected_components(graph_matrix, directed=False)[0]
        if n_components > target:
            why = (
                f"; the graph has {n_components} disconnected components, a lower bound on "
                "the number of Leiden clusters"
            )
        elif bisected and high - low <= 1e-4 * high:
            why = (
                f"; the count jumps from {count_at(low)} to {count_at(high)} at resolution "
                f"{high:.6g}"
            )
        else:
            why = ""
        message = (
            f"Leiden on {graph_source} found {found} clusters at best (resolution "
            f"{resolution:.4g}), not the requested {target}, after {len(runs)} runs{why}. "
            "Use the mclust or kmeans result, or change n_neighbors / max_steps."
        )
    return ClusteringResult(
        labels=runs[resolution].astype(str),
        algorithm="leiden",
        resolution=float(resolution),
        n_clusters=found,
        reached=found == target,
        message=message,
    )


def tutorial_leiden(
    embedding: np.ndarray | None,
    n_domains: int,
    *,
    seed: int = 0,
    connectivities: sp.spmatrix | None = None,
    resolution: float = TUTORIAL_RESOLUTION,
    n_neighbors: int = TUTORIAL_N_NEIGHBORS,
    n_pcs: int = TUTORIAL_N_PCS,
) -> ClusteringResult:
    """SpaMI Tutorial 4's clustering: Leiden at a fixed resolution (0.4) on the 50-NN graph
    of the first 20 PCs of (n, d) ``embedding``, or on ``connectivities`` (n, n) when given.

    The number of clusters is whatever the resolution gives; ``n_domains`` only fills in
    ``reached`` and the message. The graph is :func:`knn_connectivities` (scanpy's default
    weights) with 50 neighbours, capped at n - 1 only; Leiden is igraph's (scanpy's
    flavor='igraph', 2 iterations), where the tutorial's scanpy of 2024 ran leidenalg to
    convergence: the same objective (modularity at that resolution), another optimizer.
    """
    if connectivities is not None:
        n_spots = None if embedding is None else _check_embedding(embedding).shape[0]
        graph_matrix = _check_connectivities(connectivities, n_spots)
    else:
        if embedding is None:
            raise InputDataError("tutorial_leiden needs an embedding or connectivities.")
        reduced = leading_pcs(embedding, n_pcs, seed)
        k = min(int(n_neighbors), reduced.shape[0] - 1)
        graph_matrix = knn_connectivities(reduced, n_neighbors=k)
    target = _check_n_clusters(n_domains, graph_matrix.shape[0])
    labels = _leiden_membership(_undirected_igraph(graph_matrix), resolution, seed)
    found = int(labels.max()) + 1
    return ClusteringResult(
        labels=labels.astype(str),
        algorithm="tutorial",
        resolution=float(resolution),
        n_clusters=found,
        reached=found == target,
        message=""
        if found == target
        else f"Leiden at resolution {resolution:g} (the tutorial's) found {found} clusters, "
        f"not the {target} domains; the tutorial's protocol keeps them.",
    )


def kmeans_clusters(embedding: np.ndarray, n_clusters: int, *, seed: int = 0) -> ClusteringResult:
    """k-means (scikit-learn, n_init=10, fixed seed) of an (n, d) embedding into n_clusters."""
    from sklearn.cluster import KMeans

    values = _check_embedding(embedding)
    target = _check_n_clusters(n_clusters, values.shape[0])
    labels = KMeans(n_clusters=target, n_init=10, random_state=seed).fit_predict(values)
    found = len(np.unique(labels))
    return ClusteringResult(
        labels=labels.astype(str),
        algorithm="kmeans",
        resolution=None,
        n_clusters=found,
        reached=found == target,
        message="" if found == target else f"k-means left {target - found} clusters empty.",
    )


def mclust_clusters(
    embedding: np.ndarray,
    n_clusters: int,
    *,
    seed: int = 0,
    model: str = "EEE",
    n_pcs: int = 20,
) -> ClusteringResult:
    """R mclust Gaussian mixture (``Mclust(pcs, G=n_clusters, modelNames=model)``) on the first n_pcs PCs.

    Needs R with mclust (raises MethodUnavailableError otherwise). When Mclust cannot
    fit the model (it returns NULL, or fails), raises ClusteringFailedError with the reason
    and what to try: a failed fit is not a clustering (scored as one cluster, it counted as
    ARI 0).
    """
    from fastspami._utils import rbridge

    rbridge.require_r_package("mclust", debian="r-cran-mclust", conda="r-mclust")
    values = leading_pcs(embedding, n_pcs, seed)
    target = _check_n_clusters(n_clusters, values.shape[0])

    from rpy2.rinterface_lib.embedded import RRuntimeError

    # Mclust evaluates mclustBIC by name in its caller's frame: the package must be attached.
    run_mclust = rbridge.attach_r_package("mclust").r["Mclust"]
    rbridge.set_r_seed(seed)
    failure = ""
    try:
        fit = run_mclust(rbridge.to_r_matrix(values), G=target, modelNames=model, verbose=False)
        if rbridge.is_r_null(fit):
            failure = "Mclust returned NULL (no model could be fitted)"
    except RRuntimeError as err:
        failure = f"Mclust failed: {str(err).strip()}"
    if failure:
        raise ClusteringFailedError(
            f"{failure} with G={target}, model {model!r} on {values.shape[1]} dims. Try "
            "another model (e.g. 'VVV', 'EII') or fewer PCs."
        )
    labels = rbridge.to_numpy(fit.rx2("classification")).astype(int)
    found = len(np.unique(labels))
    return ClusteringResult(
        labels=labels.astype(str),
        algorithm="mclust",
        resolution=None,
        n_clusters=found,
        reached=found == target,
        message=""
        if found == target
        else f"Mclust assigned spots to only {found} of {target} components.",
    )


def cluster_embedding(
    embedding: np.ndarray,
    n_clusters: int,
    algorithms: Sequence[str] = DOMAIN_COUNT_ALGORITHMS,
    *,
    seed: int = 0,
    connectivities: sp.spmatrix | None = None,
) -> dict[str, ClusteringResult]:
    """Run each named algorithm on an (n, d) embedding; {algorithm: ClusteringResult}.

    ``connectivities`` (n, n), when given, is the method's own spot graph: Leiden (both
    kinds) runs on it instead of a kNN graph of the embedding, and k-means and mclust on its spectral
    embedding with ``n_clusters`` eigenvectors (:func:`spectral_features`).
    """
    unknown = sorted(set(algorithms) - set(ALGORITHMS))
    if unknown:
        raise ConfigError(
            f"Unknown clustering algorithm(s) {unknown}; choose from {list(ALGORITHMS)}."
        )
    results: dict[str, ClusteringResult] = {}
    points = embedding
    if connectivities is not None and set(algorithms) - {"leiden", "tutorial"}:
        points = spectral_features(connectivities, n_clusters, seed)
    for algorithm in algorithms:
        if algorithm == "leiden":
            results[algorithm] = leiden_n_clusters(
                embedding, n_clusters, seed=seed, connectivities=connectivities
            )
        elif algorithm == "tutorial":
            results[algorithm] = tutorial_leiden(
                embedding, n_clusters, seed=seed, connectivities=connectivities
            )
        elif algorithm == "mclust":
            results[algorithm] = mclust_clusters(points, n_clusters, seed=seed)
        else:
            results[algorithm] = kmeans_clusters(points, n_clusters, seed=seed)
    return results
