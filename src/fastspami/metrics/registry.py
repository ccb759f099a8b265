"""The one registry of metrics: label, supervised or not, direction, range, how to compute.

The score job computes every registered metric on every clustering (supervised ones only
where the dataset has a ground truth), and the report labels, orders and ranks them from
here. Adding a metric is one function and one ``register_metric`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastspami.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    """A registered metric of one clustering.

    supervised: computed against ``obs['ground_truth']`` as ``compute(truth, labels)`` on
    the annotated spots (both (n,) str arrays, at least two domains); otherwise computed over
    space as ``compute(coords, labels)`` with (n, 2) coordinates. higher_is_better: the
    direction in which the report ranks; bounds: the values it can take (lower, upper).
    """

    name: str
    label: str
    supervised: bool
    compute: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    bounds: tuple[float, float] = (0.0, 1.0)


_METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, *, replace_existing: bool = False) -> Metric:
    """Add ``metric`` to the registry (report order = registration order); return it."""
    low, high = metric.bounds
    if not low < high:
        raise ConfigError(f"metric {metric.name!r}: bounds {metric.bounds} must be (low, high).")
    if metric.name in _METRICS and not replace_existing and _METRICS[metric.name] != metric:
        raise ConfigError(f"a metric named {metric.name!r} is already registered.")
    _METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a metric (tests register toy metrics and take them away again)."""
    _METRICS.pop(name, None)


def registered_metrics() -> dict[str, Metric]:
    """{name: Metric} in report order."""
    return dict(_METRICS)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; a ConfigError lists the known names otherwise."""
    try:
        return _METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; registered: {sorted(_METRICS)}.") from None


def supervised_metrics() -> tuple[str, ...]:
    """Names of the metrics that need a ground truth, in report order."""
    return tuple(name for name, m in _METRICS.items() if m.supervised)


def spatial_metrics() -> tuple[str, ...]:
    """Names of the metrics computed over space without a ground truth."""
    return tuple(name for name, m in _METRICS.items() if not m.supervised)


def metric_label(name: str) -> str:
    """Display name of a metric ('ARI'); an unknown name is shown as it is."""
    known = _METRICS.get(name)
    return known.label if known else name


# -------------------------------------------------------------- the metrics shipped


def _sklearn(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def compute(truth: np.ndarray, labels: np.ndarray) -> float:
        from sklearn import metrics

        return float(getattr(metrics, name)(truth, labels))

    compute.__name__ = name
    return compute


def median_morans_i(coords: np.ndarray, labels: np.ndarray) -> float:
    """Median over clusters of Moran's I of each cluster's indicator (squidpy)."""
    from fastspami.metrics.spatial import morans_i_per_cluster

    return float(np.nanmedian(morans_i_per_cluster(coords, labels).to_numpy(dtype=float)))


for _metric in (
    # ARI is bounded below by -0.5 (Chacon & Rastrojo 2023); AMI can dip below 0 by chance.
    Metric("ari", "ARI", True, _sklearn("adjusted_rand_score"), bounds=(-0.5, 1.0)),
    Metric("ami", "AMI", True, _sklearn("adjusted_mutual_info_score"), bounds=(-1.0, 1.0)),
    Metric("nmi", "NMI", True, _sklearn("normalized_mutual_info_score")),
    Metric("homogeneity", "Homogeneity", True, _sklearn("homogeneity_score")),
    Metric("morans_i_median", "Moran's I (median)", False, median_morans_i, bounds=(-1.0, 1.0)),
):
    register_metric(_metric)
del _metric
