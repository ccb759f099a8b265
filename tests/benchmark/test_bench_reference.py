"""``spami bench --reference``: the authors' SpaMI package timed beside ours in scaling.csv."""

from __future__ import annotations

import importlib.util
import math

import pytest

from fastspami.benchmark.bench_reference import skipped, with_ratios
from fastspami.cli import main

HAS_REFERENCE = importlib.util.find_spec("SpaMI") is not None


@pytest.mark.skipif(not HAS_REFERENCE, reason="the authors' SpaMI package is not installed")
def test_reference_columns_are_filled_up_to_the_cap(tmp_path):
    import pandas as pd

    from fastspami.benchmark.scaling import SCALING_COLUMNS

    argv = ["bench", "--sizes", "144", "400", "--reference", "--reference-max-n", "300"]
    argv += ["--epochs-timed", "2", "--full-epochs", "0", "--threads", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "scaling.csv")
    assert list(table.columns) == SCALING_COLUMNS
    small, large = table.iloc[0], table.iloc[1]
    assert small["reference_status"] == "ok" and small["reference_version"] == "1.0.0"
    for column in ("reference_graph_s", "reference_epoch_s", "reference_train_s"):
        assert small[column] > 0, column
    # their process imports scanpy and episcanpy and holds dense 144 x 144 matrices
    assert small["reference_peak_rss_mb"] >= small["reference_import_rss_mb"] > 0
    assert small["speedup"] == pytest.approx(small["reference_epoch_s"] / small["epoch_s"])
    assert small["memory_ratio"] == pytest.approx(
        small["reference_peak_rss_mb"] / small["peak_rss_mb"]
    )
    assert large["reference_status"] == "skipped: 400 spots > the cap of 300"
    assert math.isnan(large["reference_epoch_s"]) and math.isnan(large["speedup"])
    assert large["epoch_s"] > 0  # ours still measured


def test_reference_without_the_package_fails_naming_the_install(tmp_path, capsys, monkeypatch):
    from fastspami.methods import spami_reference_compat as compat

    def missing():
        raise compat._unavailable(ModuleNotFoundError("No module named 'SpaMI'"))

    monkeypatch.setattr(compat, "load_reference", missing)
    argv = ["bench", "--sizes", "144", "--reference", "--out", str(tmp_path / "bench")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "pip install SpaMI==1.0.0" in err and "envs/spami_reference.yaml" in err
    assert "Traceback" not in err
    assert not (tmp_path / "bench").exists()  # refused before any measurement


def test_reference_does_not_go_with_compare_tiled(capsys):
    argv = ["bench", "--compare-tiled", "--tile-spots", "100", "--reference"]
    assert main(argv) == 2
    assert "--reference" in capsys.readouterr().err


def test_ratios_are_theirs_over_ours_and_empty_without_theirs():
    row = with_ratios(
        {"epoch_s": 0.1, "peak_rss_mb": 500.0, "reference_epoch_s": 1.5,
         "reference_peak_rss_mb": 4000.0}
    )  # fmt: skip
    assert row["speedup"] == pytest.approx(15.0) and row["memory_ratio"] == pytest.approx(8.0)
    assert math.isnan(with_ratios({"epoch_s": 0.1, "peak_rss_mb": 500.0})["speedup"])


def test_sizes_above_the_cap_or_the_memory_are_skipped_with_the_reason():
    assert skipped(1000, 10_000) is None
    assert skipped(20_000, 10_000)["reference_status"].startswith("skipped: 20,000 spots")
    too_big = skipped(10**6, 10**7)["reference_status"]  # 56 TB of dense matrices
    assert too_big.startswith("skipped:") and "fits at most" in too_big
