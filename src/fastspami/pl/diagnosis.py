"""How an attention-fusing method uses its modalities: attention per domain, and the
diagnosis figure (partition ARI per embedding, attention, loss terms)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fastspami.data.labels import modality_label
from fastspami.methods.registry import method_label
from fastspami.pl.style import (
    _message,
    _styled,
    message_figure,
    natural_sorted,
)

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
    width = max(4.5, 0.45 * len(domains) * len(modalities) + 2.0)
    fig = Figure(figsize=(width, 3.6), layout="constrained")
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
            label=modality_label(modality),
        )
    ax.axhline(1 / len(modalities), color="k", linestyle="--", linewidth=0.7)
    ax.set_xticks(range(len(domains)), domains, rotation=45 if len(domains) > 8 else 0)
    source = (
        str(table["domain_source"].iloc[0]).replace("_", " ") if "domain_source" in table else ""
    )
    ax.set_xlabel(f"domain ({source})" if source else "")
    ax.set_ylabel("mean attention weight")
    ax.set_ylim(0, 1)
    ax.set_title(title or "SpaMI attention per domain")
    ax.legend(title="Modality", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


DIAGNOSIS_ANNOTATIONS = ("ground_truth", "partition_a", "partition_b")


def other_modality(embeddings: Sequence[str]) -> str:
    """The reader's name of the modality beside RNA, from embedding names ('Z:adt')."""
    others = [str(e)[2:] for e in embeddings if str(e).startswith("Z:") and str(e) != "Z:rna"]
    return modality_label(others[0]) if len(others) == 1 else "the other modality"


def annotation_label(annotation: str, other: str = "the other modality") -> str:
    """What an annotation of a complementary simulation means to a reader: the ground truth
    is 'all domains'; 'partition_a' the domains RNA sees, 'partition_b' those ``other``
    (the other modality) sees."""
    names = {
        "ground_truth": "all domains",
        "partition_a": "domains RNA sees",
        "partition_b": f"domains {other} sees",
    }
    return names.get(annotation, annotation.replace("_", " "))


def embedding_label(embedding: str) -> str:
    """'integrated' as is; a modality's own embedding 'Z:adt' -> "protein's Z"."""
    text = str(embedding)
    return f"{modality_label(text[2:])}'s Z" if text.startswith("Z:") else text


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
        ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=10)
    other = other_modality(table.index)
    ax.set_xticks(
        range(len(annotations)),
        [annotation_label(a, other).replace(" sees", "\nsees") for a in annotations],
    )
    ax.set_yticks(range(len(table.index)), [embedding_label(e) for e in table.index])
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
            label=modality_label(modality),
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

    (a) Leiden ARI of the integrated embedding and of each modality's own Z against all
    domains and the domains each modality sees (partitions); (b) mean attention weight of each modality per
    ground-truth domain (dashed: equal weights); (c) the loss terms over the epochs (log y).
    The tables are those of ``fastspami.benchmark.diagnosis.diagnosis_tables`` (each with a 'variant'
    column); notes: variant -> why it is missing (written below the panels).
    """
    variants = list(dict.fromkeys(scores["variant"].astype(str))) if len(scores) else []
    notes = dict(notes or {})
    if not variants:
        text = "No run to diagnose." + "".join(f" {v}: {n}." for v, n in notes.items())
        return message_figure(text, title)
    n = len(variants)
    fig = Figure(figsize=(max(6.0, 4.2 * n + 2.0), 9.6 + 0.5 * bool(notes)), layout="constrained")
    heights = [2.8, 3.0, 3.0] + ([0.5] if notes else [])
    subfigs = fig.subfigures(len(heights), 1, height_ratios=heights)
    labels = (
        "a  Leiden ARI of each embedding against all domains and those each modality sees",
        "b  Mean attention weight per ground-truth domain",
        "c  Loss terms during training",
    )
    for subfig, label in zip(subfigs, labels, strict=False):
        subfig.suptitle(label, x=0.01, ha="left", fontsize=12)
    modalities = list(dict.fromkeys(attention["modality"].astype(str))) if len(attention) else []
    modality_colours = dict(zip(modalities, matplotlib.colormaps["Dark2"].colors, strict=False))
    terms = list(dict.fromkeys(history["term"].astype(str))) if len(history) else []
    term_colours = dict(zip(terms, matplotlib.colormaps["tab10"].colors, strict=False))
    rows_a = subfigs[0].subplots(1, n, squeeze=False)[0]
    rows_b = subfigs[1].subplots(1, n, squeeze=False, sharey=True)[0]
    rows_c = subfigs[2].subplots(1, n, squeeze=False)[0]
    image = None
    for variant, ax_a, ax_b, ax_c in zip(variants, rows_a, rows_b, rows_c, strict=True):
        name = method_label("spami", variant)
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
        text = "Not shown: " + "; ".join(
            f"{method_label('spami', v)} ({n})" for v, n in notes.items()
        )
        subfigs[3].text(0.01, 0.5, textwrap.shorten(text, 300), ha="left", va="center", fontsize=9)
    fig.suptitle(title)
    return fig
