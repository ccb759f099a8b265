"""Computational cost: seconds and memory of each method against the number of spots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami.methods.registry import method_label
from fastspami.pl.style import (
    LEGEND_WIDTH,
    _styled,
    message_figure,
    method_colours,
    run_sort_key,
)

MARKERS = "osD^vP*X"


@_styled
def cost_plot(
    cost: pd.DataFrame,
    *,
    title: str = "Computational cost",
    seconds: str = "method_s",
    memory: str = "peak_above_start_mb",
) -> Figure:
    """Seconds (left) and memory (right) of each method against spots, log-log: one line
    per method and variant (mean over runs, error bars sd), coloured by method.

    cost: one row per integration job with method, variant, status, n_spots and the
    ``seconds`` and ``memory`` columns (default: the method's own call and its peak above
    its process's start; ``s`` and ``max_rss_mb`` in older tables). Failed jobs are left out.
    """
    table = cost[cost["status"] == "ok"] if "status" in cost else cost
    seconds = seconds if seconds in table and table[seconds].notna().any() else "s"
    memory = memory if memory in table and table[memory].notna().any() else "max_rss_mb"
    if table.empty or "n_spots" not in table or table["n_spots"].isna().all():
        return message_figure("No finished integration job with a known size.", title)
    pairs = sorted(
        table[["method", "variant"]].drop_duplicates().itertuples(index=False),
        key=lambda p: run_sort_key(p.method, p.variant),
    )
    colours = method_colours([p.method for p in pairs])
    fig = Figure(figsize=(2 * 3.6 + LEGEND_WIDTH, 3.2), layout="constrained")
    axes = fig.subplots(1, 2)
    labels = {seconds: "seconds", memory: "memory (MB)"}
    if memory == "peak_above_start_mb":
        labels[memory] = "memory above the process's start (MB)"
    if seconds == "method_s":
        labels[seconds] = "seconds (the method's call)"
    variants_of: dict[str, int] = {}
    for pair in pairs:
        rows = table[(table["method"] == pair.method) & (table["variant"] == pair.variant)]
        marker = MARKERS[variants_of.setdefault(pair.method, 0) % len(MARKERS)]
        variants_of[pair.method] += 1
        for ax, column in zip(axes, (seconds, memory), strict=True):
            stats = rows.groupby("n_spots")[column].agg(["mean", "std"]).dropna(subset=["mean"])
            ax.errorbar(
                stats.index.to_numpy(float),
                stats["mean"].clip(lower=1e-3),
                yerr=stats["std"].fillna(0),
                marker=marker,
                ms=4,
                capsize=2,
                color=colours[pair.method],
                label=method_label(pair.method, pair.variant),
            )
    for ax, column in zip(axes, (seconds, memory), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spots")
        ax.set_ylabel(labels[column])
        sizes = np.sort(table["n_spots"].unique())
        ax.set_xticks(sizes, [f"{int(s):,}" for s in sizes])
        ax.minorticks_off()
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper")
    fig.suptitle(title)
    return fig
