"""The one registry of integration methods: name, label, colour, role, conda env, entry point.

The workflow's config names a method by its registry name and gives only its settings;
the rules (which conda env, which function), the report (label, colour, whether it is a
control) and SpaMI's diagnosis all read this registry. Adding a method is one module in
``fastspami.methods`` and one ``register_method`` call below.

A config may also declare a method the registry does not know, with ``module`` (and
optionally ``env``, ``label``, ``colour``, ``role``): :func:`complete_config_methods`
registers it for that run. Kept free of heavy imports: Snakemake reads it at parse time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from fastspami.errors import ConfigError

log = logging.getLogger(__name__)

Role = Literal["method", "baseline", "control"]
ROLES: tuple[str, ...] = ("method", "baseline", "control")


@dataclass(frozen=True)
class Method:
    """A registered integration method.

    name: the key in configs and result tables; label: its display name; entry: the
    ``'package.module:function'`` implementing ``integrate(mdata, *, seed, threads, device,
    **params) -> IntegrationResult``; role: 'method' (published integration methods),
    'baseline' (simple references) or 'control' (bounds of a metric's scale: they are never
    ranked as best); env: the conda env file ``envs/<env>.yaml`` its jobs run in; colour:
    a fixed matplotlib colour, or None for one chosen from its name.
    """

    name: str
    label: str
    entry: str
    role: Role = "method"
    env: str = "spami"
    colour: str | None = None

    def load(self) -> Callable[..., Any]:
        """The integrate function (imports the method's module, and with it its package)."""
        return load_entry(self.entry)


_METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace_existing: bool = False) -> Method:
    """Add ``method`` to the registry (display order = registration order); return it."""
    if method.role not in ROLES:
        raise ConfigError(
            f"method {method.name!r}: role {method.role!r} is not one of {list(ROLES)}."
        )
    if ":" not in method.entry and "." not in method.entry:
        raise ConfigError(
            f"method {method.name!r}: entry {method.entry!r} must be 'package.module:function'."
        )
    if method.name in _METHODS and not replace_existing and _METHODS[method.name] != method:
        raise ConfigError(
            f"a method named {method.name!r} is already registered ({_METHODS[method.name]}); "
            "choose another name, or pass replace_existing=True."
        )
    _METHODS[method.name] = method
    return method


def unregister_method(name: str) -> None:
    """Remove a method (tests register toy methods and take them away again)."""
    _METHODS.pop(name, None)


def registered_methods() -> dict[str, Method]:
    """{name: Method} in display order."""
    return dict(_METHODS)


def get_method(name: str) -> Method:
    """The registered method ``name``; a ConfigError lists the known names otherwise."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(
            f"unknown method {name!r}; registered methods: {sorted(_METHODS)}. Declare a new "
            "one in the config with `module: package.module:function`, or register it with "
            "fastspami.methods.registry.register_method."
        ) from None


# -------------------------------------------------------------- entry points, old and new

# Configs written for the package's old name (`spami`, renamed because PyPI's `SpaMI` is
# the authors' distribution) keep working: their module strings are mapped to the new ones.
LEGACY_MODULES = {
    "spami.methods.spami_method": "fastspami.methods.spami_method",
    "spami.methods.seurat_wnn": "fastspami.methods.seurat_wnn",
    "spami.methods.mofa": "fastspami.methods.mofa",
    "spami.methods.spatialglue": "fastspami.methods.spatialglue",
    "spami.methods.controls": "fastspami.methods.controls",
    "spami.methods.smoothing": "fastspami.methods.smoothing",
    "spami.methods.spami_reference": "fastspami.methods.spami_reference",
}


def resolve_entry(spec: str) -> str:
    """``spec`` with an old ``spami.`` module mapped to its ``fastspami`` name."""
    module, sep, func = spec.partition(":")
    if module in LEGACY_MODULES:
        new = LEGACY_MODULES[module] + sep + func
        log.warning("method module %r is the package's old name; using %r", spec, new)
        return new
    if module == "spami" or module.startswith("spami."):
        raise ConfigError(
            f"method module {spec!r} names the package's old name `spami`, which is now "
            f"`fastspami` (e.g. {'fastspami' + spec[len('spami') :]!r})."
        )
    return spec


def load_entry(spec: str) -> Callable[..., Any]:
    """Import a method from a ``'package.module:function'`` (or ``'package.module'``) string."""
    module_name, _, func_name = resolve_entry(spec).partition(":")
    func_name = func_name or "integrate"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"Method module {module_name!r} cannot be imported ({err}). "
            "Check the 'module' entry of the method in the config."
        ) from err
    try:
        return getattr(module, func_name)
    except AttributeError as err:
        raise ConfigError(
            f"Method module {module_name!r} has no function {func_name!r}; "
            "a method module must define integrate(mdata, *, seed, threads, device, **params)."
        ) from err


# -------------------------------------------------------------- display


# What a reader sees for the workflow's variant names (an unlisted variant shows its name).
VARIANT_LABELS = {
    "default": "full model",
    "no_cosine": "w/o cosine loss",
    "no_contrastive": "w/o contrastive loss",
    "concat": "concatenation, no attention",
    "rna_only": "RNA only",
    "other_only": "other modality only",
    "shuffled": "shuffled coordinates",
    "robust": "robust preset",
}


def method_label(method: str, variant: str = "default") -> str:
    """Display name of a method and its variant: 'SpaMI', 'SpaMI (w/o cosine loss)'."""
    known = _METHODS.get(method)
    name = known.label if known else method
    return name if variant == "default" else f"{name} ({VARIANT_LABELS.get(variant, variant)})"


def method_rank(method: str) -> tuple[int, str]:
    """Sort key: registered methods in registration order, then others by name."""
    order = list(_METHODS)
    return (order.index(method) if method in order else len(order), method)


def is_control(method: str) -> bool:
    """Controls bound a metric's scale on a dataset; they are never ranked as best."""
    known = _METHODS.get(str(method))
    return known is not None and known.role == "control"


# -------------------------------------------------------------- the workflow's config

CONFIG_KEYS = ("module", "env", "label", "colour", "role")


def complete_config_methods(methods: MutableMapping[str, Any]) -> None:
    """Fill each config method's ``module`` and ``env`` from the registry, in place.

    A method the registry does not know must give ``module``; it is registered for this
    run with its ``env`` (default 'spami'), ``label``, ``colour`` and ``role``. A known
    method may override ``module`` or ``env`` (e.g. a fork in another env).
    """
    for name, spec in methods.items():
        if name in _METHODS:
            known = _METHODS[name]
            overrides = {
                k: v
                for k, v in spec.items()
                if k in CONFIG_KEYS and v is not None and k != "module"
            }
            entry = resolve_entry(spec["module"]) if spec.get("module") else known.entry
            method = replace(known, entry=entry, **overrides)
            if method != known:
                register_method(method, replace_existing=True)
        elif spec.get("module"):
            method = register_method(
                Method(
                    name=name,
                    label=spec.get("label") or name,
                    entry=resolve_entry(spec["module"]),
                    role=spec.get("role", "method"),
                    env=spec.get("env", "spami"),
                    colour=spec.get("colour"),
                ),
                replace_existing=True,
            )
        else:
            raise ConfigError(
                f"methods.{name}: no registered method of that name (registered: "
                f"{sorted(_METHODS)}); give its `module: package.module:function` to add one."
            )
        spec["module"], spec["env"] = method.entry, method.env


def register_config_methods(methods: Mapping[str, Any]) -> None:
    """Register the methods a (completed) config declares, for scripts that read results."""
    complete_config_methods({name: dict(spec) for name, spec in methods.items()})


# -------------------------------------------------------------- the methods shipped

for _method in (
    Method("spami", "SpaMI", "fastspami.methods.spami_method:integrate", colour="#d62728"),
    Method(
        "spami_reference",
        "SpaMI (authors' code)",
        "fastspami.methods.spami_reference:integrate",
        env="spami_reference",
        colour="#ff9896",
    ),
    Method(
        "spatialglue",
        "SpatialGlue",
        "fastspami.methods.spatialglue:integrate",
        env="spatialglue",
        colour="#1f77b4",
    ),
    Method("mofa", "MOFA+", "fastspami.methods.mofa:integrate", env="mofa", colour="#2ca02c"),
    Method(
        "seurat",
        "Seurat WNN",
        "fastspami.methods.seurat_wnn:integrate",
        env="seurat",
        colour="#9467bd",
    ),
    Method(
        "pca_concat",
        "PCA (concatenated)",
        "fastspami.methods.controls:integrate_pca_concat",
        role="baseline",
        colour="#ff7f0e",
    ),
    Method(
        "smoothing",
        "Spatial smoothing",
        "fastspami.methods.smoothing:integrate",
        role="baseline",
        colour="#8c564b",
    ),
    Method(
        "positive_control",
        "Positive control",
        "fastspami.methods.controls:integrate_positive",
        role="control",
        colour="#7f7f7f",
    ),
    Method(
        "random_control",
        "Random control",
        "fastspami.methods.controls:integrate_random",
        role="control",
        colour="#bcbd22",
    ),
):
    register_method(_method)
del _method
