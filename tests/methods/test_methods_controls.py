"""Controls and plain baselines: they bracket the score range and behave like the real methods."""

from __future__ import annotations

import numpy as np
import pytest

from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError, InputDataError
from fastspami.methods import controls, smoothing
from fastspami.methods.contract import IntegrationResult, load_method, store_result
from fastspami.metrics import supervised_scores


@pytest.fixture(scope="module")
def rna_adt():
    """20 x 20 grid, 5 domains, noise sd 16 (the quick study's second level): per-spot noise
    and non-spatial factors that spatial neighbours average out."""
    return simulate("rna_adt", grid_size=20, noise_sd=16.0, seed=0)


@pytest.fixture(scope="module")
def results(rna_adt) -> dict[str, IntegrationResult]:
    run = dict(seed=0, threads=1, device="cpu")
    return {
        "positive": controls.integrate_positive(rna_adt, **run),
        "random": controls.integrate_random(rna_adt, **run),
        "pca_concat": controls.integrate_pca_concat(rna_adt, **run),
        "smoothing": smoothing.integrate(rna_adt, **run),
    }


def leiden_ari(mdata, result: IntegrationResult, seed: int = 0) -> float:
    truth = mdata.obs["ground_truth"].astype(str).to_numpy()
    clusters = leiden_n_clusters(
        result.embedding, len(set(truth)), seed=seed, connectivities=result.connectivities
    )
    return supervised_scores(truth, clusters.labels)["ari"]


@pytest.fixture(scope="module")
def aris(rna_adt, results) -> dict[str, float]:
    return {name: leiden_ari(rna_adt, result) for name, result in results.items()}


@pytest.mark.parametrize("name", ["positive", "random", "pca_concat", "smoothing"])
def test_one_finite_row_per_spot(rna_adt, results, name):
    result = results[name]
    result.check(rna_adt.n_obs)
    assert result.embedding.shape[0] == rna_adt.n_obs
    assert np.isfinite(result.embedding).all()


def test_controls_bracket_the_score_range(aris):
    assert aris["positive"] > 0.95
    assert abs(aris["random"]) < 0.05


@pytest.mark.parametrize("name", ["pca_concat", "smoothing"])
def test_baselines_score_between_the_controls(aris, name):
    assert aris["random"] + 0.05 < aris[name] <= aris["positive"] + 1e-9


def test_smoothing_beats_pca_concat_on_block_domains(aris):
    assert aris["smoothing"] > aris["pca_concat"] + 0.1


def test_smoothing_beats_pca_concat_on_complementary_domains():
    """Each modality sees half of the domains; spatial averaging must not lose either half."""
    mdata = simulate("complementary_rna_adt", grid_size=20, noise_sd=0.5, seed=1)
    run = dict(seed=0, threads=1, device="cpu")
    smoothed = leiden_ari(mdata, smoothing.integrate(mdata, **run))
    concatenated = leiden_ari(mdata, controls.integrate_pca_concat(mdata, **run))
    assert smoothed > concatenated + 0.1


def test_controls_are_reproducible_with_a_seed(rna_adt):
    for integrate in (controls.integrate_positive, controls.integrate_random):
        first = integrate(rna_adt, seed=3, threads=1, device="cpu").embedding
        again = integrate(rna_adt, seed=3, threads=1, device="cpu").embedding
        other = integrate(rna_adt, seed=4, threads=1, device="cpu").embedding
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)


def test_positive_control_needs_ground_truth(rna_adt):
    unannotated = rna_adt.copy()
    del unannotated.obs["ground_truth"]
    with pytest.raises(InputDataError, match="ground_truth"):
        controls.integrate_positive(unannotated, seed=0, threads=1, device="cpu")


def test_balanced_blocks_weigh_modalities_equally():
    rng = np.random.default_rng(0)
    wide = rng.normal(0, 100.0, size=(50, 40))
    narrow = rng.normal(5, 0.01, size=(50, 4))
    joined = controls.balanced_blocks([wide, narrow])
    assert joined.shape == (50, 44)
    np.testing.assert_allclose(joined[:, :40].var(axis=0).sum(), 1.0)
    np.testing.assert_allclose(joined[:, 40:].var(axis=0).sum(), 1.0)


def test_smoothing_without_hops_is_the_unsmoothed_concatenation(rna_adt, results):
    """hops=0 keeps each spot's own profile: the smoothing itself is what helps."""
    plain = smoothing.integrate(rna_adt, seed=0, threads=1, device="cpu", hops=0)
    smoothed = results["smoothing"]
    assert plain.embedding.shape == smoothed.embedding.shape
    # Averaging over neighbours shrinks the spread of every column.
    assert (smoothed.embedding.std(axis=0) < plain.embedding.std(axis=0)).all()
    assert leiden_ari(rna_adt, smoothed) > leiden_ari(rna_adt, plain) + 0.1


@pytest.mark.parametrize(
    "spec",
    [
        "fastspami.methods.controls:integrate_positive",
        "fastspami.methods.controls:integrate_random",
        "fastspami.methods.controls:integrate_pca_concat",
        "fastspami.methods.smoothing",
    ],
)
def test_methods_load_by_config_name_and_integrate(spec, rna_adt):
    result = load_method(spec)(rna_adt, seed=0, threads=1, device="cpu")
    assert result.embedding.shape[0] == rna_adt.n_obs and np.isfinite(result.embedding).all()


def test_a_config_name_that_does_not_resolve_says_what_to_check():
    with pytest.raises(ConfigError, match="cannot be imported.*'module' entry"):
        load_method("fastspami.methods.nonexistent:integrate")
    with pytest.raises(ConfigError, match="has no function 'integrat'"):
        load_method("fastspami.methods.controls:integrat")


def test_results_store_into_the_mudata(rna_adt, results):
    mdata = rna_adt.copy()
    store_result(results["smoothing"], mdata)
    assert mdata.obsm["X_smoothing"].shape[0] == mdata.n_obs
    assert mdata.uns["smoothing"]["params"]["k"] == smoothing.DEFAULT_K
