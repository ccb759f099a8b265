"""Read, check and write the data contract: one MuData (.h5mu) per dataset.

The contract (README, "The data contract"):

- one AnnData per modality (``rna``, ``adt``, ``atac``, ...), the same spots
  (``obs_names``) in the same order in every modality;
- raw counts in ``layers['counts']`` where that layer exists, else in ``.X``;
- coordinates, (n_spots, 2), in ``obsm['spatial']`` of the MuData and/or of each modality;
- optionally the annotated domain in ``obs['ground_truth']`` of the MuData (missing labels
  stay NaN: scoring uses only annotated spots);
- optionally ``uns['dataset']``: a dict with ``name``, ``technology`` and ``source``.

MuData objects are built with ``mudata.set_options(pull_on_update=False)`` (the future
default of mudata), so modality obs columns are not copied into the MuData's obs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mudata
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData

from fastspami._utils.atomic import atomic_path
from fastspami._utils.child_process import can_fork, run_in_child
from fastspami.errors import InputDataError, OutputPathError

MODALITY_KINDS = ("rna", "adt", "atac")

# Lower-case names (or name tokens) that identify a modality's kind.
_KIND_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ["rna", "gex", "gene", "genes", "expression", "transcriptome", "transcriptomics", "mrna"],
        "rna",
    ),
    **dict.fromkeys(
        ["adt", "protein", "proteins", "prot", "cite", "antibody", "proteome", "proteomics"],
        "adt",
    ),
    **dict.fromkeys(
        [
            "atac",
            "peaks",
            "peak",
            "chromatin",
            "accessibility",
            "epigenome",
            "epigenomics",
            "histone",
            "cuttag",
        ],
        "atac",
    ),
}

# Rows checked at a time when scanning dense count matrices (bounds temporary memory).
_DENSE_ROW_BLOCK = 8192


def _prefix(source: str | os.PathLike | None) -> str:
    return f"{source}: " if source else ""


def _kind_of_token(token: str) -> str | None:
    if token in _KIND_SYNONYMS:
        return _KIND_SYNONYMS[token]
    if token.startswith("h3k"):  # histone marks: H3K27ac, H3K4me3, H3K27me3, ...
        return "atac"
    return None


def modality_kind(name: str, explicit: str | None = None) -> str:
    """Return the kind of a modality, ``'rna'``, ``'adt'`` or ``'atac'``.

    ``explicit`` (a kind or one of its synonyms) wins; otherwise the kind is read from the
    modality's name, case-insensitively: the whole name, or else its words (split on
    anything not a letter or digit), e.g. ``'Gene Expression'`` -> rna,
    ``'Antibody Capture'`` -> adt, ``'H3K27ac'`` -> atac.
    """
    if explicit is not None:
        kind = _kind_of_token(str(explicit).strip().lower())
        if kind is None:
            raise InputDataError(
                f"Modality {name!r}: unknown modality type {explicit!r}; "
                f"use one of {', '.join(MODALITY_KINDS)}."
            )
        return kind
    lowered = str(name).strip().lower()
    kind = _kind_of_token(lowered)
    if kind is not None:
        return kind
    found = {k for token in re.split(r"[^a-z0-9]+", lowered) if (k := _kind_of_token(token))}
    if len(found) == 1:
        return found.pop()
    problem = "matches several types " + str(sorted(found)) if found else "is not a known type"
    raise InputDataError(
        f"Modality {name!r} {problem}: cannot tell whether it holds RNA, ADT (protein) or "
        f"ATAC (chromatin) data. Give its type explicitly, e.g. kinds={{{name!r}: 'rna'}} "
        f"in Python or --modality-type {name}=rna on the command line."
    )


def counts_matrix(adata: AnnData) -> np.ndarray | sp.spmatrix:
    """The raw counts of a modality, (n_spots, n_features): ``layers['counts']`` else ``.X``.

    Sparse matrices are returned as they are (no copy, no densifying).
    """
    if "counts" in adata.layers:
        return adata.layers["counts"]
    return adata.X


def _counts_location(adata: AnnData) -> str:
    return "layers['counts']" if "counts" in adata.layers else ".X"


def spatial_coordinates(mdata: MuData) -> np.ndarray:
    """Spot coordinates, (n_spots, 2) float64: MuData ``obsm['spatial']`` or a modality's.

    The first modality (in ``mdata.mod`` order) that has ``obsm['spatial']`` is used when
    the MuData itself has none.
    """
    if "spatial" in mdata.obsm:
        return np.asarray(mdata.obsm["spatial"], dtype=np.float64)
    for adata in mdata.mod.values():
        if "spatial" in adata.obsm:
            return np.asarray(adata.obsm["spatial"], dtype=np.float64)
    raise InputDataError(
        "No spatial coordinates: neither the MuData nor any modality has obsm['spatial']. "
        "Store the (n_spots, 2) spot coordinates in mdata.obsm['spatial']."
    )


def _check_coordinates(coords: Any, n_spots: int, where: str) -> np.ndarray:
    try:
        coords = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputDataError(
            f"{where} is not numeric ({err}); store (n_spots, 2) x/y coordinates as numbers."
        ) from err
    if coords.ndim != 2 or coords.shape != (n_spots, 2):
        raise InputDataError(
            f"{where} has shape {coords.shape}, expected ({n_spots}, 2): one x/y row per "
            "spot. Keep only the two spatial columns, in spot order."
        )
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise InputDataError(
            f"{where} has NaN or inf coordinates for {int(bad.sum())} spots; "
            "remove those spots or fill in their coordinates."
        )
    return coords


def _value_blocks(matrix: Any) -> Any:
    """Yield the stored values of a count matrix in blocks (sparse: its nonzeros)."""
    if sp.issparse(matrix):
        yield np.asarray(matrix.data)
        return
    matrix = np.asarray(matrix)
    for start in range(0, matrix.shape[0], _DENSE_ROW_BLOCK):
        yield matrix[start : start + _DENSE_ROW_BLOCK]


def _check_counts(adata: AnnData, mod: str, where: str, require_counts: bool) -> None:
    counts = counts_matrix(adata)
    location = f"{where}modality {mod!r} {_counts_location(adata)}"
    dtype = counts.dtype
    if dtype.kind not in "biuf":
        raise InputDataError(
            f"{location} has dtype {dtype}; counts must be numbers (integers or floats)."
        )
    if dtype.kind in "bu":
        return
    non_integer_example = None
    for block in _value_blocks(counts):
        if dtype.kind == "f" and not np.isfinite(block).all():
            raise InputDataError(
                f"{location} contains NaN or inf values; raw counts must be finite. "
                "Replace missing measurements by 0 or drop the affected spots/features."
            )
        if (block < 0).any():
            raise InputDataError(
                f"{location} contains negative values (minimum {block.min():g}); raw counts "
                "must be >= 0. Store the raw counts, not scaled or centered data."
            )
        if require_counts and non_integer_example is None and dtype.kind == "f":
            fractional = block[block != np.round(block)]
            if fractional.size:
                non_integer_example = float(fractional.flat[0])
    if non_integer_example is not None:
        warnings.warn(
            f"{location} holds non-integer values (e.g. {non_integer_example:g}): the data "
            "look normalized. spami expects raw counts there (it normalizes them itself); "
            "store the raw counts in .X or layers['counts'].",
            UserWarning,
            stacklevel=3,
        )


def _check_signal(adata: AnnData, mod: str, where: str) -> None:
    """Refuse a modality whose spots all hold the same counts (all zero, or one profile):
    it carries no information, yet an integration would weight it like the others."""
    counts = counts_matrix(adata)
    if adata.n_obs < 2:
        return
    if sp.issparse(counts):
        low = counts.min(axis=0).toarray().ravel()
        high = counts.max(axis=0).toarray().ravel()
    else:
        low = np.full(adata.n_vars, np.inf)
        high = np.full(adata.n_vars, -np.inf)
        for block in _value_blocks(counts):
            low = np.minimum(low, block.min(axis=0))
            high = np.maximum(high, block.max(axis=0))
    if np.any(low != high):
        return
    what = "no counts at all (every value is 0)" if not high.any() else "the same counts"
    raise InputDataError(
        f"{where}modality {mod!r} has no signal: every spot has {what} in "
        f"{_counts_location(adata)}. Integrating it would give a constant input a weight. "
        f"Store its real counts, or remove it from the file (del mdata.mod[{mod!r}]; "
        "mdata.update(); then write it again)."
    )


def _check_spot_names(mdata: MuData, where: str) -> pd.Index:
    mods = list(mdata.mod)
    reference = mdata.mod[mods[0]].obs_names
    if reference.has_duplicates:
        dup = reference[reference.duplicated()].unique()
        raise InputDataError(
            f"{where}modality {mods[0]!r} has {len(dup)} duplicated spot names "
            f"(e.g. {dup[0]!r}); make them unique (adata.obs_names_make_unique())."
        )
    for mod in mods[1:]:
        names = mdata.mod[mod].obs_names
        if names.equals(reference):
            continue
        if len(names) == len(reference) and set(names) == set(reference):
            raise InputDataError(
                f"{where}modality {mod!r} has the same spots as {mods[0]!r} but in a "
                "different order; reorder them with fastspami.data.contract.align_modalities(mdata)."
            )
        missing = reference.difference(names)
        extra = names.difference(reference)
        raise InputDataError(
            f"{where}modalities {mods[0]!r} and {mod!r} do not hold the same spots "
            f"({len(missing)} spots only in {mods[0]!r}, {len(extra)} only in {mod!r}, e.g. "
            f"{(list(missing[:1]) + list(extra[:1]))[0]!r}). Keep only the shared spots in "
            "every modality (e.g. mudata.intersect_obs(mdata)), in the same order."
        )
    if not mdata.obs_names.equals(reference):
        raise InputDataError(
            f"{where}the MuData's spot order differs from its modalities'; rebuild it with "
            "fastspami.data.contract.align_modalities(mdata)."
        )
    return reference


def _check_spatial(mdata: MuData, n_spots: int, where: str) -> np.ndarray:
    if "spatial" not in mdata.obsm and not any("spatial" in a.obsm for a in mdata.mod.values()):
        raise InputDataError(
            f"{where}no spatial coordinates: neither the MuData nor any modality has "
            "obsm['spatial']. Store the (n_spots, 2) spot coordinates in mdata.obsm['spatial']."
        )
    coords = _check_coordinates(spatial_coordinates(mdata), n_spots, f"{where}obsm['spatial']")
    for mod, adata in mdata.mod.items():
        if "spatial" not in adata.obsm:
            continue
        mod_coords = _check_coordinates(
            adata.obsm["spatial"], n_spots, f"{where}modality {mod!r} obsm['spatial']"
        )
        if not np.allclose(mod_coords, coords):
            raise InputDataError(
                f"{where}modality {mod!r} obsm['spatial'] disagrees with the coordinates of "
                "the other modalities/the MuData; the modalities must describe the same "
                "spots. Store one consistent set of coordinates."
            )
    return coords


def validate_mudata(
    mdata: MuData,
    *,
    k: int = 3,
    source: str | os.PathLike | None = None,
    require_counts: bool = True,
) -> None:
    """Raise :class:`InputDataError` where ``mdata`` breaks the data contract.

    Checks: at least one modality; no empty modality; unique spot names, identical and in
    the same order in every modality; coordinates present, (n_spots, 2) and finite; counts
    finite and >= 0; no modality whose spots all hold the same counts (all zero, say): it
    has no signal; at least ``k + 1`` spots (the kNN graph needs k neighbours). Warns
    (does not fail) when counts are non-integer (``require_counts``) and when spots share
    coordinates (the kNN graph then breaks ties by spot index). ``source`` (a file name)
    prefixes every message.
    """
    where = _prefix(source)
    if len(mdata.mod) == 0:
        raise InputDataError(f"{where}the MuData holds no modality; add at least one AnnData.")
    for mod, adata in mdata.mod.items():
        if adata.n_obs == 0 or adata.n_vars == 0:
            raise InputDataError(
                f"{where}modality {mod!r} is empty ({adata.n_obs} spots x {adata.n_vars} "
                "features); remove it or fill it with data."
            )
    spots = _check_spot_names(mdata, where)
    n_spots = len(spots)
    if n_spots < k + 1:
        raise InputDataError(
            f"{where}only {n_spots} spots, but a {k}-nearest-neighbour graph needs at least "
            f"{k + 1}; use more spots or a smaller k."
        )
    coords = _check_spatial(mdata, n_spots, where)
    for mod, adata in mdata.mod.items():
        _check_counts(adata, mod, where, require_counts)
        _check_signal(adata, mod, where)
    n_duplicated = int(pd.DataFrame(coords).duplicated().sum())
    if n_duplicated:
        warnings.warn(
            f"{where}{n_duplicated} spots share their coordinates with another spot; "
            "the kNN graph breaks distance ties by spot index.",
            UserWarning,
            stacklevel=2,
        )


def align_modalities(mdata: MuData) -> MuData:
    """A new MuData whose modalities all follow the first modality's spot order.

    The spot name sets must be equal; MuData-level obs, obsm and uns are carried over
    (reordered to the same spot order).
    """
    mods = list(mdata.mod)
    order = mdata.mod[mods[0]].obs_names
    for mod in mods[1:]:
        names = mdata.mod[mod].obs_names
        if len(names) != len(order) or set(names) != set(order):
            raise InputDataError(
                f"Cannot align modality {mod!r} to {mods[0]!r}: they hold different spots. "
                "Keep only the shared spots first (e.g. mudata.intersect_obs(mdata))."
            )
    with mudata.set_options(pull_on_update=False):
        aligned = MuData({mod: mdata.mod[mod][order].copy() for mod in mods})
        positions = mdata.obs_names.get_indexer(order)
        if (positions >= 0).all():
            aligned.obs = mdata.obs.iloc[positions].copy()
            for key, value in mdata.obsm.items():
                if key not in mods:  # obsm also holds mudata's per-modality masks
                    aligned.obsm[key] = _take_rows(value, positions)
        aligned.uns = dict(mdata.uns)
    return aligned


def _take_rows(value: Any, positions: np.ndarray) -> Any:
    if isinstance(value, pd.DataFrame):
        return value.iloc[positions]
    return value[positions]


def build_mudata(
    modalities: Mapping[str, AnnData],
    *,
    spatial: np.ndarray | None = None,
    ground_truth: Any = None,
    dataset: Mapping[str, Any] | None = None,
) -> MuData:
    """Assemble a contract-conforming MuData from per-modality AnnData (same spots, order).

    ``spatial`` (n_spots, 2) goes to ``obsm['spatial']`` of the MuData and of every
    modality; ``ground_truth`` (n_spots labels, None/NaN where unknown) to
    ``obs['ground_truth']`` as a categorical of strings; ``dataset`` to ``uns['dataset']``.
    The AnnData objects are used as they are, not copied.
    """
    names = [(mod, adata.obs_names) for mod, adata in modalities.items()]
    for mod, spots in names[1:]:
        if not spots.equals(names[0][1]):
            raise InputDataError(
                f"Modality {mod!r} does not hold the spots of {names[0][0]!r} in the same "
                "order; subset/reorder the AnnData objects to one spot list first."
            )
    with mudata.set_options(pull_on_update=False):
        mdata = MuData(dict(modalities))
        if spatial is not None:
            coords = np.asarray(spatial, dtype=np.float64)
            mdata.obsm["spatial"] = coords
            for adata in mdata.mod.values():
                adata.obsm["spatial"] = coords.copy()
        if ground_truth is not None:
            mdata.obs["ground_truth"] = _as_label_categorical(
                pd.Series(list(ground_truth), index=mdata.obs_names, dtype=object)
            )
        if dataset is not None:
            mdata.uns["dataset"] = dict(dataset)
    return mdata


def _label_text(value: Any) -> str:
    """A label as text; integral floats (integer labels once NaN joined them) lose the '.0'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_label_categorical(labels: pd.Series) -> pd.Categorical:
    """Labels as a categorical of strings; missing labels (None/NaN) stay missing."""
    values = labels.astype(object)
    present = values.notna()
    as_text = pd.Series(np.nan, index=values.index, dtype=object)
    as_text[present] = [_label_text(v) for v in values[present]]
    categories = sorted(set(as_text[present]))
    return pd.Categorical(as_text, categories=categories)


def _harmonize_ground_truth(mdata: MuData, source: str | None) -> None:
    if "ground_truth" not in mdata.obs:
        for adata in mdata.mod.values():
            if "ground_truth" in adata.obs:
                mdata.obs["ground_truth"] = adata.obs["ground_truth"].to_numpy()
                break
        else:
            return
    labels = _as_label_categorical(mdata.obs["ground_truth"])
    mdata.obs["ground_truth"] = labels
    n_missing = int(pd.isna(labels).sum())
    if n_missing:
        warnings.warn(
            f"{_prefix(source)}{n_missing} of {len(labels)} spots have no obs['ground_truth'] "
            "label; they are kept (NaN) and scores use only the annotated spots.",
            UserWarning,
            stacklevel=3,
        )


def _check_kinds(mdata: MuData, kinds: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """Resolve every modality's kind: ``kinds``, else ``uns['modality_kinds']``, else name."""
    unknown = sorted(set(kinds or {}) - set(mdata.mod))
    if unknown:
        raise InputDataError(
            f"{where}modality types were given for {unknown}, which the file does not hold "
            f"(it holds {list(mdata.mod)}); fix the modality names."
        )
    stored = {str(k): str(v) for k, v in dict(mdata.uns.get("modality_kinds", {})).items()}
    kinds = {**stored, **(kinds or {})}
    return {mod: modality_kind(mod, kinds.get(mod)) for mod in mdata.mod}


def read_mudata(
    path: str | os.PathLike, *, k: int = 3, kinds: Mapping[str, str] | None = None
) -> MuData:
    """Read a dataset (.h5mu), check it against the contract and return it.

    ``kinds`` maps modality names to 'rna' / 'adt' / 'atac' where the name does not say
    it (it overrides kinds stored in the file); the resolved kinds are stored in
    ``uns['modality_kinds']``, so they travel with the file. Coordinates found only
    on modalities are copied to the MuData's ``obsm['spatial']``; ``obs['ground_truth']``
    becomes a categorical of strings with missing labels kept as NaN (with a warning).
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            f"{path}: no such file. Check the path, or run the step that makes this dataset."
        )
    try:
        with (
            mudata.set_options(pull_on_update=False),
            warnings.catch_warnings(),
            _integer_axis_arrays_readable(),
        ):
            warnings.simplefilter("ignore", FutureWarning)
            mdata = mudata.read_h5mu(path)
    except Exception as err:  # h5py/anndata raise many types for a broken file
        raise InputDataError(
            f"{path}: cannot be read as a MuData .h5mu file ({type(err).__name__}: {err}). "
            "The file may be truncated (an interrupted copy or download) or not an .h5mu "
            "file at all: copy or download it again, or re-create it from its source data."
        ) from err
    prepare_mudata(mdata, k=k, kinds=kinds, source=str(path))
    return mdata


def prepare_mudata(
    mdata: MuData,
    *,
    k: int = 3,
    kinds: Mapping[str, str] | None = None,
    source: str | None = None,
) -> None:
    """Check an in-memory ``mdata`` against the contract and complete it, in place.

    What :func:`read_mudata` does after reading (the command line and ``tl.integrate`` run
    the same checks): :func:`validate_mudata`, modality kinds resolved into
    ``uns['modality_kinds']``, ``obsm['spatial']`` on the MuData, ``obs['ground_truth']``
    as a categorical of strings. ``source`` (a file name) prefixes every message.
    """
    validate_mudata(mdata, k=k, source=source)
    resolved = _check_kinds(mdata, kinds, _prefix(source))
    if "spatial" not in mdata.obsm:
        mdata.obsm["spatial"] = spatial_coordinates(mdata)
    _harmonize_ground_truth(mdata, source)
    mdata.uns["modality_kinds"] = resolved


@contextlib.contextmanager
def _integer_axis_arrays_readable() -> Iterator[None]:
    """Let mudata 0.3 read a file whose MuData-level obsm/varm holds integer arrays.

    mudata builds the MuData it read by reordering each obsm/varm array to its spot order
    and then setting the rows of spots missing from it to NaN (``_update_attr``:
    ``mx[index_order == -1] = np.nan``). NumPy refuses NaN in an integer array even when
    no row is selected, so such a file cannot be read ("cannot convert float NaN to
    integer"), though mudata wrote it; ``sc.read_visium`` stores coordinates as int64. Here
    integer arrays are kept aside while mudata builds the object and put back after,
    reordered by spot name as mudata would (a spot missing from the file's order, which
    no file mudata wrote has, turns the array into floats with NaN there, as mudata
    would have). Values and dtypes are kept as written.
    """
    original = MuData.__dict__["_init_from_dict_"]

    def init_from_dict(cls: type[MuData], **content: Any) -> MuData:
        kept: dict[tuple[str, str], tuple[np.ndarray, pd.Index | None]] = {}
        for attr, names in (("obsm", "obs"), ("varm", "var")):
            arrays = content.get(attr) or {}
            for key in [k for k, v in arrays.items() if _is_integer_array(v)]:
                frame = content.get(names)
                kept[attr, key] = (arrays.pop(key), getattr(frame, "index", None))
        built = original.__func__(cls, **content)
        for (attr, key), (values, order) in kept.items():
            now = built.obs_names if attr == "obsm" else built.var_names
            positions = np.arange(len(now)) if order is None else order.get_indexer(now)
            if (positions >= 0).all():
                getattr(built, attr)[key] = values[positions]
            else:
                filled = values[np.maximum(positions, 0)].astype(np.float64)
                filled[positions < 0] = np.nan
                getattr(built, attr)[key] = filled
        return built

    MuData._init_from_dict_ = classmethod(init_from_dict)
    try:
        yield
    finally:
        MuData._init_from_dict_ = original


def _is_integer_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "iu"


def _stringify_object_columns(frame: pd.DataFrame) -> None:
    """Turn object columns into categoricals of strings (h5 cannot store mixed objects)."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = _as_label_categorical(frame[column])


def write_mudata(mdata: MuData, path: str | os.PathLike) -> None:
    """Write ``mdata`` to ``path`` (.h5mu) atomically: a partial file is never left behind.

    Object-typed obs/var columns (of the MuData and its modalities) are converted in place
    to categoricals of strings, since HDF5 cannot store columns of mixed Python objects.
    """
    frames = [mdata.obs, mdata.var]
    for adata in mdata.mod.values():
        frames += [adata.obs, adata.var]
    for frame in frames:
        _stringify_object_columns(frame)
    with atomic_path(path) as tmp:
        _write_h5mu(mdata, tmp, Path(path))


def _write_h5mu(mdata: MuData, tmp: Path, path: Path) -> None:
    """``mdata.write(tmp)``, in a child process where one can be forked.

    h5py (3.16, HDF5 1.14) crashes the process with a segmentation fault, after a dozen
    tracebacks, when the disk fills up during a write; in a child that crash is reported
    as an OutputPathError naming ``path`` and the cause, and the caller lives on to remove
    the temporary file (``atomic_path``). Where no child can be forked the write runs
    here, and an OSError it raises becomes an OutputPathError alike.
    """

    def write() -> None:
        with mudata.set_options(pull_on_update=False), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            mdata.write(tmp)

    outcome = None
    if can_fork():
        with contextlib.suppress(OSError):  # no fork (e.g. out of memory): write here
            outcome = run_in_child(write, quiet=True)
    if outcome is None:
        try:
            write()
        except OSError as err:
            raise _write_error(path, f"{type(err).__name__}: {err}", err.errno) from None
        return
    if not outcome.ok:
        cause = outcome.error or f"the writing process {outcome.describe()}"
        raise _write_error(path, cause, outcome.errno, crashed=outcome.signal is not None)


def _write_error(
    path: Path, cause: str, code: int | None, crashed: bool = False
) -> OutputPathError:
    """The error of a failed write of ``path``; a full disk is said so, with the space left."""
    free_mb = shutil.disk_usage(path.parent).free / 1024**2 if path.parent.is_dir() else None
    full = code == errno.ENOSPC or "No space left" in cause
    if crashed and free_mb is not None and free_mb < 64:  # HDF5 crashes on ENOSPC
        full = True
    if full and free_mb is not None:
        return OutputPathError(
            f"{path}: could not be written (No space left on device: {free_mb:.0f} MB free "
            f"in {path.parent}); no partial file was left. Free some space and run again."
        )
    return OutputPathError(f"{path}: could not be written ({cause}); no partial file was left.")
