"""The benchmark's grid: which method variant runs on which dataset, with which settings.

One resolution of a config's ``run_on`` lists and parameter layers, used by the workflow
(``workflow/rules/common.smk``) and by the tests that check the study's parts add up to the
full study. Kept free of heavy imports: Snakemake reads it at parse time. ``methods`` is a
config's ``methods`` section after the schema has filled its defaults (``params``,
``variants``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastspami.errors import ConfigError

Run = tuple[str, str, str]  # (dataset, method, variant)

# the variant key the workflow reads itself; it never reaches the method
RUN_ON = "run_on"


def dataset_group(dataset: str, simulated: Mapping[str, Mapping[str, Any]]) -> str:
    """What a ``run_on`` list names: a simulated dataset's scenario, else the dataset."""
    entry = simulated.get(dataset)
    return entry["scenario"] if entry else dataset


def runs_on(variant: Mapping[str, Any] | None, group: str) -> bool:
    """Whether a variant (its settings) runs on a dataset of ``group``."""
    wanted = (variant or {}).get(RUN_ON)
    return wanted is None or group in wanted


def run_settings(
    spec: Mapping[str, Any],
    variant: str,
    dataset_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A run's keyword arguments: method params, then the dataset's own, then the variant's."""
    overrides = {k: v for k, v in (spec["variants"][variant] or {}).items() if k != RUN_ON}
    return {**(spec.get("params") or {}), **(dataset_params or {}), **overrides}


def check_run_on(methods: Mapping[str, Mapping[str, Any]], groups: Iterable[str]) -> None:
    """Refuse a ``run_on`` naming neither a scenario nor a dataset of the config."""
    known = set(groups)
    for method, spec in methods.items():
        for variant, settings in spec["variants"].items():
            unknown = sorted(set((settings or {}).get(RUN_ON) or []) - known)
            if unknown:
                raise ConfigError(
                    f"methods.{method}.variants.{variant}.run_on names {unknown}, which are "
                    f"neither scenarios nor datasets of the config; known: {sorted(known)}."
                )


def planned_runs(
    methods: Mapping[str, Mapping[str, Any]],
    simulated: Mapping[str, Mapping[str, Any]],
    real: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[Run, dict[str, Any]]:
    """{(dataset, method, variant): settings} of every integration a config asks for.

    ``simulated`` is :func:`fastspami.data.draws.simulated_datasets`'s result, ``real`` the
    registry entries of the config's real datasets (their ``method_params`` apply).
    """
    real = real or {}
    runs: dict[Run, dict[str, Any]] = {}
    for dataset in [*simulated, *real]:
        group = dataset_group(dataset, simulated)
        per_method = (real.get(dataset) or {}).get("method_params") or {}
        for method, spec in methods.items():
            for variant, settings in spec["variants"].items():
                if runs_on(settings, group):
                    runs[(dataset, method, variant)] = run_settings(
                        spec, variant, per_method.get(method)
                    )
    return runs
