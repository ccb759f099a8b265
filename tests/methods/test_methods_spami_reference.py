"""The authors' SpaMI package as a method: output contract, settings, limits, and a shim that
changes no number.

Reduced for speed: a 12 x 12 grid (144 spots), 300 genes / 30 proteins / 400 peaks, 20
epochs (the simulated preset trains 1000). Skipped where the package is not installed; where
it is installed but does not import, the tests fail (that is the shim's job).
"""

from __future__ import annotations

import importlib.util
import inspect
import tempfile

import numpy as np
import pytest

from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError, MethodNotApplicableError
from fastspami.model.presets import PRESETS

if importlib.util.find_spec("SpaMI") is None:
    pytest.skip(
        "the authors' SpaMI package is not installed (envs/spami_reference.yaml)",
        allow_module_level=True,
    )

from fastspami.methods import spami_reference, spami_reference_compat  # noqa: E402

GRID = 12
EPOCHS = 20


@pytest.fixture(scope="module")
def modules():
    return spami_reference_compat.load_reference()


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=GRID, n_rna=300, n_adt=30, seed=0)


@pytest.fixture(scope="module")
def result(rna_adt):
    return spami_reference.integrate(rna_adt, seed=0, epochs=EPOCHS)


def test_one_finite_row_per_spot_with_attention_and_modality_embeddings(rna_adt, result):
    n = rna_adt.n_obs
    result.check(n)
    assert result.method == "spami_reference"
    assert result.embedding.shape == (n, 64)
    assert set(result.modality_embeddings) == {"rna", "adt"}
    assert all(e.shape == (n, 64) for e in result.modality_embeddings.values())
    assert result.attention.shape == (n, 2)
    assert result.attention_modalities == ["rna", "adt"]
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=1e-5)


def test_the_fused_embedding_is_the_attention_weighted_sum_of_the_recorded_ones(result):
    # the hooks recorded the final forward pass, the one train() returned the embedding of
    weights = result.attention
    fused = (
        weights[:, :1] * result.modality_embeddings["rna"]
        + weights[:, 1:] * result.modality_embeddings["adt"]
    )
    np.testing.assert_allclose(result.embedding, fused, rtol=1e-4, atol=1e-5)


def test_simulated_data_follow_tutorial_4(result, modules):
    uns = result.uns
    assert uns["package_version"] == modules.version == "1.0.0"
    assert uns["protocol"] == "tutorial4"
    assert uns["feature_dims"] == {"rna": 100, "adt": 30}  # PCA 100, no HVGs; CLR on all 30
    assert uns["spatial_neighbors"] == 3
    assert uns["train"]["epochs"] == EPOCHS
    assert uns["train"]["omics1_factor"] == [1.0, 10.0]
    assert uns["train"]["cosine_factor"] == 5.0


def test_same_seed_gives_the_same_embedding(rna_adt):
    first = spami_reference.integrate(rna_adt, seed=3, epochs=3)
    second = spami_reference.integrate(rna_adt, seed=3, epochs=3)
    np.testing.assert_array_equal(first.embedding, second.embedding)


def test_rna_atac_uses_their_atac_preprocessing_and_one_thread():
    mdata = simulate("rna_atac", grid_size=GRID, n_rna=300, n_atac=400, seed=0)
    result = spami_reference.integrate(mdata, seed=0, threads=1, epochs=5)
    result.check(mdata.n_obs)
    assert result.uns["feature_dims"] == {"rna": 100, "atac": 50}  # LSI 51 - 1
    assert result.attention_modalities == ["rna", "atac"]
    assert result.uns["torch_threads"] == 1


def test_the_simulated_preset_is_their_train_defaults(modules):
    defaults = {
        name: p.default for name, p in inspect.signature(modules.main.train).parameters.items()
    }
    settings = spami_reference.train_settings(
        PRESETS["simulated"], spami_reference.PROTOCOLS["tutorial4"]
    )
    for name, value in settings.items():
        assert defaults[name] == value, name


@pytest.mark.parametrize(
    ("preset", "factors", "lr", "epochs"),
    [  # their GitHub main.py's per-dataset factors [w1, w2, w3, w4, w5]
        ("misar", [1, 1, 10, 15, 3], 0.01, 800),
        ("brain_p22", [1, 1, 10, 15, 5], 0.001, 400),
        ("thymus", [1, 5, 10, 25, 1], 0.0001, 600),
    ],
)
def test_presets_map_to_their_factors(preset, factors, lr, epochs):
    protocol = spami_reference.PROTOCOLS[spami_reference.PRESET_PROTOCOL[preset]]
    settings = spami_reference.train_settings(PRESETS[preset], protocol)
    o1, o2, cos = settings["omics1_factor"], settings["omics2_factor"], settings["cosine_factor"]
    assert [o1[0], o2[0], o1[1], o2[1], cos] == factors  # as train() rebuilds `factors`
    assert (settings["learning_rate"], settings["epochs"]) == (lr, epochs)


def test_the_memory_bound_refuses_before_any_work(rna_adt, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(spami_reference, "load_reference", no_work)
    monkeypatch.setattr(spami_reference, "_preprocess", no_work)
    with pytest.raises(MethodNotApplicableError, match="dense 144 x 144"):
        spami_reference.integrate(rna_adt, memory_mb=1024.5)  # room for 96 spots


def test_the_bound_is_the_largest_size_that_fits():
    memory = 24 * 2**30
    bound = spami_reference.max_spots(memory)
    assert spami_reference.dense_bytes(bound) <= memory < spami_reference.dense_bytes(bound + 1)
    assert spami_reference.max_spots(2**29) == 0
    assert spami_reference.job_memory_bytes() > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"preset": "robust"}, "not one of the paper's"),
        ({"protocol": "tutorial9"}, "protocol 'tutorial9' unknown"),
        ({"epochs": 10, "epoch_fraction": 0.5}, "not both"),
        ({"epoch_fraction": 1.5}, r"in \(0, 1\]"),
    ],
)
def test_bad_settings_are_refused(rna_adt, settings, message):
    with pytest.raises(ConfigError, match=message):
        spami_reference.integrate(rna_adt, **settings)


def test_three_modalities_are_not_applicable():
    mdata = simulate("rna_adt_atac", grid_size=6, n_rna=50, n_adt=20, n_atac=50, seed=0)
    with pytest.raises(MethodNotApplicableError, match="exactly two"):
        spami_reference.integrate(mdata)


# ---------------------------------------------------------------- the shim changes nothing


def test_the_import_aliases_are_gone_after_the_import(modules):
    import anndata
    import episcanpy.count_matrix._bld_met_mtx as met

    assert "NaN" not in vars(np) and "read" not in vars(anndata)
    assert met.NaN is np.nan  # what episcanpy bound is numpy's own nan


def _their_model(modules, seed: int = 0):
    """Their model.SpaMI on a 6 x 6 grid with random features, built as train() builds it."""
    import anndata as ad
    import torch

    rng = np.random.default_rng(seed)
    adata = ad.AnnData(np.zeros((36, 1), dtype=np.float32))
    adata.obsm["spatial"] = np.array([(i, j) for i in range(6) for j in range(6)], dtype=float)
    adj, neigh = modules.preprocess.construct_adj(adata, n_neighbors=3)
    eye = np.eye(36)
    feats = [torch.FloatTensor(rng.standard_normal((36, d))) for d in (8, 5)]
    label = torch.FloatTensor(modules.preprocess.add_contrastive_label(adata))
    graph = [torch.FloatTensor(adj + eye), torch.FloatTensor(neigh + eye)]
    torch.manual_seed(seed)
    model = modules.model.SpaMI(8, 5, 4, 0.15, feats[0], graph[0], graph[1], label,
                                feats[1], graph[0], graph[1], label)  # fmt: skip
    return model.eval(), [f[torch.randperm(36)] for f in feats]


def test_recording_outputs_changes_no_forward_pass(modules):
    import torch

    model, shuffled = _their_model(modules)
    with torch.no_grad():
        plain = model(*shuffled)
        with spami_reference_compat.recorded_outputs(modules.model) as last:
            hooked = model(*shuffled)
    for a, b in zip(plain, hooked, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(last["attention"], plain[9])  # omics_weight
    assert torch.equal(last["omics1"], plain[0]) and torch.equal(last["omics2"], plain[4])


def _train(modules, wrap):
    model_inputs = []
    for dims, seed in ((8, 1), (5, 2)):
        import anndata as ad

        adata = ad.AnnData(np.zeros((36, 1), dtype=np.float32))
        adata.obsm["spatial"] = np.array([(i, j) for i in range(6) for j in range(6)], float)
        feat = np.random.default_rng(seed).standard_normal((36, dims))
        model_inputs.append(spami_reference._graph_data(modules, adata, feat, 3))
    with tempfile.TemporaryDirectory() as folder, wrap():
        return modules.main.train(*model_inputs, folder, epochs=4, random_seed=5)


def test_silenced_timed_and_recorded_training_equals_their_plain_train(modules, capsys):
    import contextlib

    plain = _train(modules, contextlib.nullcontext)
    assert "Model training completed!" in capsys.readouterr().out  # their own print, unpatched

    @contextlib.contextmanager
    def every_swap():
        with (
            spami_reference_compat.quiet_training(modules.main),
            spami_reference_compat.recorded_outputs(modules.model),
        ):
            yield

    np.testing.assert_array_equal(plain, _train(modules, every_swap))
    with spami_reference_compat.epoch_clock(modules.main) as durations:
        timed = _train(modules, contextlib.nullcontext)
    np.testing.assert_array_equal(plain, timed)
    assert len(durations) == 4 and all(d > 0 for d in durations)
    assert capsys.readouterr().out == ""
