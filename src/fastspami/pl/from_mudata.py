"""Figures that take a MuData, scanpy style: what ``tl.integrate`` and ``tl.cluster`` wrote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fastspami.errors import ConfigError
from fastspami.metrics.attention import attention_by_domain
from fastspami.pl.diagnosis import attention_by_domain_plot
from fastspami.pl.maps import embedding_umaps, spatial_label_maps


def _columns(mdata: Any, color: str | Sequence[str]) -> list[str]:
    names = [color] if isinstance(color, str) else list(color)
    missing = [c for c in names if c not in mdata.obs]
    if missing:
        raise ConfigError(
            f"obs has no column {missing}; it holds {list(mdata.obs.columns)}. Run "
            "fastspami.tl.cluster first, or name another column."
        )
    return names


def _coordinates(mdata: Any) -> np.ndarray:
    if "spatial" not in mdata.obsm:
        raise ConfigError("obsm['spatial'] is missing: the MuData has no spot coordinates.")
    return np.asarray(mdata.obsm["spatial"], dtype=float)


def spatial(
    mdata: Any, color: str | Sequence[str], *, groundtruth: str | None = "ground_truth"
) -> Figure:
    """Maps of obs label columns (``color``) on the tissue, beside ``obs[groundtruth]``
    where it exists: clusters take the colour of the domain they overlap most, and each
    panel's title gives its ARI against the ground truth."""
    truth = mdata.obs[groundtruth].to_numpy() if groundtruth in mdata.obs else None
    panels = {name: mdata.obs[name].to_numpy() for name in _columns(mdata, color)}
    return spatial_label_maps(_coordinates(mdata), panels, truth)


def umap(
    mdata: Any, use_rep: str | Sequence[str] = "X_spami", color: str = "ground_truth"
) -> Figure:
    """UMAP of each embedding in ``use_rep`` (obsm keys), coloured by ``obs[color]``."""
    keys = [use_rep] if isinstance(use_rep, str) else list(use_rep)
    missing = [k for k in keys if k not in mdata.obsm]
    if missing:
        raise ConfigError(f"obsm has no {missing}; run fastspami.tl.integrate first.")
    colour_by = mdata.obs[_columns(mdata, color)[0]].to_numpy()
    return embedding_umaps({k: np.asarray(mdata.obsm[k]) for k in keys}, colour_by)


def attention(mdata: Any, key: str = "spami", groupby: str = "ground_truth") -> Figure:
    """Mean attention of each modality per group of spots (domains, or clusters)."""
    name = f"{key}_attention"
    if name not in mdata.obsm:
        raise ConfigError(
            f"obsm[{name!r}] is missing: integrate with attention fusion and two or more "
            "modalities first."
        )
    weights = mdata.obsm[name]
    modalities = list(
        getattr(weights, "columns", mdata.uns.get(key, {}).get("attention_modalities", []))
    )
    table = attention_by_domain(
        np.asarray(weights), modalities, mdata.obs[_columns(mdata, groupby)[0]].to_numpy()
    )
    return attention_by_domain_plot(table, title=f"Attention per {groupby}")
