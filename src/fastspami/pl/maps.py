"""Spatial maps and UMAPs of domains and clusters, and the denoising maps (reconstructed
marker genes beside the normalized input)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami.errors import InputDataError
from fastspami.metrics.supervised import hungarian_match, is_annotated, supervised_scores
from fastspami.pl.style import (
    LEGEND_WIDTH,
    PANEL,
    UNMATCHED,
    _grid,
    _legend_handles,
    _message,
    _spot_size,
    _styled,
    domain_palette,
    message_figure,
    natural_sorted,
    scored_title,
)

DENOISING_PANEL = 2.3  # inches: six markers (two rows of maps) stay within a page's width

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


def clustering_ari(truth: Sequence[Any] | np.ndarray | None, labels: Sequence[Any]) -> float | None:
    """ARI of (n,) ``labels`` against (n,) ``truth`` (unannotated spots left out, as the
    benchmark scores them); None without a ground truth of two domains or more."""
    if truth is None:
        return None
    kept = _as_str_labels(truth)
    if len(set(kept[kept != ""])) < 2:
        return None
    return float(supervised_scores(kept, np.asarray(labels, dtype=object).astype(str))["ari"])


@_styled
def spatial_label_maps(
    coords: np.ndarray,
    panels: Mapping[str, Sequence[Any] | np.ndarray | str],
    truth: Sequence[Any] | np.ndarray | None = None,
    *,
    title: str = "",
    max_cols: int = 4,
    show_ari: bool = True,
) -> Figure:
    """Maps of spot labels on (n, 2) ``coords``, the ground truth first, colours matched.

    panels: title -> (n,) cluster labels, or a str saying why there are none (failed).
    Each panel's clusters are renamed after the ground-truth domain they overlap most
    (Hungarian matching); without a ground truth, after the first panel's clusters.
    show_ari: with a ground truth, each panel's title gives its ARI ('SpaMI · ARI 0.91').
    """
    coords = np.asarray(coords, dtype=float)
    drawn: dict[str, np.ndarray | str] = {}
    reference = None
    annotated = truth is not None and is_annotated(truth).any()
    if annotated:
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
        ari = clustering_ari(truth, labels) if show_ari and annotated else None
        drawn[scored_title(name, ari)] = hungarian_match(reference, labels)
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
    domain has the same colour in every panel; each panel's title gives its ARI.
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

    labels: panel title ('RNA only', 'protein only', 'RNA + protein') -> (n,) cluster labels.
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
    ari: Mapping[str, float | None] | None = None,
) -> Figure:
    """UMAP of each method's (n, d) embedding, coloured by ``colour_by`` (the ground truth).

    Paper Fig 2B, 7E. embeddings: title -> (n, d) array, or a str saying why there is none.
    reducer: (n, d) -> (n, 2); defaults to :func:`umap_coordinates` with ``seed``.
    ari: title -> the ARI of that run's clustering, given in the panel's title.
    """
    ari = ari or {}
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
        ax.scatter(points[:, 0], points[:, 1], c=colours, s=5, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_title(scored_title(name, ari.get(name)))
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
    from fastspami.data.contract import counts_matrix, spatial_coordinates
    from fastspami.pp.preprocess import log_normalize

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
    fig = Figure(
        figsize=(len(chosen) * DENOISING_PANEL, 2 * DENOISING_PANEL + 0.5), layout="constrained"
    )
    axes = fig.subplots(2, len(chosen), squeeze=False)
    for c, gene in enumerate(chosen):
        _value_map(axes[0, c], coords, normalized[:, index[gene]], f"{gene}: input", fig)
        _value_map(axes[1, c], coords, reconstructed[:, index[gene]], f"{gene}: SpaMI", fig)
    fig.suptitle("Normalized expression (top) and SpaMI's reconstruction (bottom)")
    return fig


def _as_csr(matrix: Any) -> Any:
    import scipy.sparse as sp

    return sp.csr_matrix(matrix, dtype=np.float32)
