"""The benchmark's figures, one function per kind of paper panel; each returns a Figure.

| function | paper figure |
|---|---|
| domain_maps | Fig 2A, 3D, 4D, 6C, 7D: domains of each method on the tissue, beside the truth |
| embedding_umaps | Fig 2B, 7E: UMAP of each method's embedding, coloured by domain |
| metric_vs_noise | Fig 2C: ARI/AMI/NMI/homogeneity against the noise level |
| ablation_bars | Fig 2D, S1 Fig I: SpaMI with a component removed |
| metric_bars | Fig 3B, 4B, 7C: the four clustering metrics per method |
| morans_boxplots | Fig 3C, 4C, 6B, 7B: per-cluster Moran's I per method |
| denoising_maps | Fig 3E, 4E, 6D: normalized input vs SpaMI's reconstruction of marker genes |
| single_vs_integrated_maps | Fig 3F, 4F, 6F: SpaMI on one modality vs on all |
| attention_by_domain_plot | mean modality attention per domain (SpaMI's fusion weights) |
| diagnosis_figure | SpaMI's modality use: partition ARI per embedding, attention, loss terms |
| cost_plot | seconds and peak memory per method and dataset size (S1 Table B) |

Figures are built on ``matplotlib.figure.Figure`` (no pyplot, no global state) and drawn
by Agg; their size depends only on the number of panels (constrained layout, no tight
bounding box), so a PNG is ``figsize * dpi`` pixels. ``save_figure`` writes PNG for the
report and SVG for print. Cluster labels are matched to the ground truth with
``spami.metrics.hungarian_match`` so that a domain has one colour in every panel.
"""

from __future__ import annotations

import functools
import math
import re
import textwrap
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spami.atomic import atomic_path
from spami.errors import InputDataError
from spami.metrics import hungarian_match, is_annotated

DPI = 150
PANEL = 2.6  # inches per map panel
LEGEND_WIDTH = 1.7  # inches reserved right of the panels for a shared legend
STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
    "svg.fonttype": "none",  # text stays text in SVG (editable for print)
}
SUPERVISED_METRICS = ("ari", "ami", "nmi", "homogeneity")
METRIC_LABELS = {
    "ari": "ARI",
    "ami": "AMI",
    "nmi": "NMI",
    "homogeneity": "Homogeneity",
    "morans_i_median": "Moran's I (median)",
}
METHOD_LABELS = {
    "spami": "SpaMI",
    "spami_reference": "SpaMI (authors' code)",
    "spatialglue": "SpatialGlue",
    "mofa": "MOFA+",
    "seurat": "Seurat WNN",
    "pca_concat": "PCA (concatenated)",
    "smoothing": "Spatial smoothing",
    "positive_control": "Positive control",
    "random_control": "Random control",
}
METHOD_COLOURS = {
    "spami": "#d62728",
    "spami_reference": "#ff9896",
    "spatialglue": "#1f77b4",
    "mofa": "#2ca02c",
    "seurat": "#9467bd",
    "pca_concat": "#ff7f0e",
    "smoothing": "#8c564b",
    "positive_control": "#7f7f7f",
    "random_control": "#bcbd22",
}
VARIANT_ORDER = (
    "default",
    "no_cosine",
    "no_contrastive",
    "concat",
    "rna_only",
    "other_only",
    "shuffled",
)
VARIANT_LABELS = {
    "default": "full model",
    "no_cosine": "w/o cosine loss",
    "no_contrastive": "w/o contrastive loss",
    "concat": "concatenation, no attention",
    "rna_only": "RNA only",
    "other_only": "other modality only",
    "shuffled": "shuffled coordinates",
    "robust": "robust preset",
}
VARIANT_COLOURS = {  # one colour per variant name in every ablation figure (Set2 hues)
    "default": "#66c2a5",
    "no_cosine": "#fc8d62",
    "no_contrastive": "#8da0cb",
    "concat": "#e78ac3",
    "rna_only": "#a6d854",
    "other_only": "#ffd92f",
    "robust": "#e5c494",
    "shuffled": "#b3b3b3",  # grey: the negative control
}
UNMATCHED = "#b0b0b0"


# ---------------------------------------------------------------- names, orders and colours


def method_label(method: str, variant: str = "default") -> str:
    """Display name of a method (and its variant unless 'default'): 'SpaMI (no_cosine)'."""
    name = METHOD_LABELS.get(method, method)
    return name if variant == "default" else f"{name} ({variant})"


def _rank(order: Sequence[str], item: str) -> tuple[int, str]:
    return (order.index(item) if item in order else len(order), item)


def ordered_methods(methods: Sequence[str]) -> list[str]:
    """Distinct methods, SpaMI first, then the published methods, baselines, controls."""
    return sorted(set(methods), key=lambda m: _rank(list(METHOD_COLOURS), m))


def ordered_variants(variants: Sequence[str]) -> list[str]:
    """Distinct variants, the full model first, then the paper's ablations."""
    return sorted(set(variants), key=lambda v: _rank(VARIANT_ORDER, v))


def run_sort_key(method: str, variant: str = "default") -> tuple:
    """Sort key of a (method, variant): methods as ordered_methods, variants as ordered_variants."""
    return (_rank(list(METHOD_COLOURS), method), _rank(VARIANT_ORDER, variant))


def method_colours(methods: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per known method; others take tab10 colours in order."""
    spare = iter(matplotlib.colormaps["tab10"].colors[::-1] * 3)
    return {m: METHOD_COLOURS.get(m) or next(spare) for m in ordered_methods(methods)}


def variant_colours(variants: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per variant name; other names take a tab10 colour chosen by the name
    alone, so a variant has the same colour in every figure whichever others it sits with."""
    spare = matplotlib.colormaps["tab10"].colors
    return {
        v: VARIANT_COLOURS.get(v) or spare[zlib.crc32(v.encode()) % len(spare)]
        for v in ordered_variants(variants)
    }


def natural_sorted(labels: Sequence[Any]) -> list[str]:
    """Distinct labels as str, numbers in numeric order ('2' before '10')."""
    return sorted(
        {str(label) for label in labels},
        key=lambda s: [
            (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s)
        ],
    )


def domain_palette(domains: Sequence[str], extras: Sequence[str] = ()) -> dict[str, Any]:
    """Colours of ground-truth domains (tab20, then more hues) and greys for unmatched clusters."""
    domains = natural_sorted(domains)
    base = list(matplotlib.colormaps["tab20"].colors)
    if len(domains) > len(base):
        hsv = matplotlib.colormaps["hsv"]
        base += [hsv(i / (len(domains) - len(base) + 1)) for i in range(len(domains) - len(base))]
    palette = dict(zip(domains, base, strict=False))
    extras = [e for e in natural_sorted(extras) if e not in palette]
    for i, extra in enumerate(extras):
        palette[extra] = str(0.35 + 0.5 * i / max(1, len(extras)))  # greys, dark to light
    return palette


# ---------------------------------------------------------------- figure helpers


def _styled(func: Callable[..., Figure]) -> Callable[..., Figure]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def _grid(n_panels: int, max_cols: int) -> tuple[int, int]:
    n_cols = max(1, min(n_panels, max_cols))
    return math.ceil(max(1, n_panels) / n_cols), n_cols


def _message(ax: Any, text: str, title: str = "") -> None:
    """An empty panel saying why there is nothing to draw."""
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    ax.text(0.5, 0.5, textwrap.fill(text, 36), ha="center", va="center", fontsize=7, wrap=True)


@_styled
def message_figure(text: str, title: str = "", size: tuple[float, float] = (4.0, 3.0)) -> Figure:
    """A figure holding only a message (no data for this panel: say why)."""
    fig = Figure(figsize=size, layout="constrained")
    _message(fig.add_subplot(), text, title)
    return fig


def save_figure(fig: Figure, *paths: str | Path, dpi: int = DPI) -> None:
    """Write ``fig`` to each path atomically, in the format its suffix names (png, svg, pdf)."""
    with matplotlib.rc_context(STYLE):
        for path in paths:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")


def _spot_size(n_spots: int, panel_inches: float = PANEL) -> float:
    """Marker area (pt^2) so that n spots on a square-ish layout tile a panel."""
    side = panel_inches * 72 * 0.85 / math.sqrt(max(1, n_spots))
    return float(np.clip(side**2, 0.5, 60.0))


def _legend_handles(palette: Mapping[str, Any], labels: Sequence[str]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="s", linestyle="", color=palette[label], label=label, markersize=6)
        for label in labels
    ]


# ---------------------------------------------------------------- spatial maps


def _as_str_labels(labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    values = np.asarray(labels, dtype=object)
    keep = is_annotated(values)
    out = np.full(len(values), "", dtype=object)
    out[keep] = values[keep].astype(str)
    return out


def _draw_map(ax: Any, coords: np.ndarray, labels: np.ndarray, palette: Mapping, title: str):
    colours = [palette.get(label, UNMATCHED) if label else "#ffffff" for label in labels]
    ax.scatter(
        coords[:, 0], coords[:, 1], c=colours, s=_spot_size(len(labels)), marker="s", linewidths=0
    )
    ax.set_aspect("equal")
    ax.invert_yaxis()  # image convention: y grows downwards, as in scanpy's spatial plots
    ax.set_axis_off()
    ax.set_title(title)


@_styled
def spatial_label_maps(
    coords: np.ndarray,
    panels: Mapping[str, Sequence[Any] | np.ndarray | str],
    truth: Sequence[Any] | np.ndarray | None = None,
    *,
    title: str = "",
    max_cols: int = 5,
) -> Figure:
    """Maps of spot labels on (n, 2) ``coords``, the ground truth first, colours matched.

    panels: title -> (n,) cluster labels, or a str saying why there are none (failed).
    Each panel's clusters are renamed after the ground-truth domain they overlap most
    (Hungarian matching); without a ground truth, after the first panel's clusters.
    """
    coords = np.asarray(coords, dtype=float)
    drawn: dict[str, np.ndarray | str] = {}
    reference = None
    if truth is not None and is_annotated(truth).any():
        reference = _as_str_labels(truth)
        drawn["Ground truth"] = reference
    for name, labels in panels.items():
        if isinstance(labels, str):
            drawn[name] = labels
            continue
        labels = np.asarray(labels, dtype=object).astype(str)
        if len(labels) != len(coords):
            raise InputDataError(
                f"{name}: {len(labels)} labels for {len(coords)} spots; one label per spot."
            )
        if reference is None:
            reference = labels
        drawn[name] = hungarian_match(reference, labels)
    if reference is None:
        return message_figure("No labels to draw: every method failed.", title)
    domains = natural_sorted(reference[reference != ""])
    extras = {
        label
        for labels in drawn.values()
        if not isinstance(labels, str)
        for label in labels
        if label and label not in domains
    }
    palette = domain_palette(domains, sorted(extras))

    n_rows, n_cols = _grid(len(drawn), max_cols)
    fig = Figure(
        figsize=(n_cols * PANEL + LEGEND_WIDTH, n_rows * PANEL + 0.4), layout="constrained"
    )
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (name, labels) in zip(axes, drawn.items(), strict=False):
        if isinstance(labels, str):
            _message(ax, labels, name)
        else:
            _draw_map(ax, coords, labels, palette, name)
    for ax in axes[len(drawn) :]:
        ax.set_axis_off()
    legend = domains + (["unmatched clusters"] if extras else [])
    palette = {**palette, "unmatched clusters": UNMATCHED}
    fig.legend(
        handles=_legend_handles(palette, legend[:40]),
        loc="outside right upper",
        title="Domain",
        ncols=1 if len(legend) <= 20 else 2,
    )
    if title:
        fig.suptitle(title)
    return fig


def domain_maps(
    coords: np.ndarray,
    labels: Mapping[str, Sequence[Any] | np.ndarray | str],
    truth: Sequence[Any] | np.ndarray | None = None,
    *,
    title: str = "Spatial domains",
) -> Figure:
    """Domains found by each method (title -> (n,) labels or a failure note) beside the truth.

    Paper Fig 2A, 3D, 4D, 6C, 7D. Clusters are matched to the ground-truth domains, so a
    domain has the same colour in every panel.
    """
    return spatial_label_maps(coords, labels, truth, title=title)


def single_vs_integrated_maps(
    coords: np.ndarray,
    labels: Mapping[str, Sequence[Any] | np.ndarray | str],
    truth: Sequence[Any] | np.ndarray | None = None,
    *,
    title: str = "SpaMI on one modality and on all",
) -> Figure:
    """Domains of SpaMI trained on each modality alone and on all of them (Fig 3F, 4F, 6F).

    labels: panel title ('RNA only', 'ADT only', 'RNA + ADT') -> (n,) cluster labels.
    """
    return spatial_label_maps(coords, labels, truth, title=title, max_cols=4)


# ---------------------------------------------------------------- UMAP


def umap_coordinates(embedding: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """(n, d) embedding -> (n, 2) UMAP (scanpy: kNN graph on the embedding, then umap)."""
    import anndata as ad
    import scanpy as sc

    values = np.asarray(embedding, dtype=np.float32)
    adata = ad.AnnData(np.zeros((len(values), 1), dtype=np.float32))
    adata.obsm["embedding"] = values
    sc.pp.neighbors(
        adata, use_rep="embedding", n_neighbors=min(n_neighbors, len(values) - 1), random_state=seed
    )
    sc.tl.umap(adata, random_state=seed)
    return np.asarray(adata.obsm["X_umap"])


@_styled
def embedding_umaps(
    embeddings: Mapping[str, np.ndarray | str],
    colour_by: Sequence[Any] | np.ndarray | None = None,
    *,
    seed: int = 0,
    reducer: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str = "Embeddings (UMAP)",
    max_cols: int = 4,
) -> Figure:
    """UMAP of each method's (n, d) embedding, coloured by ``colour_by`` (the ground truth).

    Paper Fig 2B, 7E. embeddings: title -> (n, d) array, or a str saying why there is none.
    reducer: (n, d) -> (n, 2); defaults to :func:`umap_coordinates` with ``seed``.
    """
    reducer = reducer or functools.partial(umap_coordinates, seed=seed)
    n_rows, n_cols = _grid(len(embeddings), max_cols)
    fig = Figure(
        figsize=(n_cols * PANEL + LEGEND_WIDTH, n_rows * PANEL + 0.4), layout="constrained"
    )
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    labels = _as_str_labels(colour_by) if colour_by is not None else None
    palette = domain_palette(labels[labels != ""]) if labels is not None else {}
    for ax, (name, embedding) in zip(axes, embeddings.items(), strict=False):
        if isinstance(embedding, str):
            _message(ax, embedding, name)
            continue
        points = reducer(np.asarray(embedding))
        colours = (
            [palette.get(label, UNMATCHED) for label in labels] if labels is not None else "0.3"
        )
        ax.scatter(points[:, 0], points[:, 1], c=colours, s=3, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_title(name)
    for ax in axes[len(embeddings) :]:
        ax.set_axis_off()
    if palette:
        fig.legend(
            handles=_legend_handles(palette, list(palette)[:40]),
            loc="outside right upper",
            title="Domain",
            ncols=1 if len(palette) <= 20 else 2,
        )
    fig.suptitle(title)
    return fig


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
    ax.set_xticks(range(len(groups)), [METRIC_LABELS.get(g, g) for g in groups])
    ax.axhline(0, color="k", linewidth=0.5)


def _lost_runs(rows: pd.DataFrame, scenario_names: bool) -> str:
    """Where a method's runs gave no value: 'failed on 1 of 3 seeds at noise 2'; '' if none.

    rows: one method's rows (columns scenario, noise, seed, value, status).
    """
    parts = []
    for (scenario, noise), level in rows.groupby(["scenario", "noise"], sort=True):
        seeds = level["seed"].nunique()
        ran = level.loc[level["value"].notna(), "seed"].nunique()
        if ran < seeds:
            where = f"{scenario} noise {noise:g}" if scenario_names else f"noise {noise:g}"
            status = failure_status(level[level["value"].isna()])
            parts.append(f"{status} on {seeds - ran} of {seeds} seeds at {where}")
    return "; ".join(parts)


def _noise_legend_label(rows: pd.DataFrame, scenario_names: bool) -> str:
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
    metrics: Sequence[str] = SUPERVISED_METRICS,
) -> Figure:
    """Each metric against the noise level: one line per method (mean over seeds, ±sd band).

    Paper Fig 2C. scores: the tidy scores table (columns scenario, noise, method, variant,
    seed, clustering, metric, value, status); one row of panels per scenario, one column
    per metric. A method that failed or does not apply keeps its legend entry, with its
    status; one that lost runs says at which noise level (the line breaks where none ran).
    """
    table = _selected(scores, clustering=clustering, metrics=metrics, variant=variant)
    table = table.dropna(subset=["noise"])
    if table["value"].notna().sum() == 0:
        return message_figure(f"No {clustering} scores at several noise levels.", "Noise sweep")
    table = table.assign(scenario=table["scenario"].fillna("dataset").astype(str))
    scenarios = natural_sorted(table["scenario"])
    colours = method_colours(table["method"])
    fig = Figure(
        figsize=(len(metrics) * 2.4 + LEGEND_WIDTH + 0.6, len(scenarios) * 2.2 + 0.4),
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
                stats = values.groupby("noise")["value"].agg(["mean", "std"]).reindex(levels)
                spread = stats["std"].fillna(0)
                ax.plot(stats.index, stats["mean"], marker="o", ms=3, color=colour)
                low, high = stats["mean"] - spread, stats["mean"] + spread
                ax.fill_between(stats.index, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.set_title(f"{scenario}: {METRIC_LABELS.get(metric, metric)}")
            ax.set_xlabel("noise (sd of the Gaussian noise)")
            if c == 0:
                ax.set_ylabel(f"score ({clustering})")
    fig.legend(
        handles=_noise_legend(table, colours, len(scenarios) > 1),
        loc="outside right upper",
        title="Method",
    )
    return fig


def _noise_legend(table: pd.DataFrame, colours: Mapping[str, Any], scenario_names: bool):
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
    metrics: Sequence[str] = SUPERVISED_METRICS,
) -> Figure:
    """SpaMI's variants (full model and ablations) side by side, one panel per noise level.

    Paper Fig 2D and S1 Fig I. Bars: mean over seeds (and datasets), error bars: sd, dots:
    single runs; each variant has its colour of ``variant_colours`` in every figure. A
    variant without any value is named in the legend with its status.
    """
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
    fig = Figure(
        figsize=(len(noises) * max(3.0, 0.25 * len(variants) * len(metrics)) + LEGEND_WIDTH, 2.8),
        layout="constrained",
    )
    axes = fig.subplots(1, len(noises), squeeze=False, sharey="row").ravel()
    for ax, noise in zip(axes, noises, strict=True):
        rows = table if pd.isna(noise) else table[table["noise"] == noise]
        _grouped_bars(ax, rows, list(metrics), variants, "variant", colours, labels)
        ax.set_title(f"{method_label(method)}" + ("" if pd.isna(noise) else f", noise {noise:g}"))
    axes[0].set_ylabel(f"score ({clustering})")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", title="Variant")
    return fig


@_styled
def metric_bars(
    scores: pd.DataFrame,
    *,
    clustering: str = "leiden",
    variant: str = "default",
    metrics: Sequence[str] = SUPERVISED_METRICS,
    title: str = "",
) -> Figure:
    """Grouped bars of ARI, AMI, NMI and homogeneity per method (mean ± sd over seeds).

    Paper Fig 3B, 4B, 7C. A method without values (failed, not applicable) is named in
    the legend with its status.
    """
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
        figsize=(max(4.0, 0.22 * len(methods) * len(metrics) + 1) + LEGEND_WIDTH, 3.0),
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
    fig = Figure(figsize=(max(3.5, 0.55 * len(methods) + 1.2), 3.2), layout="constrained")
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
            ax.text(i, 0.5, missing[method], rotation=90, color="0.4", fontsize=7, **where)
    names = [method_label(m) + (f" ({missing[m]})" if m in missing else "") for m in methods]
    ax.set_xticks(range(1, len(methods) + 1), names, rotation=35, ha="right")
    ax.set_xlim(0.4, len(methods) + 0.6)
    ax.set_ylabel(f"Moran's I per {clustering} cluster")
    ax.set_title(title or "Spatial coherence of clusters")
    return fig


# ---------------------------------------------------------------- denoising


def marker_genes(
    expression: np.ndarray,
    gene_names: Sequence[str],
    groups: Sequence[Any] | np.ndarray,
    *,
    n_per_group: int = 1,
) -> list[str]:
    """Top differentially expressed gene(s) of each group (scanpy, Wilcoxon), without repeats.

    expression: (n, g) log-normalized values; groups: (n,) labels (missing ones left out);
    groups with fewer than 2 spots are skipped. Genes in natural group order.
    """
    import anndata as ad
    import scanpy as sc

    labels = _as_str_labels(groups)
    keep = labels != ""
    counts = pd.Series(labels[keep]).value_counts()
    usable = [g for g in natural_sorted(counts.index) if counts[g] >= 2]
    if len(usable) < 2:
        return []
    keep &= np.isin(labels, usable)
    adata = ad.AnnData(
        np.asarray(expression, dtype=np.float32)[keep],
        obs=pd.DataFrame(
            {"group": pd.Categorical(labels[keep], categories=usable)},
            index=pd.Index(np.flatnonzero(keep).astype(str)),
        ),
        var=pd.DataFrame(index=pd.Index([str(g) for g in gene_names])),
    )
    sc.tl.rank_genes_groups(adata, "group", method="wilcoxon", n_genes=n_per_group + 20)
    ranked = adata.uns["rank_genes_groups"]["names"]
    chosen: list[str] = []
    for group in usable:
        fresh = [g for g in ranked[group] if g not in chosen]
        chosen.extend(str(g) for g in fresh[:n_per_group])
    return chosen


def reconstruction_modality(mdata: Any, key: str = "spami_reconstruction_genes") -> str:
    """Name of the modality holding SpaMI's reconstruction in gene space (``obsm[key]``)."""
    for name, adata in mdata.mod.items():
        if key in adata.obsm and key in adata.uns:
            return name
    raise InputDataError(
        f"No modality has obsm[{key!r}] with uns[{key!r}] gene names: this file holds no "
        "SpaMI reconstruction (SpaMI failed, or ran without an RNA modality)."
    )


def _value_map(ax: Any, coords: np.ndarray, values: np.ndarray, title: str, fig: Figure) -> None:
    low, high = np.nanpercentile(values, [1, 99]) if len(values) else (0, 1)
    points = ax.scatter(
        coords[:, 0],
        coords[:, 1],
        c=values,
        cmap="viridis",
        vmin=low,
        vmax=max(high, low + 1e-9),
        s=_spot_size(len(values)),
        marker="s",
        linewidths=0,
    )
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_axis_off()
    ax.set_title(title)
    fig.colorbar(points, ax=ax, shrink=0.7, pad=0.01)


@_styled
def denoising_maps(
    mdata: Any,
    genes: Sequence[str] | None = None,
    *,
    domains: Sequence[Any] | np.ndarray | None = None,
    max_genes: int = 6,
    key: str = "spami_reconstruction_genes",
) -> Figure:
    """Normalized input (top) and SpaMI's reconstruction (bottom) of marker genes on the tissue.

    Paper Fig 3E, 4E, 6D. mdata: an integrated SpaMI MuData (raw counts and
    ``obsm[key]``, the decoder output mapped back to log-normalized gene space, on the RNA
    modality). genes: markers to show (those not reconstructed are dropped); by default the
    top Wilcoxon DE gene of each domain (``domains``, else ``obs['ground_truth']``).
    """
    from spami.data import counts_matrix, spatial_coordinates
    from spami.preprocess import log_normalize

    name = reconstruction_modality(mdata, key)
    adata = mdata.mod[name]
    gene_names = [str(g) for g in adata.uns[key]]
    columns = pd.Index(adata.var_names.astype(str)).get_indexer(gene_names)
    if (columns < 0).any():
        raise InputDataError(f"Reconstructed genes missing from {name}.var_names.")
    normalized = log_normalize(_as_csr(counts_matrix(adata)))[:, columns].toarray()
    reconstructed = np.asarray(adata.obsm[key], dtype=float)
    chosen = [g for g in (genes or []) if g in gene_names]
    if not chosen:
        if domains is None and "ground_truth" in mdata.obs:
            domains = mdata.obs["ground_truth"].to_numpy(dtype=object)
        if domains is None:
            raise InputDataError(
                "No marker genes given and no domains to find them: pass genes or domains."
            )
        chosen = marker_genes(normalized, gene_names, domains)
    chosen = chosen[:max_genes]
    if not chosen:
        return message_figure("No marker gene found (fewer than two domains).", "Denoising")
    coords = spatial_coordinates(mdata)
    index = {g: i for i, g in enumerate(gene_names)}
    fig = Figure(figsize=(len(chosen) * PANEL, 2 * PANEL + 0.4), layout="constrained")
    axes = fig.subplots(2, len(chosen), squeeze=False)
    for c, gene in enumerate(chosen):
        _value_map(axes[0, c], coords, normalized[:, index[gene]], f"{gene}: input", fig)
        _value_map(axes[1, c], coords, reconstructed[:, index[gene]], f"{gene}: SpaMI", fig)
    fig.suptitle("Normalized expression (top) and SpaMI's reconstruction (bottom)")
    return fig


def _as_csr(matrix: Any) -> Any:
    import scipy.sparse as sp

    return sp.csr_matrix(matrix, dtype=np.float32)


# ---------------------------------------------------------------- attention and cost


@_styled
def attention_by_domain_plot(attention: pd.DataFrame, *, title: str = "") -> Figure:
    """Mean attention weight of each modality per domain (mean ± sd over seeds).

    attention: tidy table with columns domain, modality, mean_weight (and seed); the dashed
    line marks equal weights (1 / number of modalities).
    """
    table = attention.dropna(subset=["mean_weight"])
    table = table.assign(domain=table["domain"].astype(str), modality=table["modality"].astype(str))
    if table.empty:
        return message_figure("No attention weights (SpaMI failed or ran on one modality).")
    domains = natural_sorted(table["domain"])
    modalities = list(dict.fromkeys(table["modality"].astype(str)))
    stats = table.groupby(["domain", "modality"])["mean_weight"].agg(["mean", "std"])
    colours = dict(zip(modalities, matplotlib.colormaps["Dark2"].colors, strict=False))
    width = max(3.5, 0.4 * len(domains) * len(modalities) + 1.5)
    fig = Figure(figsize=(width, 3.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(modalities)
    for j, modality in enumerate(modalities):
        rows = stats.xs(modality, level="modality").reindex(domains)
        xs = np.arange(len(domains)) - 0.4 + width * (j + 0.5)
        ax.bar(
            xs,
            rows["mean"],
            width=width,
            yerr=rows["std"].fillna(0),
            capsize=1.5,
            color=colours[modality],
            label=modality,
        )
    ax.axhline(1 / len(modalities), color="k", linestyle="--", linewidth=0.7)
    ax.set_xticks(range(len(domains)), domains, rotation=45 if len(domains) > 8 else 0)
    ax.set_xlabel(f"domain ({table['domain_source'].iloc[0]})" if "domain_source" in table else "")
    ax.set_ylabel("mean attention weight")
    ax.set_ylim(0, 1)
    ax.set_title(title or "SpaMI attention per domain")
    ax.legend(title="Modality", loc="upper right")
    return fig


DIAGNOSIS_ANNOTATIONS = ("ground_truth", "partition_a", "partition_b")


def _embedding_order(names: Sequence[str]) -> list[str]:
    """'integrated' first, then the modality embeddings (Z:rna first) in the order given."""
    names = list(dict.fromkeys(str(n) for n in names))
    return sorted(
        names,
        key=lambda n: (n != "integrated", n != "Z:rna", names.index(n)),
    )


def _ari_heatmap(ax: Any, rows: pd.DataFrame) -> Any:
    """Leiden ARI of each embedding (rows) against each annotation (columns), in the cells."""
    annotations = [a for a in DIAGNOSIS_ANNOTATIONS if a in set(rows["annotation"])]
    annotations += [a for a in dict.fromkeys(rows["annotation"]) if a not in annotations]
    table = rows.pivot_table(index="embedding", columns="annotation", values="ari", aggfunc="mean")
    table = table.reindex(index=_embedding_order(rows["embedding"]), columns=annotations)
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        text = "–" if np.isnan(value) else f"{value:.2f}"
        colour = "k" if not np.isnan(value) and value > 0.6 else "w"
        ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(len(annotations)), [a.replace("_", " ") for a in annotations])
    ax.set_yticks(range(len(table.index)), list(table.index))
    ax.tick_params(length=0)
    return image


def _attention_bars(ax: Any, rows: pd.DataFrame, colours: Mapping[str, Any]) -> None:
    """Mean attention weight of each modality per ground-truth domain (one bar per modality)."""
    domains = natural_sorted(rows["group"])
    modalities = list(dict.fromkeys(rows["modality"].astype(str)))
    weights = rows.assign(group=rows["group"].astype(str), modality=rows["modality"].astype(str))
    weights = weights.pivot_table(index="group", columns="modality", values="mean_weight")
    width = 0.8 / max(1, len(modalities))
    for j, modality in enumerate(modalities):
        xs = np.arange(len(domains)) - 0.4 + width * (j + 0.5)
        ax.bar(
            xs,
            weights[modality].reindex(domains),
            width=width,
            color=colours[modality],
            label=modality,
        )
    ax.axhline(1 / max(1, len(modalities)), color="k", linestyle="--", linewidth=0.7)
    ax.set_xticks(range(len(domains)), domains, rotation=45 if len(domains) > 8 else 0)
    ax.set_xlabel("ground-truth domain")
    ax.set_ylabel("mean attention weight")
    ax.set_ylim(0, 1)


def _loss_curves(ax: Any, rows: pd.DataFrame, colours: Mapping[str, Any]) -> None:
    """Each loss term against the epoch, log y (non-positive values left out)."""
    for term, of_term in rows.groupby("term", sort=False):
        of_term = of_term[of_term["value"] > 0].sort_values("epoch")
        ax.plot(of_term["epoch"], of_term["value"], color=colours[term], label=term, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")


@_styled
def diagnosis_figure(
    scores: pd.DataFrame,
    attention: pd.DataFrame,
    history: pd.DataFrame,
    *,
    notes: Mapping[str, str] | None = None,
    title: str = "SpaMI's use of each modality",
) -> Figure:
    """What SpaMI learned from each modality, one column per variant, three rows of panels.

    (a) Leiden ARI of the integrated embedding and of each modality's own Z against the
    ground truth and each partition; (b) mean attention weight of each modality per
    ground-truth domain (dashed: equal weights); (c) the loss terms over the epochs (log y).
    The tables are those of ``spami.diagnosis.diagnosis_tables`` (each with a 'variant'
    column); notes: variant -> why it is missing (written below the panels).
    """
    variants = list(dict.fromkeys(scores["variant"].astype(str))) if len(scores) else []
    notes = dict(notes or {})
    if not variants:
        text = "No run to diagnose." + "".join(f" {v}: {n}." for v, n in notes.items())
        return message_figure(text, title)
    n = len(variants)
    fig = Figure(figsize=(max(5.0, 3.4 * n + 1.0), 8.2 + 0.4 * bool(notes)), layout="constrained")
    heights = [2.4, 2.6, 2.6] + ([0.4] if notes else [])
    subfigs = fig.subfigures(len(heights), 1, height_ratios=heights)
    labels = (
        "a  Leiden ARI of each embedding against each annotation",
        "b  Mean attention weight per ground-truth domain",
        "c  Loss terms during training",
    )
    for subfig, label in zip(subfigs, labels, strict=False):
        subfig.suptitle(label, x=0.01, ha="left", fontsize=9)
    modalities = list(dict.fromkeys(attention["modality"].astype(str))) if len(attention) else []
    modality_colours = dict(zip(modalities, matplotlib.colormaps["Dark2"].colors, strict=False))
    terms = list(dict.fromkeys(history["term"].astype(str))) if len(history) else []
    term_colours = dict(zip(terms, matplotlib.colormaps["tab10"].colors, strict=False))
    rows_a = subfigs[0].subplots(1, n, squeeze=False)[0]
    rows_b = subfigs[1].subplots(1, n, squeeze=False, sharey=True)[0]
    rows_c = subfigs[2].subplots(1, n, squeeze=False)[0]
    image = None
    for variant, ax_a, ax_b, ax_c in zip(variants, rows_a, rows_b, rows_c, strict=True):
        name = f"SpaMI {variant}"
        image = _ari_heatmap(ax_a, scores[scores["variant"].astype(str) == variant])
        ax_a.set_title(name)
        rows = attention[
            (attention["variant"].astype(str) == variant)
            & (attention["annotation"] == "ground_truth")
        ]
        if rows.empty:
            _message(ax_b, "No attention weights (concatenation or one modality).", name)
        else:
            _attention_bars(ax_b, rows, modality_colours)
            ax_b.set_title(name)
        rows = history[history["variant"].astype(str) == variant]
        if rows.empty:
            _message(ax_c, "No loss history.", name)
        else:
            _loss_curves(ax_c, rows, term_colours)
            ax_c.set_title(name)
    if image is not None:
        subfigs[0].colorbar(image, ax=list(rows_a), label="ARI", shrink=0.9)
    for subfig, axes, legend_title in (
        (subfigs[1], rows_b, "Modality"),
        (subfigs[2], rows_c, "Loss term"),
    ):
        handles, names = [], []
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in names:
                    handles.append(handle)
                    names.append(label)
        if handles:
            subfig.legend(handles, names, loc="outside right upper", title=legend_title)
    if notes:
        text = "Not shown: " + "; ".join(f"{v} ({n})" for v, n in notes.items())
        subfigs[3].text(0.01, 0.5, textwrap.shorten(text, 300), ha="left", va="center", fontsize=7)
    fig.suptitle(title)
    return fig


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
    fig = Figure(figsize=(2 * width + LEGEND_WIDTH, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
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
