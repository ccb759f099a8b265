"""The benchmark's grid: which variant runs where, with which settings."""

from __future__ import annotations

import pytest

from fastspami.benchmark.grid import check_run_on, planned_runs
from fastspami.errors import ConfigError

SIMULATED = {
    "rna_adt-noise2-draw0": {"scenario": "rna_adt"},
    "rna_atac-noise2-draw0": {"scenario": "rna_atac"},
}
METHODS = {
    "spami": {
        "params": {"epochs": 600, "lr": 0.001},
        "variants": {
            "default": {},
            "no_cosine": {"cosine_weight": 0.0, "run_on": ["rna_atac", "lymph_node"]},
        },
    },
}


def test_a_variant_runs_only_where_its_run_on_says():
    runs = planned_runs(METHODS, SIMULATED, {"lymph_node": {}})
    assert set(runs) == {
        ("rna_adt-noise2-draw0", "spami", "default"),
        ("rna_atac-noise2-draw0", "spami", "default"),
        ("lymph_node", "spami", "default"),
        ("rna_atac-noise2-draw0", "spami", "no_cosine"),
        ("lymph_node", "spami", "no_cosine"),
    }


def test_settings_layer_params_then_the_datasets_own_then_the_variants():
    real = {"lymph_node": {"method_params": {"spami": {"epochs": 300, "cosine_weight": 5}}}}
    runs = planned_runs(METHODS, SIMULATED, real)
    assert runs[("lymph_node", "spami", "default")] == {
        "epochs": 300,
        "lr": 0.001,
        "cosine_weight": 5,
    }
    # the variant wins over the dataset; run_on never reaches the method
    assert runs[("lymph_node", "spami", "no_cosine")] == {
        "epochs": 300,
        "lr": 0.001,
        "cosine_weight": 0.0,
    }
    assert runs[("rna_atac-noise2-draw0", "spami", "no_cosine")] == {
        "epochs": 600,
        "lr": 0.001,
        "cosine_weight": 0.0,
    }


def test_a_run_on_naming_an_unknown_scenario_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"no_cosine\.run_on names \['lymph_node'\].*rna_adt"):
        check_run_on(METHODS, {"rna_adt", "rna_atac"})
