"""Clustering an embedding (or a method's own graph) into a given number of domains:
Leiden with a resolution search, k-means, and R's mclust (EEE)."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "ClusteringResult": "algorithms",
        "cluster_embedding": "algorithms",
        "kmeans_clusters": "algorithms",
        "knn_connectivities": "algorithms",
        "leiden_n_clusters": "algorithms",
        "mclust_clusters": "algorithms",
        "spectral_features": "algorithms",
    },
)
