"""Is the reference method's score different from each other method's? Paired Wilcoxon tests.

The paired units are data draws (or any ``pair_on`` columns), not runs. In the workflow each
simulated dataset is one independent data draw (its own data seed: ``fastspami.data.draws``) and a
real dataset is one draw of its own. Each method's scores are first averaged over its
successful seeds within a draw, because a draw's seeds share its data and deterministic
methods (MOFA+, Seurat) repeat one value every seed: seeds are not independent samples.
One two-sided Wilcoxon signed-rank test per other method on the draw means, Holm-adjusted
across the methods of the call (:func:`holm_adjust` again across every test a report shows
together: ``fastspami.benchmark.report.significance_table``). A draw both ran on where either side has no
successful run is left out and counted in the note.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fastspami.errors import InputDataError

SCORE_COLUMNS = ("dataset", "method", "variant", "seed", "clustering", "metric", "value")
RESULT_COLUMNS = (
    "method",
    "reference",
    "metric",
    "clustering",
    "n_pairs",  # draws where both methods have a mean
    "n_used",  # draws the test ranked: Wilcoxon drops pairs with a zero difference
    "n_excluded",  # draws left out: one of the two has no successful run there
    "mean_difference",
    "statistic",
    "p_value",
    "p_holm",
    "note",
)
STATUS_WORDS = {"not_applicable": "n/a"}


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


def smallest_p(n_pairs: int) -> float:
    """The smallest two-sided p an exact Wilcoxon signed-rank test of n pairs can give."""
    return min(1.0, 2.0 ** (1 - n_pairs)) if n_pairs > 0 else np.nan


def _failure(rows: pd.DataFrame) -> str:
    """Why rows have no usable value: their most common status other than ok."""
    statuses = rows["status"].dropna() if "status" in rows else pd.Series(dtype=object)
    statuses = statuses[statuses != "ok"]
    status = str(statuses.mode().iloc[0]) if len(statuses) else "no value"
    return STATUS_WORDS.get(status, status)


def dataset_means(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean of each method's successful runs per unit (``keys``): columns keys, method,
    mean (NaN without a successful run), n_runs (successful), n_failed, status ('ok', or
    why there is no mean: 'failed', 'n/a', ...)."""
    usable = rows["value"].notna()
    if "status" in rows:
        usable &= rows["status"].isna() | rows["status"].eq("ok")
    rows = rows.assign(usable=usable.to_numpy())
    out = []
    for key, group in rows.groupby([*keys, "method"], sort=False, dropna=False):
        good = group.loc[group["usable"], "value"].astype(float)
        out.append(
            {
                **dict(zip([*keys, "method"], key, strict=True)),
                "mean": good.mean() if len(good) else np.nan,
                "n_runs": len(good),
                "n_failed": len(group) - len(good),
                "status": "ok" if len(good) else _failure(group),
            }
        )
    columns = [*keys, "method", "mean", "n_runs", "n_failed", "status"]
    return pd.DataFrame(out, columns=columns)


def _wilcoxon(differences: np.ndarray) -> tuple[float, float, str]:
    """(statistic, two-sided p, note) of the non-zero differences; NaN with a note if < 2."""
    from scipy.stats import wilcoxon

    if len(differences) < 2:
        return np.nan, np.nan, f"only {len(differences)} pair(s): no test"
    used = differences[differences != 0]
    if len(used) == 0:
        return np.nan, np.nan, "all differences are zero: no test"
    if len(used) < 2:
        return np.nan, np.nan, f"only {len(used)} pair(s) with a difference: no test"
    result = wilcoxon(used, alternative="two-sided")
    ties = len(differences) - len(used)
    note = f"{ties} tied pair(s) (zero difference) dropped by the test" if ties else ""
    return float(result.statistic), float(result.pvalue), note


def _exclusion_note(reasons: Counter, n_units: int, n_pairs: int, unit: str = "draw") -> str:
    """'no test (mofa n/a on every draw)' or '2 of 6 draws left out: mofa n/a on 2'."""
    if not reasons:
        return ""
    if n_pairs == 0 and len(reasons) == 1:
        (method, why), _ = reasons.most_common(1)[0]
        return f"no test ({method} {why} on every {unit})"
    text = ", ".join(f"{method} {why} on {n}" for (method, why), n in reasons.most_common())
    if n_pairs == 0:
        return f"no test: no {unit} where both ran ({text})"
    return f"{n_units - n_pairs} of {n_units} {unit}s left out: {text}"


def _failed_runs_note(failed: Counter) -> str:
    """'means over successful seeds only (1 spami run failed)', on draws still paired."""
    if not failed:
        return ""
    text = ", ".join(f"{n} {method} run(s)" for method, n in failed.items())
    return f"means over successful seeds only ({text} failed)"


def _compare(
    reference: pd.DataFrame, other: pd.DataFrame, names: tuple[str, str], unit: str = "draw"
) -> dict:
    """Pair two methods' unit means (indexed by the unit keys) on the units both ran on
    (a draw a method was not run on is no pair to lose); counts, differences, notes."""
    joined = pd.concat([reference.add_prefix("r_"), other.add_prefix("o_")], axis=1, join="inner")
    paired = joined["r_mean"].notna() & joined["o_mean"].notna()
    reasons: Counter = Counter()
    for _, row in joined[~paired].iterrows():
        side = "r_" if pd.isna(row["r_mean"]) else "o_"  # the reference's reason first
        reasons[(names[side == "o_"], row[f"{side}status"])] += 1
    failed: Counter = Counter()
    for prefix, name in zip(("r_", "o_"), names, strict=True):
        lost = int(joined.loc[paired, f"{prefix}n_failed"].sum())
        if lost:
            failed[name] = lost
    both = joined[paired]
    differences = (both["r_mean"] - both["o_mean"]).to_numpy(dtype=np.float64)
    statistic, p_value, test_note = _wilcoxon(differences)
    notes = [
        _exclusion_note(reasons, len(joined), len(both), unit),
        _failed_runs_note(failed),
        test_note if len(both) else "",
    ]
    return {
        "n_pairs": len(both),
        "n_used": int(np.count_nonzero(differences)) if np.isfinite(p_value) else 0,
        "n_excluded": len(joined) - len(both),
        "mean_difference": float(differences.mean()) if len(differences) else np.nan,
        "statistic": statistic,
        "p_value": p_value,
        "note": "; ".join(n for n in notes if n),
    }


def paired_wilcoxon(
    scores: pd.DataFrame,
    reference_method: str = "spami",
    metric: str = "ari",
    clustering: str = "leiden",
    pair_on: Sequence[str] = ("dataset",),
    average_over: Sequence[str] = ("seed",),
    variant: str | None = "default",
    unit: str = "draw",
) -> pd.DataFrame:
    """Compare ``reference_method`` with every other method on one metric and clustering.

    scores: the tidy scores table (columns dataset, scenario, noise, method, variant,
    seed, clustering, metric, value, status). Rows are kept where metric, clustering and
    (unless ``variant`` is None) variant match. Each method's successful runs are averaged
    over ``average_over`` within each unit (``pair_on``); the reference and each other
    method are paired on the units where both have a mean (``unit`` names them in the notes:
    in the workflow's tables the 'dataset' column is the data draw). Returns one row per
    other method, also one that never ran successfully, with n_pairs, n_used (pairs with a
    non-zero difference, those the test ranks), n_excluded, mean_difference (reference - other),
    the Wilcoxon statistic, two-sided p_value, Holm-adjusted p_holm and a note (units left
    out and why, failed runs left out of the means, why p is NaN).
    """
    keys = list(pair_on)
    needed = set(keys) | set(average_over) | {"method", "clustering", "metric", "value"}
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
    run_keys = list(dict.fromkeys([*keys, *average_over, "method"]))
    duplicated = selected.duplicated(subset=run_keys, keep=False)
    if duplicated.any():
        example = selected.loc[duplicated, run_keys].iloc[0].to_dict()
        raise InputDataError(
            f"Several {metric!r} scores share the run key {example}; add the column that "
            "tells them apart (e.g. 'noise', 'scenario') to pair_on, or filter the table first."
        )
    if reference_method not in set(selected["method"]):
        raise InputDataError(
            f"No {metric!r} / {clustering!r} score of the reference method {reference_method!r}"
            f"{'' if variant is None else f' (variant {variant!r})'}; methods present: "
            f"{sorted(set(selected['method']))}."
        )
    means = dataset_means(selected, keys).set_index(keys)
    reference = means[means["method"] == reference_method].drop(columns="method")
    rows = []
    for method in sorted(set(means["method"]) - {reference_method}):
        other = means[means["method"] == method].drop(columns="method")
        compared = _compare(reference, other, (reference_method, method), unit)
        rows.append(
            {"method": method, "reference": reference_method, "metric": metric}
            | {"clustering": clustering, **compared}
        )
    table = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if c != "p_holm"])
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy())
    return table[list(RESULT_COLUMNS)]
