"""Control methods and the plainest baseline, behind the common ``integrate`` interface.

- ``integrate_positive``: the ground truth one-hot encoded, plus a little Gaussian noise.
  Clustering it recovers the annotation: the top of a metric's range on that dataset.
- ``integrate_random``: a Gaussian embedding with no information: the bottom of the range.
- ``integrate_pca_concat``: each modality preprocessed as for SpaMI (``fastspami.pp.preprocess``),
  each block z-scored per column and scaled by 1/sqrt(n_columns) so every modality weighs
  the same, concatenated, then PCA. No spatial information, no learning.

(The negative control "SpaMI on spatially shuffled coordinates" is a SpaMI parameter.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from fastspami.errors import InputDataError
from fastspami.methods.contract import IntegrationResult


def balanced_blocks(blocks: list[np.ndarray]) -> np.ndarray:
    """Concatenate (n, d_m) blocks after z-scoring each column and scaling each block.

    Every block is divided by sqrt(d_m) after the z-score, so each has total variance 1
    (constant columns contribute 0) and no modality dominates by its number of columns.
    Returns (n, sum d_m) float64.
    """
    scaled = []
    for block in blocks:
        values = np.asarray(block, dtype=np.float64)
        sd = values.std(axis=0)
        sd[sd == 0] = 1.0
        z = (values - values.mean(axis=0)) / sd
        scaled.append(z / np.sqrt(values.shape[1]))
    return np.hstack(scaled)


def ground_truth_labels(mdata: Any) -> np.ndarray:
    """(n,) ground-truth domain labels as strings (missing ones become 'nan')."""
    if "ground_truth" not in mdata.obs:
        raise InputDataError(
            "The positive control needs obs['ground_truth'] (the annotated domain per spot); "
            "this dataset has none. Drop the positive control for unannotated data."
        )
    return pd.Series(mdata.obs["ground_truth"]).astype(str).to_numpy()


def integrate_positive(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    noise: float = 0.1,
) -> IntegrationResult:
    """Positive control: one-hot ground truth (n, n_domains) + N(0, noise^2), seeded."""
    labels = ground_truth_labels(mdata)
    domains, codes = np.unique(labels, return_inverse=True)
    one_hot = np.eye(len(domains))[codes]
    rng = np.random.default_rng(seed)
    embedding = one_hot + rng.normal(0.0, noise, size=one_hot.shape)
    return IntegrationResult(
        method="positive_control",
        embedding=embedding.astype(np.float32),
        uns={"params": {"seed": seed, "noise": noise}, "domains": [str(d) for d in domains]},
    )


def integrate_random(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    n_dims: int = 20,
) -> IntegrationResult:
    """Random control: an (n, n_dims) standard Gaussian embedding, seeded."""
    rng = np.random.default_rng(seed)
    embedding = rng.standard_normal((mdata.n_obs, n_dims))
    return IntegrationResult(
        method="random_control",
        embedding=embedding.astype(np.float32),
        uns={"params": {"seed": seed, "n_dims": n_dims}},
    )


def integrate_pca_concat(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    n_comps: int = 30,
    kinds: dict[str, str] | None = None,
) -> IntegrationResult:
    """Baseline: PCA (to n_comps dims, capped) of the balanced, concatenated modalities.

    Returns an IntegrationResult with ``embedding`` (n, n_comps) and each modality's
    preprocessed features as ``modality_embeddings``.
    """
    from fastspami.pp.preprocess import preprocess_mudata

    features = preprocess_mudata(mdata, kinds=kinds, seed=seed)
    joined = balanced_blocks([f.X for f in features.values()])
    n_comps = int(min(n_comps, joined.shape[0] - 1, joined.shape[1]))
    embedding = PCA(n_components=n_comps, random_state=seed).fit_transform(joined)
    return IntegrationResult(
        method="pca_concat",
        embedding=embedding.astype(np.float32),
        modality_embeddings={name: np.asarray(f.X) for name, f in features.items()},
        uns={
            "params": {"seed": seed, "n_comps": n_comps},
            "modalities": {name: f.kind for name, f in features.items()},
        },
    )
