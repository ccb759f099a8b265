"""Lazy re-exports for a package's ``__init__``: a name is imported from its module on
first use, so importing a namespace (``fastspami.data``) costs nothing until one of its
functions is called (the command line and the workflow's workers start fast)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting ``{name: submodule}``;
    other attributes are looked up as submodules."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        if name not in exports:  # a submodule (``fastspami.pl.style``) loads on first use too
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        importlib.import_module(package).__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__, names
