"""Paired Wilcoxon tests of the reference method against each other method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spami.errors import InputDataError
from spami.stats import holm_adjust, paired_wilcoxon


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
    assert len(paired_wilcoxon(table, pair_on=("dataset", "seed", "noise"))) == 2


def test_missing_reference_is_an_input_error():
    with pytest.raises(InputDataError, match="seurat"):
        paired_wilcoxon(scores_table(), reference_method="seurat")


def test_holm_adjustment_matches_hand_computation():
    adjusted = holm_adjust([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
