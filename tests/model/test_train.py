"""SpaMI training: determinism, the NaN guard, and the quality bar on simulated data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import TrainingDivergedError
from fastspami.methods.spami_method import integrate
from fastspami.metrics import supervised_scores
from fastspami.model.presets import get_preset
from fastspami.model.train import fit_spami, take_rows
from fastspami.pp.preprocess import preprocess_mudata


@pytest.fixture(scope="module")
def small_features():
    rng = np.random.default_rng(0)
    coords = rng.uniform(size=(150, 2))
    return [rng.normal(size=(150, 12)), rng.normal(size=(150, 8))], coords


def test_same_seed_same_embedding_and_other_seed_differs(small_features):
    features, coords = small_features
    cfg = get_preset("simulated").with_overrides(epochs=15)
    a = fit_spami(features, coords, cfg, seed=3, progress=False)
    b = fit_spami(features, coords, cfg, seed=3, progress=False)
    c = fit_spami(features, coords, cfg, seed=4, progress=False)
    np.testing.assert_array_equal(a.embedding, b.embedding)
    assert not np.allclose(a.embedding, c.embedding)
    assert len(a.history["total"]) == 15 and set(a.history) >= {"contrastive", "cosine"}


def test_integrate_from_counts_is_seeded_end_to_end():
    """Preprocessing and training together: the same seed repeats the embedding, another
    seed gives another one."""
    mdata = simulate("rna_atac", grid_size=8, n_rna=60, n_atac=80, seed=0)
    runs = [integrate(mdata, seed=s, epochs=5, progress=False).embedding for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_two_processes_with_one_seed_train_the_same_embedding_without_torchs_compiler(tmp_path):
    """Two fresh interpreters with the same seed give the same embedding bit for bit; seeding
    asks torch for deterministic kernels, and a training process does not load torch._dynamo
    (about 70 MB of resident memory)."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np, torch\n"
        "from fastspami.model.presets import get_preset\n"
        "from fastspami.model.train import fit_spami\n"
        "rng = np.random.default_rng(0)\n"
        "cfg = get_preset('simulated').with_overrides(epochs=5)\n"
        "x = [rng.normal(size=(60, 5)), rng.normal(size=(60, 4))]\n"
        "out = fit_spami(x, rng.uniform(size=(60, 2)), cfg, seed=7, threads=2, progress=False)\n"
        "np.save(sys.argv[1], out.embedding)\n"
        "print(torch.are_deterministic_algorithms_enabled(),"
        " torch.is_deterministic_algorithms_warn_only_enabled(),"
        " 'torch._dynamo' in sys.modules)\n"
    )
    embeddings = []
    for run in range(2):
        path = tmp_path / f"run{run}.npy"
        result = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        assert result.stdout.split() == ["True", "True", "False"]
        embeddings.append(np.load(path))
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    assert embeddings[0].shape == (60, 64) and np.isfinite(embeddings[0]).all()


def test_progress_bar_ends_on_the_last_epochs_loss(small_features, capsys):
    features, coords = small_features
    cfg = get_preset("simulated").with_overrides(epochs=7)
    trained = fit_spami(features, coords, cfg, seed=0, progress=True)
    assert f"loss={trained.history['total'][-1]:.4f}" in capsys.readouterr().err


def test_divergence_names_epoch_terms_and_a_lower_learning_rate(small_features):
    features, coords = small_features
    features = [features[0] * 1e30, features[1]]
    cfg = get_preset("simulated").with_overrides(epochs=5, lr=1.0)
    with pytest.raises(
        TrainingDivergedError, match=r"epoch \d+ .*reconstruction=.*\(lr, now 1; e.g. 0.1\)"
    ):
        fit_spami(features, coords, cfg, seed=0, progress=False)


def test_early_stopping_stops_on_a_plateau(small_features):
    features, coords = small_features
    cfg = get_preset("simulated").with_overrides(
        epochs=2000, lr=1e-2, early_stopping=True, patience=10, min_delta=1e-2
    )
    trained = fit_spami(features, coords, cfg, seed=0, progress=False)
    assert 10 < trained.epochs_run < 2000
    total = np.asarray(trained.history["total"])
    assert len(total) == trained.epochs_run
    # it stopped 10 epochs after the last improvement by 1 % of the best loss so far
    best_epoch = trained.epochs_run - 11
    assert total[best_epoch] == pytest.approx(total.min(), rel=1e-2)
    assert total[0] > total[best_epoch]


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", seed=0)


def _leiden_ari(embedding, truth, n):
    return supervised_scores(truth, leiden_n_clusters(embedding, n, seed=0).labels)["ari"]


def test_spami_reaches_ari_090_on_default_rna_adt_and_beats_each_modality(rna_adt):
    truth = rna_adt.obs["ground_truth"].astype(str).to_numpy()
    n_domains = len(set(truth))
    result = integrate(rna_adt, preset="simulated", seed=0, threads=1, progress=False)
    ari = _leiden_ari(result.embedding, truth, n_domains)
    features = preprocess_mudata(rna_adt, seed=0)
    single = {name: _leiden_ari(f.X, truth, n_domains) for name, f in features.items()}
    assert ari >= 0.9, f"SpaMI ARI {ari:.3f} on default rna_adt"
    assert ari >= max(single.values()), f"SpaMI {ari:.3f} vs single modalities {single}"
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, rtol=1e-5)
    genes, names = result.gene_space["rna"]
    assert genes.shape == (rna_adt.n_obs, len(names))


@pytest.mark.parametrize("tile_spots", [None, 60])
def test_cudas_kernels_run_on_the_cpu_train_like_the_cpu_kernels(
    small_features, monkeypatch, dense_kernel, tile_spots
):
    """What CUDA runs (torch's sparse CSR products, torch.mm, the losses in torch's
    expressions), forced on the CPU, trains to the embedding the CPU kernels train to
    (equal to rounding; no dropout, whose CPU masks come from another generator), full-batch
    and tiled."""
    features, coords = small_features
    cfg = get_preset("simulated").with_overrides(epochs=10, dropout=0.0, tile_spots=tile_spots)
    cpu = fit_spami(features, coords, cfg, seed=0, progress=False)
    monkeypatch.setenv("SPAMI_SPARSE", "torch")
    monkeypatch.setenv("SPAMI_FUSED", "0")
    dense_kernel("torch")
    portable = fit_spami(features, coords, cfg, seed=0, progress=False)
    np.testing.assert_allclose(portable.embedding, cpu.embedding, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(portable.history["total"], cpu.history["total"], rtol=1e-4)


def test_take_rows_equals_torch_indexing_for_a_permutation_and_a_tile():
    x = torch.randn(300, 7)
    for index in (torch.randperm(300), torch.tensor([5, 5, 0, 299])):
        taken = take_rows(x, index)
        assert taken.dtype == x.dtype and torch.equal(taken, x[index])
