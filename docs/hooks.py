"""mkdocs hook: the build fails when a public function, class or namespace of the API
reference has no docstring (the reference is generated from them)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

NAMESPACES = (
    "fastspami.tl",
    "fastspami.pl",
    "fastspami.pp",
    "fastspami.data",
    "fastspami.model",
    "fastspami.clustering",
    "fastspami.methods",
    "fastspami.metrics",
)


def undocumented() -> list[str]:
    """'namespace.name' of every public object of the API without a docstring."""
    missing = []
    for name in NAMESPACES:
        module = importlib.import_module(name)
        if not (module.__doc__ or "").strip():
            missing.append(name)
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr)
            if (inspect.isfunction(value) or inspect.isclass(value)) and not (
                inspect.getdoc(value) or ""
            ).strip():
                missing.append(f"{name}.{attr}")
    return missing


def on_pre_build(config) -> None:  # noqa: D103 (mkdocs' hook)
    src = str(Path(config["docs_dir"]).parent / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    missing = undocumented()
    if missing:
        raise PluginError(f"public objects without a docstring: {', '.join(missing)}")
