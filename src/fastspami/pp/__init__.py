"""Preprocessing per modality (RNA: log-normalize + PCA, ATAC: LSI, protein: CLR) and the
spatial kNN graph."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "clr_normalize": "preprocess",
        "gcn_normalize": "graph",
        "local_context_operator": "graph",
        "lsi": "preprocess",
        "preprocess_adt": "preprocess",
        "preprocess_atac": "preprocess",
        "preprocess_modality": "preprocess",
        "preprocess_mudata": "preprocess",
        "preprocess_rna": "preprocess",
        "spatial_knn_graph": "graph",
        "symmetrize": "graph",
    },
)
