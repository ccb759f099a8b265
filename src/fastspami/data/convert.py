"""Turn a downloaded dataset (its source layout) into the data contract (one .h5mu).

Layouts (``layout`` in config/datasets.yaml):

- ``spatialglue_h5ad``: one AnnData file per modality, as SpatialGlue's Zenodo deposit and
  SpaMI's figshare deposit ship them (``adata_RNA.h5ad`` + ``adata_ADT.h5ad`` or
  ``adata_peaks_normalized.h5ad``): counts in ``.X`` (or ``layers['counts']``), spot
  coordinates in ``obsm['spatial']``.
- ``misar_h5``: the MISAR-seq files (``MISAR_seq_mouse_E15_brain_{mRNA,ATAC}_data.h5``) as
  read by SpaMI's Tutorial 1: HDF5 datasets ``X`` (spots x features), ``cell`` (spot
  names), ``gene`` or ``peak`` (feature names) and ``pos`` (coordinates, in the RNA file
  at least). Assumed from that tutorial, not from a published specification: a sparse
  ``X`` group (``data``/``indices``/``indptr`` + ``shape``) is read as CSR, and an ``X``
  stored features x spots is transposed.

The annotation (``annotation`` entry) is a column of a CSV/TSV table, a column of a
modality's ``obs``, an HDF5 dataset (e.g. ``Y`` beside ``cell``), or, for the authors'
simulations, the binary factor matrix in ``obsm`` (domain = 1*f1 + 2*f2 + ..., 0 the
background, as in SpaMI's Tutorial 4). Spots are joined by name; modalities that do not
hold the same spots are cut to the shared ones (with a warning), in the first modality's
order; no shared spot at all is an error.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData

from fastspami.data.contract import build_mudata, validate_mudata, write_mudata
from fastspami.data.registry import Annotation, DatasetSpec
from fastspami.errors import InputDataError

log = logging.getLogger(__name__)

FEATURE_KEYS = ("gene", "genes", "peak", "peaks", "protein", "proteins", "feature", "features")


def _text(values: Any) -> np.ndarray:
    """HDF5 strings (bytes or str) as an array of Python str."""
    values = np.asarray(values).ravel()
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def read_h5ad_modality(path: str | os.PathLike) -> AnnData:
    """One modality from an .h5ad file; duplicated feature names are made unique."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            adata = anndata.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types for a broken file
        raise InputDataError(
            f"{path}: cannot be read as an AnnData .h5ad file ({type(err).__name__}: {err}). "
            "Delete it and run the download again."
        ) from err
    adata.obs_names = adata.obs_names.astype(str)
    if adata.var_names.has_duplicates:
        log.warning("%s: duplicated feature names made unique (name-1, name-2, ...)", path.name)
        adata.var_names_make_unique()
    return adata


def _read_matrix(node: Any, path: Path) -> np.ndarray | sp.csr_matrix:
    if isinstance(node, h5py.Dataset):
        return node[()]
    if isinstance(node, h5py.Group) and {"data", "indices", "indptr"} <= set(node):
        shape = node.attrs.get("shape")
        if shape is None and "shape" in node:
            shape = node["shape"][()]
        if shape is None:
            raise InputDataError(f"{path}: sparse 'X' has no 'shape'; cannot read it.")
        return sp.csr_matrix(
            (node["data"][()], node["indices"][()], node["indptr"][()]),
            shape=tuple(int(n) for n in shape),
        )
    raise InputDataError(f"{path}: 'X' is neither a matrix nor a sparse group; unknown layout.")


def read_misar_h5(path: str | os.PathLike) -> AnnData:
    """One modality from a MISAR-seq .h5 file (X, cell, gene|peak, optional pos)."""
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise InputDataError(
            f"{path}: not an HDF5 file ({err}); delete it and run the download again."
        ) from err
    with handle:
        missing = [key for key in ("X", "cell") if key not in handle]
        feature_key = next((key for key in FEATURE_KEYS if key in handle), None)
        if missing or feature_key is None:
            raise InputDataError(
                f"{path}: expected HDF5 datasets X, cell and one of {FEATURE_KEYS}; it holds "
                f"{sorted(handle)}. Is 'layout: misar_h5' right for this file?"
            )
        matrix = _read_matrix(handle["X"], path)
        cells, features = _text(handle["cell"][()]), _text(handle[feature_key][()])
        pos = np.asarray(handle["pos"][()], dtype=np.float64) if "pos" in handle else None
    if matrix.shape == (len(features), len(cells)) and len(features) != len(cells):
        matrix = matrix.T
    if matrix.shape != (len(cells), len(features)):
        raise InputDataError(
            f"{path}: X has shape {matrix.shape} but there are {len(cells)} cells and "
            f"{len(features)} {feature_key} names; the file is inconsistent."
        )
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    adata = AnnData(
        X=matrix,
        obs=pd.DataFrame(index=pd.Index(cells, name=None)),
        var=pd.DataFrame(index=pd.Index(features, name=None)),
    )
    if pos is not None:
        adata.obsm["spatial"] = _two_columns(pos, path)
    if adata.var_names.has_duplicates:
        adata.var_names_make_unique()
    return adata


def _two_columns(coords: Any, source: Any) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim == 2 and coords.shape[0] == 2 and coords.shape[1] != 2:
        coords = coords.T
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise InputDataError(f"{source}: spatial coordinates of shape {coords.shape}; need (n, 2).")
    return coords[:, :2]


READERS = {"spatialglue_h5ad": read_h5ad_modality, "misar_h5": read_misar_h5}


def align_spots(modalities: dict[str, AnnData]) -> dict[str, AnnData]:
    """The modalities cut to their shared spots, in the first modality's order.

    Warns when spots are dropped; raises InputDataError when no spot is shared.
    """
    names = list(modalities)
    first = modalities[names[0]].obs_names
    shared = first
    for mod in names[1:]:
        shared = shared[shared.isin(modalities[mod].obs_names)]
    if len(shared) == 0:
        raise InputDataError(
            f"Modalities {names} share no spot name (e.g. {names[0]}: {first[:2].tolist()}, "
            f"{names[1]}: {modalities[names[1]].obs_names[:2].tolist()}); the files do not "
            "describe the same tissue section, or their spot names need a common format."
        )
    dropped = {
        mod: a.n_obs - len(shared) for mod, a in modalities.items() if a.n_obs != len(shared)
    }
    if dropped:
        warnings.warn(
            f"Modalities hold different spots; kept the {len(shared)} shared ones "
            f"(dropped per modality: {dropped}).",
            UserWarning,
            stacklevel=2,
        )
    return {
        mod: a if a.obs_names.equals(shared) else a[shared].copy() for mod, a in modalities.items()
    }


def _coordinates(modalities: dict[str, AnnData]) -> np.ndarray:
    found = {
        m: _two_columns(a.obsm["spatial"], m) for m, a in modalities.items() if "spatial" in a.obsm
    }
    if not found:
        raise InputDataError(
            f"No modality of {list(modalities)} has obsm['spatial'] (or 'pos'); the spot "
            "coordinates are missing from the source files."
        )
    first_mod, coords = next(iter(found.items()))
    for mod, other in found.items():
        if not np.allclose(other, coords):
            warnings.warn(
                f"obsm['spatial'] of {mod!r} differs from {first_mod!r}'s; using {first_mod!r}'s.",
                UserWarning,
                stacklevel=2,
            )
    return coords


def _factor_labels(factors: Any) -> np.ndarray:
    """The authors' simulated domains: 1*f1 + 2*f2 + ... of binary factors; 0 = background."""
    factors = np.asarray(factors.toarray() if sp.issparse(factors) else factors, dtype=np.float64)
    codes = factors @ np.arange(1, factors.shape[1] + 1)
    return np.array(["background" if c == 0 else f"factor{c:g}" for c in codes], dtype=object)


def _table_labels(path: Path, annotation: Annotation, spots: pd.Index) -> pd.Series:
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    table = pd.read_csv(path, sep=sep)
    if annotation.column not in table.columns:
        raise InputDataError(
            f"{path}: no column {annotation.column!r}; it has {table.columns.tolist()}. Fix "
            "annotation.column in config/datasets.yaml."
        )
    keys = table[annotation.key] if annotation.key else table.iloc[:, 0]
    keys = keys.astype(str)
    if keys.isin(spots).any():
        return pd.Series(table[annotation.column].to_numpy(), index=keys)
    if annotation.key is None and len(table) == len(spots):
        warnings.warn(
            f"{path}: no column holds the spot names; rows are taken in spot order (the "
            "table has exactly one row per spot).",
            UserWarning,
            stacklevel=3,
        )
        return pd.Series(table[annotation.column].to_numpy(), index=spots)
    raise InputDataError(
        f"{path}: cannot match its rows to the spots (no spot name in "
        f"{annotation.key or 'the first column'}, and {len(table)} rows for {len(spots)} "
        "spots). Set annotation.key to the column holding the spot names."
    )


def _h5_labels(path: Path, annotation: Annotation) -> pd.Series:
    with h5py.File(path, "r") as handle:
        if annotation.column not in handle or "cell" not in handle:
            raise InputDataError(
                f"{path}: no dataset {annotation.column!r} beside 'cell'; it holds "
                f"{sorted(handle)}. Fix annotation.column in config/datasets.yaml."
            )
        labels, cells = _text(handle[annotation.column][()]), _text(handle["cell"][()])
    return pd.Series(labels, index=cells)


def read_annotation(
    annotation: Annotation, raw_dir: str | os.PathLike, spots: pd.Index
) -> pd.Series:
    """Ground-truth labels for ``spots`` (NaN where a spot has none)."""
    path = Path(raw_dir) / annotation.source.file
    suffix = path.suffix.lower()
    if annotation.obsm is not None or suffix == ".h5ad":
        adata = read_h5ad_modality(path)
        if annotation.obsm is not None:
            if annotation.obsm not in adata.obsm:
                raise InputDataError(
                    f"{path}: no obsm[{annotation.obsm!r}]; it has {list(adata.obsm)}."
                )
            labels = pd.Series(_factor_labels(adata.obsm[annotation.obsm]), index=adata.obs_names)
        elif annotation.column in adata.obs:
            labels = adata.obs[annotation.column].astype(object)
        else:
            raise InputDataError(
                f"{path}: no obs column {annotation.column!r}; it has {adata.obs.columns.tolist()}."
            )
    elif suffix in (".h5", ".hdf5"):
        labels = _h5_labels(path, annotation)
    else:
        labels = _table_labels(path, annotation, spots)
    labels = labels[~labels.index.duplicated()]
    aligned = labels.reindex(spots)
    if aligned.isna().all():
        raise InputDataError(
            f"{path}: none of its labels belongs to a spot of the dataset; check that the "
            "annotation describes this section."
        )
    return aligned


def convert_dataset(
    spec: DatasetSpec, raw_dir: str | os.PathLike, out_path: str | os.PathLike
) -> MuData:
    """Read ``spec``'s raw files from ``raw_dir``, check them and write the contract .h5mu."""
    raw_dir, out_path = Path(raw_dir), Path(out_path)
    reader = READERS[spec.layout]
    modalities = {}
    for mod, item in spec.modalities.items():
        path = raw_dir / item.file
        if not path.is_file():
            raise InputDataError(
                f"{path}: missing; run the download step first (snakemake "
                f"resources/datasets/{spec.name}/raw/download.json) or place the file there."
            )
        modalities[mod] = reader(path)
    modalities = align_spots(modalities)
    coords = _coordinates(modalities)
    spots = modalities[next(iter(modalities))].obs_names
    if spec.n_spots is not None and len(spots) != spec.n_spots:
        warnings.warn(
            f"{spec.name}: the files hold {len(spots)} shared spots, the registry says "
            f"{spec.n_spots}; check that these are the published files (or correct n_spots "
            "in config/datasets.yaml).",
            UserWarning,
            stacklevel=2,
        )
    labels = None
    if spec.annotation is not None:
        labels = read_annotation(spec.annotation, raw_dir, spots)
    for adata in modalities.values():
        adata.obs = adata.obs.drop(columns=[c for c in adata.obs if c == "ground_truth"])
    dataset = {
        "name": spec.name,
        "technology": spec.technology,
        "source": spec.source,
        "title": spec.title,
        "api": spec.api_url,
    }
    if spec.n_clusters is not None:
        dataset["n_clusters"] = spec.n_clusters
    if spec.markers:
        dataset["markers"] = {mod: list(genes) for mod, genes in spec.markers.items()}
    mdata = build_mudata(modalities, spatial=coords, ground_truth=labels, dataset=dataset)
    validate_mudata(mdata, source=str(out_path))
    write_mudata(mdata, out_path)
    log.info("%s: %d spots, %s", out_path, mdata.n_obs, {m: a.n_vars for m, a in mdata.mod.items()})
    return mdata
