"""The one interface every integration method implements.

    integrate(mdata, *, seed, threads, device, **params) -> IntegrationResult

A method module exposes a function with that signature (by convention named
``integrate``). The workflow names methods in the config as ``module:function``
strings, so adding a method is one module and one config entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class IntegrationResult:
    """What a method returns.

    embedding: (n_spots, d) float array, rows in the input's spot order.
    modality_embeddings: per-modality (n_spots, d_m) embeddings, where the method has them.
    attention: (n_spots, n_modalities) per-spot modality weights (rows sum to 1), or None.
    attention_modalities: the modality names of ``attention``'s columns.
    reconstructions: per-modality (n_spots, d_m) reconstructions in the preprocessed space.
    gene_space: per-modality (reconstruction mapped back to features, feature names).
    connectivities: an (n_spots, n_spots) sparse graph that clustering should use instead
        of a kNN graph on ``embedding`` (Seurat's WNN graph), or None.
    uns: parameters, versions, loss history and anything else worth keeping (JSON-able).
    """

    method: str
    embedding: np.ndarray
    modality_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    attention: np.ndarray | None = None
    attention_modalities: list[str] = field(default_factory=list)
    reconstructions: dict[str, np.ndarray] = field(default_factory=dict)
    gene_space: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    connectivities: sp.spmatrix | None = None
    uns: dict[str, Any] = field(default_factory=dict)

    def check(self, n_spots: int) -> None:
        """Raise if the embedding has the wrong number of rows or non-finite values."""
        if self.embedding.ndim != 2 or self.embedding.shape[0] != n_spots:
            raise ValueError(
                f"{self.method}: embedding has shape {self.embedding.shape}, expected "
                f"({n_spots}, d): one row per spot in the input order."
            )
        if not np.all(np.isfinite(self.embedding)):
            raise FloatingPointError(
                f"{self.method}: the embedding contains NaN or inf; "
                "try a lower learning rate or check the input for extreme values."
            )
        if self.attention is not None and not np.all(np.isfinite(self.attention)):
            raise FloatingPointError(f"{self.method}: attention weights contain NaN or inf.")


class IntegrateFn(Protocol):
    def __call__(
        self, mdata: Any, *, seed: int, threads: int, device: str, **params: Any
    ) -> IntegrationResult: ...


def load_method(spec: str) -> Callable[..., IntegrationResult]:
    """Import a method from a ``'package.module:function'`` string, or a registry name."""
    from fastspami.methods.registry import get_method, load_entry, registered_methods

    if spec in registered_methods():
        return get_method(spec).load()
    return load_entry(spec)


def store_result(
    result: IntegrationResult,
    mdata: Any,
    *,
    key_added: str | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """Write ``result`` into ``mdata`` (in place) following the data contract; return it.

    With ``key`` = ``key_added`` without its ``X_`` prefix (default: the method's name):
    ``obsm['X_<key>']`` on the MuData holds the embedding; per-modality embeddings go to
    ``obsm['X_<key>_<modality>']``, attention to ``obsm['<key>_attention']`` (a DataFrame
    whose columns are the modality names), reconstructions to the modality's
    ``obsm['<key>_reconstruction']``, and ``uns['<key>']`` keeps the rest, with the call's
    ``params`` and the package ``version``. The outputs of an earlier run under the same
    key are removed first (:func:`remove_result`).
    """
    from fastspami import __version__

    embedding_key = key_added or f"X_{result.method}"
    key = embedding_key.removeprefix("X_")
    remove_result(mdata, key)  # a new run replaces every output of the previous one
    mdata.obsm[embedding_key] = np.asarray(result.embedding, dtype=np.float32)
    for mod, emb in result.modality_embeddings.items():
        mdata.obsm[f"{embedding_key}_{mod}"] = np.asarray(emb, dtype=np.float32)
    uns = dict(result.uns)
    if result.attention is not None:
        mdata.obsm[f"{key}_attention"] = pd.DataFrame(
            np.asarray(result.attention, dtype=np.float32),
            index=mdata.obs_names.copy(),
            columns=[str(m) for m in result.attention_modalities],
        )
        uns["attention_modalities"] = list(result.attention_modalities)
    for mod, rec in result.reconstructions.items():
        mdata.mod[mod].obsm[f"{key}_reconstruction"] = np.asarray(rec, dtype=np.float32)
    for mod, (values, names) in result.gene_space.items():
        mdata.mod[mod].obsm[f"{key}_reconstruction_genes"] = np.asarray(values, dtype=np.float32)
        mdata.mod[mod].uns[f"{key}_reconstruction_genes"] = list(names)
    if result.connectivities is not None:
        mdata.obsp[f"{key}_connectivities"] = sp.csr_matrix(result.connectivities)
    uns["method"] = result.method
    uns["version"] = __version__
    if params is not None:
        uns["params"] = {k: v for k, v in params.items() if v is not None}
    mdata.uns[key] = uns
    return mdata


def remove_result(mdata: Any, method: str) -> None:
    """Delete what :func:`store_result` wrote for ``method`` (in place): a run on fewer
    modalities, or without attention, must not leave the previous run's outputs beside its
    own. Only the exact keys are removed (per-modality embeddings by modality name), so
    another method whose name starts the same keeps its outputs."""
    keys = [f"X_{method}", f"{method}_attention", *(f"X_{method}_{m}" for m in mdata.mod)]
    for key in keys:
        if key in mdata.obsm:
            del mdata.obsm[key]
    if f"{method}_connectivities" in mdata.obsp:
        del mdata.obsp[f"{method}_connectivities"]
    mdata.uns.pop(method, None)
    for adata in mdata.mod.values():
        for key in (f"{method}_reconstruction", f"{method}_reconstruction_genes"):
            if key in adata.obsm:
                del adata.obsm[key]
        adata.uns.pop(f"{method}_reconstruction_genes", None)
