"""fastspami: a sparse, fast reimplementation of SpaMI (spatial multi-omics integration
with graph neural networks; Gao, Yang & Zhang, PLoS Comput Biol 2025), scverse style.

    import fastspami as fs
    fs.tl.integrate(mdata, preset="robust")      # writes mdata.obsm["X_spami"]
    fs.tl.cluster(mdata, use_rep="X_spami", n_clusters=5)
    fs.pl.domains(mdata, color="spami_leiden")

Namespaces load on first use: ``pp`` (preprocessing, spatial graph), ``tl`` (integrate,
cluster), ``pl`` (figures), ``data`` (the data contract, simulation, real datasets),
``model`` (the network and its training), ``methods`` and ``metrics`` (registries of the
benchmark's components), ``clustering``, ``benchmark`` (the workflow's job logic).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("fastspami")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

_SUBPACKAGES = ("pp", "tl", "pl", "data", "model", "methods", "metrics", "clustering", "benchmark")

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    # Lazy: `import fastspami` stays fast (the command line, a worker's start); a
    # namespace imports torch, scanpy or matplotlib only when it is used.
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
