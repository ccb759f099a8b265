"""fastspami.data.labels: the names a reader sees for modalities, scenarios and datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fastspami.data.draws import simulated_datasets
from fastspami.data.labels import (
    dataset_labels,
    modality_label,
    scenario_kind_label,
    scenario_labels,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [
    "config/config.yaml",
    "config/simulation.yaml",
    "config/simulation_rna_adt.yaml",
    "config/simulation_rna_atac.yaml",
    "config/simulation_spatialglue.yaml",
    "config/simulation_spami.yaml",
    "config/paper.yaml",
]


def test_scenario_kinds_are_named_by_their_modalities():
    assert scenario_kind_label("rna_adt") == "RNA + protein"
    assert scenario_kind_label("rna_atac") == "RNA + ATAC"
    assert scenario_kind_label("rna_adt_atac") == "RNA + protein + ATAC"
    assert scenario_kind_label("complementary_rna_adt") == "RNA + protein, complementary"
    assert scenario_kind_label("complementary_rna_atac") == "RNA + ATAC, complementary"
    assert modality_label("ADT") == "protein" and modality_label("spectra") == "spectra"


def test_a_scenario_is_named_by_its_kind_or_its_config_label():
    simulation = {
        "scenarios": {
            "comp_rna_adt": {"scenario": "complementary_rna_adt"},
            "sg1": {"scenario": "rna_adt", "label": "SpatialGlue Simulation 1"},
            "mine": {"scenario": "rna_adt"},
        }
    }
    assert scenario_labels(simulation) == {
        "comp_rna_adt": "RNA + protein, complementary",
        "sg1": "SpatialGlue Simulation 1",
        "mine": "RNA + protein",
    }
    # two scenarios of one kind without a label: the config key tells them apart
    simulation["scenarios"]["other"] = {"scenario": "rna_adt", "grid_size": 12}
    labels = scenario_labels(simulation)
    assert labels["mine"] == "RNA + protein (mine)" and labels["other"] == "RNA + protein (other)"


def test_datasets_are_named_by_scenario_noise_and_draw():
    simulation = {
        "noise_levels": [0.5, 16.0],
        "scenarios": {
            "rna_adt": {"scenario": "rna_adt"},
            "comp": {"scenario": "complementary_rna_adt", "draws": 2, "noise_levels": [0.5]},
        },
    }
    real = {"lymph": {"title": "Human lymph node A1 (RNA + protein)"}, "bare": {}}
    labels = dataset_labels(simulated_datasets(simulation), real, simulation)
    assert labels["rna_adt-noise0.5-draw0"] == "RNA + protein, noise sd 0.5"
    assert labels["rna_adt-noise16-draw0"] == "RNA + protein, noise sd 16"
    assert (
        labels["comp-noise0.5-draw1"] == "RNA + protein, complementary, noise sd 0.5, draw 2 of 2"
    )
    assert labels["lymph"] == "Human lymph node A1 (RNA + protein)"
    assert labels["bare"] == "bare"


@pytest.mark.parametrize("config", CONFIGS)
def test_shipped_configs_name_every_scenario_plainly(config):
    """No config key (comp_rna_adt, spatialglue_sim1) reaches the reader, and no two
    scenarios share a name."""
    simulation = yaml.safe_load((REPO / config).read_text())["simulation"]
    labels = scenario_labels(simulation)
    assert len(set(labels.values())) == len(labels)
    assert not any("_" in label for label in labels.values())
    if "spatialglue_sim1" in labels:
        assert labels["spatialglue_sim1"] == "SpatialGlue Simulation 1"
    # the label is the workflow's own: it never reaches the simulator
    for entry in simulated_datasets(simulation).values():
        assert "label" not in entry["kwargs"]
