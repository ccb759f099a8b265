"""A small runtime compatibility layer for the authors' SpaMI package (PyPI ``SpaMI`` 1.0.0).

Their package (import name ``SpaMI``; Gao, Yang & Zhang 2025) was written against numpy 1.22,
anndata 0.9 and SciPy 1.10. On today's pinned stack (requirements.txt: numpy 2.4, anndata
0.12, SciPy 1.17, torch 2.13, torch_geometric 2.8) it does not import, because
``SpaMI.preprocess`` imports episcanpy 0.4.0 at module level, and episcanpy's own imports
fail. We never copy their source: what is patched is patched at runtime, for as short a time
as possible, and each item says what breaks and why the fix cannot change a number. Checked
against SpaMI 1.0.0 and episcanpy 0.4.0:

Patched (only while ``import SpaMI`` runs, then removed again):

- ``numpy.NaN``: episcanpy's ``count_matrix/_bld_met_mtx.py`` does ``from numpy import NaN``;
  numpy 2.0 removed that alias of ``numpy.nan`` (ImportError). The alias is added for the
  import and deleted after it: the name episcanpy binds is the same float object
  ``numpy.nan``, in a module SpaMI never calls (it builds count matrices from BAM files).
- ``anndata.read``: episcanpy's ``__init__`` does ``from anndata import read``; anndata 0.12
  removed that alias of ``anndata.read_h5ad`` (ImportError). Added for the import, deleted
  after it; SpaMI never calls episcanpy's ``read``.

Not patched (they work, or the caller avoids what breaks):

- ``preprocess.preprocess_adt`` (and Tutorials 3/4's inline CLR): densify sparse input with
  ``X.A``, which SciPy 1.14 removed (AttributeError). The callers hand them dense protein
  counts (a protein panel is small), which takes the other branch of the same expression.
- ``preprocess.preprocess_atac``: episcanpy's ``binarize`` and ``filter_features`` work on
  a ``scipy.sparse.csr_matrix`` (the latter passes scanpy's now keyword-only arguments by
  position: a FutureWarning, same result). ``tfidf`` is right on ``csr_matrix`` but would
  divide along the wrong axis on ``csr_array`` (a 1-D row sum broadcasts over columns); the
  h5ad files the caller writes are read back by anndata 0.12 as ``csr_matrix``.
- ``preprocess.construct_adj`` (POT's ``ot.dist``, dense N x N numpy arrays),
  ``main.train``, ``model.SpaMI`` (torch 2.13, torch_geometric 2.8's ``GCNConv`` and
  ``dense_to_sparse``): work unchanged.
- ``main.train`` shows a tqdm bar per epoch, prints twice and saves ``embedding.npy`` into
  its ``result_path``: :func:`quiet_training` swaps the bar off and hides the prints for the
  duration of a call (not a permanent patch); the caller gives it a temporary folder.
- ``main.train`` returns only the fused embedding; its final forward pass (eval mode, no
  gradient) also computes the per-modality embeddings and the attention weights.
  :func:`recorded_outputs` keeps them with a global forward hook that returns nothing, so the
  forward pass's outputs are untouched.

Usage::

    modules = load_reference()  # imports the package (with the aliases above) once
    with quiet_training(modules.main), recorded_outputs(modules.model) as last:
        embedding = modules.main.train(omics1, omics2, folder, epochs=10)
    attention = last["attention"]
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastspami.errors import MethodUnavailableError

PACKAGE_VERSION = "1.0.0"
# What their import needs on top of requirements.txt (episcanpy's module-level imports:
# pysam, bamnostic, intervaltree, kneed; POT for construct_adj). `make setup` installs them
# (requirements.txt, and requirements-reference.txt with --no-deps); PyPI's "SpaMI" and this
# project's distribution "fastspami" install side by side.
PIP_INSTALL = (
    "pip install SpaMI==1.0.0 episcanpy==0.4.0 POT==0.9.7.post1 pysam==0.24.1 "
    "bamnostic==1.3 intervaltree==3.2.1 kneed==0.9.0 torch_geometric==2.8.1"
)
IMPORT_ALIASES = ("numpy.NaN", "anndata.read")


@dataclass(frozen=True)
class ReferenceModules:
    """The modules of the authors' package (``SpaMI.main`` and friends) and its version."""

    main: ModuleType  # train()
    model: ModuleType  # SpaMI, AttentionLayer, omics1_encoder, ...
    preprocess: ModuleType  # preprocess_rna/_adt/_atac, construct_adj, add_contrastive_label
    utils: ModuleType  # fix_seed
    version: str


def _unavailable(err: BaseException) -> MethodUnavailableError:
    return MethodUnavailableError(
        f"The authors' SpaMI package is not installed or cannot be imported ({err}). "
        f"Install it with `{PIP_INSTALL} --no-deps` (or `make setup`), or use "
        "envs/spami_reference.yaml."
    )


@contextlib.contextmanager
def _import_aliases() -> Iterator[list[str]]:
    """``numpy.NaN`` and ``anndata.read`` exist inside (where missing), and not after."""
    import anndata
    import numpy

    added = []
    for module, name, value in ((numpy, "NaN", numpy.nan), (anndata, "read", anndata.read_h5ad)):
        if name not in vars(module):
            setattr(module, name, value)
            added.append((module, name))
    try:
        yield [f"{module.__name__}.{name}" for module, name in added]
    finally:
        for module, name in added:
            delattr(module, name)


@functools.cache
def load_reference() -> ReferenceModules:
    """Import the authors' package once (with the import aliases); raise if it is missing."""
    try:
        with _import_aliases(), warnings.catch_warnings():
            # episcanpy imports deprecated anndata and scipy names (FutureWarning,
            # DeprecationWarning) at import time; nothing of it runs
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            modules = {
                name: importlib.import_module(f"SpaMI.{name}")
                for name in ("main", "model", "preprocess", "utils")
            }
    except ImportError as err:
        raise _unavailable(err) from err
    package = sys.modules["SpaMI"]
    return ReferenceModules(**modules, version=str(getattr(package, "__version__", "unknown")))


def reference_available() -> bool:
    """Whether the authors' package imports here (no exception)."""
    try:
        load_reference()
    except MethodUnavailableError:
        return False
    return True


@contextlib.contextmanager
def quiet_training(main: ModuleType, quiet: bool = True) -> Iterator[None]:
    """Inside: ``main.train`` shows no per-epoch bar and prints nothing."""
    if not quiet:
        yield
        return
    original_tqdm = main.tqdm
    main.tqdm = functools.partial(original_tqdm, disable=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        main.tqdm = original_tqdm


@contextlib.contextmanager
def epoch_clock(main: ModuleType) -> Iterator[list[float]]:
    """Inside: each epoch of ``main.train`` appends its wall seconds to the yielded list.

    ``train`` loops ``for epoch in tqdm(range(epochs))``; the loop's iterator is swapped for
    one that reads the clock each time the next epoch is asked for (no bar, no print).
    """
    import time

    durations: list[float] = []

    def timed(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        last = None
        for item in iterable:
            now = time.perf_counter()
            if last is not None:
                durations.append(now - last)
            last = now
            yield item
        if last is not None:
            durations.append(time.perf_counter() - last)

    original_tqdm = main.tqdm
    main.tqdm = timed
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield durations
    finally:
        main.tqdm = original_tqdm


@contextlib.contextmanager
def recorded_outputs(model: ModuleType) -> Iterator[dict[str, Any]]:
    """Inside: the yielded dict holds the latest outputs of their model's layers.

    ``'attention'``: the (N, 2) modality weights of ``AttentionLayer``; ``'omics1'`` /
    ``'omics2'``: the (N, d) embeddings of ``omics1_encoder`` / ``omics2_encoder``. After
    ``main.train`` returns these are those of its final forward pass (eval mode), the one
    that gives the returned embedding. The hook returns None, so no output is changed.
    """
    import torch

    latest: dict[str, Any] = {}
    kinds = {
        model.AttentionLayer: ("attention", 1),
        model.omics1_encoder: ("omics1", 0),
        model.omics2_encoder: ("omics2", 0),
    }

    def hook(module: Any, inputs: Any, output: Any) -> None:
        found = kinds.get(type(module))
        if found is not None:
            latest[found[0]] = output[found[1]].detach()

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield latest
    finally:
        handle.remove()
