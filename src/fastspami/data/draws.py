"""Data seeds of simulated datasets: one independent data draw per (scenario, level, draw).

Standard library only: the workflow's rule files import it at parse time.

``draw_seed`` hashes the scenario's name (the config key, e.g. 'rna_adt'), the level (noise
sd, as the dataset id writes it), the draw index and the config's base ``data_seed`` with
SHA-256 and keeps 31 bits. So every dataset of a config has its own draw: two scenarios
never share one (their RNA differs even where the generator's settings agree), nor do two
noise levels of a scenario (a level is not the same counts with scaled noise), and another
base seed redraws the whole study. Collisions among a config's few hundred datasets have
probability ~1e-5; the workflow refuses a config where one happens rather than share a draw.
Seeds for tuning or pilots use their own names ('pilot/rna_adt'), so no study table reuses
them. :func:`simulated_datasets` expands a config's ``simulation`` mapping into its datasets
(the workflow's grid, also what the tests check on the shipped configs).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any

SEED_BITS = 31  # non-negative and below 2**31: valid for NumPy, R and torch alike


def level_label(level: float) -> str:
    """A level as dataset ids write it: 2.0 -> '2', 0.5 -> '0.5'."""
    return f"{float(level):g}"


def draw_seed(scenario: str, level: float, draw: int, base: int = 0) -> int:
    """The data seed of draw ``draw`` of ``scenario`` at ``level`` (base: the config's data_seed)."""
    text = f"{int(base)}/{scenario}/{level_label(level)}/{int(draw)}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def dataset_id(scenario: str, level: float, draw: int) -> str:
    """The workflow's id of a simulated dataset: 'rna_adt-noise0.5-draw0'."""
    return f"{scenario}-noise{level_label(level)}-draw{int(draw)}"


# Keys of a scenario that the workflow reads itself; the others are simulate()'s.
SCENARIO_WORKFLOW_KEYS = ("noise_levels", "draws", "reference", "label")


def simulated_datasets(simulation: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{dataset id: settings} for every scenario x noise level x data draw of a config.

    simulation: the config's ``simulation`` mapping. A scenario's own ``noise_levels`` and
    ``draws`` win over the simulation's (draws default 1). Settings: scenario (the config
    key), noise, draw and kwargs (simulate()'s keyword arguments plus data_seed =
    :func:`draw_seed` of the scenario name, level, draw and ``data_seed``). Raises
    ValueError where two datasets would share a data seed.
    """
    base = simulation.get("data_seed", 0)
    datasets: dict[str, dict[str, Any]] = {}
    for name, settings in (simulation.get("scenarios") or {}).items():
        kwargs = {k: v for k, v in settings.items() if k not in SCENARIO_WORKFLOW_KEYS}
        for level in settings.get("noise_levels", simulation.get("noise_levels", [])):
            for draw in range(settings.get("draws", simulation.get("draws", 1))):
                datasets[dataset_id(name, level, draw)] = {
                    "scenario": name,
                    "noise": float(level),
                    "draw": draw,
                    "kwargs": {**kwargs, "data_seed": draw_seed(name, level, draw, base)},
                }
    seeds = Counter(entry["kwargs"]["data_seed"] for entry in datasets.values())
    shared = sorted(d for d, e in datasets.items() if seeds[e["kwargs"]["data_seed"]] > 1)
    if shared:
        raise ValueError(
            f"datasets {shared} would share a data seed; change simulation.data_seed "
            "(the base of every dataset's seed) so that each dataset is its own draw."
        )
    return datasets
