"""Paired Wilcoxon tests of the reference method against each other method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastspami.benchmark.stats import holm_adjust, paired_wilcoxon, smallest_p
from fastspami.errors import InputDataError


def scores_table(n_datasets: int = 10) -> pd.DataFrame:
    """spami beats pca by 0.1 on every dataset; mofa ties spami; an ablation scores 0."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset in range(n_datasets):
        base = rng.uniform(0.3, 0.7)
        for method, variant, value in [
            ("spami", "default", base + 0.1 + rng.uniform(0, 0.05)),
            ("pca", "default", base),
            ("mofa", "default", None),
            ("spami", "no_cosine", 0.0),
        ]:
            rows.append(
                {
                    "dataset": f"sim{dataset}",
                    "scenario": "default",
                    "noise": 0.0,
                    "method": method,
                    "variant": variant,
                    "seed": 0,
                    "clustering": "leiden",
                    "metric": "ari",
                    "value": value,
                }
            )
    table = pd.DataFrame(rows)
    is_mofa = table["method"] == "mofa"
    table.loc[is_mofa, "value"] = table.loc[
        (table["method"] == "spami") & (table["variant"] == "default"), "value"
    ].to_numpy()
    return table


def test_a_method_always_worse_gets_a_small_p_value():
    result = paired_wilcoxon(scores_table()).set_index("method")
    pca = result.loc["pca"]
    assert pca["n_pairs"] == 10
    assert pca["mean_difference"] > 0.1
    assert pca["p_value"] < 0.01
    assert pca["p_holm"] >= pca["p_value"]


def test_identical_scores_give_nan_with_a_note():
    mofa = paired_wilcoxon(scores_table()).set_index("method").loc["mofa"]
    assert np.isnan(mofa["p_value"]) and np.isnan(mofa["p_holm"])
    assert "zero" in mofa["note"]


def test_only_default_variants_are_compared():
    result = paired_wilcoxon(scores_table())
    assert sorted(result["method"]) == ["mofa", "pca"]
    assert result["mean_difference"].min() >= 0  # the all-zero ablation was not used


def test_fewer_than_two_pairs_gives_nan():
    result = paired_wilcoxon(scores_table(n_datasets=1)).set_index("method")
    assert np.isnan(result.loc["pca", "p_value"])
    assert "pair" in result.loc["pca", "note"]


def test_ambiguous_pairs_are_an_input_error():
    table = scores_table()
    table = pd.concat([table, table.assign(noise=0.5)])
    with pytest.raises(InputDataError, match="noise"):
        paired_wilcoxon(table)
    assert len(paired_wilcoxon(table, pair_on=("dataset", "noise"))) == 2


def test_missing_reference_is_an_input_error():
    with pytest.raises(InputDataError, match="seurat"):
        paired_wilcoxon(scores_table(), reference_method="seurat")


def test_holm_adjustment_matches_hand_computation():
    adjusted = holm_adjust([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def seeded_table(n_datasets: int = 4, seeds: int = 3) -> pd.DataFrame:
    """spami varies over seeds around 0.8; mofa is deterministic (0.5 every seed)."""
    rng = np.random.default_rng(1)
    rows = []
    for dataset in range(n_datasets):
        for seed in range(seeds):
            for method, value in (("spami", 0.8 + rng.normal(0, 0.01)), ("mofa", 0.5)):
                rows.append(
                    {"dataset": f"sim{dataset}", "method": method, "variant": "default"}
                    | {"seed": seed, "clustering": "leiden", "metric": "ari", "value": value}
                    | {"status": "ok"}
                )
    return pd.DataFrame(rows)


def test_seeds_are_averaged_so_datasets_are_the_pairs():
    mofa = paired_wilcoxon(seeded_table()).set_index("method").loc["mofa"]
    assert mofa["n_pairs"] == 4 and mofa["n_used"] == 4  # not 12 (dataset, seed) pairs
    assert mofa["p_value"] == pytest.approx(smallest_p(4)) == pytest.approx(0.125)
    assert mofa["mean_difference"] == pytest.approx(0.3, abs=0.01)


def test_a_method_without_any_successful_run_keeps_a_row():
    table = seeded_table()
    table.loc[table["method"] == "mofa", ["value", "status"]] = [np.nan, "not_applicable"]
    mofa = paired_wilcoxon(table).set_index("method").loc["mofa"]
    assert mofa["n_pairs"] == 0 and mofa["n_excluded"] == 4
    assert np.isnan(mofa["p_value"])
    assert mofa["note"] == "no test (mofa n/a on every draw)"


def test_failed_reference_runs_are_counted_not_silently_dropped():
    table = seeded_table(n_datasets=5)
    spami = table["method"] == "spami"
    every_seed = spami & (table["dataset"] == "sim0")  # no successful run: dataset left out
    one_seed = spami & (table["dataset"] == "sim1") & (table["seed"] == 2)  # mean of 2 seeds
    table.loc[every_seed | one_seed, ["value", "status"]] = [np.nan, "failed"]
    mofa = paired_wilcoxon(table).set_index("method").loc["mofa"]
    assert mofa["n_pairs"] == 4 and mofa["n_excluded"] == 1
    assert "1 of 5 draws left out: spami failed on 1" in mofa["note"]
    assert "1 spami run(s) failed" in mofa["note"]


def test_tied_pairs_are_not_counted_as_used():
    table = seeded_table(n_datasets=5)
    tie = (table["dataset"] == "sim0") & (table["method"] == "spami")
    table.loc[tie, "value"] = 0.5  # spami equals mofa on one dataset
    mofa = paired_wilcoxon(table).set_index("method").loc["mofa"]
    assert mofa["n_pairs"] == 5 and mofa["n_used"] == 4
    assert mofa["p_value"] == pytest.approx(0.125)  # the exact p of 4 pairs, not of 5
    assert "1 tied pair" in mofa["note"]


def test_smallest_attainable_p():
    assert smallest_p(5) == pytest.approx(0.0625)
    assert smallest_p(1) == 1.0 and np.isnan(smallest_p(0))


def test_draws_of_the_workflow_are_ranked_not_seeds():
    """Each workflow dataset is one data draw (its own data seed): 5 draws x 3 seeds at one
    level are 5 pairs, the seeds of a draw averaged; a draw-level effect the seeds share is
    one observation, not three."""
    from fastspami.data.draws import simulated_datasets

    simulation = {"noise_levels": [0.5], "draws": 5, "scenarios": {"rna_adt": {}}}
    draws = list(simulated_datasets(simulation))
    rng = np.random.default_rng(2)
    rows = []
    for dataset in draws:
        draw_effect = rng.normal(0, 0.05)  # shared by every seed and both methods of a draw
        for seed in range(3):
            for method, base in (("spami", 0.8), ("mofa", 0.6)):
                value = base + draw_effect + rng.normal(0, 0.01)
                rows.append(
                    {"dataset": dataset, "method": method, "variant": "default", "seed": seed}
                    | {"clustering": "leiden", "metric": "ari", "value": value, "status": "ok"}
                )
    mofa = paired_wilcoxon(pd.DataFrame(rows)).set_index("method").loc["mofa"]
    assert len(draws) == 5 and mofa["n_pairs"] == 5 and mofa["n_used"] == 5
    assert mofa["p_value"] == pytest.approx(smallest_p(5))  # 0.0625: 5 draws, not 15 runs
