"""The one door to R: import rpy2 lazily, check R packages, convert arrays.

Every R caller (mclust clustering, the Seurat WNN baseline) goes through here so
that a missing R, rpy2 or R package gives the same clear MethodUnavailableError.
Conversions use ``localconverter``; the global ``numpy2ri.activate()`` is never
called (it is deprecated and changes conversion for the whole process).
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any

import numpy as np

from fastspami.errors import MethodUnavailableError

RPY2_PIN = "rpy2==3.5.17"


@functools.cache
def r_objects() -> ModuleType:
    """Return ``rpy2.robjects`` (embedded R started on first call), or raise MethodUnavailableError."""
    # rpy2 prepends R's library folders (and /usr/lib/x86_64-linux-gnu) to LD_LIBRARY_PATH.
    # Child processes (Snakemake jobs, tests) would then load the system's libpython
    # instead of their own interpreter's and fail to import ssl: put it back afterwards.
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as robjects
    except ImportError as err:
        raise MethodUnavailableError(
            f"The Python package rpy2 is not installed ({err}). Install R first "
            f"(Debian: apt-get install r-base-core; conda: r-base), then `pip install {RPY2_PIN}` "
            "(rpy2 3.6 does not load with R 4.2)."
        ) from err
    except (OSError, RuntimeError, ValueError) as err:
        raise MethodUnavailableError(
            f"rpy2 is installed but cannot start R ({err}). Install R "
            "(Debian: apt-get install r-base-core; conda: r-base), make sure `R` is on PATH "
            f"or R_HOME is set, and reinstall rpy2 against it (`pip install --force-reinstall {RPY2_PIN}`)."
        ) from err
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    return robjects


def r_package_available(name: str) -> bool:
    """True if R and rpy2 work and the R package ``name`` can be loaded."""
    try:
        robjects = r_objects()
    except MethodUnavailableError:
        return False
    return _has_namespace(robjects, name)


@functools.cache
def _has_namespace(robjects: ModuleType, name: str) -> bool:
    found = robjects.r["requireNamespace"](name, quietly=True)
    return bool(found[0])


def require_r_package(name: str, debian: str, conda: str) -> None:
    """Raise MethodUnavailableError naming how to install ``name`` unless R can load it.

    ``debian`` and ``conda`` are the package names to install it with, e.g.
    ``require_r_package("mclust", debian="r-cran-mclust", conda="r-mclust")``.
    """
    robjects = r_objects()
    if not _has_namespace(robjects, name):
        raise MethodUnavailableError(
            f"The R package {name!r} is not installed in the R that rpy2 uses. Install it "
            f"with `apt-get install {debian}` (Debian/Ubuntu), `conda install -c conda-forge "
            f"{conda}`, or `install.packages('{name}')` inside R."
        )


def attach_r_package(name: str) -> ModuleType:
    """Attach ``name`` to R's search path without startup messages or warnings; return robjects.

    Call require_r_package first for a helpful error when the package is missing.
    """
    robjects = r_objects()
    attach = robjects.r(
        "function(name) suppressWarnings(suppressPackageStartupMessages("
        "library(name, character.only = TRUE)))"
    )
    attach(name)
    return robjects


def to_r_matrix(array: np.ndarray) -> Any:
    """Convert a 2-D numeric array (n, d) into an R numeric matrix with the same shape."""
    robjects = r_objects()
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    values = np.asarray(array, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"to_r_matrix expects a 2-D array, got shape {values.shape}.")
    with localconverter(robjects.default_converter + numpy2ri.converter) as converter:
        return converter.py2rpy(values)


def to_numpy(r_value: Any) -> np.ndarray:
    """Convert an R vector or matrix into a NumPy array."""
    robjects = r_objects()
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    with localconverter(robjects.default_converter + numpy2ri.converter) as converter:
        return np.asarray(converter.rpy2py(r_value))


def is_r_null(r_value: Any) -> bool:
    """True if ``r_value`` is R's NULL (what many R fitting functions return on failure)."""
    robjects = r_objects()
    return bool(robjects.r["is.null"](r_value)[0])


def set_r_seed(seed: int) -> None:
    """Seed R's random number generator (``set.seed(seed)``)."""
    r_objects().r["set.seed"](int(seed))
