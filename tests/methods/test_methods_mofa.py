"""MOFA+ through mofapy2: output contract, quality, determinism, three modalities.

Reduced for speed: an 18 x 18 grid (324 spots), 300 genes / 30 proteins / 400 peaks, and at
most 300 iterations (default 1000; with convergence_mode='fast' it stops earlier anyway).
"""

from __future__ import annotations

import importlib.metadata
import sys

import numpy as np
import pytest

from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import MethodUnavailableError
from fastspami.methods import mofa
from fastspami.metrics import supervised_scores

pytest.importorskip("mofapy2", reason="mofapy2 is not installed")

GRID = 18
MAX_ITERATIONS = 300


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=GRID, n_rna=300, n_adt=30, seed=0)


@pytest.fixture(scope="module")
def result(rna_adt):
    return mofa.integrate(rna_adt, seed=0, max_iterations=MAX_ITERATIONS)


def _leiden_ari(embedding: np.ndarray, truth: np.ndarray) -> float:
    n_domains = len(np.unique(truth))
    labels = leiden_n_clusters(embedding, n_domains, seed=0).labels
    return supervised_scores(truth, labels)["ari"]


def test_factors_are_one_finite_row_per_spot_and_not_shut_down(rna_adt, result):
    result.check(rna_adt.n_obs)
    assert result.embedding.shape == (rna_adt.n_obs, mofa.N_FACTORS)
    assert result.embedding.std(axis=0).max() > 0.1  # unscaled views gave Z ~ 1e-10
    assert max(result.uns["variance_explained"]["adt"]) > 0.05


def test_leiden_on_factors_beats_a_random_embedding(rna_adt, result, record_property):
    truth = rna_adt.obs["ground_truth"].to_numpy()
    ari = _leiden_ari(result.embedding, truth)
    noise = np.random.default_rng(0).normal(size=result.embedding.shape)
    ari_random = _leiden_ari(noise, truth)
    record_property("ari_mofa", ari)
    print(f"MOFA+ ARI {ari:.3f} (random embedding {ari_random:.3f})")
    assert ari > ari_random + 0.1


def test_records_version_and_inputs(result):
    uns = result.uns
    assert uns["package_version"] == importlib.metadata.version("mofapy2")
    assert uns["n_features"] == {"rna": 300, "adt": 30}  # all 300 genes <= 2000 HVGs
    assert 1 <= uns["iterations"] < MAX_ITERATIONS
    assert set(uns["variance_explained"]) == {"rna", "adt"}


def test_same_seed_gives_identical_factors_and_leaves_no_trace(
    rna_adt, result, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    np.random.seed(123)  # noqa: NPY002 - the caller's legacy global state must survive
    state_before = np.random.get_state()[1].copy()  # noqa: NPY002
    again = mofa.integrate(rna_adt, seed=0, max_iterations=MAX_ITERATIONS)
    np.testing.assert_array_equal(again.embedding, result.embedding)
    np.testing.assert_array_equal(np.random.get_state()[1], state_before)  # noqa: NPY002
    assert list(tmp_path.iterdir()) == []  # no model file left behind


def test_three_modalities_are_integrated():
    mdata = simulate("rna_adt_atac", grid_size=GRID, n_rna=300, n_adt=30, n_atac=400, seed=0)
    result = mofa.integrate(mdata, seed=0, n_factors=10, max_iterations=MAX_ITERATIONS)
    result.check(mdata.n_obs)
    assert result.embedding.shape == (mdata.n_obs, 10)
    assert result.uns["modalities"] == ["rna", "adt", "atac"]
    assert result.uns["modality_kinds"] == {"rna": "rna", "adt": "adt", "atac": "atac"}


def test_missing_package_names_the_pip_install(monkeypatch, rna_adt):
    monkeypatch.setitem(sys.modules, "mofapy2.run.entry_point", None)
    with pytest.raises(MethodUnavailableError, match="pip install mofapy2"):
        mofa.integrate(rna_adt, max_iterations=2)
