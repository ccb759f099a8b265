"""The robust preset (docs/robust_preset.md): its options, its faithful defaults, and its
gain on a small complementary simulation where the faithful preset loses."""

from __future__ import annotations

import numpy as np
import pytest

from fastspami.benchmark.diagnosis import (
    attention_summary,
    leiden_ari,
    loss_history_frame,
    modality_partition_scores,
)
from fastspami.cli import build_parser
from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError
from fastspami.methods.spami_method import integrate
from fastspami.model.presets import PRESETS, SpaMIConfig, get_preset
from fastspami.model.train import balance_reconstruction, scale_features, unscale


def test_new_options_default_to_the_papers_model():
    config = SpaMIConfig()
    assert (config.input_scaling, config.reconstruction_scaling) == ("none", "none")
    for name in ("simulated", "misar", "brain_p22", "thymus"):
        preset = get_preset(name)
        assert preset.input_scaling == "none" and preset.reconstruction_scaling == "none"
        assert preset.fusion == "attention"


def test_robust_preset_differs_from_simulated_only_in_documented_options():
    robust, faithful = get_preset("robust"), get_preset("simulated")
    assert robust.reconstruction_scaling == "variance"
    changed = {
        name
        for name in SpaMIConfig.__dataclass_fields__
        if getattr(robust, name) != getattr(faithful, name)
    }
    assert changed == {"reconstruction_scaling", "weights", "lr"}
    assert robust.weights[:3] == faithful.weights[:3]
    assert robust.weights[3] > faithful.weights[3] and robust.weights[4] < faithful.weights[4]
    assert robust.lr < faithful.lr


def test_robust_preset_concatenates_on_rna_and_protein_only():
    robust = get_preset("robust")
    assert get_preset("robust", kinds=["rna", "atac"]) == robust
    assert get_preset("robust", kinds=["rna", "adt", "atac"]) == robust
    assert get_preset("simulated", kinds=["rna", "adt"]) == get_preset("simulated")
    protein = get_preset("robust", kinds=["adt", "rna"])
    changed = {
        name
        for name in SpaMIConfig.__dataclass_fields__
        if getattr(protein, name) != getattr(robust, name)
    }
    assert changed == {"fusion", "weights"}
    assert protein.fusion == "concat"
    assert protein.weights[:4] == robust.weights[:4] and protein.weights[4] < robust.weights[4]


def test_integrate_picks_the_kind_settings_and_explicit_settings_win():
    mdata = simulate("complementary_rna_adt", grid_size=8, seed=0)
    chosen = integrate(mdata, preset="robust", epochs=2, progress=False)
    assert chosen.uns["config"]["fusion"] == "concat" and chosen.attention is None
    assert chosen.uns["config"]["weights"][4] == pytest.approx(0.3)
    told = integrate(mdata, preset="robust", epochs=2, progress=False, fusion="attention")
    assert told.uns["config"]["fusion"] == "attention"
    assert told.attention.shape == (mdata.n_obs, 2)
    alone = integrate(mdata, preset="robust", epochs=2, progress=False, modalities=["rna"])
    assert alone.uns["config"]["fusion"] == "attention"


def test_unknown_option_values_raise_config_errors():
    with pytest.raises(ConfigError, match="input_scaling"):
        SpaMIConfig(input_scaling="zscore")
    with pytest.raises(ConfigError, match="reconstruction_scaling"):
        get_preset("simulated").with_overrides(reconstruction_scaling="mean")


def test_cli_accepts_the_robust_preset():
    assert "robust" in PRESETS
    args = build_parser().parse_args(
        ["integrate", "in.h5mu", "-o", "out.h5mu", "--preset", "robust"]
    )
    assert args.preset == "robust"


def test_scalings_equalize_modalities_and_invert():
    rng = np.random.default_rng(0)
    features = [rng.normal(3.0, 5.0, (200, 6)), rng.normal(0.5, 0.1, (200, 4))]
    same, transforms = scale_features(features, "none")
    assert all(a is b for a, b in zip(same, features, strict=True))
    assert unscale(features[0], transforms[0]) is features[0]
    for mode in ("block", "standardize"):
        scaled, transforms = scale_features(features, mode)
        for x, original, t in zip(scaled, features, transforms, strict=True):
            assert np.mean(x.var(axis=0)) == pytest.approx(1.0, rel=1e-4)
            np.testing.assert_allclose(unscale(x, t), original, rtol=1e-4, atol=1e-4)
    _, rec, _ = balance_reconstruction(([1.0, 1.0], [10.0, 10.0], 5.0), features, "variance")
    np.testing.assert_allclose(rec, [10.0 / 25.0, 10.0 / 0.01], rtol=0.2)
    assert balance_reconstruction(([1.0], [10.0], 0.0), features[:1], "none") == (
        [1.0],
        [10.0],
        0.0,
    )


@pytest.fixture(scope="module")
def complementary():
    """RNA's features load factors 1-2, the protein's 3-4; the 5 domains need both (grid 24)."""
    return simulate("complementary_rna_adt", grid_size=24, seed=0)


@pytest.fixture(scope="module")
def robust_result(complementary):
    return integrate(complementary, preset="robust", seed=0, threads=1, progress=False)


@pytest.fixture(scope="module")
def faithful_result(complementary):
    return integrate(complementary, preset="simulated", seed=0, threads=1, progress=False)


def test_robust_beats_faithful_on_complementary_data(complementary, robust_result, faithful_result):
    # On the old generator robust also matched spatial smoothing (within 0.05); on the NSF
    # generator (issue #28) it does not here (0.89 against smoothing's 0.95, faithful 0.38):
    # that comparison is the study's to report, not a property of the preset.
    truth = complementary.obs["ground_truth"]
    robust = leiden_ari(robust_result.embedding, truth)
    faithful = leiden_ari(faithful_result.embedding, truth)
    assert robust >= faithful + 0.15, f"robust {robust:.3f} vs faithful {faithful:.3f}"


def test_diagnosis_tables_have_their_columns(complementary, robust_result, faithful_result):
    scores = modality_partition_scores(robust_result, complementary, seed=0)
    assert set(scores["embedding"]) == {"integrated", "Z:rna", "Z:adt"}
    assert set(scores["annotation"]) == {"ground_truth", "partition_a", "partition_b"}
    assert scores["probe"].between(0, 1).all()
    # robust concatenates on RNA + protein: no attention weights to summarize
    assert robust_result.attention is None
    assert attention_summary(robust_result, complementary).empty
    attention = attention_summary(faithful_result, complementary)
    overall = attention[attention["annotation"] == "all"]
    assert overall["mean_weight"].sum() == pytest.approx(1.0, rel=1e-5)
    history = loss_history_frame(robust_result, every=100)
    assert set(history["term"]) == {"total", "contrastive", "reconstruction", "cosine"}
    assert history["epoch"].max() == robust_result.uns["epochs_run"]
