"""Scores of a clustering against annotations (scikit-learn's), and label helpers.

- supervised_scores: ARI, AMI, NMI and homogeneity against the ground truth.
- hungarian_match: rename predicted clusters after the domain they overlap most.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fastspami.errors import InputDataError
from fastspami.metrics import registry


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
    """Every registered supervised metric (ARI, AMI, NMI, homogeneity, ...) of (n,)
    predicted ``labels`` against (n,) ``truth``, as {name: value}.

    Spots without a ground-truth label are left out. Homogeneity is
    ``homogeneity_score(truth, labels)``: 1 when every cluster holds one domain only.
    """
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
        name: registry.get_metric(name).compute(truth_kept, predicted_kept)
        for name in registry.supervised_metrics()
    }


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
