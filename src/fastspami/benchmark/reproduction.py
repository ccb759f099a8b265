"""Reproduction panel: our faithful SpaMI against the authors' own code, score and cost.

Ours is method ``spami`` variant ``default`` (the paper's model), theirs
``spami_reference`` (:mod:`fastspami.methods.spami_reference`: their PyPI package). From the
workflow's ``scores.csv`` and ``cost.csv`` of one run:

- :func:`paired_scores`: per dataset and seed, both methods' score (ARI of Leiden by
  default) where both succeeded;
- :func:`reproduction_table`: per group (a simulated scenario, else the real dataset) and
  over all of them: both means, the paired mean difference ours - theirs with its 95 %
  t confidence interval over datasets (the data draws: each dataset's seeds are averaged
  first, so seeds of one dataset are not counted as independent), and each method's mean
  seconds and peak memory per integration (``cost.csv``: the same runs);
- :func:`reproduction_blocks` (the table as a document) and :func:`reproduction_figure`
  (scatter with the identity line, the differences with their intervals, the cost).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami import pl
from fastspami.benchmark.report import Block, cost_columns, format_mean_sd, ok_rows
from fastspami.methods.registry import get_method, method_label
from fastspami.metrics.registry import metric_label
from fastspami.pl.style import STYLE

OURS = ("spami", "default")
THEIRS = ("spami_reference", "default")
CONFIDENCE = 0.95
TABLE_COLUMNS = [
    "group",
    "n_datasets",
    "n_pairs",
    "ours_mean",
    "theirs_mean",
    "mean_difference",
    "ci_low",
    "ci_high",
    "ours_s",
    "theirs_s",
    "ours_max_rss_mb",
    "theirs_max_rss_mb",
]
PAIR_COLUMNS = ["group", "dataset", "seed", "ours", "theirs"]


def _group(table: pd.DataFrame) -> pd.Series:
    """A dataset's group: its simulated scenario, else the dataset itself."""
    scenario = table["scenario"] if "scenario" in table else pd.Series(np.nan, index=table.index)
    return scenario.where(scenario.notna() & scenario.astype(str).ne(""), table["dataset"]).astype(
        str
    )


def _runs_of(table: pd.DataFrame, run: tuple[str, str]) -> pd.DataFrame:
    return table[(table["method"] == run[0]) & (table["variant"] == run[1])]


def paired_scores(
    scores: pd.DataFrame, metric: str = "ari", clustering: str = "leiden"
) -> pd.DataFrame:
    """(group, dataset, seed, ours, theirs): one row per dataset and seed where both ran."""
    rows = scores[(scores["metric"] == metric) & (scores["clustering"] == clustering)]
    rows = rows[ok_rows(rows) & rows["value"].notna()]
    keys = ["dataset", "seed"]
    ours = _runs_of(rows, OURS).set_index(keys)["value"].rename("ours")
    theirs = _runs_of(rows, THEIRS).set_index(keys)["value"].rename("theirs")
    both = pd.concat([ours, theirs], axis=1, join="inner").reset_index()
    first = rows.drop_duplicates("dataset")
    group_of = dict(zip(first["dataset"], _group(first), strict=True))
    both.insert(0, "group", [group_of[d] for d in both["dataset"]])
    return both[PAIR_COLUMNS].astype({"ours": float, "theirs": float})


def mean_difference_ci(differences: Sequence[float], confidence: float = CONFIDENCE) -> tuple:
    """(mean, low, high) of ``differences`` (one per dataset) with a t interval; the
    interval is NaN with fewer than two datasets."""
    from scipy import stats

    values = np.asarray(differences, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
    half /= math.sqrt(values.size)
    return mean, mean - half, mean + half


def _cost_means(cost: pd.DataFrame, datasets: Sequence[str]) -> dict[str, float]:
    """Mean seconds and memory (MB) per successful integration of each method on
    ``datasets``: the method's own call and its peak above its process's start where the
    cost table has them (:func:`fastspami.benchmark.report.cost_columns`)."""
    seconds, memory = cost_columns(cost)
    cost = cost[cost["dataset"].astype(str).isin(list(datasets)) & ok_rows(cost)]
    out = {}
    for name, run in (("ours", OURS), ("theirs", THEIRS)):
        runs = _runs_of(cost, run)
        out[f"{name}_s"] = float(runs[seconds].mean()) if len(runs) else math.nan
        out[f"{name}_max_rss_mb"] = float(runs[memory].mean()) if len(runs) else math.nan
    return out


def reproduction_table(pairs: pd.DataFrame, cost: pd.DataFrame) -> pd.DataFrame:
    """Per group and over all groups ('all'): means, paired difference with its CI, cost."""
    rows = []
    parts = [(str(g), p) for g, p in pairs.groupby("group", sort=True)]
    if len(parts) > 1 or not parts:
        parts.append(("all", pairs))
    for group, part in parts:
        per_dataset = part.groupby("dataset")[["ours", "theirs"]].mean()
        mean, low, high = mean_difference_ci(per_dataset["ours"] - per_dataset["theirs"])
        rows.append(
            {
                "group": group,
                "n_datasets": len(per_dataset),
                "n_pairs": len(part),
                "ours_mean": per_dataset["ours"].mean(),
                "theirs_mean": per_dataset["theirs"].mean(),
                "mean_difference": mean,
                "ci_low": low,
                "ci_high": high,
                **_cost_means(cost, per_dataset.index),
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _number(value: float, digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _group_label(group: str, labels: Mapping[str, str] | None) -> str:
    """A group's name for the reader: its label where given; 'all' as 'all datasets'."""
    return "all datasets" if group == "all" else (labels or {}).get(group, group)


def reproduction_blocks(
    table: pd.DataFrame,
    metric: str = "ari",
    clustering: str = "leiden",
    labels: Mapping[str, str] | None = None,
) -> list[Block]:
    """The reproduction table as document blocks; labels: {group: its name for the reader}
    (scenario and dataset labels)."""
    name = metric_label(metric)
    ours, theirs = method_label(*OURS), method_label(*THEIRS)
    blocks: list[Block] = [
        ("h1", f"Reproduction: {ours} against {theirs}"),
        (
            "p",
            f"{name} of {clustering} clusterings of both methods on the same datasets and seeds "
            f"(pairs where both ran). Difference: {ours} minus {theirs}, mean over datasets "
            f"with its {CONFIDENCE:.0%} t confidence interval (each dataset's seeds averaged "
            "first: the interval is over data draws). Seconds and peak memory: mean per "
            "integration of the same runs (cost.csv).",
        ),
    ]
    if table.empty or not table["n_pairs"].sum():
        return [*blocks, ("p", "No dataset where both methods ran.")]
    header = ["Scenario or dataset", "Datasets", "Pairs", f"{ours} {name}", f"{theirs} {name}",
              "Difference (95 % CI)", "Seconds (ours / theirs)", "Peak MB (ours / theirs)"]  # fmt: skip
    rows = []
    for _, row in table.iterrows():
        ci = f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if math.isfinite(row["ci_low"]) else ""
        rows.append(
            [
                _group_label(str(row["group"]), labels),
                str(row["n_datasets"]),
                str(row["n_pairs"]),
                format_mean_sd(row["ours_mean"], math.nan),
                format_mean_sd(row["theirs_mean"], math.nan),
                f"{_number(row['mean_difference'], 3)}{ci}",
                f"{_number(row['ours_s'], 1)} / {_number(row['theirs_s'], 1)}",
                f"{_number(row['ours_max_rss_mb'], 0)} / {_number(row['theirs_max_rss_mb'], 0)}",
            ]
        )
    return [*blocks, ("table", header, rows)]


def reproduction_figure(
    pairs: pd.DataFrame,
    table: pd.DataFrame,
    metric: str = "ari",
    *,
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Scatter of ours against theirs (identity line), the differences with their CIs, cost.

    labels: {group: its name for the reader} (scenario and dataset labels)."""
    with matplotlib.rc_context(STYLE):
        return _reproduction_figure(pairs, table, metric, title, labels)


def _reproduction_figure(
    pairs: pd.DataFrame,
    table: pd.DataFrame,
    metric: str,
    title: str,
    labels: Mapping[str, str] | None,
) -> Figure:
    ours, theirs = method_label(*OURS), method_label(*THEIRS)
    name = metric_label(metric)
    title = title or f"Reproduction: {ours} vs {theirs}"
    if pairs.empty:
        return pl.message_figure(f"No dataset where both {ours} and {theirs} ran.", title)
    pairs = pairs.assign(group=[_group_label(str(g), labels) for g in pairs["group"]])
    table = table.assign(group=[_group_label(str(g), labels) for g in table["group"]])
    fig = Figure(figsize=(13.0, 4.4), layout="constrained")
    ax_scatter, ax_diff, ax_s, ax_mb = fig.subplots(1, 4)
    groups = sorted(pairs["group"].unique())
    colours = dict(zip(groups, matplotlib_cycle(len(groups)), strict=True))
    for group in groups:
        part = pairs[pairs["group"] == group]
        ax_scatter.scatter(part["theirs"], part["ours"], s=18, color=colours[group], label=group)
    low = min(0.0, pairs[["ours", "theirs"]].min().min())
    ax_scatter.plot([low, 1], [low, 1], color="grey", lw=0.8, ls="--", label="identity")
    ax_scatter.set(xlabel=f"{theirs} {name}", ylabel=f"{ours} {name}", aspect="equal")
    ax_scatter.legend(fontsize=8)

    shown = table[table["n_pairs"] > 0].reset_index(drop=True)
    y = np.arange(len(shown))[::-1]
    for yi, (_, row) in zip(y, shown.iterrows(), strict=True):
        colour = colours.get(row["group"], "black")
        if math.isfinite(row["ci_low"]):
            ax_diff.plot([row["ci_low"], row["ci_high"]], [yi, yi], color=colour, lw=1.5)
        ax_diff.plot([row["mean_difference"]], [yi], "o", color=colour)
    ax_diff.axvline(0, color="grey", lw=0.8, ls="--")
    names = [f"{g} (n={n})" for g, n in zip(shown["group"], shown["n_datasets"], strict=True)]
    ax_diff.set_yticks(y, names)
    ax_diff.set_xlabel(f"{name}: ours - theirs ({CONFIDENCE:.0%} CI)")

    x = np.arange(len(shown))
    for ax, column, label in ((ax_s, "s", "seconds per integration"),
                              (ax_mb, "max_rss_mb", "peak memory (MB)")):  # fmt: skip
        ax.bar(x - 0.2, shown[f"ours_{column}"], 0.4, color=get_method("spami").colour,
               label=ours)  # fmt: skip
        ax.bar(x + 0.2, shown[f"theirs_{column}"], 0.4,
               color=get_method("spami_reference").colour, label=theirs)  # fmt: skip
        ax.set_xticks(x, shown["group"], rotation=30, ha="right")
        ax.set_ylabel(label)
    ax_s.set_yscale("log")
    ax_mb.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return fig


def matplotlib_cycle(n: int) -> list[Any]:
    """``n`` distinct tab10 colours."""
    import matplotlib

    colours = matplotlib.colormaps["tab10"].colors
    return [colours[i % len(colours)] for i in range(n)]
