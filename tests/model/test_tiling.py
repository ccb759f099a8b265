"""Tiled encoders give the full-batch interior embeddings; tiles cover every spot once."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastspami.model.module import forward_outputs
from fastspami.model.operators import GraphOperators
from fastspami.model.presets import get_preset
from fastspami.model.tiling import build_tiles, spatial_tiles, tiled_outputs
from fastspami.model.train import build_module, fit_spami


def _grid(side: int) -> np.ndarray:
    ys, xs = np.mgrid[0:side, 0:side]
    return np.column_stack([xs.ravel(), ys.ravel()]).astype(float)


def test_tiles_partition_the_spots():
    coords = _grid(30)
    tiles = spatial_tiles(coords, tile_spots=100)
    joined = np.sort(np.concatenate(tiles))
    np.testing.assert_array_equal(joined, np.arange(len(coords)))
    assert 7 <= len(tiles) <= 12


def test_tiled_and_full_batch_outputs_agree_for_fixed_weights():
    rng = np.random.default_rng(0)
    coords = _grid(24) + rng.normal(scale=0.05, size=(576, 2))
    xs = [torch.randn(576, 10), torch.randn(576, 7)]
    config = get_preset("simulated")
    torch.manual_seed(0)
    module = build_module([10, 7], config)
    ops = GraphOperators.from_coordinates(coords, 3, torch.device("cpu"))
    full = forward_outputs(module, xs, ops)
    tiles = build_tiles(coords, ops, tile_spots=80, halo_hops=4, device=torch.device("cpu"))
    tiled = tiled_outputs(module, xs, tiles)
    np.testing.assert_allclose(tiled["embedding"], full["embedding"].numpy(), atol=1e-5)
    np.testing.assert_allclose(tiled["attention"], full["attention"].numpy(), atol=1e-5)
    for a, b in zip(tiled["reconstructions"], full["reconstructions"], strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)


def test_tiled_training_runs_and_is_deterministic():
    rng = np.random.default_rng(1)
    coords = _grid(20)
    features = [rng.normal(size=(400, 8)), rng.normal(size=(400, 5))]
    config = get_preset("simulated").with_overrides(epochs=3, tile_spots=100)
    a = fit_spami(features, coords, config, seed=0, progress=False)
    b = fit_spami(features, coords, config, seed=0, progress=False)
    assert a.embedding.shape == (400, 64)
    np.testing.assert_array_equal(a.embedding, b.embedding)


@pytest.mark.parametrize(("tile_spots", "threshold"), [(100, None), (None, 1 << 20)])
def test_bench_times_epochs_on_a_small_grid(tile_spots, threshold):
    from fastspami.benchmark.bench_reference import REFERENCE_COLUMNS
    from fastspami.benchmark.scaling import SCALING_COLUMNS, measure_size

    (row,) = measure_size(
        400, threads=1, epochs_timed=1, tile_spots=tile_spots, malloc_mmap_threshold=threshold
    )
    reference_only = set(REFERENCE_COLUMNS) - {"speedup", "memory_ratio"}  # --reference
    assert set(row) == set(SCALING_COLUMNS) - reference_only
    assert row["precision"] == row["precision_requested"] == "float32"
    assert row["n_spots"] == 400 and row["tile_spots"] == (tile_spots or 0)
    assert row["epoch_s"] > 0 and row["gemm_s"] > 0 and row["graph_s"] > 0
    # training runs in its own process, which imports neither scanpy nor the simulator
    assert 0 < row["peak_rss_mb"] < row["prepare_peak_rss_mb"]
    assert row["malloc_mmap_threshold"] == (threshold or 0)
    # the kernels differ between CPUs (fastspami._kernels.dense), so the row says which ran
    assert row["kernels"].startswith("products ") and "losses" in row["kernels"]


def test_bench_trains_on_random_features_of_given_widths():
    """``--feature-dims``: the reference shapes (random features), no simulation timed."""
    from fastspami.benchmark.scaling import measure_size

    (row,) = measure_size(400, threads=1, epochs_timed=1, feature_dims=[5, 3])
    assert row["feature_dims"] == "5+3"
    assert math.isnan(row["simulate_s"]) and math.isnan(row["preprocess_s"])
    assert row["epoch_s"] > 0 and row["epoch_over_gemm"] > 0
