"""Computational cost: seconds and peak memory per method and dataset size."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami.methods.registry import method_label
from fastspami.pl.style import (
    LEGEND_WIDTH,
    _styled,
    message_figure,
    run_sort_key,
)


@_styled
def cost_plot(cost: pd.DataFrame, *, title: str = "Computational cost") -> Figure:
    """Wall seconds (log scale) and peak memory of each method, per dataset size.

    cost: one row per integration job with method, variant, s, max_rss_mb, status and
    n_spots (else dataset); bars: mean over jobs, error bars: sd. Failed jobs are left out.
    """
    table = cost[cost["status"] == "ok"] if "status" in cost else cost
    if table.empty:
        return message_figure("No finished integration job.", title)
    size = "n_spots" if "n_spots" in table and table["n_spots"].notna().all() else "dataset"
    pairs = sorted(
        table[["method", "variant"]].drop_duplicates().itertuples(index=False),
        key=lambda p: run_sort_key(p.method, p.variant),
    )
    runs = [method_label(p.method, p.variant) for p in pairs]
    table = table.assign(
        run=[method_label(m, v) for m, v in zip(table["method"], table["variant"], strict=True)]
    )
    sizes = sorted(table[size].unique())
    shades = matplotlib.colormaps["viridis"](np.linspace(0.15, 0.85, len(sizes)))
    colours = dict(zip(sizes, shades, strict=True))
    width = max(4.0, 0.3 * len(runs) * len(sizes) + 1.0)
    if width <= 6.0:  # side by side
        fig = Figure(figsize=(2 * width + LEGEND_WIDTH, 4.2), layout="constrained")
        axes = fig.subplots(1, 2)
    else:  # one above the other, so that the figure stays within a page's width
        fig = Figure(figsize=(min(width, 12.0) + LEGEND_WIDTH, 8.0), layout="constrained")
        axes = fig.subplots(2, 1)
    bar = 0.8 / len(sizes)
    panels = (("s", "seconds"), ("max_rss_mb", "peak memory (MB)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        stats = table.groupby(["run", size])[column].agg(["mean", "std"])
        for j, value in enumerate(sizes):
            rows = stats.xs(value, level=size).reindex(runs)
            xs = np.arange(len(runs)) - 0.4 + bar * (j + 0.5)
            name = f"{value:,}" if size == "n_spots" else str(value)
            ax.bar(
                xs,
                rows["mean"],
                width=bar,
                yerr=rows["std"].fillna(0),
                capsize=1.5,
                color=colours[value],
                label=name,
            )
        ax.set_xticks(range(len(runs)), runs, rotation=45, ha="right")
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    handles, names = axes[0].get_legend_handles_labels()
    legend_title = "spots" if size == "n_spots" else "dataset"
    fig.legend(handles, names, loc="outside right upper", title=legend_title)
    fig.suptitle(title)
    return fig
