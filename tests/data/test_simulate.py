"""The simulator (NSF's generator at SpatialGlue's and SpaMI's settings): patterns, coordinates,
loadings, the counts' distributions against their analytic values, draws, noise, scaling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastspami.data.count_sampling import zero_truncated
from fastspami.data.simulation import (
    PATTERNS,
    SCENARIOS,
    grid_coordinates,
    pattern_labels,
    simulate,
)
from fastspami.errors import ConfigError

SMALL = {"n_rna": 200, "n_adt": 30, "n_atac": 300}
NO_NOISE = {"noise_mean": 0.0, "noise_sd": 0.0}


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", seed=0)


@pytest.fixture(scope="module")
def three_modalities():
    return simulate("rna_adt_atac", seed=3, **SMALL)


@pytest.fixture(scope="module")
def noiseless():
    """All three modalities on the 36 x 36 grid, without noise: the raw counts."""
    return simulate("rna_adt_atac", seed=11, **NO_NOISE)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def test_default_shapes_and_names(rna_adt):
    assert set(rna_adt.mod) == {"rna", "adt"}
    assert rna_adt.n_obs == 36 * 36 == 1296
    assert rna_adt["rna"].shape == (1296, 1000)  # SpatialGlue: 1,000 genes, 100 proteins
    assert rna_adt["adt"].shape == (1296, 100)
    assert rna_adt["rna"].var_names[0] == "gene_0000"
    assert rna_adt["rna"].var_names[-1] == "gene_0999"
    assert rna_adt["adt"].var_names[0] == "protein_000"
    assert rna_adt.obs_names[0] == "spot_00000"
    assert simulate("rna_atac", grid_size=6, seed=0)["atac"].shape == (36, 2000)


@pytest.mark.parametrize(
    ("pattern", "sizes"),
    [
        ("spami", {"0": 432, "1": 252, "2": 180, "3": 180, "4": 252}),
        ("ggblocks", {"0": 432, "1": 180, "2": 288, "3": 216, "4": 180}),
    ],
)
def test_domain_sizes_of_each_pattern(pattern, sizes):
    mdata = simulate("rna_adt", pattern=pattern, seed=0, n_rna=20, n_adt=10)
    truth = mdata.obs["ground_truth"]
    assert list(truth.cat.categories) == ["0", "1", "2", "3", "4"]
    assert truth.value_counts().to_dict() == sizes
    # the tutorial's ground truth: 1*f1 + 2*f2 + 3*f3 + 4*f4 of the RNA's obsm['spfac']
    spfac = mdata["rna"].obsm["spfac"]
    assert spfac.shape == (1296, 4) and spfac.sum(axis=1).max() == 1  # disjoint factors
    np.testing.assert_array_equal(spfac @ np.arange(1, 5), truth.astype(int).to_numpy())


def test_patterns_are_the_sources_cell_lists():
    ggblocks = pattern_labels("ggblocks").ravel()
    nsf = {1: [1, 6, 7, 8, 13], 2: [3, 4, 5, 9, 11, 15, 16, 17], 3: [18, 24, 25, 30, 31, 32]}
    nsf[4] = [21, 22, 23, 28, 34]  # NSF's sim.py ggblocks(): plus, ring, staircase, T
    for factor, cells in nsf.items():
        assert np.flatnonzero(ggblocks == factor).tolist() == cells
    spami = pattern_labels("spami").ravel()
    assert np.flatnonzero(spami == 3).tolist() == [19, 24, 25, 26, 31]  # the plus
    assert np.flatnonzero(spami == 0).size == 12 == np.flatnonzero(ggblocks == 0).size
    assert set(PATTERNS) == {"spami", "ggblocks"}


def test_coordinates_are_nsfs_on_minus_two_to_two(rna_adt):
    coords = rna_adt.obsm["spatial"]
    np.testing.assert_allclose(coords.min(axis=0), [-2, -2])
    np.testing.assert_allclose(coords.max(axis=0), [2, 2])
    axis = np.linspace(-2, 2, 36)
    rows, cols = np.divmod(np.arange(1296), 36)
    np.testing.assert_allclose(coords[:, 0], axis[cols])  # x = column
    np.testing.assert_allclose(coords[:, 1], -axis[rows])  # y = -row: row 0 at the top
    np.testing.assert_allclose(grid_coordinates(3)[:4], [[-2, 2], [0, 2], [2, 2], [-2, 0]])
    # the domain of a spot is the pattern cell under its coordinates
    cell_row = np.floor((2 - coords[:, 1]) / 4 * 35 / 6 + 1e-9).astype(int)
    cell_col = np.floor((coords[:, 0] + 2) / 4 * 35 / 6 + 1e-9).astype(int)
    truth = rna_adt.obs["ground_truth"].astype(int).to_numpy()
    np.testing.assert_array_equal(truth, pattern_labels("spami")[cell_row, cell_col])


def test_every_feature_has_one_spatial_and_one_nonspatial_loading(three_modalities):
    for key, adata in three_modalities.mod.items():
        spatial, nonspatial = adata.varm["spload"], adata.varm["nsload"]
        assert spatial.shape == (adata.n_vars, 4) and nonspatial.shape == (adata.n_vars, 3)
        assert ((spatial != 0).sum(axis=1) == 1).all(), key
        assert ((nonspatial != 0).sum(axis=1) == 1).all(), key
        np.testing.assert_allclose(spatial.max(axis=1), 0.55 * 20)  # NSF: 11 and 9
        np.testing.assert_allclose(nonspatial.max(axis=1), 0.45 * 20)
        np.testing.assert_array_equal(adata.var["spatial_factor"], spatial.argmax(axis=1) + 1)
        assert set(adata.var["spatial_factor"]) == {1, 2, 3, 4}  # all factors, at random


def test_nonspatial_factors_are_drawn_per_modality_at_their_rates(noiseless):
    rates = {key: noiseless[key].obsm["nsfac"].mean() for key in ("rna", "adt", "atac")}
    assert rates["rna"] == pytest.approx(0.2, abs=0.02)  # SpatialGlue Table S3
    assert rates["adt"] == pytest.approx(0.25, abs=0.02)
    assert not np.array_equal(noiseless["rna"].obsm["nsfac"], noiseless["adt"].obsm["nsfac"])


def _expected(adata, spfac: np.ndarray, bkg_mean: float) -> np.ndarray:
    """Lambda = bkg_mean + F W' + U V' of one modality: (N, J)."""
    return (
        bkg_mean
        + np.asarray(spfac, dtype=float) @ np.asarray(adata.varm["spload"]).T
        + np.asarray(adata.obsm["nsfac"], dtype=float) @ np.asarray(adata.varm["nsload"]).T
    )


@pytest.mark.parametrize(
    ("key", "bkg_mean", "pi", "distribution"),
    [("rna", 0.2, 0.5, "nb"), ("adt", 0.4, 0.0, "nb"), ("atac", 0.2, 0.5, "poisson")],
)
def test_zero_fractions_and_means_match_the_distributions_at_noise_zero(
    noiseless, key, bkg_mean, pi, distribution
):
    adata = noiseless[key]
    rate = _expected(adata, noiseless["rna"].obsm["spfac"], bkg_mean)
    counts = _dense(adata.X)
    np.testing.assert_array_equal(counts, np.round(counts))
    if distribution == "nb":  # NB(mean rate, shape 10)
        zero = (10 / (10 + rate)) ** 10
    else:
        zero = np.exp(-rate)
    analytic_zeros = pi + (1 - pi) * zero
    analytic_mean = (1 - pi) * rate
    # over all entries, and over the entries of each spot's own spatial factor
    assert (counts == 0).mean() == pytest.approx(analytic_zeros.mean(), abs=0.005)
    assert counts.mean() == pytest.approx(analytic_mean.mean(), rel=0.01)
    own = rate > 11
    assert (counts[own] == 0).mean() == pytest.approx(analytic_zeros[own].mean(), abs=0.01)
    assert counts[own].mean() == pytest.approx(analytic_mean[own].mean(), rel=0.01)


def test_different_data_seeds_are_different_draws_and_one_seed_repeats():
    first = simulate("rna_adt_atac", seed=7, **SMALL)
    again = simulate("rna_adt_atac", seed=7, **SMALL)
    other = simulate("rna_adt_atac", seed=8, **SMALL)
    for key in ("rna", "adt", "atac"):
        assert (first[key].X != again[key].X).nnz == 0
        assert (first[key].X != other[key].X).nnz > 0
        for slot in ("nsfac",):
            assert not np.array_equal(first[key].obsm[slot], other[key].obsm[slot])
        assert not np.array_equal(first[key].varm["spload"], other[key].varm["spload"])


def test_noise_reaches_every_rna_and_protein_entry_and_only_detected_atac():
    mdata = simulate("rna_adt_atac", noise_sd=0.0, seed=5, **SMALL)
    for key in ("rna", "adt"):
        assert _dense(mdata[key].X).min() == 2.0  # every entry is count + 2: no zeros
    raw = simulate("rna_adt_atac", seed=5, **SMALL, **NO_NOISE)
    np.testing.assert_array_equal(_dense(mdata["rna"].X), _dense(raw["rna"].X) + 2.0)
    atac, raw_atac = _dense(mdata["atac"].X), _dense(raw["atac"].X)
    np.testing.assert_array_equal(atac == 0, raw_atac == 0)  # zeros stay zeros
    np.testing.assert_array_equal(atac[atac > 0], raw_atac[raw_atac > 0] + 2.0)


def test_noise_sd_increases_the_spread_of_background_counts():
    variances = []
    for noise_sd in (0.5, 4.0, 16.0):
        mdata = simulate("rna_adt", noise_sd=noise_sd, seed=1, **SMALL)
        background = (mdata.obs["ground_truth"] == "0").to_numpy()
        variances.append(float(_dense(mdata["adt"].X[background]).var(axis=0).mean()))
    assert variances[0] < variances[1] < variances[2]


def test_atac_noise_drops_open_peaks_and_never_opens_one():
    def open_peaks(noise_sd: float) -> np.ndarray:
        mdata = simulate("rna_atac", grid_size=12, noise_sd=noise_sd, seed=6, **SMALL)
        return _dense(mdata["atac"].X) > 0

    reference = open_peaks(0.0)
    lost = {}
    for noise_sd in (0.5, 4.0, 32.0):
        is_open = open_peaks(noise_sd)
        assert not (is_open & ~reference).any()  # no closed peak opens
        lost[noise_sd] = (reference & ~is_open).sum() / reference.sum()
    assert lost[0.5] == 0.0  # count >= 1 plus 2 would need a 5-sd draw to round to 0
    assert 0.0 < lost[4.0] < lost[32.0] < 0.5  # extra dropout, never more than half


def test_noise_on_detected_keeps_zeros_and_all_fills_them():
    detected = simulate("rna_adt", noise_on="detected", seed=4, **SMALL)
    everywhere = simulate("rna_adt", noise_on="all", seed=4, **SMALL)
    density = {
        (name, key): mdata[key].X.nnz / np.prod(mdata[key].shape)
        for name, mdata in (("detected", detected), ("all", everywhere))
        for key in ("rna", "adt")
    }
    assert density["detected", "rna"] < 0.5  # ZINB: half the entries are zero at least
    assert density["all", "rna"] > 0.95 and density["all", "adt"] > 0.95
    assert density["detected", "adt"] < density["all", "adt"]


def test_complementary_modalities_load_their_own_factors():
    mdata = simulate("complementary_rna_adt", seed=0, **SMALL)
    assert set(mdata["rna"].var["spatial_factor"]) == {1, 2}
    assert set(mdata["adt"].var["spatial_factor"]) == {3, 4}
    truth = mdata.obs["ground_truth"].astype(int).to_numpy()
    part_a = mdata.obs["partition_a"].astype(int).to_numpy()
    part_b = mdata.obs["partition_b"].astype(int).to_numpy()
    np.testing.assert_array_equal(part_a, np.where(np.isin(truth, [1, 2]), truth, 0))
    np.testing.assert_array_equal(part_b, np.where(np.isin(truth, [3, 4]), truth, 0))
    # RNA does not tell f3 and f4 from the background: their spots' mean counts agree
    rna = _dense(mdata["rna"].X)
    means = {d: rna[truth == d].mean() for d in range(5)}
    assert means[3] == pytest.approx(means[0], rel=0.05)
    assert means[1] > 1.5 * means[0]
    custom = simulate("rna_adt", factors_adt=[2], seed=0, **SMALL)
    assert set(custom["adt"].var["spatial_factor"]) == {2}


def test_every_scenario_builds_its_modalities_and_domains():
    expected = {
        "rna_adt": {"rna", "adt"},
        "rna_atac": {"rna", "atac"},
        "rna_adt_atac": {"rna", "adt", "atac"},
        "complementary_rna_adt": {"rna", "adt"},
        "complementary_rna_atac": {"rna", "atac"},
    }
    assert set(SCENARIOS) == set(expected)
    for scenario in SCENARIOS:
        mdata = simulate(scenario, grid_size=12, n_rna=20, n_adt=10, n_atac=20)
        assert mdata.n_obs == 144 and set(mdata.mod) == expected[scenario], scenario
        assert mdata.obs["ground_truth"].nunique() == 5, scenario
        assert mdata.uns["dataset"]["n_domains"] == 5, scenario
        for adata in mdata.mod.values():
            assert list(adata.obs_names) == list(mdata.obs_names)
            np.testing.assert_array_equal(adata.obsm["spatial"], mdata.obsm["spatial"])


def test_counts_are_non_negative_integers_in_csr(three_modalities):
    for adata in three_modalities.mod.values():
        assert sp.isspmatrix_csr(adata.X) or isinstance(adata.X, sp.csr_array)
        assert adata.X.dtype == np.float32
        assert adata.X.data.min() >= 0
        np.testing.assert_array_equal(adata.X.data, np.round(adata.X.data))
        assert (adata.X != adata.layers["counts"]).nnz == 0
        assert adata.X is not adata.layers["counts"]  # normalizing .X in place keeps counts


def test_dataset_metadata(rna_adt):
    info = rna_adt.uns["dataset"]
    assert info["technology"] == "simulated" and info["source"] == "fastspami.data.simulation"
    assert info["scenario"] == "rna_adt" and info["pattern"] == "spami"
    assert info["noise_sd"] == 0.5 and info["noise_mean"] == 2.0 and info["seed"] == 0
    assert info["bkg_mean_adt"] == 0.4 and info["nzprob_nsp_adt"] == 0.25
    assert list(info["factors_rna"]) == [1, 2, 3, 4]
    assert info["name"]


def test_grid_scales_proportionally_and_stays_sparse():
    mdata = simulate("rna_adt", grid_size=100, n_rna=100, n_adt=20, seed=0, noise_on="detected")
    assert mdata.n_obs == 10_000 and mdata.obs_names[-1] == "spot_09999"
    fractions = mdata.obs["ground_truth"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(fractions, [12 / 36, 7 / 36, 5 / 36, 5 / 36, 7 / 36], atol=0.03)
    assert mdata["rna"].X.nnz / (10_000 * 100) < 0.35  # zeros stay zeros at 'detected'


@pytest.mark.parametrize("distribution", ["nb", "poisson"])
@pytest.mark.parametrize("rate", [0.2, 25.0])
def test_zero_truncated_draws_have_the_conditional_mean(distribution, rate):
    rng = np.random.default_rng(0)
    dispersion = 10.0
    draws = zero_truncated(rng, np.full(200_000, rate), distribution, dispersion)
    p0 = np.exp(-rate) if distribution == "poisson" else (dispersion / (dispersion + rate)) ** 10
    assert draws.min() >= 1
    assert draws.mean() == pytest.approx(rate / (1 - p0), rel=0.01)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # mudata's notice about update()
def test_written_and_read_back(tmp_path, three_modalities):
    from fastspami.data.contract import write_mudata

    path = tmp_path / "sim.h5mu"
    write_mudata(three_modalities, path)
    import mudata

    back = mudata.read_h5mu(path)
    assert list(back.obs["ground_truth"]) == list(three_modalities.obs["ground_truth"])
    assert back.uns["dataset"]["scenario"] == "rna_adt_atac"
    assert back["rna"].obsm["spfac"].shape == (1296, 4)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"scenario": "rna_protein"}, "Unknown simulation scenario"),
        ({"pattern": "quilt"}, "Unknown factor pattern"),
        ({"grid_size": 4}, "grid_size"),
        ({"zero_inflation_rna": 1.0}, "zero_inflation_rna"),
        ({"nzprob_nsp_adt": 1.5}, "nzprob_nsp_adt"),
        ({"noise_sd": -1.0}, "noise_sd"),
        ({"noise_on": "zeros"}, "noise_on"),
        ({"factors_rna": [0, 5]}, "factors_rna"),
        ({"spatial_fraction": 2.0}, "spatial_fraction"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        simulate(**kwargs)
