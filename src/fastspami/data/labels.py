"""Plain names of modalities, simulation scenarios and datasets, as a reader sees them.

Standard library only: the workflow's rule files import it at parse time. The one place
that turns internal names ('adt', 'comp_rna_adt', 'rna_adt-noise0.5-draw0') into what the
report's titles, captions and headings say ('protein', 'RNA + protein, complementary',
'RNA + protein, noise sd 0.5').

A scenario's name is its config key; its label is the config's ``label`` where given,
else derived from the simulator's scenario kind: the modalities joined by ' + ' and, for
the complementary kinds (each modality sees part of the domains), ', complementary'. Two
scenarios of a config that would share a derived label (e.g. SpatialGlue's five
simulations, all RNA + protein) need their own ``label`` in the config; without one, the
config key is added in brackets so the reader can still tell them apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

# The modality keys of the data contract, as a reader calls them (ADT: antibody-derived
# tags, which measure proteins).
MODALITY_LABELS = {"rna": "RNA", "adt": "protein", "atac": "ATAC"}
COMPLEMENTARY = "complementary_"


def modality_label(modality: str) -> str:
    """'rna' -> 'RNA', 'adt' -> 'protein', 'atac' -> 'ATAC'; other names as given."""
    return MODALITY_LABELS.get(str(modality).lower(), str(modality))


def modalities_label(modalities: list[str] | tuple[str, ...]) -> str:
    """('rna', 'adt') -> 'RNA + protein'."""
    return " + ".join(modality_label(m) for m in modalities)


def scenario_kind_label(kind: str) -> str:
    """The simulator's scenario kind as a reader says it.

    'rna_adt' -> 'RNA + protein', 'rna_adt_atac' -> 'RNA + protein + ATAC',
    'complementary_rna_atac' -> 'RNA + ATAC, complementary'.
    """
    kind = str(kind)
    complementary = kind.startswith(COMPLEMENTARY)
    modalities = kind.removeprefix(COMPLEMENTARY).split("_")
    label = modalities_label(modalities)
    return f"{label}, complementary" if complementary else label


def scenario_label(name: str, settings: Mapping[str, Any] | None = None) -> str:
    """A scenario's label: its config ``label``, else its kind's (else its name's)."""
    settings = settings or {}
    if settings.get("label"):
        return str(settings["label"])
    return scenario_kind_label(settings.get("scenario", name))


def scenario_labels(simulation: Mapping[str, Any] | None) -> dict[str, str]:
    """{scenario name: label} of a config's ``simulation`` mapping, each label distinct.

    A derived label that two scenarios share gets the scenario's config key in brackets
    (a config label is kept as written: the config's author chose it).
    """
    scenarios = (simulation or {}).get("scenarios") or {}
    labels = {name: scenario_label(name, settings) for name, settings in scenarios.items()}
    counts = Counter(labels.values())
    return {
        name: (
            f"{label} ({name})"
            if counts[label] > 1 and not (scenarios[name] or {}).get("label")
            else label
        )
        for name, label in labels.items()
    }


def noise_text(level: float) -> str:
    """'noise sd 0.5': the sd of the Gaussian noise added to the simulated counts."""
    return f"noise sd {float(level):g}"


def level_text(noise: float, draw: int = 0, n_draws: int = 1) -> str:
    """'noise sd 0.5', with ', draw 2 of 5' when a scenario has several data draws per level
    (draws counted from 1 for the reader)."""
    text = noise_text(noise)
    return f"{text}, draw {int(draw) + 1} of {int(n_draws)}" if n_draws > 1 else text


def dataset_levels(simulated: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """{simulated dataset id: its level_text} (noise level, and draw where there are several).

    simulated: ``fastspami.data.draws.simulated_datasets`` of a config.
    """
    n_draws = Counter((e["scenario"], float(e["noise"])) for e in simulated.values())
    return {
        dataset: level_text(
            entry["noise"],
            entry.get("draw", 0),
            n_draws[(entry["scenario"], float(entry["noise"]))],
        )
        for dataset, entry in simulated.items()
    }


def dataset_labels(
    simulated: Mapping[str, Mapping[str, Any]],
    real: Mapping[str, Mapping[str, Any]],
    simulation: Mapping[str, Any] | None,
) -> dict[str, str]:
    """{dataset id: label} of every dataset of a config: 'RNA + protein, noise sd 0.5'.

    simulated: ``fastspami.data.draws.simulated_datasets`` of the config (scenario, noise,
    draw per id); real: {name: registry entry}, labelled by the entry's ``title`` (else the
    name); simulation: the config's ``simulation`` mapping (for the scenario labels).
    """
    scenarios = scenario_labels(simulation)
    levels = dataset_levels(simulated)
    labels = {
        dataset: f"{scenarios.get(entry['scenario'], entry['scenario'])}, {levels[dataset]}"
        for dataset, entry in simulated.items()
    }
    for name, entry in real.items():
        labels[name] = str((entry or {}).get("title") or name)
    return labels
