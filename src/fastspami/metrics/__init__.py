"""Scores of a clustering: against annotations (ARI, AMI, NMI, homogeneity; scikit-learn)
and over space (Moran's I; squidpy); the attention a method gives each modality."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Metric": "registry",
        "attention_by_domain": "attention",
        "get_metric": "registry",
        "hungarian_match": "supervised",
        "is_annotated": "supervised",
        "metric_label": "registry",
        "morans_i_per_cluster": "spatial",
        "register_metric": "registry",
        "registered_metrics": "registry",
        "spatial_metrics": "registry",
        "supervised_metrics": "registry",
        "supervised_scores": "supervised",
    },
)
