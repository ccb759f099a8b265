"""Checking SpaMI's settings before training: what the workflow runs at parse time."""

from __future__ import annotations

import inspect

import pytest

from fastspami.errors import ConfigError
from fastspami.methods.spami_method import integrate
from fastspami.model.presets import INTEGRATE_KEYS, PRESETS, check_settings, get_preset


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


# SPAMI_SPEC.md's table (the paper's "Implementation details" and main.py), written out:
# dataset -> (k, lr, epochs, w1..w5, latent size, preprocessing). Latent sizes and
# preprocessing where the text is silent: the authors' tutorial for the dataset (github
# Gaocongqiang/SpaMI, Tutorial/Tutorial_N.ipynb) or their PyPI package SpaMI 1.0.0.
AUTHORS_RNA = {"hvg_flavor": "seurat", "min_cells": 10}  # scanpy's default flavor, text: 10
SPEC_TABLE = {
    # this package's defaults (Tutorial 4: no HVGs, PCA 100; kept: docs/real_data.md)
    "simulated": (3, 1e-3, 1000, (1, 1, 10, 10, 5), 64, {}),
    # Tutorial 1: 1800 HVGs, PCA 50, train(..., out_dim=20)
    "misar": (
        3,
        1e-2,
        800,
        (1, 1, 10, 15, 3),
        20,
        {**AUTHORS_RNA, "n_top_genes": 1800, "n_comps": 50},
    ),
    # Tutorial 2: 3000 HVGs, PCA 50, out_dim 64
    "brain_p22": (
        6,
        1e-3,
        400,
        (1, 1, 10, 15, 5),
        64,
        {**AUTHORS_RNA, "n_top_genes": 3000, "n_comps": 50},
    ),
    # Tutorial 3 and the text: proteins in >= 50 spots, RNA PCA 21, 3000 HVGs, out_dim 64
    "thymus": (
        3,
        1e-4,
        600,
        (1, 5, 10, 25, 1),
        64,
        {**AUTHORS_RNA, "n_top_genes": 3000, "n_comps": 21, "min_cells_adt": 50},
    ),
    # the paper's default model; the package's preprocess_rna defaults (2000 HVGs, PCA 50);
    # no protein filter (the text filters on the thymus only)
    "paper_default": (
        3,
        1e-3,
        1000,
        (1, 1, 10, 10, 5),
        64,
        {**AUTHORS_RNA, "n_top_genes": 2000, "n_comps": 50},
    ),
}


@pytest.mark.parametrize("name", sorted(SPEC_TABLE))
def test_paper_presets_are_the_specs_table(name):
    """Each paper preset trains the spec's model: its k, lr, epochs and loss weights, the
    spec's widths and dropout, the tutorial's latent size, attention fusion, full batch for
    a fixed number of epochs, no input or loss rescaling, the authors' preprocessing for
    that dataset, whatever the modalities."""
    k, lr, epochs, weights, latent_dim, preprocess = SPEC_TABLE[name]
    config = get_preset(name)
    assert (config.k, config.lr, config.epochs) == (k, lr, epochs)
    assert config.weights == tuple(float(w) for w in weights)
    assert (config.hidden_dim, config.latent_dim, config.dropout) == (256, latent_dim, 0.15)
    assert config.fusion == "attention"
    assert (config.early_stopping, config.tile_spots) == (False, None)
    assert (config.input_scaling, config.reconstruction_scaling) == ("none", "none")
    assert config.preprocess == preprocess
    for kinds in (("rna", "adt"), ("rna", "atac"), ("rna", "adt", "atac")):
        assert get_preset(name, kinds) == config  # no kind-specific changes


def test_every_paper_preset_is_in_the_table():
    assert set(PRESETS) - {"robust"} == set(SPEC_TABLE)


def test_presets_know_the_preprocessing_flavors():
    from fastspami.model.presets import HVG_FLAVORS
    from fastspami.pp.preprocess import HVG_FLAVORS as PREPROCESS_FLAVORS

    assert HVG_FLAVORS == PREPROCESS_FLAVORS
    with pytest.raises(ConfigError, match="hvg_flavor must be one of"):
        check_settings({"preset": "thymus", "hvg_flavor": "cell_ranger"})
