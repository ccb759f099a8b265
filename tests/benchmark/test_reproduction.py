"""fastspami.benchmark.reproduction: our SpaMI against the authors' code, paired by dataset and seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fastspami.benchmark import reproduction
from fastspami.benchmark.report import to_markdown


def rows(dataset, scenario, method, values, status="ok", clustering="leiden"):
    """Score rows (ARI) of one method on one dataset, one per seed."""
    return [
        {"dataset": dataset, "scenario": scenario, "noise": 0.5, "method": method,
         "variant": "default", "seed": seed, "clustering": clustering, "metric": "ari",
         "value": value, "status": status, "reason": ""}
        for seed, value in enumerate(values)
    ]  # fmt: skip


@pytest.fixture
def scores():
    # differences per dataset (seeds averaged first): a 0.2, b 0.1, c 0.3; real dataset r 0.05
    return pd.DataFrame(
        rows("a", "rna_adt", "spami", [0.9, 0.7])
        + rows("a", "rna_adt", "spami_reference", [0.6, 0.6])
        + rows("b", "rna_adt", "spami", [0.8, 0.8])
        + rows("b", "rna_adt", "spami_reference", [0.7, 0.7])
        + rows("c", "rna_adt", "spami", [0.9, 0.9])
        + rows("c", "rna_adt", "spami_reference", [0.6, 0.6])
        + rows("r", None, "spami", [0.55])
        + rows("r", None, "spami_reference", [0.5])
        # not paired: theirs failed on d; another clustering; another method
        + rows("d", "rna_adt", "spami", [0.9])
        + rows("d", "rna_adt", "spami_reference", [math.nan], status="failed")
        + rows("a", "rna_adt", "spami", [0.1, 0.1], clustering="kmeans")
        + rows("a", "rna_adt", "mofa", [0.2, 0.2])
    )


@pytest.fixture
def cost():
    return pd.DataFrame(
        [{"dataset": d, "method": m, "variant": "default", "seed": s, "s": sec,
          "max_rss_mb": mb, "status": "ok"}
         for d in "abc" for s in (0, 1)
         for m, sec, mb in (("spami", 2.0, 500.0), ("spami_reference", 30.0, 1500.0))]
        + [{"dataset": "a", "method": "spami_reference", "variant": "default", "seed": 2,
            "s": 999.0, "max_rss_mb": 9999.0, "status": "failed"}]
    )  # fmt: skip


def test_pairs_are_the_runs_where_both_methods_ran(scores):
    pairs = reproduction.paired_scores(scores)
    assert list(pairs.columns) == reproduction.PAIR_COLUMNS
    assert sorted(pairs["dataset"].unique()) == ["a", "b", "c", "r"]  # not d
    assert len(pairs) == 7
    assert set(pairs["group"]) == {"rna_adt", "r"}  # a real dataset is its own group
    a0 = pairs[(pairs["dataset"] == "a") & (pairs["seed"] == 0)].iloc[0]
    assert (a0["ours"], a0["theirs"]) == (0.9, 0.6)


def test_difference_and_interval_are_over_datasets_with_seeds_averaged(scores, cost):
    table = reproduction.reproduction_table(reproduction.paired_scores(scores), cost)
    sim = table.set_index("group").loc["rna_adt"]
    assert (sim["n_datasets"], sim["n_pairs"]) == (3, 6)
    assert sim["mean_difference"] == pytest.approx(0.2)
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) x sd / sqrt(3 datasets)
    assert (sim["ci_low"], sim["ci_high"]) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-5)
    assert sim["ours_mean"] == pytest.approx(0.8333333) and sim["theirs_mean"] == pytest.approx(
        0.6333333
    )
    # cost of the same runs: failed ones left out
    assert (sim["ours_s"], sim["theirs_s"], sim["theirs_max_rss_mb"]) == (2.0, 30.0, 1500.0)
    real = table.set_index("group").loc["r"]
    assert real["mean_difference"] == pytest.approx(0.05) and math.isnan(real["ci_low"])
    assert math.isnan(real["ours_s"])  # no cost row for r
    everything = table.set_index("group").loc["all"]
    assert everything["n_datasets"] == 4
    assert everything["mean_difference"] == pytest.approx(np.mean([0.2, 0.1, 0.3, 0.05]))


def test_interval_needs_two_datasets():
    mean, low, high = reproduction.mean_difference_ci([0.1])
    assert mean == 0.1 and math.isnan(low) and math.isnan(high)
    mean, low, high = reproduction.mean_difference_ci([0.0, 0.2])
    assert mean == pytest.approx(0.1) and low < mean < high


def test_table_document_and_figure(scores, cost):
    pairs = reproduction.paired_scores(scores)
    table = reproduction.reproduction_table(pairs, cost)
    text = to_markdown(reproduction.reproduction_blocks(table))
    assert "SpaMI against SpaMI (authors' code)" in text
    assert "| rna_adt | 3 | 6 | 0.833 | 0.633 | 0.200 [" in text
    assert "2.0 / 30.0" in text and "500 / 1500" in text
    figure = reproduction.reproduction_figure(pairs, table)
    assert len(figure.axes) == 4
    scatter = figure.axes[0]
    assert (
        len(scatter.collections[0].get_offsets()) + len(scatter.collections[1].get_offsets()) == 7
    )


def test_nothing_to_compare_is_said_not_drawn(scores, cost):
    only_ours = scores[scores["method"] == "spami"]
    pairs = reproduction.paired_scores(only_ours)
    table = reproduction.reproduction_table(pairs, cost)
    assert "No dataset where both methods ran." in to_markdown(
        reproduction.reproduction_blocks(table)
    )
    figure = reproduction.reproduction_figure(pairs, table)
    assert len(figure.axes) == 1  # the message figure
