"""Figures; each returns a matplotlib Figure.

On a MuData (what ``tl.integrate`` and ``tl.cluster`` wrote): ``spatial`` (label maps on
the tissue), ``umap`` (of embeddings), ``attention`` (per domain or cluster).

The benchmark's figures, one function per kind of paper panel:

| function | paper figure |
|---|---|
| domain_maps | Fig 2A, 3D, 4D, 6C, 7D: domains of each method on the tissue, beside the truth |
| embedding_umaps | Fig 2B, 7E: UMAP of each method's embedding, coloured by domain |
| metric_vs_noise | Fig 2C: ARI/AMI/NMI/homogeneity against the noise level |
| ablation_bars | Fig 2D, S1 Fig I: SpaMI with a component removed |
| metric_bars | Fig 3B, 4B, 7C: the four clustering metrics per method |
| morans_boxplots | Fig 3C, 4C, 6B, 7B: per-cluster Moran's I per method |
| denoising_maps | Fig 3E, 4E, 6D: normalized input vs SpaMI's reconstruction of marker genes |
| single_vs_integrated_maps | Fig 3F, 4F, 6F: SpaMI on one modality vs on all |
| attention_by_domain_plot | mean modality attention per domain (SpaMI's fusion weights) |
| diagnosis_figure | SpaMI's modality use: partition ARI per embedding, attention, loss terms |
| cost_plot | seconds and peak memory per method and dataset size (S1 Table B) |

Figures are built on ``matplotlib.figure.Figure`` (no pyplot, no global state) and drawn
by Agg; their size depends only on the number of panels (constrained layout, no tight
bounding box), so a PNG is ``figsize * dpi`` pixels. ``save_figure`` writes PNG for the
report and SVG for print. Cluster labels are matched to the ground truth with
``fastspami.metrics.supervised.hungarian_match`` so that a domain has one colour in every panel.
"""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "attention": "from_mudata",
        "spatial": "from_mudata",
        "umap": "from_mudata",
        "ablation_bars": "scores",
        "attention_by_domain_plot": "diagnosis",
        "cost_plot": "cost",
        "denoising_maps": "maps",
        "diagnosis_figure": "diagnosis",
        "domain_maps": "maps",
        "embedding_umaps": "maps",
        "marker_genes": "maps",
        "message_figure": "style",
        "metric_bars": "scores",
        "metric_vs_noise": "scores",
        "morans_boxplots": "scores",
        "save_figure": "style",
        "single_vs_integrated_maps": "maps",
        "spatial_label_maps": "maps",
        "umap_coordinates": "maps",
    },
)
