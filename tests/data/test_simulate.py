"""The simulator: shapes, labels, counts, determinism, noise, zero inflation, scaling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastspami.data.simulate import (
    BLOCK_PATTERN,
    SCENARIOS,
    block_domains,
    grid_coordinates,
    simulate,
    upscale_pattern,
    zero_truncated,
)
from fastspami.errors import ConfigError

SMALL = {"n_rna": 200, "n_adt": 30, "n_atac": 300}


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", seed=0)


@pytest.fixture(scope="module")
def three_modalities():
    return simulate("rna_adt_atac", seed=3, **SMALL)


@pytest.fixture(scope="module")
def complementary():
    return simulate("complementary_rna_adt", seed=0)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def test_default_shapes_and_names(rna_adt):
    assert set(rna_adt.mod) == {"rna", "adt"}
    assert rna_adt.n_obs == 36 * 36 == 1296
    assert rna_adt["rna"].shape == (1296, 1000)
    assert rna_adt["adt"].shape == (1296, 100)
    assert rna_adt["rna"].var_names[0] == "gene_0000"
    assert rna_adt["rna"].var_names[-1] == "gene_0999"
    assert rna_adt["adt"].var_names[0] == "protein_000"
    assert rna_adt.obs_names[0] == "spot_00000"


def test_three_modalities_share_spots_and_coordinates(three_modalities):
    mdata = three_modalities
    assert set(mdata.mod) == {"rna", "adt", "atac"}
    assert mdata["atac"].shape == (1296, 300)
    assert mdata["atac"].var_names[0] == "peak_0000"
    for adata in mdata.mod.values():
        assert list(adata.obs_names) == list(mdata.obs_names)
        np.testing.assert_array_equal(adata.obsm["spatial"], mdata.obsm["spatial"])
        assert list(adata.obs["ground_truth"]) == list(mdata.obs["ground_truth"])


def test_counts_are_non_negative_integers_in_csr(three_modalities):
    for adata in three_modalities.mod.values():
        assert sp.isspmatrix_csr(adata.X) or isinstance(adata.X, sp.csr_array)
        assert adata.X.dtype == np.float32
        values = adata.X.data
        assert values.min() >= 0
        np.testing.assert_array_equal(values, np.round(values))
        assert (adata.X != adata.layers["counts"]).nnz == 0
        assert adata.X is not adata.layers["counts"]  # normalizing .X in place keeps counts


def test_five_domains_follow_the_block_pattern(rna_adt):
    truth = rna_adt.obs["ground_truth"]
    assert list(truth.cat.categories) == ["0", "1", "2", "3", "4"]
    sizes = truth.value_counts().to_dict()
    # each of the 6 x 6 pattern cells becomes 6 x 6 = 36 spots
    assert sizes == {"0": 18 * 36, "1": 4 * 36, "2": 5 * 36, "3": 6 * 36, "4": 3 * 36}
    factors = rna_adt.obsm["spatial_factors"]
    label_from_factors = factors @ np.arange(1, factors.shape[1] + 1)
    np.testing.assert_array_equal(label_from_factors.astype(int), truth.astype(int).to_numpy())
    assert factors.sum(axis=1).max() == 1  # the factors do not overlap


def test_coordinates_are_column_then_row(rna_adt):
    coords = rna_adt.obsm["spatial"]
    truth = rna_adt.obs["ground_truth"].astype(int).to_numpy()
    x, y = coords[:, 0].astype(int), coords[:, 1].astype(int)
    np.testing.assert_array_equal(truth, BLOCK_PATTERN[y // 6, x // 6])
    np.testing.assert_array_equal(grid_coordinates(3)[:4], [[0, 0], [1, 0], [2, 0], [0, 1]])


def test_dataset_metadata(rna_adt):
    info = rna_adt.uns["dataset"]
    assert info["technology"] == "simulated"
    assert info["source"] == "fastspami.data.simulate"
    assert info["scenario"] == "rna_adt"
    assert info["noise_sd"] == 0.5
    assert info["seed"] == 0
    assert info["name"]


def test_same_seed_same_data_other_seed_other_data():
    first = simulate("rna_atac", seed=7, **SMALL)
    again = simulate("rna_atac", seed=7, **SMALL)
    other = simulate("rna_atac", seed=8, **SMALL)
    for key in ("rna", "atac"):
        assert (first[key].X != again[key].X).nnz == 0
        assert (first[key].X != other[key].X).nnz > 0


def test_rna_is_shared_between_scenarios_with_one_seed():
    with_adt = simulate("rna_adt", seed=5, **SMALL)
    with_atac = simulate("rna_atac", seed=5, **SMALL)
    assert (with_adt["rna"].X != with_atac["rna"].X).nnz == 0


def test_noise_sd_increases_the_spread_of_background_counts():
    variances = []
    for noise_sd in (0.5, 2.0, 5.0):
        mdata = simulate("rna_adt", noise_sd=noise_sd, seed=1, **SMALL)
        background = (mdata.obs["ground_truth"] == "0").to_numpy()
        counts = _dense(mdata["adt"].X[background])
        variances.append(float(counts.var(axis=0).mean()))
    assert variances[0] < variances[1] < variances[2]


def test_atac_keeps_more_zeros_than_poisson():
    mdata = simulate("rna_atac", seed=2, **SMALL)
    atac = _dense(mdata["atac"].X)
    truth = mdata.obs["ground_truth"].to_numpy()
    for domain in ("0", "3"):
        block = atac[truth == domain]
        observed_zeros = (block == 0).mean(axis=0)
        poisson_zeros = np.exp(-block.mean(axis=0))  # a Poisson with the same mean
        assert np.mean(observed_zeros > poisson_zeros) > 0.95
        assert observed_zeros.mean() >= 0.5  # zero_inflation = 0.5 drops half the entries


def test_noise_zero_still_offsets_rna_and_protein_by_the_noise_mean():
    mdata = simulate("rna_adt", noise_sd=0.0, seed=5, **SMALL)
    for key in ("rna", "adt"):
        counts = _dense(mdata[key].X)
        assert counts.min() == 2.0  # every entry is count + 2: no zeros, no entry below 2
    shifted = simulate("rna_adt", noise_sd=0.0, noise_mean=0.0, seed=5, **SMALL)
    np.testing.assert_array_equal(_dense(mdata["rna"].X), _dense(shifted["rna"].X) + 2.0)


def _open_peaks(noise_sd: float) -> np.ndarray:
    mdata = simulate("rna_atac", grid_size=12, noise_sd=noise_sd, seed=6, **SMALL)
    return _dense(mdata["atac"].X) > 0


def test_atac_noise_drops_open_peaks_and_never_opens_one():
    reference = _open_peaks(0.0)
    lost = {}
    for noise_sd in (0.5, 2.0, 4.0):
        is_open = _open_peaks(noise_sd)
        assert not (is_open & ~reference).any()  # no closed peak opens
        lost[noise_sd] = (reference & ~is_open).sum() / reference.sum()
    assert lost[0.5] == 0.0  # count >= 1 plus 2 would need a 5-sd draw to round to 0
    assert 0.03 < lost[2.0] < lost[4.0] < 0.35  # the noise is extra dropout


def test_noise_on_detected_keeps_zeros_and_all_fills_them():
    detected = simulate("rna_adt", noise_on="detected", seed=4, **SMALL)
    everywhere = simulate("rna_adt", noise_on="all", seed=4, **SMALL)
    density = {
        (name, key): mdata[key].X.nnz / np.prod(mdata[key].shape)
        for name, mdata in (("detected", detected), ("all", everywhere))
        for key in ("rna", "adt")
    }
    assert density["detected", "rna"] < 0.5
    assert density["all", "rna"] > 0.95 and density["all", "adt"] > 0.95
    # 'detected' adds noise to nonzero entries only: no modality gets denser than its counts
    assert density["detected", "adt"] < density["all", "adt"]


def test_complementary_labels_are_the_product_of_two_partitions(complementary):
    obs = complementary.obs
    part_a = obs["partition_a"].astype(int).to_numpy()
    part_b = obs["partition_b"].astype(int).to_numpy()
    truth = obs["ground_truth"].astype(int).to_numpy()
    assert set(part_a) == {0, 1, 2}
    assert set(part_b) == {0, 1}
    np.testing.assert_array_equal(truth, part_a * 2 + part_b)
    assert sorted(set(truth)) == [0, 1, 2, 3, 4, 5]
    assert np.bincount(truth).min() >= 30  # every product domain is a visible region


def _explained_by(counts, labels: np.ndarray) -> float:
    """Mean over features of the between-class share of the variance of log1p counts."""
    values = np.log1p(_dense(counts))
    total = values.var(axis=0)
    means = np.stack([values[labels == c].mean(axis=0) for c in np.unique(labels)])
    weights = np.bincount(labels) / labels.size
    between = (weights[:, None] * (means - values.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(between / np.maximum(total, 1e-12)))


def test_complementary_partitions_show_mainly_in_their_own_modality(complementary):
    part_a = complementary.obs["partition_a"].astype(int).to_numpy()
    part_b = complementary.obs["partition_b"].astype(int).to_numpy()
    rna, adt = complementary["rna"].X, complementary["adt"].X
    assert _explained_by(rna, part_a) > 2 * _explained_by(rna, part_b)
    assert _explained_by(adt, part_b) > 2 * _explained_by(adt, part_a)


def test_grid_scales_proportionally_and_fast():
    mdata = simulate("rna_adt", grid_size=100, n_rna=100, n_adt=20, seed=0)
    assert mdata.n_obs == 10_000
    fractions = mdata.obs["ground_truth"].value_counts(normalize=True).sort_index().to_numpy()
    expected = np.bincount(BLOCK_PATTERN.ravel()) / BLOCK_PATTERN.size
    np.testing.assert_allclose(fractions, expected, atol=0.03)
    assert mdata.obs_names[-1] == "spot_09999"


def test_upscaling_repeats_cells_on_multiples():
    np.testing.assert_array_equal(upscale_pattern(BLOCK_PATTERN, 12)[::2, ::2], BLOCK_PATTERN)
    assert block_domains(6).tolist() == BLOCK_PATTERN.ravel().tolist()


@pytest.mark.parametrize("distribution", ["nb", "poisson"])
@pytest.mark.parametrize("rate", [0.2, 25.0])
def test_zero_truncated_draws_have_the_conditional_mean(distribution, rate):
    rng = np.random.default_rng(0)
    dispersion = 10.0
    draws = zero_truncated(rng, np.full(200_000, rate), distribution, dispersion)
    p0 = np.exp(-rate) if distribution == "poisson" else (dispersion / (dispersion + rate)) ** 10
    assert draws.min() >= 1
    assert draws.mean() == pytest.approx(rate / (1 - p0), rel=0.01)


def test_every_scenario_builds_its_modalities_and_domains():
    expected = {
        "rna_adt": ({"rna", "adt"}, 5),  # four blocks and the background
        "rna_atac": ({"rna", "atac"}, 5),
        "rna_adt_atac": ({"rna", "adt", "atac"}, 5),
        "complementary_rna_adt": ({"rna", "adt"}, 6),
        "complementary_rna_atac": ({"rna", "atac"}, 6),
    }
    assert set(SCENARIOS) == set(expected)
    for scenario in SCENARIOS:
        mdata = simulate(scenario, grid_size=12, n_rna=20, n_adt=10, n_atac=20)
        modalities, domains = expected[scenario]
        assert mdata.n_obs == 144 and set(mdata.mod) == modalities, scenario
        assert mdata.obs["ground_truth"].nunique() == domains, scenario
        assert mdata.uns["dataset"]["n_domains"] == domains, scenario


@pytest.mark.filterwarnings("ignore::FutureWarning")  # mudata's notice about update()
def test_written_and_read_back(tmp_path, three_modalities):
    import mudata

    path = tmp_path / "sim.h5mu"
    three_modalities.write(path)
    back = mudata.read_h5mu(path)
    assert list(back.obs["ground_truth"]) == list(three_modalities.obs["ground_truth"])
    assert back.uns["dataset"]["scenario"] == "rna_adt_atac"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"scenario": "rna_protein"}, "Unknown simulation scenario"),
        ({"grid_size": 4}, "grid_size"),
        ({"zero_inflation": 1.0}, "zero_inflation"),
        ({"noise_sd": -1.0}, "noise_sd"),
        ({"noise_on": "zeros"}, "noise_on"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        simulate(**kwargs)
