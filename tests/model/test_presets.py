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


# docs/reference/model_spec.md's table (the paper's "Implementation details" and main.py), written out:
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


# ---------------------------------------------------------------- ranges (issue 31)

# Each bad value, as a workflow variant or a keyword of integrate() would give it, and
# what the message must say: the setting, the value and the range.
BAD_SETTINGS = [
    ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ({"epochs": -5}, r"epochs must be an integer >= 1, got -5"),
    ({"epochs": 10.5}, r"epochs must be an integer >= 1, got 10.5"),
    ({"lr": 0}, r"lr must be a finite number > 0, got 0"),
    ({"lr": -1e-3}, r"lr must be a finite number > 0, got -0.001"),
    ({"lr": float("nan")}, r"lr must be a finite number > 0, got nan"),
    ({"lr": float("inf")}, r"lr must be a finite number > 0, got inf"),
    ({"lr": "1e-3"}, r"got '1e-3', text rather than a number \(YAML reads 1e-3 as text"),
    ({"weights": [0, 0, 0, 0, 0]}, r"weights are all 0"),
    ({"weights": [1, -1, 10, 10, 5]}, r"weights must be finite numbers >= 0"),
    ({"weights": [1, float("nan"), 10, 10, 5]}, r"weights must be finite numbers >= 0"),
    ({"weights": [1, 1, 10, 10]}, r"weights must have 5 entries .* got 4"),
    ({"tile_spots": -5}, r"tile_spots must be an integer >= 1 \(or null for none\), got -5"),
    ({"tile_spots": 0}, r"tile_spots must be an integer >= 1"),
    ({"k": 0}, r"k must be an integer >= 1, got 0"),
    ({"hidden_dim": 0}, r"hidden_dim must be an integer >= 1"),
    ({"latent_dim": -1}, r"latent_dim must be an integer >= 1"),
    ({"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\), got 1.0"),
    ({"patience": 0}, r"patience must be an integer >= 1"),
    ({"min_delta": -0.1}, r"min_delta must be a finite number >= 0"),
    ({"halo_hops": -1}, r"halo_hops must be an integer >= 0"),
    ({"early_stopping": "yes"}, r"early_stopping must be true or false, got 'yes'"),
    ({"n_comps": 0}, r"n_comps must be an integer >= 1"),
    ({"min_cells": -1}, r"min_cells must be an integer >= 0"),
    ({"preprocess": {"n_top_genes": 0}}, r"n_top_genes must be an integer >= 1"),
    ({"shuffle_coordinates": 1}, r"shuffle_coordinates must be true or false, got 1"),
    ({"modalities": ["rna", "rna"]}, r"modalities names \['rna'\] more than once"),
    ({"exclude_modalities": ["adt", "adt"]}, r"exclude_modalities names \['adt'\] more than"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_check_settings_refuses_values_out_of_range(settings, message):
    with pytest.raises(ConfigError, match=message):
        check_settings(settings)


def test_null_weights_keep_the_presets_and_are_not_counted_as_zero():
    check_settings({"weights": [None, None, None, None, 0]})  # the no-cosine ablation
    with pytest.raises(ConfigError, match="weights are all 0"):
        get_preset("simulated").with_overrides(weights=[0, 0, 0, 0, 0])


def test_weights_that_train_nothing_for_the_modalities_given_are_refused():
    config = get_preset("simulated").with_overrides(weights=[0, 1, 0, 1, 0])
    assert config.loss_weights(2) == ([0.0, 1.0], [0.0, 1.0], 0.0)
    with pytest.raises(ConfigError, match="leave no loss to train with 1 modality"):
        config.loss_weights(1)  # one modality: only w1 and w3 apply, and both are 0


@pytest.fixture(scope="module")
def tiny_mdata():
    from fastspami.data.simulation import simulate

    return simulate("rna_adt", grid_size=8, n_rna=40, n_adt=8, seed=0)


RUN_OPTIONS = [
    ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\], got -1"),
    ({"seed": 2**32}, r"seed must be an integer in \[0, 4294967295\]"),
    ({"threads": 0}, r"threads must be an integer >= 1, got 0"),
    ({"threads": -2}, r"threads must be an integer >= 1, got -2"),
    ({"device": "gpu"}, r"device must be 'cpu', 'cuda' or 'cuda:N' .* got 'gpu'"),
    ({"device": "cuda:x"}, r"device must be 'cpu', 'cuda' or 'cuda:N'"),
    ({"modalities": ["rna", "rna"]}, r"modalities names \['rna'\] more than once"),
    ({"weights": [1, 1, 10]}, r"Got 3 loss weights for 2 modalities"),
]


@pytest.mark.parametrize(
    ("settings", "message"),
    [*RUN_OPTIONS, *[case for case in BAD_SETTINGS if "preprocess" not in case[0]]],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else "",
)
def test_integrate_refuses_bad_settings_before_any_work(tiny_mdata, monkeypatch, settings, message):
    import fastspami.methods.spami_method as spami_method

    def no_work(*args, **kwargs):
        raise AssertionError("preprocessing started before the settings were checked")

    monkeypatch.setattr(spami_method, "preprocess_mudata", no_work)
    monkeypatch.setattr(spami_method, "fit_spami", no_work)
    kwargs = {"seed": 0, "threads": 1, "device": "cpu", **settings}
    with pytest.raises(ConfigError, match=message):
        integrate(tiny_mdata, **kwargs)


def test_integrate_refuses_cuda_where_torch_has_none(tiny_mdata, monkeypatch):
    import torch

    import fastspami.methods.spami_method as spami_method

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(spami_method, "preprocess_mudata", lambda *a, **k: 1 / 0)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=rf"device '{device}': this torch .* sees no CUDA"):
            integrate(tiny_mdata, seed=0, threads=1, device=device)


def test_every_paper_preset_is_in_the_table():
    assert set(PRESETS) - {"robust"} == set(SPEC_TABLE)


def test_presets_know_the_preprocessing_flavors():
    from fastspami.model.presets import HVG_FLAVORS
    from fastspami.pp.preprocess import HVG_FLAVORS as PREPROCESS_FLAVORS

    assert HVG_FLAVORS == PREPROCESS_FLAVORS
    with pytest.raises(ConfigError, match="hvg_flavor must be one of"):
        check_settings({"preset": "thymus", "hvg_flavor": "cell_ranger"})
