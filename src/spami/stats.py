"""Is the reference method's score different from each other method's? Paired Wilcoxon tests.

Scores pair up on the same (dataset, seed) (or any ``pair_on`` columns); one
two-sided Wilcoxon signed-rank test per other method, Holm-adjusted across them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spami.errors import InputDataError

SCORE_COLUMNS = ("dataset", "method", "variant", "seed", "clustering", "metric", "value")
RESULT_COLUMNS = (
    "method",
    "reference",
    "metric",
    "clustering",
    "n_pairs",
    "mean_difference",
    "statistic",
    "p_value",
    "p_holm",
    "note",
)


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given); NaN entries stay NaN, uncounted."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def _wilcoxon(differences: np.ndarray) -> tuple[float, float, str]:
    from scipy.stats import wilcoxon

    if len(differences) < 2:
        return np.nan, np.nan, f"only {len(differences)} pair(s): no test"
    if np.all(differences == 0):
        return np.nan, np.nan, "all differences are zero: no test"
    result = wilcoxon(differences, alternative="two-sided", zero_method="wilcox")
    return float(result.statistic), float(result.pvalue), ""


def paired_wilcoxon(
    scores: pd.DataFrame,
    reference_method: str = "spami",
    metric: str = "ari",
    clustering: str = "leiden",
    pair_on: Sequence[str] = ("dataset", "seed"),
    variant: str | None = "default",
) -> pd.DataFrame:
    """Compare ``reference_method`` with every other method on one metric and clustering.

    scores: the tidy scores table (columns dataset, scenario, noise, method, variant,
    seed, clustering, metric, value). Rows are kept where metric, clustering and (unless
    ``variant`` is None) variant match; the reference and each other method are paired
    on ``pair_on``. Returns one row per other method with n_pairs, mean_difference
    (reference - other), the Wilcoxon statistic, two-sided p_value, Holm-adjusted
    p_holm and a note (why p is NaN: fewer than 2 pairs or all differences zero).
    """
    keys = list(pair_on)
    needed = set(keys) | {"method", "clustering", "metric", "value"}
    if variant is not None:
        needed.add("variant")
    missing = sorted(needed - set(scores.columns))
    if missing:
        raise InputDataError(
            f"The scores table lacks column(s) {missing}; it must be the tidy table with "
            f"columns {list(SCORE_COLUMNS)} (plus those named in pair_on)."
        )
    selected = scores[(scores["metric"] == metric) & (scores["clustering"] == clustering)]
    if variant is not None:
        selected = selected[selected["variant"] == variant]
    selected = selected.dropna(subset=["value"])
    duplicated = selected.duplicated(subset=[*keys, "method"], keep=False)
    if duplicated.any():
        example = selected.loc[duplicated, [*keys, "method"]].iloc[0].to_dict()
        raise InputDataError(
            f"Several {metric!r} scores share the pair key {example}; add the column that "
            "tells them apart (e.g. 'noise', 'scenario') to pair_on, or filter the table first."
        )
    if reference_method not in set(selected["method"]):
        raise InputDataError(
            f"No {metric!r} / {clustering!r} score of the reference method {reference_method!r}"
            f"{'' if variant is None else f' (variant {variant!r})'}; methods present: "
            f"{sorted(set(selected['method']))}."
        )
    reference = selected[selected["method"] == reference_method].set_index(keys)["value"]
    rows = []
    for method, group in selected[selected["method"] != reference_method].groupby("method"):
        other = group.set_index(keys)["value"]
        paired = pd.concat(
            [reference.rename("reference"), other.rename("other")], axis=1, join="inner"
        )
        differences = (paired["reference"] - paired["other"]).to_numpy(dtype=np.float64)
        statistic, p_value, note = _wilcoxon(differences)
        rows.append(
            {
                "method": method,
                "reference": reference_method,
                "metric": metric,
                "clustering": clustering,
                "n_pairs": len(differences),
                "mean_difference": float(differences.mean()) if len(differences) else np.nan,
                "statistic": statistic,
                "p_value": p_value,
                "note": note,
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if c != "p_holm"])
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy())
    return table[list(RESULT_COLUMNS)]
