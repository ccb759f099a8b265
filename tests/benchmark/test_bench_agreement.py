"""``spami bench --compare-tiled``: tiled vs full-batch training, their Leiden agreement."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fastspami.benchmark.scaling import COMPARE_COLUMNS
from fastspami.cli import main


def test_compare_tiled_writes_a_sane_row(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--compare-tiled", "--sizes", "900", "--tile-spots", "300"]
    argv += ["--full-epochs", "20", "--threads", "1", "--out", str(out)]
    assert main(argv) == 0

    table = pd.read_csv(out / "tiled_vs_full.csv")
    assert list(table.columns) == COMPARE_COLUMNS and len(table) == 1
    row = table.iloc[0]
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert printed["ari_tiled_vs_full"] == pytest.approx(row["ari_tiled_vs_full"])
    assert row["n_spots"] == 900 and row["tile_spots"] == 300 and row["epochs"] == 20
    assert row["n_tiles"] >= 2 and row["n_domains"] == 5
    assert row["full_training_s"] > 0 and row["tiled_training_s"] > 0
    assert row["full_leiden_reached"] and row["tiled_leiden_reached"]
    assert 0 < row["peak_rss_tiled_mb"] <= row["peak_rss_mb"]
    aris = row[["ari_tiled_vs_full", "ari_full_vs_truth", "ari_tiled_vs_truth"]]
    assert ((aris >= -1) & (aris <= 1)).all()
    # Both runs find the domains and agree, but only loosely at this size: 20 full-batch
    # epochs are 20 optimizer steps (tiled: 80), and the agreement measured 0.88-1.0 over
    # seeds 0-3 (threads 1), so 0.9 (issue #8's bar, at 1e5 spots) is not asserted here.
    assert row["ari_full_vs_truth"] > 0.6 and row["ari_tiled_vs_truth"] > 0.6
    assert row["ari_tiled_vs_full"] > 0.6


def test_compare_tiled_needs_tiles(tmp_path, capsys):
    base = ["bench", "--compare-tiled", "--sizes", "900", "--out", str(tmp_path)]
    assert main(base) == 2  # no --tile-spots
    assert "--tile-spots" in capsys.readouterr().err
    assert main([*base, "--tile-spots", "900"]) == 2  # one tile: nothing to compare
    assert "single tile" in capsys.readouterr().err
    assert not (tmp_path / "tiled_vs_full.csv").exists()
