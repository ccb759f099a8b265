"""Checking SpaMI's settings before training: what the workflow runs at parse time."""

from __future__ import annotations

import inspect

import pytest

from fastspami.errors import ConfigError
from fastspami.methods.spami_method import integrate
from fastspami.model.presets import INTEGRATE_KEYS, check_settings, get_preset


def test_check_settings_knows_every_keyword_of_integrate():
    keywords = {
        name
        for name, param in inspect.signature(integrate).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert keywords - {"seed", "threads", "device"} == set(INTEGRATE_KEYS)
    check_settings(
        {
            "preset": "robust",
            "epochs": 10,
            "weights": [None, None, None, None, 0],
            "exclude_modalities": ["rna"],
            "n_comps": 20,
            "tile_spots": 500,
        }
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epoch": 300}, r"Unknown SpaMI setting\(s\) \['epoch'\]"),
        ({"preset": "simulate"}, "Unknown SpaMI preset 'simulate'"),
        ({"fusion": "sum"}, "fusion must be one of"),
        ({"weights": [None, 1, 1]}, "null entries but not the preset's length 5"),
    ],
)
def test_check_settings_names_what_is_wrong(settings, message):
    with pytest.raises(ConfigError, match=message):
        check_settings(settings)


# docs/reference/model_spec.md's table, written out: dataset -> (k, lr, epochs, w1..w5, preprocessing)
SPEC_TABLE = {
    "simulated": (3, 1e-3, 1000, (1, 1, 10, 10, 5), {}),
    "misar": (3, 1e-2, 800, (1, 1, 10, 15, 3), {"n_top_genes": 1800}),
    "brain_p22": (6, 1e-3, 400, (1, 1, 10, 15, 5), {}),
    "thymus": (3, 1e-4, 600, (1, 5, 10, 25, 1), {"min_cells_adt": 50}),
}


@pytest.mark.parametrize("name", sorted(SPEC_TABLE))
def test_paper_presets_are_the_specs_table(name):
    """Each paper preset trains the spec's model: its k, lr, epochs and loss weights, the
    spec's widths and dropout, attention fusion, full batch for a fixed number of epochs,
    no input or loss rescaling, the reference's preprocessing for that dataset, whatever
    the modalities."""
    k, lr, epochs, weights, preprocess = SPEC_TABLE[name]
    config = get_preset(name)
    assert (config.k, config.lr, config.epochs) == (k, lr, epochs)
    assert config.weights == tuple(float(w) for w in weights)
    assert (config.hidden_dim, config.latent_dim, config.dropout) == (256, 64, 0.15)
    assert config.fusion == "attention"
    assert (config.early_stopping, config.tile_spots) == (False, None)
    assert (config.input_scaling, config.reconstruction_scaling) == ("none", "none")
    assert config.preprocess == preprocess
    for kinds in (("rna", "adt"), ("rna", "atac"), ("rna", "adt", "atac")):
        assert get_preset(name, kinds) == config  # no kind-specific changes
