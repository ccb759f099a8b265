"""Data draws of the workflow: every simulated dataset its own data seed, in every shipped config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from fastspami.benchmark.grid import planned_runs
from fastspami.data import draws
from fastspami.data.draws import dataset_id, draw_seed, simulated_datasets

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("config/config.yaml", "config/simulation.yaml", "config/paper.yaml")


def _simulation(config: str) -> dict:
    return yaml.safe_load((REPO / config).read_text())["simulation"]


# the parts of config/simulation.yaml that run on their own, and their datasets
STUDY_PARTS = {
    "rna_adt": 30,  # 6 noise levels x 5 draws
    "rna_atac": 30,
    "spatialglue": 25,  # Simulation1-5 x 5 draws
    "spami": 60,  # both paper scenarios x 6 levels x 5 draws
}


@pytest.mark.parametrize("part_name", sorted(STUDY_PARTS))
def test_the_reported_parts_of_the_study_have_the_full_studys_datasets(part_name):
    part = simulated_datasets(_simulation(f"config/simulation_{part_name}.yaml"))
    full = simulated_datasets(_simulation("config/simulation.yaml"))
    assert len(part) == STUDY_PARTS[part_name]
    assert {name: entry["kwargs"] for name, entry in part.items()} == {
        name: full[name]["kwargs"] for name in part
    }


@pytest.mark.parametrize("config", SHIPPED)
def test_no_two_datasets_of_a_shipped_config_share_a_data_draw(config):
    datasets = simulated_datasets(_simulation(config))
    seeds = [entry["kwargs"]["data_seed"] for entry in datasets.values()]
    assert len(set(seeds)) == len(seeds) == len(datasets)
    scenarios = {entry["scenario"] for entry in datasets.values()}
    assert len(scenarios) >= 4  # several scenarios, none of which shares a draw with another


@pytest.mark.parametrize("config", ["config/simulation.yaml", "config/paper.yaml"])
def test_the_full_study_has_five_draws_of_every_scenario_and_level(config):
    datasets = simulated_datasets(_simulation(config)).values()
    per_cell: dict[tuple, int] = {}
    for entry in datasets:
        key = (entry["scenario"], entry["noise"])
        per_cell[key] = per_cell.get(key, 0) + 1
    assert min(per_cell.values()) >= 5


def test_the_full_study_holds_both_published_sweeps():
    simulation = _simulation("config/simulation.yaml")
    assert len(simulation["noise_levels"]) >= 5 and 0.5 in simulation["noise_levels"]
    for scenario in ("rna_adt", "rna_atac"):  # SpaMI's noise sweep on its tutorial's pattern
        assert simulation["scenarios"][scenario]["pattern"] == "spami"
    spatialglue = [
        settings
        for name, settings in simulation["scenarios"].items()
        if name.startswith("spatialglue_sim")
    ]
    # SpatialGlue's Simulation1-5: bkg_mean RNA 0.2-0.6, protein 0.4-0.8, noise N(2, 0.5^2)
    assert sorted(s["bkg_mean_rna"] for s in spatialglue) == [0.2, 0.3, 0.4, 0.5, 0.6]
    assert sorted(s["bkg_mean_adt"] for s in spatialglue) == [0.4, 0.5, 0.6, 0.7, 0.8]
    assert all(s["noise_levels"] == [0.5] and s["pattern"] == "ggblocks" for s in spatialglue)
    assert all("noise_mean" not in s for s in spatialglue)  # the simulator's 2 [V]


def test_draw_seeds_differ_by_scenario_level_draw_and_base():
    seed = draw_seed("rna_adt", 0.5, 0)
    assert seed == draw_seed("rna_adt", 0.5, 0)  # deterministic
    others = [
        draw_seed("rna_atac", 0.5, 0),
        draw_seed("rna_adt", 2.0, 0),
        draw_seed("rna_adt", 0.5, 1),
        draw_seed("rna_adt", 0.5, 0, base=1),
        draw_seed("pilot/rna_adt", 0.5, 0),
    ]
    assert seed not in others and len(set(others)) == len(others)
    assert all(0 <= s < 2**31 for s in [seed, *others])
    assert dataset_id("rna_adt", 2.0, 3) == "rna_adt-noise2-draw3"


def test_a_scenarios_own_levels_and_draws_win():
    simulation = {
        "noise_levels": [0.5, 16.0],
        "draws": 2,
        "scenarios": {
            "a": {"scenario": "rna_adt"},
            "b": {"scenario": "rna_atac", "noise_levels": [0.5], "draws": 3, "reference": {}},
        },
    }
    datasets = simulated_datasets(simulation)
    assert sorted(datasets) == [
        "a-noise0.5-draw0",
        "a-noise0.5-draw1",
        "a-noise16-draw0",
        "a-noise16-draw1",
        "b-noise0.5-draw0",
        "b-noise0.5-draw1",
        "b-noise0.5-draw2",
    ]
    entry = datasets["b-noise0.5-draw2"]
    assert entry["kwargs"] == {"scenario": "rna_atac", "data_seed": draw_seed("b", 0.5, 2)}
    assert entry["noise"] == 0.5 and entry["draw"] == 2


def test_a_shared_seed_is_refused(monkeypatch):
    monkeypatch.setattr(draws, "draw_seed", lambda *args, **kwargs: 7)
    simulation = {"noise_levels": [0.5], "scenarios": {"a": {}, "b": {}}}
    with pytest.raises(ValueError, match="share a data seed"):
        simulated_datasets(simulation)


def _runs(config: str) -> dict[tuple[str, str, str], dict]:
    """{(dataset, method, variant): settings} of a config, resolved as the workflow does."""
    loaded = yaml.safe_load((REPO / config).read_text())
    validate(loaded, str(REPO / "config" / "schemas" / "config.schema.yaml"))  # fills defaults
    return planned_runs(loaded["methods"], simulated_datasets(loaded["simulation"]))


def test_the_parts_of_the_study_add_up_to_the_full_study():
    full = _runs("config/simulation.yaml")
    parts: dict[tuple[str, str, str], dict] = {}
    for part_name in STUDY_PARTS:
        parts.update(_runs(f"config/simulation_{part_name}.yaml"))
    # the controls run in several parts (they are the scale of each part's report)
    assert parts.keys() == full.keys()
    assert all(parts[run] == full[run] for run in full)
