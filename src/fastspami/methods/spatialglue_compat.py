"""A small runtime compatibility layer for the published SpatialGlue package (PyPI 1.1.5).

SpatialGlue was written against SciPy < 1.14 and older torch. With today's pinned stack
(requirements.txt) some of its functions break or flood the log. We never copy its source:
each patch below wraps one installed function at runtime, is applied once (idempotent),
and says what breaks and why. Checked against SpatialGlue 1.1.5 with SciPy 1.17, torch 2.13,
scikit-learn 1.9, anndata 0.12, pandas 2.3:

- ``preprocess.clr_normalize_each_cell``: BROKEN with sparse input (patched).
- ``preprocess.sparse_mx_to_torch_sparse_tensor``: works; the legacy
  ``torch.sparse.FloatTensor`` constructor it uses is deprecated (a UserWarning). Not patched;
  :func:`quiet_training` hides the warning.
- ``model.AttentionLayer``: works; ``F.softmax`` without ``dim`` warns (implicit dim 1 is the
  modality axis, which is what it means). Not patched; :func:`quiet_training` hides the warning.
- ``preprocess.pca``: works (imports the deprecated ``scipy.sparse.csc``/``csr`` namespaces,
  a DeprecationWarning until SciPy 2.0); callers pass it dense data. Not patched.
- ``preprocess.tfidf`` / ``lsi``: work on ``scipy.sparse.csr_matrix`` but silently divide along
  the wrong axis on ``csr_array`` (1-D row sums broadcast over columns); the caller hands them
  a ``csr_matrix``. Not patched.
- ``utils.mclust_R``: uses the deprecated global ``numpy2ri.activate()``; spami clusters with
  its own code and never calls it. Not patched.
- ``SpatialGlue_pyG.Train_SpatialGlue.train``: prints a tqdm bar per epoch; silenced on request
  by :func:`quiet_training` (a temporary, scoped swap, not a permanent patch).
- ``construct_neighbor_graph``, ``Train_SpatialGlue`` (pandas 2.3, anndata 0.12, torch 2.13):
  work unchanged.

Usage::

    modules = load_spatialglue()  # imports the package and applies the patches once
    modules.preprocess.clr_normalize_each_cell(adata)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import scipy.sparse as sp

from fastspami.errors import MethodUnavailableError

PIP_PACKAGE = "spatialglue==1.1.5"
_PATCH_MARKER = "__spami_compat_patch__"


@dataclass(frozen=True)
class SpatialGlueModules:
    """The three importable modules of the SpatialGlue package (it has no ``__init__`` exports)."""

    trainer: ModuleType  # SpatialGlue.SpatialGlue_pyG
    preprocess: ModuleType  # SpatialGlue.preprocess
    version: str


def spatialglue_version() -> str:
    """The installed SpatialGlue distribution's version (the package has no ``__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spatialglue")
    except PackageNotFoundError as err:
        raise _unavailable(err) from err


def _unavailable(err: Exception) -> MethodUnavailableError:
    return MethodUnavailableError(
        f"SpatialGlue is not installed or cannot be imported ({err}). "
        f"Install it with `pip install {PIP_PACKAGE} torch_geometric scikit-misc` "
        "(or use envs/spatialglue.yaml)."
    )


def load_spatialglue() -> SpatialGlueModules:
    """Import SpatialGlue's modules and apply every compatibility patch (once)."""
    try:
        trainer = importlib.import_module("SpatialGlue.SpatialGlue_pyG")
        preprocess = importlib.import_module("SpatialGlue.preprocess")
    except ImportError as err:
        raise _unavailable(err) from err
    apply_patches(preprocess)
    return SpatialGlueModules(trainer=trainer, preprocess=preprocess, version=spatialglue_version())


def applied_patches(preprocess: ModuleType) -> list[str]:
    """Names of the patched functions in ``SpatialGlue.preprocess`` (empty before patching)."""
    return sorted(
        name
        for name, obj in vars(preprocess).items()
        if callable(obj) and getattr(obj, _PATCH_MARKER, False)
    )


def apply_patches(preprocess: ModuleType) -> list[str]:
    """Patch ``SpatialGlue.preprocess`` in place; calling it again changes nothing.

    Returns the names of the patched functions.
    """
    _patch(preprocess, "clr_normalize_each_cell", _clr_accepting_sparse)
    return applied_patches(preprocess)


def _patch(module: ModuleType, name: str, make_wrapper: Any) -> None:
    original = getattr(module, name)
    if getattr(original, _PATCH_MARKER, False):
        return
    wrapper = make_wrapper(original)
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, _PATCH_MARKER, True)
    wrapper.__wrapped_original__ = original  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


def _clr_accepting_sparse(original: Any) -> Any:
    # What breaks: clr_normalize_each_cell densifies sparse input with ``adata.X.A``; SciPy
    # 1.14 removed the ``.A`` attribute of sparse matrices, so every sparse ADT matrix raises
    # AttributeError. Why this fix: the function densifies anyway, so densifying first (on the
    # object it will modify) gives the same numbers without touching its Seurat-style CLR.
    def clr_normalize_each_cell(adata: Any, inplace: bool = True) -> Any:
        if not inplace:
            adata = adata.copy()
        if sp.issparse(adata.X):
            adata.X = adata.X.toarray()
        return original(adata, inplace=True)

    return clr_normalize_each_cell


@contextlib.contextmanager
def quiet_training(trainer: ModuleType, quiet: bool = True) -> Iterator[None]:
    """Inside: no per-epoch tqdm bar, no "Model training finished!" print and none of the two
    known deprecation warnings (legacy sparse constructor, softmax without ``dim``)."""
    if not quiet:
        yield
        return
    original_tqdm = trainer.tqdm
    trainer.tqdm = functools.partial(original_tqdm, disable=True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.filterwarnings("ignore", message=r"torch\.sparse\.SparseTensor")
            warnings.filterwarnings("ignore", message=r"Implicit dimension choice for softmax")
            yield
    finally:
        trainer.tqdm = original_tqdm
