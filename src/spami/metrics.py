"""Scores of a clustering: against annotations, over space, and helpers for plots.

- supervised_scores: ARI, AMI, NMI and homogeneity against the ground truth.
- morans_i_per_cluster: Moran's I of each cluster's 0/1 indicator over the spatial
  kNN graph (squidpy), the paper's score when no annotation exists.
- hungarian_match: rename predicted clusters after the domain they overlap most.
- attention_by_domain: mean modality attention weight per domain, tidy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from spami.errors import InputDataError


def is_annotated(truth: Sequence | np.ndarray | pd.Series) -> np.ndarray:
    """(n,) bool: True where the ground truth is present (not NaN, None or an empty string)."""
    values = pd.Series(np.asarray(truth, dtype=object))
    return (values.notna() & (values.astype(str).str.strip() != "")).to_numpy()


def _as_labels(values: Sequence | np.ndarray | pd.Series, name: str) -> np.ndarray:
    labels = np.asarray(values, dtype=object)
    if labels.ndim != 1:
        raise InputDataError(f"{name} must be one label per spot (1-D); got shape {labels.shape}.")
    return labels


def _check_same_length(truth: np.ndarray, labels: np.ndarray) -> None:
    if len(truth) != len(labels):
        raise InputDataError(
            f"The ground truth has {len(truth)} spots but the clustering has {len(labels)}; "
            "both must list the same spots in the same order."
        )


def supervised_scores(
    truth: Sequence | np.ndarray | pd.Series, labels: Sequence | np.ndarray | pd.Series
) -> dict[str, float]:
    """ARI, AMI, NMI and homogeneity of (n,) predicted ``labels`` against (n,) ``truth``.

    Spots without a ground-truth label are left out. Homogeneity is
    ``homogeneity_score(truth, labels)``: 1 when every cluster holds one domain only.
    """
    from sklearn import metrics

    truth_values = _as_labels(truth, "truth")
    predicted = _as_labels(labels, "labels")
    _check_same_length(truth_values, predicted)
    keep = is_annotated(truth_values)
    if not keep.any():
        raise InputDataError(
            "No spot has a ground-truth label (all are missing or empty); supervised scores "
            "need obs['ground_truth']. Use Moran's I for unannotated data."
        )
    truth_kept = truth_values[keep].astype(str)
    predicted_kept = predicted[keep].astype(str)
    domains = np.unique(truth_kept)
    if len(domains) < 2:
        raise InputDataError(
            f"The ground truth has one domain only ({str(domains[0])!r}): every clustering would "
            "score 1 on ARI, AMI, NMI and homogeneity. Annotate at least two domains, or "
            "drop obs['ground_truth'] and compare methods by Moran's I."
        )
    return {
        "ari": float(metrics.adjusted_rand_score(truth_kept, predicted_kept)),
        "ami": float(metrics.adjusted_mutual_info_score(truth_kept, predicted_kept)),
        "nmi": float(metrics.normalized_mutual_info_score(truth_kept, predicted_kept)),
        "homogeneity": float(metrics.homogeneity_score(truth_kept, predicted_kept)),
    }


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


def hungarian_match(
    truth: Sequence | np.ndarray | pd.Series, labels: Sequence | np.ndarray | pd.Series
) -> np.ndarray:
    """Rename each predicted cluster after the ground-truth domain it overlaps most, one-to-one.

    Returns (n,) str labels. The matching maximises the total overlap (Hungarian
    algorithm on the cluster x domain contingency table, annotated spots only).
    Clusters left without a domain (more clusters than domains) become
    ``"extra_<label>"``, distinct from every domain name.
    """
    from scipy.optimize import linear_sum_assignment

    truth_values = _as_labels(truth, "truth")
    predicted = _as_labels(labels, "labels").astype(str)
    _check_same_length(truth_values, predicted)
    keep = is_annotated(truth_values)
    table = pd.crosstab(predicted[keep], truth_values[keep].astype(str))
    clusters = np.unique(predicted)
    table = table.reindex(index=clusters, fill_value=0)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    mapping = {table.index[r]: str(table.columns[c]) for r, c in zip(rows, cols, strict=True)}
    taken = set(table.columns.astype(str))
    for cluster in clusters:
        if cluster not in mapping:
            name = f"extra_{cluster}"
            while name in taken:
                name += "'"
            mapping[cluster] = name
            taken.add(name)
    return np.array([mapping[label] for label in predicted], dtype=str)


def attention_by_domain(
    attention: np.ndarray,
    modality_names: Sequence[str],
    domains: Sequence | np.ndarray | pd.Series,
) -> pd.DataFrame:
    """Mean attention weight of each modality within each domain, as a tidy table.

    attention: (n, M) per-spot weights; modality_names: M names; domains: (n,) labels
    (spots with a missing domain are left out). Returns columns domain, modality,
    mean_weight, one row per (domain, modality).
    """
    weights = np.asarray(attention, dtype=np.float64)
    names = [str(name) for name in modality_names]
    domain_values = _as_labels(domains, "domains")
    if weights.ndim != 2 or weights.shape[1] != len(names):
        raise InputDataError(
            f"attention must be (n_spots, {len(names)}) for modalities {names}; "
            f"got shape {weights.shape}."
        )
    _check_same_length(domain_values, weights)
    keep = is_annotated(domain_values)
    frame = pd.DataFrame(weights[keep], columns=names)
    frame["domain"] = domain_values[keep].astype(str)
    means = frame.groupby("domain", sort=True)[names].mean()
    tidy = means.reset_index().melt(id_vars="domain", var_name="modality", value_name="mean_weight")
    # Domains sorted, modalities in the order given.
    return tidy.sort_values("domain", kind="stable").reset_index(drop=True)
