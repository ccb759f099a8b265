"""Score figures: metrics against noise, ablation and metric bars, Moran's I box plots."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami.methods.registry import VARIANT_LABELS, method_label
from fastspami.metrics.registry import metric_label, supervised_metrics
from fastspami.pl.style import (
    LEGEND_WIDTH,
    _grid,
    _styled,
    message_figure,
    method_colours,
    natural_sorted,
    ordered_methods,
    ordered_variants,
    variant_colours,
)

# ---------------------------------------------------------------- score plots


def _selected(
    scores: pd.DataFrame,
    *,
    clustering: str | None = None,
    metrics: Sequence[str] | None = None,
    variant: str | None = None,
    method: str | None = None,
) -> pd.DataFrame:
    """Rows of a tidy scores table matching every filter given."""
    keep = pd.Series(True, index=scores.index)
    if clustering is not None:
        keep &= scores["clustering"] == clustering
    if metrics is not None:
        keep &= scores["metric"].isin(metrics)
    if variant is not None:
        keep &= scores["variant"] == variant
    if method is not None:
        keep &= scores["method"] == method
    return scores[keep]


def failure_status(rows: pd.DataFrame) -> str:
    """'failed' / 'not_applicable' / ... of rows without a value (the most common status)."""
    if "status" not in rows or rows["status"].dropna().empty:
        return "no value"
    statuses = rows.loc[rows["status"] != "ok", "status"].dropna()
    return statuses.mode().iloc[0] if len(statuses) else "no value"


def _grouped_bars(
    ax: Any,
    table: pd.DataFrame,
    groups: Sequence[str],
    hues: Sequence[str],
    hue_column: str,
    colours: Mapping[str, Any],
    labels: Mapping[str, str],
) -> None:
    """Bars of mean ``value`` per (metric group, hue), sd error bars, one dot per run."""
    width = 0.8 / max(1, len(hues))
    for j, hue in enumerate(hues):
        rows = table[table[hue_column] == hue]
        xs, means, sds = [], [], []
        for i, group in enumerate(groups):
            values = rows.loc[rows["metric"] == group, "value"].dropna().to_numpy(dtype=float)
            x = i - 0.4 + width * (j + 0.5)
            if len(values):
                xs.append(x)
                means.append(values.mean())
                sds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
                ax.scatter(np.full(len(values), x), values, s=4, color="k", zorder=3)
        ax.bar(
            xs,
            means,
            width=width,
            yerr=sds,
            color=colours[hue],
            label=labels[hue],
            capsize=1.5,
            error_kw={"elinewidth": 0.6},
        )
    ax.set_xticks(range(len(groups)), [metric_label(g) for g in groups])
    ax.axhline(0, color="k", linewidth=0.5)


def _lost_runs(rows: pd.DataFrame, scenario_names: Mapping[str, str] | None) -> str:
    """Where a method's runs gave no value: 'failed on 1 of 3 seeds at noise 2'; '' if none.

    rows: one method's rows (columns scenario, noise, seed, value, status);
    scenario_names: {scenario: label} where the figure shows several scenarios, else None.
    """
    parts = []
    for (scenario, noise), level in rows.groupby(["scenario", "noise"], sort=True):
        seeds = level["seed"].nunique()
        ran = level.loc[level["value"].notna(), "seed"].nunique()
        if ran < seeds:
            where = f"noise {noise:g}"
            if scenario_names is not None:
                where = f"{scenario_names.get(scenario, scenario)} {where}"
            status = failure_status(level[level["value"].isna()])
            parts.append(f"{status} on {seeds - ran} of {seeds} seeds at {where}")
    return "; ".join(parts)


def _noise_legend_label(rows: pd.DataFrame, scenario_names: Mapping[str, str] | None) -> str:
    """A method's legend entry: its name, with its status where any run gave no value."""
    name = method_label(str(rows["method"].iloc[0]))
    if rows["value"].isna().all():
        return f"{name}: {failure_status(rows)}"
    lost = _lost_runs(rows, scenario_names)
    return textwrap.fill(f"{name}: {lost}", 34) if lost else name


@_styled
def metric_vs_noise(
    scores: pd.DataFrame,
    *,
    clustering: str = "leiden",
    variant: str = "default",
    metrics: Sequence[str] | None = None,
    scenario_labels: Mapping[str, str] | None = None,
    title: str = "",
) -> Figure:
    """Each metric against the noise level: one line per method (mean, ±sd band over the data
    draws, each draw's seeds averaged first; over the seeds where a level has one draw).

    Paper Fig 2C. scores: the tidy scores table (columns scenario, noise, method, variant,
    seed, clustering, metric, value, status); one row of panels per scenario, one column
    per metric. A method that failed or does not apply keeps its legend entry, with its
    status; one that lost runs says at which noise level (the line breaks where none ran).
    scenario_labels: {scenario: its name for the reader} (default: the scenario's key);
    title: above the panels (default: the scenario's name where there is one scenario).
    """
    metrics = supervised_metrics() if metrics is None else tuple(metrics)
    table = _selected(scores, clustering=clustering, metrics=metrics, variant=variant)
    table = table.dropna(subset=["noise"])
    if table["value"].notna().sum() == 0:
        return message_figure(f"No {clustering} scores at several noise levels.", "Noise sweep")
    table = table.assign(scenario=table["scenario"].fillna("dataset").astype(str))
    scenarios = natural_sorted(table["scenario"])
    names = {s: (scenario_labels or {}).get(s, s) for s in scenarios}
    colours = method_colours(table["method"])
    fig = Figure(
        figsize=(len(metrics) * 2.6 + LEGEND_WIDTH + 0.8, len(scenarios) * 2.7 + 0.5),
        layout="constrained",
    )
    axes = fig.subplots(len(scenarios), len(metrics), squeeze=False, sharey="row")
    for r, scenario in enumerate(scenarios):
        of_scenario = table[table["scenario"] == scenario]
        levels = sorted(of_scenario["noise"].unique())
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            rows = of_scenario[of_scenario["metric"] == metric]
            for method, colour in colours.items():
                values = rows[rows["method"] == method].dropna(subset=["value"])
                if values.empty:
                    continue
                if "dataset" in values and values.groupby("noise")["dataset"].nunique().max() > 1:
                    # several data draws per level: each draw's seeds averaged first
                    values = values.groupby(["noise", "dataset"], as_index=False)["value"].mean()
                stats = values.groupby("noise")["value"].agg(["mean", "std"]).reindex(levels)
                spread = stats["std"].fillna(0)
                ax.plot(stats.index, stats["mean"], marker="o", ms=3, color=colour)
                low, high = stats["mean"] - spread, stats["mean"] + spread
                ax.fill_between(stats.index, low, high, color=colour, alpha=0.15, linewidth=0)
            several = len(scenarios) > 1
            ax.set_title(
                f"{names[scenario]}: {metric_label(metric)}" if several else metric_label(metric)
            )
            ax.set_xlabel("noise sd")
            if c == 0:
                ax.set_ylabel(f"score ({clustering})")
    fig.legend(
        handles=_noise_legend(table, colours, names if len(scenarios) > 1 else None),
        loc="outside right upper",
        title="Method",
    )
    heading = title or (names[scenarios[0]] if len(scenarios) == 1 else "")
    if heading:
        fig.suptitle(heading)
    return fig


def _noise_legend(
    table: pd.DataFrame, colours: Mapping[str, Any], scenario_names: Mapping[str, str] | None
):
    """Legend handles of metric_vs_noise: a line per method, dotted for one without values."""
    from matplotlib.lines import Line2D

    handles = []
    for method, colour in colours.items():
        rows = table[table["method"] == method]
        drawn = rows["value"].notna().any()
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker="o" if drawn else "",
                ms=3,
                linestyle="-" if drawn else ":",
                label=_noise_legend_label(rows, scenario_names),
            )
        )
    return handles


@_styled
def ablation_bars(
    scores: pd.DataFrame,
    *,
    method: str = "spami",
    clustering: str = "leiden",
    metrics: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """SpaMI's variants (full model and ablations) side by side, one panel per noise level.

    Paper Fig 2D and S1 Fig I. Bars: mean over seeds (and datasets), error bars: sd, dots:
    single runs; each variant has its colour of ``variant_colours`` in every figure. A
    variant without any value is named in the legend with its status. Panels wrap into
    rows so that the figure stays about 12 inches wide.
    """
    metrics = supervised_metrics() if metrics is None else tuple(metrics)
    table = _selected(scores, clustering=clustering, metrics=metrics, method=method)
    if table.empty:
        return message_figure(f"No {clustering} scores of {method}.", "Ablation")
    table = table.assign(noise=table["noise"] if "noise" in table else np.nan)
    noises = sorted(table["noise"].dropna().unique()) or [np.nan]
    variants = ordered_variants(table["variant"])
    colours = variant_colours(variants)
    labels = {}
    for variant in variants:
        rows = table[table["variant"] == variant]
        name = VARIANT_LABELS.get(variant, variant)
        labels[variant] = name if rows["value"].notna().any() else f"{name}: {failure_status(rows)}"
    panel = max(3.2, 0.17 * len(variants) * len(metrics) + 0.6)
    n_rows, n_cols = _grid(len(noises), max(1, int(10.5 // panel)))
    fig = Figure(
        figsize=(n_cols * panel + LEGEND_WIDTH + 0.4, n_rows * 3.0 + 0.5), layout="constrained"
    )
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    for ax, noise in zip(axes, noises, strict=False):
        rows = table if pd.isna(noise) else table[table["noise"] == noise]
        _grouped_bars(ax, rows, list(metrics), variants, "variant", colours, labels)
        ax.set_title(
            f"{method_label(method)}" + ("" if pd.isna(noise) else f", noise sd {noise:g}")
        )
    for ax in axes[len(noises) :]:
        ax.set_axis_off()
    for ax in axes[::n_cols]:
        ax.set_ylabel(f"score ({clustering})")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", title="Variant")
    if title:
        fig.suptitle(title)
    return fig


@_styled
def metric_bars(
    scores: pd.DataFrame,
    *,
    clustering: str = "leiden",
    variant: str = "default",
    metrics: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Grouped bars of ARI, AMI, NMI and homogeneity per method (mean ± sd over seeds).

    Paper Fig 3B, 4B, 7C. A method without values (failed, not applicable) is named in
    the legend with its status.
    """
    metrics = supervised_metrics() if metrics is None else tuple(metrics)
    table = _selected(scores, clustering=clustering, metrics=metrics, variant=variant)
    if table["value"].notna().sum() == 0:
        return message_figure(
            "No supervised scores: the dataset has no ground truth, or every method failed.",
            title or "Clustering metrics",
        )
    methods = ordered_methods(table["method"])
    labels = {}
    for method in methods:
        rows = table[table["method"] == method]
        name = method_label(method)
        labels[method] = name if rows["value"].notna().any() else f"{name}: {failure_status(rows)}"
    fig = Figure(
        figsize=(max(4.5, 0.2 * len(methods) * len(metrics) + 1.2) + LEGEND_WIDTH, 3.6),
        layout="constrained",
    )
    ax = fig.add_subplot()
    _grouped_bars(ax, table, list(metrics), methods, "method", method_colours(methods), labels)
    ax.set_ylabel(f"score ({clustering}, mean ± sd over seeds)")
    ax.set_title(title or "Clustering metrics")
    fig.legend(loc="outside right upper", title="Method")
    return fig


def _morans_values(
    morans: pd.DataFrame, scores: pd.DataFrame | None, clustering: str, variant: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Moran's I per method ({method: values}, in method order) and why a method has none
    ({method: status}): the methods of ``morans`` and, when given, of ``scores``."""
    table = _selected(morans, clustering=clustering, variant=variant)
    runs = (
        _selected(scores, clustering=clustering, variant=variant)
        if scores is not None
        else pd.DataFrame(columns=["method", "value"])
    )
    values, missing = {}, {}
    for method in ordered_methods([*table["method"], *runs["method"]]):
        of_method = table.loc[table["method"] == method, "morans_i"].dropna()
        values[method] = of_method.to_numpy(dtype=float)
        if of_method.empty:
            missing[method] = failure_status(runs[runs["method"] == method])
    return values, missing


@_styled
def morans_boxplots(
    morans: pd.DataFrame,
    *,
    clustering: str = "leiden",
    variant: str = "default",
    title: str = "",
    scores: pd.DataFrame | None = None,
) -> Figure:
    """Box plots of each cluster's Moran's I per method (all seeds pooled).

    Paper Fig 3C, 4C, 6B, 7B. morans: the tidy table (method, variant, seed, clustering,
    cluster, morans_i). Higher: clusters are spatially compact. scores: the tidy scores
    table of the same dataset; with it, a method without clusters (failed, not applicable)
    keeps an empty slot labelled with its status (the Moran's I table has no row for it).
    """
    values, missing = _morans_values(morans, scores, clustering, variant)
    if len(missing) == len(values):
        names = "; ".join(f"{method_label(m)}: {why}" for m, why in missing.items())
        text = f"No Moran's I of {clustering} clusters" + (f" ({names})." if names else ".")
        return message_figure(text, title or "Moran's I")
    methods = list(values)
    colours = method_colours(methods)
    fig = Figure(figsize=(max(4.0, 0.6 * len(methods) + 1.4), 4.0), layout="constrained")
    ax = fig.add_subplot()
    drawn = [i for i, m in enumerate(methods, start=1) if m not in missing]
    boxes = ax.boxplot(
        [values[methods[i - 1]] for i in drawn],
        positions=drawn,
        patch_artist=True,
        widths=0.6,
        showfliers=False,
    )
    for box, i in zip(boxes["boxes"], drawn, strict=True):
        box.set_facecolor(colours[methods[i - 1]])
        box.set_alpha(0.6)
    jitter = np.random.default_rng(0)
    for i in drawn:
        v = values[methods[i - 1]]
        ax.scatter(i + jitter.uniform(-0.15, 0.15, len(v)), v, s=4, color="k", zorder=3)
    for i, method in enumerate(methods, start=1):
        if method in missing:
            where = {"transform": ax.get_xaxis_transform(), "ha": "center", "va": "center"}
            ax.text(i, 0.5, missing[method], rotation=90, color="0.4", fontsize=9, **where)
    names = [method_label(m) + (f" ({missing[m]})" if m in missing else "") for m in methods]
    ax.set_xticks(range(1, len(methods) + 1), names, rotation=35, ha="right")
    ax.set_xlim(0.4, len(methods) + 0.6)
    ax.set_ylabel(f"Moran's I per {clustering} cluster")
    ax.set_title(title or "Spatial coherence of clusters")
    return fig
