"""Names, orders, colours and the helpers every figure shares."""

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
from matplotlib.figure import Figure

from fastspami._utils.atomic import atomic_path
from fastspami.methods.registry import method_rank, registered_methods

DPI = 150
# The report shows a figure at its size in inches (96 CSS px per inch, the browser's
# inch), the PNG's 150 dpi giving sharp lines on high-density screens. So a 12 pt panel
# title is 16 px on screen, readable when the report is embedded at 1,400 px; figures
# are sized so that the widest stays within such a page (about 14 inches).
SCREEN_PX_PER_INCH = 96
PANEL = 2.8  # inches per map panel
LEGEND_WIDTH = 1.9  # inches reserved right of the panels for a shared legend
STYLE = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 10,
    "figure.titlesize": 13,
    "svg.fonttype": "none",  # text stays text in SVG (editable for print)
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


def _rank(order: Sequence[str], item: str) -> tuple[int, str]:
    return (order.index(item) if item in order else len(order), item)


def ordered_methods(methods: Sequence[str]) -> list[str]:
    """Distinct methods, SpaMI first, then the published methods, baselines, controls."""
    return sorted(set(methods), key=method_rank)


def ordered_variants(variants: Sequence[str]) -> list[str]:
    """Distinct variants, the full model first, then the paper's ablations."""
    return sorted(set(variants), key=lambda v: _rank(VARIANT_ORDER, v))


def run_sort_key(method: str, variant: str = "default") -> tuple:
    """Sort key of a (method, variant): methods as ordered_methods, variants as ordered_variants."""
    return (method_rank(method), _rank(VARIANT_ORDER, variant))


def method_colours(methods: Sequence[str]) -> dict[str, Any]:
    """The registry's colour per method; others take tab10 colours in order."""
    spare = iter(matplotlib.colormaps["tab10"].colors[::-1] * 3)
    known = registered_methods()
    return {
        m: (known[m].colour if m in known else None) or next(spare)
        for m in ordered_methods(methods)
    }


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


# Colours of ground-truth domains: a fixed list of distinct hues, so that neighbouring
# domains never differ only by shade (tab20 pairs a light and a dark shade of each hue).
# tab10's hues without its grey (grey marks clusters matched to no domain) and brown (a
# darker red), then Dark2's teal and a navy: ten hues at least 19 degrees apart. Then
# tab10's brown and Dark2's mustard, then tab20's light shades; beyond those, evenly
# spaced hues.
DOMAIN_COLOURS = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#d62728",  # red
    "#9467bd",  # purple
    "#17becf",  # cyan
    "#e377c2",  # pink
    "#bcbd22",  # olive
    "#1b9e77",  # teal (Dark2)
    "#000080",  # navy
    "#8c564b",  # brown
    "#e6ab02",  # mustard (Dark2)
    "#aec7e8",  # tab20's light shades from here on
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#9edae5",
    "#f7b6d2",
    "#dbdb8d",
)
DISTINCT_HUES = 10  # the first ten of DOMAIN_COLOURS differ in hue


def domain_palette(domains: Sequence[str], extras: Sequence[str] = ()) -> dict[str, Any]:
    """Colours of ground-truth domains (DOMAIN_COLOURS in natural order of the domain
    names, then more hues) and greys for clusters matched to no domain (``extras``)."""
    domains = natural_sorted(domains)
    base: list[Any] = list(DOMAIN_COLOURS)
    if len(domains) > len(base):
        hsv = matplotlib.colormaps["hsv"]
        more = len(domains) - len(base)
        base += [hsv(i / (more + 1)) for i in range(more)]
    palette = dict(zip(domains, base, strict=False))
    extras = [e for e in natural_sorted(extras) if e not in palette]
    for i, extra in enumerate(extras):
        palette[extra] = str(0.35 + 0.5 * i / max(1, len(extras)))  # greys, dark to light
    return palette


def scored_title(name: str, ari: float | None, width: int = 26) -> str:
    """A panel title with the ARI of its clustering: 'SpaMI (robust preset) · ARI 0.91'; on two
    lines where one would not fit a map panel; the name alone without a score."""
    if ari is None or not math.isfinite(ari):
        return name
    score = f"ARI {ari:.2f}"
    return f"{name} · {score}" if len(name) + len(score) + 3 <= width else f"{name}\n{score}"


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
    ax.text(0.5, 0.5, textwrap.fill(text, 32), ha="center", va="center", fontsize=9, wrap=True)


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
