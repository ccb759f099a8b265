"""``tl.cluster``: cluster an embedding of a MuData into domains, scanpy style."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fastspami.clustering.algorithms import ALGORITHMS, cluster_embedding
from fastspami.errors import ConfigError


def cluster(
    mdata: Any,
    use_rep: str = "X_spami",
    n_clusters: int | None = None,
    *,
    method: str = "leiden",
    key_added: str | None = None,
    seed: int = 0,
    copy: bool = False,
) -> Any | None:
    """Cluster ``mdata.obsm[use_rep]`` into ``n_clusters`` domains with ``method``.

    ``method``: 'leiden' (resolution searched until the count is reached; on 20 PCs and a
    50-neighbour graph as SpaMI's tutorial), 'kmeans' or 'mclust' (R's mclust, EEE).
    ``n_clusters`` defaults to the number of domains in ``obs['ground_truth']``.
    Writes ``obs[key_added]`` (default ``f"{use_rep without X_}_{method}"``, categorical of
    str labels) and ``uns[key_added]`` (the parameters, the resolution, whether the count
    was reached). Returns the new MuData with ``copy=True``, else None.
    """
    if method not in ALGORITHMS:
        raise ConfigError(f"method {method!r} is not one of {list(ALGORITHMS)}.")
    if use_rep not in mdata.obsm:
        raise ConfigError(
            f"obsm[{use_rep!r}] does not exist (obsm holds {sorted(mdata.obsm)}); run "
            "fastspami.tl.integrate first, or name another embedding."
        )
    if n_clusters is None:
        if "ground_truth" not in mdata.obs:
            raise ConfigError("n_clusters is needed: the MuData has no obs['ground_truth'].")
        n_clusters = int(pd.Series(mdata.obs["ground_truth"]).dropna().nunique())
    target = mdata.copy() if copy else mdata
    key = key_added or f"{use_rep.removeprefix('X_')}_{method}"
    embedding = np.asarray(target.obsm[use_rep], dtype=np.float64)
    found = cluster_embedding(embedding, int(n_clusters), (method,), seed=seed)[method]
    target.obs[key] = pd.Categorical(found.labels)
    target.uns[key] = {
        "params": {
            "use_rep": use_rep,
            "n_clusters": int(n_clusters),
            "method": method,
            "seed": seed,
        },
        "resolution": found.resolution,
        "n_clusters": int(found.n_clusters),
        "reached": bool(found.reached),
    }
    return target if copy else None
