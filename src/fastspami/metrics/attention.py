"""Mean modality attention per domain: how an attention-fusing method mixes modalities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fastspami.errors import InputDataError
from fastspami.metrics.supervised import _as_labels, _check_same_length, is_annotated


def attention_by_domain(
    attention: np.ndarray,
    modality_names: Sequence[str],
    domains: Sequence | np.ndarray | pd.Series,
) -> pd.DataFrame:
    """Mean attention weight of each modality within each domain, as a tidy table.

    attention: (n, M) per-spot weights; modality_names: M names; domains: (n,) labels
    (spots with a missing domain are left out). Returns columns domain, modality,
    mean_weight, one row per (domain, modality).
    """
    weights = np.asarray(attention, dtype=np.float64)
    names = [str(name) for name in modality_names]
    domain_values = _as_labels(domains, "domains")
    if weights.ndim != 2 or weights.shape[1] != len(names):
        raise InputDataError(
            f"attention must be (n_spots, {len(names)}) for modalities {names}; "
            f"got shape {weights.shape}."
        )
    _check_same_length(domain_values, weights)
    keep = is_annotated(domain_values)
    frame = pd.DataFrame(weights[keep], columns=names)
    frame["domain"] = domain_values[keep].astype(str)
    means = frame.groupby("domain", sort=True)[names].mean()
    tidy = means.reset_index().melt(id_vars="domain", var_name="modality", value_name="mean_weight")
    # Domains sorted, modalities in the order given.
    return tidy.sort_values("domain", kind="stable").reset_index(drop=True)
