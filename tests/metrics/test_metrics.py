"""Scores against annotations, spatial coherence, cluster renaming and attention summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastspami.errors import InputDataError
from fastspami.metrics import (
    attention_by_domain,
    hungarian_match,
    is_annotated,
    morans_i_per_cluster,
    supervised_scores,
)

TRUTH = np.array(["cortex", "cortex", "striatum", "striatum", "ventricle", "ventricle"])


def test_identical_labels_score_one():
    assert supervised_scores(TRUTH, TRUTH) == {
        "ari": 1.0,
        "ami": 1.0,
        "nmi": 1.0,
        "homogeneity": 1.0,
    }


def test_renamed_clusters_score_one():
    scores = supervised_scores(TRUTH, [7, 7, 3, 3, 0, 0])
    assert all(value == pytest.approx(1.0) for value in scores.values())


def test_random_labels_score_near_zero():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=3000)
    scores = supervised_scores(truth, rng.integers(0, 5, size=3000))
    assert abs(scores["ari"]) < 0.02 and abs(scores["ami"]) < 0.02
    assert scores["nmi"] < 0.02 and scores["homogeneity"] < 0.02


def test_split_domains_stay_homogeneous_but_lose_ari():
    scores = supervised_scores(TRUTH, [0, 1, 2, 3, 4, 5])
    assert scores["homogeneity"] == pytest.approx(1.0)
    assert scores["ari"] < 0.5


def test_spots_without_truth_are_left_out():
    truth = np.array(["a", "a", None, "b", "b", np.nan, ""], dtype=object)
    labels = np.array([1, 1, 2, 0, 0, 1, 0])  # wrong only on the unannotated spots
    assert supervised_scores(truth, labels)["ari"] == 1.0
    assert is_annotated(truth).tolist() == [True, True, False, True, True, False, False]


def test_no_annotation_at_all_is_an_input_error():
    with pytest.raises(InputDataError, match="ground-truth"):
        supervised_scores([None, np.nan, ""], [0, 1, 2])


def test_a_single_annotated_domain_is_an_input_error():
    # every clustering scored 1 against one domain, the random control as well as SpaMI
    with pytest.raises(InputDataError, match=r"one domain only \('x'\).*Annotate at least two"):
        supervised_scores(["x"] * 6 + [None], [0, 1, 2, 0, 1, 2, 0])


def test_length_mismatch_is_an_input_error():
    with pytest.raises(InputDataError, match="same spots"):
        supervised_scores(TRUTH, [0, 1])


@pytest.fixture(scope="module")
def grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 12 x 12 grid of spots: coordinates (144, 2), column index, row index."""
    columns, rows = np.meshgrid(np.arange(12), np.arange(12))
    coords = np.column_stack([columns.ravel(), rows.ravel()]).astype(float)
    return coords, columns.ravel(), rows.ravel()


def test_morans_i_is_negative_for_a_checkerboard(grid):
    coords, columns, rows = grid
    morans = morans_i_per_cluster(coords, (columns + rows) % 2)
    assert list(morans.index) == ["0", "1"]
    assert (morans < 0).all()


def test_morans_i_is_high_for_two_halves(grid):
    coords, columns, _ = grid
    morans = morans_i_per_cluster(coords, np.where(columns < 6, "left", "right"))
    assert (morans > 0.8).all()


def test_hungarian_match_keeps_matching_labels():
    np.testing.assert_array_equal(hungarian_match(TRUTH, TRUTH), TRUTH)


def test_hungarian_match_recovers_a_permutation_with_errors():
    predicted = np.array([2, 2, 0, 0, 1, 0])  # last spot misassigned
    matched = hungarian_match(TRUTH, predicted)
    expected = ["cortex", "cortex", "striatum", "striatum", "ventricle", "striatum"]
    assert matched.tolist() == expected


def test_hungarian_match_gives_extra_clusters_distinct_names():
    truth = np.array(["a", "a", "b", "b", "b", None], dtype=object)
    matched = hungarian_match(truth, [5, 5, 6, 6, 7, 8])
    assert matched[:4].tolist() == ["a", "a", "b", "b"]
    assert set(matched[4:]) == {"extra_7", "extra_8"}


def test_attention_by_domain_averages_within_each_domain():
    attention = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])
    table = attention_by_domain(attention, ["rna", "adt"], ["x", "x", "y", None])
    expected = pd.DataFrame(
        {
            "domain": ["x", "x", "y", "y"],
            "modality": ["rna", "adt", "rna", "adt"],
            "mean_weight": [0.3, 0.7, 0.9, 0.1],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_attention_by_domain_checks_the_modality_count():
    with pytest.raises(InputDataError, match="rna"):
        attention_by_domain(np.ones((3, 3)) / 3, ["rna", "adt"], ["x", "y", "z"])
