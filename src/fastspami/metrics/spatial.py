"""Moran's I of each cluster over space (squidpy's): the paper's score without annotations."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fastspami.errors import InputDataError
from fastspami.metrics.supervised import _as_labels


def morans_i_per_cluster(
    coords: np.ndarray,
    labels: Sequence | np.ndarray | pd.Series,
    *,
    n_neighs: int = 6,
    seed: int = 0,
) -> pd.Series:
    """Moran's I of each cluster's 0/1 indicator over the spatial kNN graph of (n, 2) ``coords``.

    Returns a Series indexed by cluster label (sorted), named "morans_i". Near 1: the
    cluster is one compact region; near 0: scattered at random; negative: interleaved.
    A cluster holding every spot has no variance, and gets NaN.
    """
    import anndata as ad

    with warnings.catch_warnings():
        # squidpy's docstring templating (docrep) warns at import; nothing for users to fix.
        warnings.filterwarnings("ignore", category=SyntaxWarning, module="docrep")
        import squidpy as sq

    points = np.asarray(coords, dtype=np.float64)
    predicted = _as_labels(labels, "labels").astype(str)
    if points.ndim != 2 or points.shape[0] != len(predicted):
        raise InputDataError(
            f"coords must be (n_spots, 2) with one row per label; got shape {points.shape} "
            f"for {len(predicted)} labels."
        )
    if not 1 <= n_neighs < len(predicted):
        raise InputDataError(
            f"n_neighs must be between 1 and n_spots - 1 = {len(predicted) - 1}; got {n_neighs}."
        )
    clusters = np.unique(predicted)
    indicators = (predicted[:, None] == clusters[None, :]).astype(np.float64)
    adata = ad.AnnData(
        X=indicators,
        obsm={"spatial": points},
        var=pd.DataFrame(index=pd.Index(clusters, name="cluster")),
    )
    with warnings.catch_warnings():
        # squidpy 1.8 announces spatial_neighbors' removal in 1.9; requirements pin < 1.9.
        warnings.filterwarnings(
            "ignore", message="Calling `spatial_neighbors` is deprecated", category=FutureWarning
        )
        sq.gr.spatial_neighbors(adata, coord_type="generic", n_neighs=n_neighs)
    with warnings.catch_warnings():
        # A constant indicator (one cluster holding every spot) has no variance: NaN, documented.
        warnings.filterwarnings(
            "ignore", message=r".*variables were constant", category=UserWarning
        )
        table = sq.gr.spatial_autocorr(
            adata,
            mode="moran",
            n_perms=None,
            seed=seed,
            n_jobs=1,
            copy=True,
            show_progress_bar=False,
        )
    return table["I"].reindex(clusters).rename("morans_i").rename_axis("cluster")
